package workflows

import (
	"encoding/json"
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/space-sft/space/activities"
	"github.com/space-sft/space/eval"
	"github.com/space-sft/space/storage"
)

// SelfPlay runs one self-play fine-tuning run:
//
//	Prepare -> Base (round 0) -> for r = 1..Rounds: Generate shards in parallel -> Train ->
//	Evaluate -> CommitRound -> ... -> Report
//
// It is orchestration only: every piece of work is an activity that reads and writes S3,
// and only keys, sha256s and small metric maps pass through here. Each round's model is
// the next round's opponent. The run continues as new every ContinueAsNewEvery rounds (or
// when the server suggests it), handing its state to the next run as carry (nil for the
// first run: callers pass only the spec).
//
// The spec must be complete (DefaultSpec); it is validated before any activity runs.
// Histories recorded before version 1 of "complete-spec" gave zero fields their defaults
// instead, and replay the same way; those recorded before version 1 of "sft-norm" trained
// sft rounds with the sequence mean, and go on doing so (legacySFTNorm).
func SelfPlay(ctx workflow.Context, spec RunSpec, carry *Carry) (RunResult, error) {
	if workflow.GetVersion(ctx, versionCompleteSpec, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		spec = spec.legacyDefaults()
	}
	if workflow.GetVersion(ctx, versionSFTNorm, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		spec = spec.legacySFTNorm()
	}
	spec = spec.legacyOuter()
	if err := spec.Validate(); err != nil {
		return RunResult{}, temporal.NewNonRetryableApplicationError(err.Error(), "InvalidSpec", nil)
	}
	if carry == nil {
		carry = spec.legacyCarry
	}
	spec.legacyCarry = nil
	if carry == nil {
		carry = &Carry{}
	}

	r := &runner{spec: spec, c: carry, ctl: newControl(ctx, carry)}
	r.prog = Progress{Run: spec.Name, Rounds: spec.Rounds, Results: carry.Rounds, BestRound: carry.BestRound}
	if err := workflow.SetQueryHandler(ctx, QueryProgress, r.progress); err != nil {
		return RunResult{}, err
	}
	if err := r.initVisibility(ctx); err != nil {
		return RunResult{}, err
	}
	return r.run(ctx)
}

// runner is the state of one workflow run.
type runner struct {
	spec RunSpec
	c    *Carry
	ctl  *control
	prog Progress
	// visible: this run sets its search attributes and memo (visibility.go).
	visible bool
}

func (r *runner) progress() (Progress, error) {
	p := r.prog
	p.Results = r.c.Rounds
	p.BestRound = r.c.BestRound
	p.Paused, p.Stopping = r.ctl.paused, r.ctl.stopping
	if n := len(r.c.Rounds); n > 0 {
		p.LastMetrics = r.c.Rounds[n-1].Metrics
	}
	return p, nil
}

func (r *runner) run(ctx workflow.Context) (RunResult, error) {
	log := workflow.GetLogger(ctx)
	if r.c.Prepared.Train.Key == "" {
		if err := r.prepare(ctx); err != nil {
			return RunResult{}, err
		}
	}
	if len(r.c.Rounds) == 0 {
		if err := r.base(ctx); err != nil {
			return RunResult{}, err
		}
	}
	status := StatusCompleted
	ranHere := 0
	for round := r.c.nextRound(); round <= r.spec.Rounds; round++ {
		if r.ctl.stopping {
			status = StatusStopped
			break
		}
		if ranHere >= r.spec.ContinueAsNewEvery || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			return RunResult{}, r.continueAsNew(ctx)
		}
		if err := r.round(ctx, round); err != nil {
			return RunResult{}, err
		}
		ranHere++
		if r.earlyStop() {
			log.Info("early stop", "round", round, "best", r.c.BestRound, "patience", r.spec.EarlyStopPatience)
			status = StatusEarlyStopped
			break
		}
	}
	if r.ctl.stopping && status == StatusCompleted && r.c.nextRound() <= r.spec.Rounds {
		status = StatusStopped
	}
	return r.report(ctx, status)
}

// continueAsNew hands the state to a fresh run of the same workflow ID, so the history
// stays short however many rounds a run has.
func (r *runner) continueAsNew(ctx workflow.Context) error {
	r.ctl.drain()
	r.c.Paused, r.c.Stop = r.ctl.paused, r.ctl.stopping
	workflow.GetLogger(ctx).Info("continue as new", "next_round", r.c.nextRound())
	return workflow.NewContinueAsNewError(ctx, SelfPlay, r.spec, r.c)
}

func (r *runner) prepare(ctx workflow.Context) error {
	var a *activities.Activities
	r.prog.Phase = PhasePrepare
	if err := r.gate(ctx); err != nil {
		return err
	}
	specJSON, err := json.Marshal(r.spec)
	if err != nil {
		return err
	}
	in := activities.PrepareInput{
		Run: r.spec.Name, Data: r.spec.Data, Task: r.spec.Task, N: r.spec.N,
		TestFrac: r.spec.TestFrac, Holdout: r.spec.Holdout, Seed: r.spec.Seed, Context: r.spec.runContext(),
		Shards: r.spec.Shards, Spec: specJSON, Base: r.spec.Base,
		TestData: r.spec.TestData, Dataset: r.spec.Options,
	}
	if r.spec.Base == "" {
		in.Tokenizer = r.spec.BaseModel.Tokenizer
	}
	var out activities.PrepareOutput
	if err := r.execute(ctx, ShortActivities(ctx), a.Prepare, in).Get(ctx, &out); err != nil {
		return StepError("prepare", err)
	}
	r.c.Prepared = out
	return nil
}

// base trains (or verifies) the base model and records it as round 0, the first opponent.
func (r *runner) base(ctx workflow.Context) error {
	var a *activities.Activities
	r.prog.Phase, r.prog.Round = PhaseBase, 0
	if err := r.gate(ctx); err != nil {
		return err
	}
	s := r.spec
	in := activities.BaseInput{
		Run: s.Name, Base: s.Base, Shape: s.BaseModel.Shape, Optim: s.baseOptim(),
		Seed: s.Seed, Train: r.c.Prepared.Train, Durability: s.Durability,
		Tokenizer: r.c.Prepared.Tokenizer, Context: r.c.Prepared.Context,
	}
	var out activities.TrainOutput
	if err := r.execute(ctx, s.Timeouts.LongActivities(ctx, s.TaskQueues.Train), a.TrainBase, in).Get(ctx, &out); err != nil {
		return StepError("base", err)
	}
	r.c.Base, r.c.Opponent = out.Model, out.Model
	r.prog.Step, r.prog.TotalSteps = out.Steps, out.Steps
	res, err := r.evaluateAndCommit(ctx, 0, out, nil)
	if err != nil {
		return err
	}
	r.c.Rounds = append(r.c.Rounds, res)
	r.c.BestRound = 0
	return r.publishBest(ctx)
}

// round runs one self-play round: synthetic data from the opponent, training from the
// opponent, evaluation, and the commit that makes the round's model the next opponent.
func (r *runner) round(ctx workflow.Context, round int) error {
	var a *activities.Activities
	s := r.spec
	r.prog.Round, r.prog.Step, r.prog.TotalSteps = round, 0, 0

	shards, err := r.generate(ctx, round)
	if err != nil {
		return err
	}

	r.prog.Phase = PhaseTrain
	if err := r.gate(ctx); err != nil {
		return err
	}
	var out activities.TrainOutput
	if s.OuterConfig.Enabled() && workflow.GetVersion(ctx, versionDiLoCo, workflow.DefaultVersion, 1) == 1 {
		if out, err = r.trainOuter(ctx, round, shards); err != nil {
			return err
		}
	} else {
		in := activities.TrainInput{
			Run: s.Name, Round: round, Loss: s.LossConfig,
			Opponent: r.c.Opponent, Train: r.c.Prepared.Train, Shards: shards,
			Optim: s.OptimConfig, Seed: s.Seed + uint64(round), Durability: s.Durability,
		}
		if err := r.execute(ctx, s.Timeouts.LongActivities(ctx, s.TaskQueues.Train), a.Train, in).Get(ctx, &out); err != nil {
			return StepError(fmt.Sprintf("round %d train", round), err)
		}
	}
	r.prog.Step, r.prog.TotalSteps = out.Steps, out.Steps

	res, err := r.evaluateAndCommit(ctx, round, out, shards)
	if err != nil {
		return err
	}
	r.c.Rounds = append(r.c.Rounds, res)
	r.c.Opponent = storage.Ref{Key: res.ModelKey, SHA256: res.ModelSHA256}
	if better(res.Metrics, r.bestMetrics()) {
		r.c.BestRound = round
	}
	return r.publishBest(ctx)
}

// trainOuter trains a round over TrainWorkers workers (DiLoCo, see model.OuterConfig and
// activities/train_outer.go): each outer step runs one TrainWorker activity per worker on
// the train task queue, all from the same global weights, then CombineOuter; only keys and
// sha256s pass through here. The round's model is the last combination's.
func (r *runner) trainOuter(ctx workflow.Context, round int, shards []storage.Ref) (activities.TrainOutput, error) {
	var a *activities.Activities
	s := r.spec
	o := s.OuterConfig
	steps, err := o.OuterSteps(r.c.Prepared.NTrain, s.OptimConfig)
	if err != nil {
		return activities.TrainOutput{}, temporal.NewNonRetryableApplicationError("invalid spec: "+err.Error(), activities.ErrInvalidInput, nil)
	}
	r.prog.OuterStep, r.prog.OuterSteps = 0, steps
	defer func() { r.prog.OuterStep, r.prog.OuterSteps = 0, 0 }()
	wctx := s.Timeouts.LongActivities(ctx, s.TaskQueues.Train)
	global, momentum := r.c.Opponent, storage.Ref{}
	states := make([]storage.Ref, o.TrainWorkers)
	models := make([]storage.Ref, o.TrainWorkers)
	var logs []storage.Ref
	var out activities.TrainOutput
	for t := 0; t < steps; t++ {
		if err := r.gate(ctx); err != nil {
			return activities.TrainOutput{}, err
		}
		futures := make([]workflow.Future, o.TrainWorkers)
		for k := range futures {
			futures[k] = r.execute(ctx, wctx, a.TrainWorker, activities.TrainWorkerInput{
				Run: s.Name, Round: round, Loss: s.LossConfig, Train: r.c.Prepared.Train, Shards: shards,
				Optim: s.OptimConfig, Seed: s.Seed + uint64(round), Durability: s.Durability,
				Outer: o, Worker: k, Step: t, Global: global, State: states[k],
			})
		}
		out.Steps, out.FinalLoss = 0, 0 // the workers' step counts are of the whole round so far
		logs = logs[:0]
		err := WaitAll(ctx, futures, func(k int) string { return fmt.Sprintf("round %d outer step %d worker %d", round, t, k) },
			func(k int, wo activities.TrainWorkerOutput) error {
				states[k], models[k] = wo.State, wo.Model
				if wo.Log.Key != "" {
					logs = append(logs, wo.Log)
				}
				out.Steps += wo.Steps
				out.Tokens += wo.Tokens
				out.FinalLoss += wo.FinalLoss / float64(o.TrainWorkers)
				return nil
			})
		if err != nil {
			return activities.TrainOutput{}, err
		}
		var co activities.CombineOutput
		cin := activities.CombineInput{Run: s.Name, Round: round, Step: t, Steps: steps, Outer: o, Global: global, Workers: models, Momentum: momentum}
		if t == steps-1 {
			cin.Logs = logs
		}
		if err := r.execute(ctx, wctx, a.CombineOuter, cin).Get(ctx, &co); err != nil {
			return activities.TrainOutput{}, StepError(fmt.Sprintf("round %d outer step %d combine", round, t), err)
		}
		global, momentum = co.Global, co.Momentum
		out.Log = co.Log
		r.prog.OuterStep = t + 1
		r.prog.Step, r.prog.TotalSteps = out.Steps, 0
	}
	out.Model = global
	return out, nil
}

// generate fans the train prompts out over Shards parallel activities (prompt i goes to
// shard i % Shards) and waits for all of them. SFT needs no synthetic data.
func (r *runner) generate(ctx workflow.Context, round int) ([]storage.Ref, error) {
	var a *activities.Activities
	s := r.spec
	if !s.SelfPlay() {
		return nil, nil
	}
	r.prog.Phase = PhaseGenerate
	if err := r.gate(ctx); err != nil {
		return nil, err
	}
	actx := s.Timeouts.LongActivities(ctx, s.TaskQueues.Generate)
	futures := make([]workflow.Future, s.Shards)
	for k := range futures {
		futures[k] = r.execute(ctx, actx, a.Generate, activities.GenerateInput{
			Run: s.Name, Round: round, Shard: k, Shards: s.Shards,
			Opponent: r.c.Opponent, Train: r.c.Prepared.Train,
			Mu: s.Mu, Sampling: s.Generation, Seed: s.Seed,
		})
	}
	shards := make([]storage.Ref, s.Shards)
	err := WaitAll(ctx, futures, func(k int) string { return fmt.Sprintf("round %d generate shard %d", round, k) },
		func(k int, out activities.GenerateOutput) error { shards[k] = out.Shard; return nil })
	return shards, err
}

// evaluateAndCommit scores a round's model and writes its manifest (last).
func (r *runner) evaluateAndCommit(ctx workflow.Context, round int, tr activities.TrainOutput, shards []storage.Ref) (RoundResult, error) {
	var a *activities.Activities
	s := r.spec
	opponent := r.c.Opponent // for round 0 this is the base itself: rewards are 0

	r.prog.Phase = PhaseEvaluate
	if err := r.gate(ctx); err != nil {
		return RoundResult{}, err
	}
	ein := activities.EvaluateInput{
		Run: s.Name, Round: round, Model: tr.Model, Opponent: opponent,
		Train: r.c.Prepared.Train, Test: r.c.Prepared.Test, Shards: shards,
		Task: s.Task, Mu: s.Mu, Sampling: s.Generation, Seed: s.Seed, MaxEval: s.MaxEval,
		Scorer: s.Scorer,
	}
	ev, err := r.evaluate(ctx, ein)
	if err != nil {
		return RoundResult{}, err
	}
	metrics := map[string]float64{eval.TrainLoss: tr.FinalLoss}
	for k, v := range ev.Values {
		metrics[k] = v
	}

	if err := r.gate(ctx); err != nil {
		return RoundResult{}, err
	}
	cin := activities.CommitInput{
		Run: s.Name, Round: round, Method: string(s.Method), Model: tr.Model, Opponent: opponent,
		Metrics: ev.File, Values: metrics, Shards: shards, TrainLog: tr.Log,
	}
	var manifest storage.Ref
	if err := r.execute(ctx, ShortActivities(ctx), a.CommitRound, cin).Get(ctx, &manifest); err != nil {
		return RoundResult{}, StepError(fmt.Sprintf("round %d commit", round), err)
	}
	return RoundResult{Round: round, ModelKey: tr.Model.Key, ModelSHA256: tr.Model.SHA256, Metrics: metrics, ManifestKey: manifest.Key}, nil
}

func (r *runner) report(ctx workflow.Context, status string) (RunResult, error) {
	var a *activities.Activities
	r.prog.Phase = PhaseReport
	res := RunResult{Run: r.spec.Name, Status: status, Rounds: r.c.Rounds, BestRound: r.c.BestRound}
	in := activities.ReportInput{Run: r.spec.Name, Method: string(r.spec.Method), Status: status, BestRound: r.c.BestRound, Rounds: r.c.Rounds}
	var rep storage.Ref
	if err := r.execute(ctx, ShortActivities(ctx), a.Report, in).Get(ctx, &rep); err != nil {
		return RunResult{}, StepError("report", err)
	}
	res.ReportKey = rep.Key
	if err := r.publishStatus(ctx, status); err != nil {
		return RunResult{}, err
	}
	if status == StatusCompleted || status == StatusEarlyStopped {
		r.prog.Phase = PhaseDone
	} else {
		r.prog.Phase = PhaseStopped
	}
	return res, nil
}

// earlyStop is true when EarlyStopPatience rounds have passed without a new best.
func (r *runner) earlyStop() bool {
	p := r.spec.EarlyStopPatience
	return p > 0 && r.c.nextRound()-1-r.c.BestRound >= p
}

func (r *runner) bestMetrics() map[string]float64 {
	for _, rr := range r.c.Rounds {
		if rr.Round == r.c.BestRound {
			return rr.Metrics
		}
	}
	return nil
}

// better orders rounds: by the task metric when the run has a task (higher is better),
// then by the held-out NLL per token (lower is better), so a tie on a coarse task metric
// (a small test set) is broken by the finer one. A tie on both keeps the earlier round.
func better(m, than map[string]float64) bool {
	if than == nil {
		return true
	}
	a, aok := m[eval.TaskScore]
	b, bok := than[eval.TaskScore]
	if aok && bok && a != b {
		return a > b
	}
	return m[eval.NLL] < than[eval.NLL]
}

// StepError names the step that failed and keeps the error type, so that a non-retryable
// activity error (NonFinite, InvalidInput, Integrity) fails the workflow with the same type
// and a message that says where it happened. The activity's message is carried over once:
// keeping the activity error as the cause as well would print it twice.
// WaitAll waits for every future in order (nil ones are skipped), so that no activity or
// child is left running unobserved when one fails, and hands each result to got. It returns
// the first failure, as StepError(where(i), err), or got's first error.
func WaitAll[T any](ctx workflow.Context, futures []workflow.Future, where func(i int) string, got func(i int, out T) error) error {
	var firstErr error
	for i, f := range futures {
		if f == nil {
			continue
		}
		var out T
		if err := f.Get(ctx, &out); err != nil {
			if firstErr == nil {
				firstErr = StepError(where(i), err)
			}
			continue
		}
		if err := got(i, out); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

func StepError(where string, err error) error {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return temporal.NewNonRetryableApplicationError(where+": "+app.Message(), app.Type(), nil)
	}
	return fmt.Errorf("%s: %w", where, err)
}
