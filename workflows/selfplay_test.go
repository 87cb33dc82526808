package workflows

import (
	"context"
	"errors"
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
	s.env.OnActivity(a.Evaluate, mock.Anything, mock.Anything).Return(s.f.Evaluate).Maybe()
	s.env.OnActivity(a.CommitRound, mock.Anything, mock.Anything).Return(s.f.CommitRound).Maybe()
	s.env.OnActivity(a.Report, mock.Anything, mock.Anything).Return(s.f.Report).Maybe()
}

func testSpec() RunSpec {
	return RunSpec{Name: "t1", Rounds: 2, Task: "arith", N: 12, Shards: 3, Seed: 7}
}

func (s *selfPlaySuite) result() RunResult {
	s.Require().True(s.env.IsWorkflowCompleted())
	s.Require().NoError(s.env.GetWorkflowError())
	var res RunResult
	s.Require().NoError(s.env.GetWorkflowResult(&res))
	return res
}

func (s *selfPlaySuite) TestHappyPathTwoRoundsShardFanOut() {
	s.env.ExecuteWorkflow(SelfPlay, testSpec())
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
	s.Equal("space", s.f.train[0].Method)
	s.Equal(0.5, res.Rounds[1].Metrics[eval.TrainLoss])
}

func (s *selfPlaySuite) TestSFTSkipsGeneration() {
	spec := testSpec()
	spec.Method = "sft"
	s.env.ExecuteWorkflow(SelfPlay, spec)
	res := s.result()
	s.Len(res.Rounds, 3)
	s.Empty(s.f.generate)
}

func (s *selfPlaySuite) TestInvalidSpecIsNonRetryable() {
	spec := testSpec()
	spec.Rounds = 0
	s.env.ExecuteWorkflow(SelfPlay, spec)
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
	env.ExecuteWorkflow(SelfPlay, testSpec())
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
	s.env.ExecuteWorkflow(SelfPlay, testSpec())
	res := s.result()
	s.Equal(PhasePaused, during.Phase)
	s.True(during.Paused)
	s.Equal(StatusCompleted, res.Status)
	s.Len(res.Rounds, 3)
}

func (s *selfPlaySuite) TestStopFinishesRoundThenReports() {
	spec := testSpec()
	spec.Rounds = 4
	spec.ContinueAsNewEvery = 10
	// Pause early, then stop while paused: the paused round goes on to its end, no new
	// round starts, and the report is still written.
	s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(SignalPause, nil) }, 0)
	s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(SignalStop, nil) }, time.Hour)
	s.env.ExecuteWorkflow(SelfPlay, spec)
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
	s.env.ExecuteWorkflow(SelfPlay, spec)
	res := s.result()
	s.Equal(StatusEarlyStopped, res.Status)
	s.Equal(2, res.BestRound)
	s.Len(res.Rounds, 5) // base, 1, 2, and the two rounds of patience
}

func (s *selfPlaySuite) TestContinueAsNewCarriesState() {
	spec := testSpec()
	spec.Rounds = 3
	spec.ContinueAsNewEvery = 2
	s.env.ExecuteWorkflow(SelfPlay, spec)
	s.Require().True(s.env.IsWorkflowCompleted())
	err := s.env.GetWorkflowError()
	s.Require().True(workflow.IsContinueAsNewError(err), "got %v", err)
	var can *workflow.ContinueAsNewError
	s.Require().True(errors.As(err, &can))
	var next RunSpec
	s.Require().NoError(converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	s.Require().NotNil(next.Carry)
	s.Len(next.Carry.Rounds, 3)
	s.Equal("runs/t1/rounds/002/model.safetensors", next.Carry.Opponent.Key)
	s.Equal(2, next.Carry.BestRound)

	// The next run goes on at round 3 without redoing Prepare or the base.
	s.env = s.NewTestWorkflowEnvironment()
	s.f = &fakes{}
	s.mockAll()
	var prepared, based bool
	s.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		prepared = prepared || info.ActivityType.Name == "Prepare"
		based = based || info.ActivityType.Name == "TrainBase"
	})
	s.env.ExecuteWorkflow(SelfPlay, next)
	res := s.result()
	s.False(prepared)
	s.False(based)
	s.Len(res.Rounds, 4)
	s.Equal(3, res.Rounds[3].Round)
	s.Equal("runs/t1/rounds/002/model.safetensors", s.f.train[0].Opponent.Key)
	s.Equal(3, res.BestRound)
}

func (s *selfPlaySuite) TestProgressQuery() {
	s.env.ExecuteWorkflow(SelfPlay, testSpec())
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
	ok := testSpec().Defaults()
	require.NoError(t, ok.Validate())
	cases := map[string]func(*RunSpec){
		"rounds":    func(s *RunSpec) { s.Rounds = -1 },
		"mu":        func(s *RunSpec) { s.Mu = -2 },
		"method":    func(s *RunSpec) { s.Method = "dpo" },
		"lr":        func(s *RunSpec) { s.LR = math.NaN() },
		"lr ":       func(s *RunSpec) { s.LR = -1 },
		"name":      func(s *RunSpec) { s.Name = "Bad Name" },
		"data/task": func(s *RunSpec) { s.Data = "x.jsonl" },
		"shards":    func(s *RunSpec) { s.Shards = -1 },
	}
	for field, mutate := range cases {
		s := ok
		mutate(&s)
		err := s.Validate()
		require.Error(t, err, field)
		require.True(t, strings.Contains(err.Error(), strings.TrimSpace(field)+":"), "%s: %v", field, err)
	}
}

func TestParseSpecRejectsUnknownFields(t *testing.T) {
	_, err := ParseSpec([]byte(`{"name":"a","rounds":1,"task":"arith","learning_rate":1}`))
	require.ErrorContains(t, err, "learning_rate")
	s, err := ParseSpec([]byte(`{"name":"a","rounds":1,"task":"arith","generation":{"temperature":0.7}}`))
	require.NoError(t, err)
	require.NoError(t, s.Defaults().Validate())
	require.Equal(t, 0.7, s.Generation.Temperature)
	for _, f := range []string{"mu", "lr", "shards"} {
		_, err = ParseSpec([]byte(`{"name":"a","rounds":1,"task":"arith","` + f + `":0}`))
		require.ErrorContains(t, err, f+": 0", "an explicit zero %s must be an error, not the default", f)
	}
	_, err = ParseSpec([]byte(`{"name":"a","rounds":1,"task":"arith","mu":3}`))
	require.NoError(t, err)
	// 0 is meaningful for these (no warm-up, greedy) but means "the default" in a spec.
	_, err = ParseSpec([]byte(`{"name":"a","rounds":1,"task":"arith","generation":{"temperature":0}}`))
	require.ErrorContains(t, err, "generation.temperature: 0 would mean the default temperature")
	_, err = ParseSpec([]byte(`{"name":"a","rounds":1,"task":"arith","warmup_frac":0.0}`))
	require.ErrorContains(t, err, "warmup_frac: 0 would mean the default warm-up")
	s, err = ParseSpec([]byte(`{"name":"a","rounds":1,"task":"arith","warmup_frac":0.001,"generation":{"temperature":0.05}}`))
	require.NoError(t, err)
	require.NoError(t, s.Defaults().Validate())
	require.Equal(t, 0.001, s.WarmupFrac)
}
