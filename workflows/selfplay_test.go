package workflows

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"github.com/stretchr/testify/suite"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/space-sft/space/activities"
	"github.com/space-sft/space/eval"
	"github.com/space-sft/space/model"
)

type selfPlaySuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite
	env *testsuite.TestWorkflowEnvironment
	f   *fakes
}

func TestSelfPlay(t *testing.T) { suite.Run(t, new(selfPlaySuite)) }

func (s *selfPlaySuite) SetupTest() {
	s.env = s.NewTestWorkflowEnvironment()
	s.f = &fakes{}
	s.mockAll()
}

// mockAll routes every activity of the nil *Activities to the fakes.
func (s *selfPlaySuite) mockAll() {
	var a *activities.Activities
	s.env.OnActivity(a.Prepare, mock.Anything, mock.Anything).Return(s.f.Prepare).Maybe()
	s.env.OnActivity(a.TrainBase, mock.Anything, mock.Anything).Return(s.f.TrainBase).Maybe()
	s.env.OnActivity(a.Generate, mock.Anything, mock.Anything).Return(s.f.Generate).Maybe()
	s.env.OnActivity(a.Train, mock.Anything, mock.Anything).Return(s.f.Train).Maybe()
	s.env.OnActivity(a.TrainWorker, mock.Anything, mock.Anything).Return(s.f.TrainWorker).Maybe()
	s.env.OnActivity(a.CombineOuter, mock.Anything, mock.Anything).Return(s.f.CombineOuter).Maybe()
	s.env.OnActivity(a.Evaluate, mock.Anything, mock.Anything).Return(s.f.Evaluate).Maybe()
	s.env.OnActivity(a.EvaluateShard, mock.Anything, mock.Anything).Return(s.f.EvaluateShard).Maybe()
	s.env.OnActivity(a.CommitRound, mock.Anything, mock.Anything).Return(s.f.CommitRound).Maybe()
	s.env.OnActivity(a.Report, mock.Anything, mock.Anything).Return(s.f.Report).Maybe()
}

func testSpec() RunSpec {
	s := DefaultSpec()
	s.Name, s.Rounds, s.Task, s.N, s.Shards, s.Seed = "t1", 2, "arith", 12, 3, 7
	return s
}

func (s *selfPlaySuite) result() RunResult {
	s.Require().True(s.env.IsWorkflowCompleted())
	s.Require().NoError(s.env.GetWorkflowError())
	var res RunResult
	s.Require().NoError(s.env.GetWorkflowResult(&res))
	return res
}

func (s *selfPlaySuite) TestHappyPathTwoRoundsShardFanOut() {
	s.env.ExecuteWorkflow(SelfPlay, testSpec(), nil)
	res := s.result()

	s.Equal(StatusCompleted, res.Status)
	s.Len(res.Rounds, 3) // base + 2 rounds
	s.Equal(2, res.BestRound)
	s.Equal("runs/t1/report/report.md", res.ReportKey)
	s.Equal([]int{0, 1, 2}, s.f.commits)

	// 3 shards per round, each shard once, all from that round's opponent.
	s.Len(s.f.generate, 6)
	seen := map[[2]int]bool{}
	for _, g := range s.f.generate {
		seen[[2]int{g.Round, g.Shard}] = true
		s.Equal(3, g.Shards)
		want := "runs/t1/base/model.safetensors"
		if g.Round == 2 {
			want = "runs/t1/rounds/001/model.safetensors"
		}
		s.Equal(want, g.Opponent.Key, "round %d opponent", g.Round)
	}
	s.Len(seen, 6)
	// Train gets the shards in shard order.
	s.Require().Len(s.f.train, 2)
	s.Len(s.f.train[1].Shards, 3)
	s.Equal("runs/t1/rounds/002/synthetic/shard-002.json", s.f.train[1].Shards[2].Key)
	s.Equal(model.MethodSPACE, s.f.train[0].Loss.Method)
	s.Equal(0.5, res.Rounds[1].Metrics[eval.TrainLoss])
}

// TestDataParallelRounds: with train_workers 2 a round trains as outer steps of two
// TrainWorker activities (on the train queue, from the same global weights, each worker
// continuing its own state) and a CombineOuter, whose last result is the round's model;
// Train is not called. 12 train pairs: shards of 6, batch 2, 2 epochs = 6 inner steps, 2 per
// outer step: 3 outer steps per round.
func (s *selfPlaySuite) TestDataParallelRounds() {
	spec := testSpec()
	spec.TrainWorkers, spec.LocalSteps, spec.BatchSize, spec.Epochs = 2, 2, 2, 2
	spec.TaskQueues.Train = "gpu"
	s.env.ExecuteWorkflow(SelfPlay, spec, nil)
	res := s.result()
	s.Len(res.Rounds, 3)
	s.Empty(s.f.train, "a data-parallel round does not call Train")
	s.Require().Len(s.f.workers, 2*3*2) // rounds x outer steps x workers
	s.Require().Len(s.f.combines, 2*3)
	for i, c := range s.f.combines {
		round, t := 1+i/3, i%3
		s.Equal(round, c.Round)
		s.Equal(t, c.Step)
		s.Equal(3, c.Steps)
		// The combination starts from the previous one's weights and momentum.
		wantGlobal := "runs/t1/base/model.safetensors"
		if round == 2 {
			wantGlobal = "runs/t1/rounds/001/model.safetensors"
		}
		wantMomentum := ""
		if t > 0 {
			wantGlobal = fmt.Sprintf("runs/t1/rounds/%03d/outer/%04d/global.safetensors", round, t-1)
			wantMomentum = fmt.Sprintf("runs/t1/rounds/%03d/outer/%04d/momentum.safetensors", round, t-1)
		}
		s.Equal(wantGlobal, c.Global.Key, "combine %d global", i)
		s.Equal(wantMomentum, c.Momentum.Key, "combine %d momentum", i)
		s.Require().Len(c.Workers, 2)
		for k, w := range c.Workers {
			s.Equal(fmt.Sprintf("runs/t1/rounds/%03d/outer/%04d/worker-%03d.model.safetensors", round, t, k), w.Key)
		}
		if t == 2 { // the last step gets every worker's log
			s.Require().Len(c.Logs, 2)
			s.Equal(fmt.Sprintf("runs/t1/rounds/%03d/outer/0002/worker-001.log.jsonl", round), c.Logs[1].Key)
		} else {
			s.Empty(c.Logs)
		}
	}
	for _, w := range s.f.workers {
		i := (w.Round-1)*3 + w.Step
		s.Equal(s.f.combines[i].Global, w.Global, "worker %d of round %d step %d starts from the step's global weights", w.Worker, w.Round, w.Step)
		wantState := ""
		if w.Step > 0 {
			wantState = fmt.Sprintf("runs/t1/rounds/%03d/outer/%04d/worker-%03d.safetensors", w.Round, w.Step-1, w.Worker)
		}
		s.Equal(wantState, w.State.Key, "worker %d continues its own trainer", w.Worker)
		s.Equal(spec.Seed+uint64(w.Round), w.Seed)
		s.Equal(spec.OuterConfig, w.Outer)
	}
	s.Equal("runs/t1/rounds/002/model.safetensors", res.Rounds[2].ModelKey)
	s.Equal(0.375, res.Rounds[1].Metrics[eval.TrainLoss], "train loss: the mean of the workers' last losses")
}

// TestDataParallelTooManyWorkers: more workers than train pairs fails the run at once.
func (s *selfPlaySuite) TestDataParallelTooManyWorkers() {
	spec := testSpec()
	spec.TrainWorkers = 13 // the fake Prepare has 12 train pairs
	s.env.ExecuteWorkflow(SelfPlay, spec, nil)
	err := s.env.GetWorkflowError()
	s.Require().Error(err)
	s.Contains(err.Error(), "train_workers: is 13 but the round has only 12 train examples")
	var app *temporal.ApplicationError
	s.Require().True(errors.As(err, &app))
	s.True(app.NonRetryable())
	s.Empty(s.f.workers)
}

// TestSpecWithoutOuterSettings: a spec recorded before data-parallel training (every outer
// field zero) runs as before, on one worker.
func (s *selfPlaySuite) TestSpecWithoutOuterSettings() {
	spec := testSpec()
	spec.OuterConfig = model.OuterConfig{}
	s.Require().Error(spec.Validate(), "a spec file may not set train_workers 0")
	s.env.ExecuteWorkflow(SelfPlay, spec, nil)
	res := s.result()
	s.Len(res.Rounds, 3)
	s.Len(s.f.train, 2)
	s.Empty(s.f.workers)
}

// TestEvaluateShardFanOut: a held-out set larger than eval_shard_size is evaluated by
// parallel EvaluateShard activities, one per eval_shard_size prompts (the last one short),
// and Evaluate gets their parts in shard order; max_eval caps the prompts counted.
func (s *selfPlaySuite) TestEvaluateShardFanOut() {
	s.f.nTest = 70
	spec := testSpec()
	spec.EvalShardSize = 32
	s.env.ExecuteWorkflow(SelfPlay, spec, nil)
	res := s.result()
	s.Len(res.Rounds, 3)

	s.Len(s.f.evalShards, 9) // ceil(70/32) = 3 shards for the base and each of 2 rounds
	seen := map[[2]int]bool{}
	for _, e := range s.f.evalShards {
		s.Equal(32, e.ShardSize)
		s.Equal("runs/t1/inputs/test.jsonl", e.Test.Key)
		seen[[2]int{e.Round, e.Shard}] = true
	}
	s.Len(seen, 9)
	s.Len(s.f.evals, 3)
	for _, e := range s.f.evals {
		s.Require().Len(e.Parts, 3)
		for k, p := range e.Parts {
			s.Equal(fmt.Sprintf("runs/t1/rounds/%03d/eval/part-%03d.json", e.Round, k), p.Key)
		}
	}
}

func (s *selfPlaySuite) TestEvaluateUnsplitUpToShardSize() {
	s.f.nTest = 70
	spec := testSpec()
	spec.EvalShardSize, spec.MaxEval = 32, 32 // 32 prompts evaluated: one shard's worth
	s.env.ExecuteWorkflow(SelfPlay, spec, nil)
	s.result()
	s.Empty(s.f.evalShards)
	s.Len(s.f.evals, 3)
	for _, e := range s.f.evals {
		s.Empty(e.Parts)
	}
}

func (s *selfPlaySuite) TestSFTSkipsGeneration() {
	spec := testSpec()
	spec.Method = "sft"
	s.env.ExecuteWorkflow(SelfPlay, spec, nil)
	res := s.result()
	s.Len(res.Rounds, 3)
	s.Empty(s.f.generate)
}

func (s *selfPlaySuite) TestInvalidSpecIsNonRetryable() {
	spec := testSpec()
	spec.Rounds = 0
	s.env.ExecuteWorkflow(SelfPlay, spec, nil)
	err := s.env.GetWorkflowError()
	s.Require().Error(err)
	var app *temporal.ApplicationError
	s.Require().True(errors.As(err, &app))
	s.Equal("InvalidSpec", app.Type())
	s.True(app.NonRetryable())
	s.Contains(err.Error(), "rounds")
}

func (s *selfPlaySuite) TestNonFiniteStopsWithMessage() {
	var a *activities.Activities
	env := s.NewTestWorkflowEnvironment()
	s.env = env
	env.OnActivity(a.Train, mock.Anything, mock.Anything).Return(activities.TrainOutput{},
		temporal.NewNonRetryableApplicationError("non-finite loss at step 7 (term: synthetic)", "NonFinite", nil)).Once()
	s.mockAll()
	env.ExecuteWorkflow(SelfPlay, testSpec(), nil)
	err := env.GetWorkflowError()
	s.Require().Error(err)
	var app *temporal.ApplicationError
	s.Require().True(errors.As(err, &app))
	s.Equal("NonFinite", app.Type())
	s.Contains(err.Error(), "round 1 train")
	s.Equal(1, strings.Count(err.Error(), "step 7"), "the cause is printed once: %v", err)
	s.Contains(err.Error(), "step 7 (term: synthetic)")
	env.AssertNumberOfCalls(s.T(), "Train", 1) // not retried
	s.Equal([]int{0}, s.f.commits)             // round 1 never committed
}

func (s *selfPlaySuite) TestPauseResume() {
	var during Progress
	s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(SignalPause, nil) }, 0)
	s.env.RegisterDelayedCallback(func() {
		v, err := s.env.QueryWorkflow(QueryProgress)
		s.Require().NoError(err)
		s.Require().NoError(v.Get(&during))
	}, 30*time.Minute)
	s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(SignalResume, nil) }, time.Hour)
	s.env.ExecuteWorkflow(SelfPlay, testSpec(), nil)
	res := s.result()
	s.Equal(PhasePaused, during.Phase)
	s.True(during.Paused)
	s.Equal(StatusCompleted, res.Status)
	s.Len(res.Rounds, 3)
}

// TestStorageFullPausesThenResumes: a Train that fails with StorageFull (S3 stayed full for
// storage.Config.FullWait) pauses the run with one message naming the fault and the fix;
// `space resume` runs Train again and the run completes with every round. A stop while
// paused on it fails the run with the fault instead.
func (s *selfPlaySuite) TestStorageFullPausesThenResumes() {
	var a *activities.Activities
	env := s.NewTestWorkflowEnvironment()
	s.env = env
	full := `storage: put runs/t1/rounds/001/train/step-0000002.safetensors: S3 storage full at endpoint http://127.0.0.1:1, bucket "space"`
	env.OnActivity(a.Train, mock.Anything, mock.Anything).Return(activities.TrainOutput{},
		temporal.NewNonRetryableApplicationError(full, activities.ErrStorageFull, nil)).Once()
	s.mockAll()
	var during Progress
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(QueryProgress)
		s.Require().NoError(err)
		s.Require().NoError(v.Get(&during))
	}, 30*time.Minute)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalResume, nil) }, time.Hour)
	env.ExecuteWorkflow(SelfPlay, testSpec(), nil)
	res := s.result()
	s.True(during.Paused)
	s.Equal(PhasePaused, during.Phase)
	s.Equal(1, during.Round)
	s.Contains(during.Fault, full)
	s.Contains(during.Fault, "space resume t1")
	s.Equal(StatusCompleted, res.Status)
	s.Len(res.Rounds, 3)
	env.AssertNumberOfCalls(s.T(), "Train", 3) // round 1 twice (full, then after resume), round 2 once

	env = s.NewTestWorkflowEnvironment()
	s.env = env
	env.OnActivity(a.Train, mock.Anything, mock.Anything).Return(activities.TrainOutput{},
		temporal.NewNonRetryableApplicationError(full, activities.ErrStorageFull, nil)).Once()
	s.mockAll()
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalStop, nil) }, time.Hour)
	env.ExecuteWorkflow(SelfPlay, testSpec(), nil)
	err := env.GetWorkflowError()
	s.Require().Error(err)
	var app *temporal.ApplicationError
	s.Require().True(errors.As(err, &app))
	s.Equal(activities.ErrStorageFull, app.Type())
	s.Contains(err.Error(), "round 1 train")
}

func (s *selfPlaySuite) TestStopFinishesRoundThenReports() {
	spec := testSpec()
	spec.Rounds = 4
	spec.ContinueAsNewEvery = 10
	// Pause early, then stop while paused: the paused round goes on to its end, no new
	// round starts, and the report is still written.
	s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(SignalPause, nil) }, 0)
	s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(SignalStop, nil) }, time.Hour)
	s.env.ExecuteWorkflow(SelfPlay, spec, nil)
	res := s.result()
	s.Equal(StatusStopped, res.Status)
	s.Less(len(res.Rounds), 5)
	s.Len(s.f.commits, len(res.Rounds)) // every started round was committed
	s.Len(s.f.train, len(res.Rounds)-1)
	s.Require().Len(s.f.reports, 1)
	s.Equal(StatusStopped, s.f.reports[0].Status)
}

func (s *selfPlaySuite) TestEarlyStopKeepsBestRound() {
	spec := testSpec()
	spec.Rounds = 5
	spec.ContinueAsNewEvery = 10
	spec.Task = ""
	spec.Data = "data/real.jsonl"
	spec.EarlyStopPatience = 2
	s.f.nll = func(r int) float64 { return []float64{3, 2, 1.5, 1.7, 1.9, 1.0}[r] }
	s.env.ExecuteWorkflow(SelfPlay, spec, nil)
	res := s.result()
	s.Equal(StatusEarlyStopped, res.Status)
	s.Equal(2, res.BestRound)
	s.Len(res.Rounds, 5) // base, 1, 2, and the two rounds of patience
}

func (s *selfPlaySuite) TestContinueAsNewCarriesState() {
	spec := testSpec()
	spec.Rounds = 3
	spec.ContinueAsNewEvery = 2
	s.env.ExecuteWorkflow(SelfPlay, spec, nil)
	s.Require().True(s.env.IsWorkflowCompleted())
	err := s.env.GetWorkflowError()
	s.Require().True(workflow.IsContinueAsNewError(err), "got %v", err)
	var can *workflow.ContinueAsNewError
	s.Require().True(errors.As(err, &can))
	var next RunSpec
	var carry *Carry
	s.Require().NoError(converter.GetDefaultDataConverter().FromPayloads(can.Input, &next, &carry))
	s.Equal(spec, next, "the spec is handed on unchanged; the state travels beside it")
	s.Require().NotNil(carry)
	s.Len(carry.Rounds, 3)
	s.Equal("runs/t1/rounds/002/model.safetensors", carry.Opponent.Key)
	s.Equal(2, carry.BestRound)

	// The next run goes on at round 3 without redoing Prepare or the base.
	s.env = s.NewTestWorkflowEnvironment()
	s.f = &fakes{}
	s.mockAll()
	var prepared, based bool
	s.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		prepared = prepared || info.ActivityType.Name == "Prepare"
		based = based || info.ActivityType.Name == "TrainBase"
	})
	s.env.ExecuteWorkflow(SelfPlay, next, carry)
	res := s.result()
	s.False(prepared)
	s.False(based)
	s.Len(res.Rounds, 4)
	s.Equal(3, res.Rounds[3].Round)
	s.Equal("runs/t1/rounds/002/model.safetensors", s.f.train[0].Opponent.Key)
	s.Equal(3, res.BestRound)
}

// sft's loss in an sft run's rounds: a new history trains with the spec's sft_norm ("" is
// maximum likelihood, "token"); a history recorded before the "sft-norm" marker trained
// with the sequence mean and goes on with it, also after it continues as new (the choice is
// written into the spec it hands on). Other methods are left alone.
func (s *selfPlaySuite) TestSFTNormOfOldHistories() {
	sft := testSpec()
	sft.Method, sft.Mu, sft.Rounds, sft.ContinueAsNewEvery = model.MethodSFT, 0, 3, 2
	s.env.ExecuteWorkflow(SelfPlay, sft, nil)
	s.Require().True(workflow.IsContinueAsNewError(s.env.GetWorkflowError()))
	s.Require().NotEmpty(s.f.train)
	for _, tr := range s.f.train {
		s.Equal(model.SFTNorm(""), tr.Loss.SFTNorm, "a new run trains with the default, maximum likelihood")
	}

	for _, spec := range []RunSpec{sft, testSpec()} {
		s.env = s.NewTestWorkflowEnvironment()
		s.f = &fakes{}
		s.mockAll()
		s.env.OnGetVersion(versionSFTNorm, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
		spec.Rounds, spec.ContinueAsNewEvery = 3, 2
		s.env.ExecuteWorkflow(SelfPlay, spec, nil)
		err := s.env.GetWorkflowError()
		var can *workflow.ContinueAsNewError
		s.Require().True(errors.As(err, &can), "got %v", err)
		var next RunSpec
		var carry *Carry
		s.Require().NoError(converter.GetDefaultDataConverter().FromPayloads(can.Input, &next, &carry))
		want := model.SFTNorm("")
		if spec.Method == model.MethodSFT {
			want = model.SFTNormSequence
		}
		s.Require().NotEmpty(s.f.train)
		for _, tr := range s.f.train {
			s.Equal(want, tr.Loss.SFTNorm, "method %s: an old history keeps its loss", spec.Method)
		}
		s.Equal(want, next.SFTNorm, "method %s: the spec handed on keeps it", spec.Method)
		s.NoError(next.Validate())
	}
}

func (s *selfPlaySuite) TestProgressQuery() {
	s.env.ExecuteWorkflow(SelfPlay, testSpec(), nil)
	s.result()
	v, err := s.env.QueryWorkflow(QueryProgress)
	s.Require().NoError(err)
	var p Progress
	s.Require().NoError(v.Get(&p))
	s.Equal("t1", p.Run)
	s.Equal(PhaseDone, p.Phase)
	s.Equal(2, p.Round)
	s.Equal(2, p.Rounds)
	s.Len(p.Results, 3)
	s.Equal(6, p.TotalSteps)
	s.Contains(p.LastMetrics, eval.NLL)
}

func TestValidate(t *testing.T) {
	ok := testSpec()
	require.NoError(t, ok.Validate())
	cases := map[string]func(*RunSpec){
		"rounds":                          func(s *RunSpec) { s.Rounds = -1 },
		"mu":                              func(s *RunSpec) { s.Mu = -2 },
		"mu ":                             func(s *RunSpec) { s.Mu = model.MaxMu + 1 },
		"mu  ":                            func(s *RunSpec) { s.Mu = 0 },
		"generation.top_k":                func(s *RunSpec) { s.Generation.TopK = -1 },
		"base_model.heads":                func(s *RunSpec) { s.BaseModel.Heads = 3 },
		"base_model.lr":                   func(s *RunSpec) { s.BaseModel.LR = 0 },
		"method":                          func(s *RunSpec) { s.Method = "dpo" },
		"lr":                              func(s *RunSpec) { s.LR = math.NaN() },
		"lr ":                             func(s *RunSpec) { s.LR = -1 },
		"name":                            func(s *RunSpec) { s.Name = "Bad Name" },
		"data/task":                       func(s *RunSpec) { s.Data = "x.jsonl" },
		"shards":                          func(s *RunSpec) { s.Shards = -1 },
		"context":                         func(s *RunSpec) { s.Context = s.BaseModel.Context + 1 },
		"context ":                        func(s *RunSpec) { s.Context = -1 },
		"base_model.tokenizer.kind":       func(s *RunSpec) { s.BaseModel.Tokenizer.Kind = "wordpiece" },
		"base_model.tokenizer.vocab_size": func(s *RunSpec) { s.BaseModel.Tokenizer = model.TokenizerSpec{Kind: "bpe", VocabSize: 100} },
		"test_data":                       func(s *RunSpec) { s.TestData = "data/eval.jsonl" }, // with a task
		"test_data ":                      func(s *RunSpec) { s.Task, s.Data, s.TestData = "", "data/a.jsonl", "data/a.jsonl" },
		"scorer.regex":                    func(s *RunSpec) { s.Scorer.Regex = "([0-9]+" },
		"scorer.regex/contains/contains_reference": func(s *RunSpec) { s.Scorer.Regex, s.Scorer.Contains = "x", "y" },
	}
	for field, mutate := range cases {
		s := ok
		mutate(&s)
		err := s.Validate()
		require.Error(t, err, field)
		require.True(t, strings.Contains(err.Error(), strings.TrimSpace(field)+":"), "%s: %v", field, err)
	}
}

// With a base checkpoint the run takes the checkpoint's shape and tokenizer: base_model
// (a model trained from scratch) is not checked, a file may not set both, and context may
// be set (the workflow's Prepare checks it against the checkpoint).
func TestSpecWithBase(t *testing.T) {
	s := testSpec()
	s.Base, s.Context = "bases/gpt2.safetensors", 256
	s.BaseModel.Heads = 3 // unused with a base
	require.NoError(t, s.Validate())
	require.Equal(t, 256, s.runContext())
	s.Context = 0
	require.Equal(t, 0, s.runContext(), "0 is passed on: the base's own context")
	s.Base = ""
	s.BaseModel.Heads = 4
	require.Equal(t, s.BaseModel.Context, s.runContext())
	_, err := ParseSpec([]byte(`{"name":"a","rounds":1,"data":"d.jsonl","base":"b","base_model":{"context":128}}`))
	require.ErrorContains(t, err, `"base" and "base_model" are both set`)
	p, err := ParseSpec([]byte(`{"name":"a","rounds":1,"data":"d.jsonl","base":"b","context":128}`))
	require.NoError(t, err)
	require.NoError(t, p.Validate())
	p, err = ParseSpec([]byte(`{"name":"a","rounds":1,"task":"arith","base_model":{"tokenizer":{"kind":"bpe","vocab_size":512}}}`))
	require.NoError(t, err)
	require.NoError(t, p.Validate())
	require.Equal(t, model.TokenizerSpec{Kind: "bpe", VocabSize: 512}, p.BaseModel.Tokenizer)
	require.Equal(t, DefaultSpec().BaseModel.Shape, p.BaseModel.Shape)
}

// A user's data: allow_duplicates (dataset.Options, inline), test_data and the scorer are
// spec fields; test_data replaces test_frac, so a file may not write both.
func TestSpecUserData(t *testing.T) {
	s, err := ParseSpec([]byte(`{"name":"a","rounds":1,"data":"data/d.jsonl","test_data":"data/e.parquet","allow_duplicates":true,"scorer":{"regex":"^[0-9]+$"}}`))
	require.NoError(t, err)
	require.NoError(t, s.Validate())
	require.True(t, s.AllowDuplicates)
	require.Equal(t, "data/e.parquet", s.TestData)
	require.Equal(t, "^[0-9]+$", s.Scorer.Regex)
	require.False(t, DefaultSpec().AllowDuplicates, "duplicates are an error by default")
	s.TestFrac = 0 // unused with test_data: a Go caller may leave it zero
	require.NoError(t, s.Validate())
	_, err = ParseSpec([]byte(`{"name":"a","rounds":1,"data":"data/d.jsonl","test_data":"data/e.jsonl","test_frac":0.1}`))
	require.ErrorContains(t, err, `"test_data" and "test_frac" are both set`)
	s, err = ParseSpec([]byte(`{"name":"a","rounds":1,"data":"data/d.jsonl","scorer":{"regex":"(["}}`))
	require.NoError(t, err)
	require.ErrorContains(t, s.Validate(), "invalid spec: scorer.regex: \"([\" is not a regular expression")
}

func TestParseSpecRejectsUnknownFields(t *testing.T) {
	_, err := ParseSpec([]byte(`{"name":"a","rounds":1,"task":"arith","learning_rate":1}`))
	require.ErrorContains(t, err, "learning_rate")
	s, err := ParseSpec([]byte(`{"name":"a","rounds":1,"task":"arith","generation":{"temperature":0.7}}`))
	require.NoError(t, err)
	require.NoError(t, s.Validate())
	require.Equal(t, 0.7, s.Generation.Temperature)
	require.Equal(t, DefaultSpec().Generation.MaxNewTokens, s.Generation.MaxNewTokens, "fields a file leaves out keep their default")
	require.Equal(t, DefaultSpec().BaseModel, s.BaseModel)
}

// A spec field written as 0 is taken as 0: an error where 0 is meaningless (with the owner's
// message), the setting itself where it means something (greedy decoding, no warm-up).
func TestParseSpecExplicitZero(t *testing.T) {
	for _, f := range []string{"mu", "lr", "shards", "rounds", "batch_size", "epochs"} {
		s, err := ParseSpec([]byte(`{"name":"a","rounds":1,"task":"arith","` + f + `":0}`))
		require.NoError(t, err)
		require.ErrorContains(t, s.Validate(), f+": is 0", "an explicit zero %s must be an error, not the default", f)
	}
	s, err := ParseSpec([]byte(`{"name":"a","rounds":1,"task":"arith","warmup_frac":0,"generation":{"temperature":0}}`))
	require.NoError(t, err)
	require.NoError(t, s.Validate())
	require.Equal(t, 0.0, s.WarmupFrac)
	require.Equal(t, 0.0, s.Generation.Temperature)
}

// The mu walk: a noise ratio the trainer cannot take is refused by the spec's one check,
// with the model's message, before any activity could run.
func TestMuValidatedOnce(t *testing.T) {
	s, err := ParseSpec([]byte(`{"name":"a","rounds":1,"task":"arith","mu":2000}`))
	require.NoError(t, err)
	err = s.Validate()
	require.ErrorContains(t, err, "invalid spec: mu: is 2000; use a number of synthetic responses per prompt between 1 and 1024")
	lc := model.LossConfig{Method: model.MethodSPACE, Mu: 2000}
	require.ErrorContains(t, lc.Validate(), "between 1 and 1024", "the spec's check is the model's")
}

// Histories recorded before complete specs (no version marker) gave zero fields their
// defaults: the legacy path must give a spec the same values the old Defaults did.
func TestLegacyDefaults(t *testing.T) {
	old := RunSpec{Name: "a", Rounds: 1, Task: "arith", LossConfig: model.LossConfig{Method: "SPACE"}}
	got := old.legacyDefaults()
	want := DefaultSpec()
	want.Name, want.Rounds, want.Task = "a", 1, "arith"
	require.Equal(t, want, got)
	data := RunSpec{Name: "b", Rounds: 1, Data: "x.jsonl"}.legacyDefaults()
	require.Equal(t, 0, data.N, "n had a default only with a task")
	require.NoError(t, data.Validate())
}
