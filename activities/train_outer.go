package activities

// Data-parallel training of a round over K workers (DiLoCo; model.OuterConfig has the math).
// Each outer step t, the workflow runs K TrainWorker activities (on the train task queue,
// so K workers take one each) and then CombineOuter:
//
//	TrainWorker k:  global weights theta_t + worker k's trainer after step t-1 (none for t = 0)
//	                -> H inner steps on shard k (examples i % K == k)
//	                -> its trainer after step t   (OuterWorkerKey: weights and inner optimizer)
//	                   and its weights alone      (OuterWorkerModelKey)
//	CombineOuter:   theta_t, the K workers' weights, the outer momentum after step t-1
//	                -> theta_t+1 (OuterGlobalKey; the round's model after the last step)
//	                   and the momentum after step t (OuterMomentumKey)
//
// A worker's inner optimizer state (RMSProp/Adam moments, its step, its learning-rate
// schedule over its shard's whole round, its data order) persists across outer steps as in
// DiLoCo, through S3: the trainer checkpoint a worker writes at the end of step t is what it
// resumes at step t+1, with its weights replaced by theta_t+1. Any process may run any shard.
// Within an outer step a worker checkpoints as Train does (Durability), under its own
// manifest, so a retry after a crash resumes mid-step.
//
// Every key's content is a function of the run's inputs (the trainers and the combination
// are deterministic), so a retried or late attempt writes the bytes an earlier one wrote, and
// a reader verifies them against the sha256 that travelled in the workflow.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/space-sft/space/dataset"
	"github.com/space-sft/space/model"
	"github.com/space-sft/space/storage"
)

// TrainWorkerInput is worker Worker's share of outer step Step of a round trained over
// Outer.Workers workers.
type TrainWorkerInput struct {
	Run        string            `json:"run"`
	Round      int               `json:"round"`
	Loss       model.LossConfig  `json:"loss"`
	Train      storage.Ref       `json:"train"`
	Shards     []storage.Ref     `json:"shards,omitempty"` // the round's synthetic data (all of it: the worker takes its share)
	Optim      model.OptimConfig `json:"optim"`
	Seed       uint64            `json:"seed"` // the round's; each worker's data order derives from it
	Durability Durability        `json:"durability"`
	Outer      model.OuterConfig `json:"outer"`
	Worker     int               `json:"worker"`         // k, 0-based
	Step       int               `json:"step"`           // outer step t, 0-based
	Global     storage.Ref       `json:"global"`         // theta_t (the opponent for t = 0)
	State      storage.Ref       `json:"state,omitzero"` // worker k's trainer after step t-1; empty for t = 0
}

// TrainWorkerOutput is a worker's trainer after the outer step, its weights alone (a fifth
// of the trainer with RMSProp or Adam in float64: what CombineOuter reads), its training
// history once its shard is done, and a summary.
type TrainWorkerOutput struct {
	State       storage.Ref `json:"state"`
	Model       storage.Ref `json:"model"`
	Log         storage.Ref `json:"log,omitzero"` // when Steps == Total
	Steps       int         `json:"steps"`        // the worker's inner steps done so far in the round
	Total       int         `json:"total"`        // its inner steps in the round
	FinalLoss   float64     `json:"final_loss"`
	Tokens      int         `json:"tokens"`
	ResumedFrom int         `json:"resumed_from,omitempty"` // inner step a retry resumed from (0: none)
}

// CombineInput combines the workers of outer step Step (of Steps).
type CombineInput struct {
	Run      string            `json:"run"`
	Round    int               `json:"round"`
	Step     int               `json:"step"`
	Steps    int               `json:"steps"`
	Outer    model.OuterConfig `json:"outer"`
	Global   storage.Ref       `json:"global"`            // theta_t
	Workers  []storage.Ref     `json:"workers"`           // TrainWorkerOutput.Model, in worker order
	Logs     []storage.Ref     `json:"logs,omitempty"`    // TrainWorkerOutput.Log, in worker order (the last step)
	Momentum storage.Ref       `json:"momentum,omitzero"` // after step t-1; empty for t = 0
}

// CombineOutput is the global state after the outer step. After the last one, Global is the
// round's model (RoundModelKey) and Log its training log (every worker's steps).
type CombineOutput struct {
	Global   storage.Ref `json:"global"`
	Momentum storage.Ref `json:"momentum"`
	Log      storage.Ref `json:"log,omitzero"`
}

// workerSeed is worker k's data-order seed: the round's seed for worker 0, and streams
// apart from it for the others.
func workerSeed(seed uint64, k int) uint64 { return seed + uint64(k)*0x9e3779b97f4a7c15 }

// TrainWorker runs worker in.Worker's inner steps of outer step in.Step.
func (a *Activities) TrainWorker(ctx context.Context, in TrainWorkerInput) (out TrainWorkerOutput, err error) {
	defer a.track(ctx, "train", in.Run, in.Round)(&err)
	out, err = a.trainWorker(ctx, in)
	return out, Classify(err)
}

func (a *Activities) trainWorker(ctx context.Context, in TrainWorkerInput) (TrainWorkerOutput, error) {
	if err := in.Outer.Validate(); err != nil {
		return TrainWorkerOutput{}, err
	}
	if in.Worker < 0 || in.Worker >= in.Outer.TrainWorkers || in.Step < 0 {
		return TrainWorkerOutput{}, Invalid(fmt.Sprintf("worker %d, outer step %d of %d workers: out of range", in.Worker, in.Step, in.Outer.TrainWorkers))
	}
	global, err := a.loadModel(ctx, in.Global)
	if err != nil {
		return TrainWorkerOutput{}, err
	}
	pairs, err := a.loadPairs(ctx, in.Train)
	if err != nil {
		return TrainWorkerOutput{}, err
	}
	var items []ShardItem
	if in.Loss.SelfPlay() {
		if items, err = a.loadShards(ctx, in.Shards, len(pairs), in.Loss.Mu); err != nil {
			return TrainWorkerOutput{}, err
		}
	}
	// Only this worker's shard is encoded.
	var shardPairs []dataset.Pair
	var shardItems []ShardItem
	for _, i := range in.Outer.ShardIndices(len(pairs), in.Worker) {
		shardPairs = append(shardPairs, pairs[i])
		if items != nil {
			shardItems = append(shardItems, items[i])
		}
	}
	if len(shardPairs) == 0 {
		return TrainWorkerOutput{}, Invalid(fmt.Sprintf("worker %d of %d has no examples (%d train pairs); use at most %d train_workers", in.Worker, in.Outer.TrainWorkers, len(pairs), len(pairs)))
	}
	data, err := examples(global, shardPairs, shardItems)
	if err != nil {
		return TrainWorkerOutput{}, err
	}
	j := trainJob{
		run: in.Run, round: in.Round, phase: "train", model: global, data: data,
		tc:  model.TrainConfig{Loss: in.Loss, OptimConfig: in.Optim, Seed: workerSeed(in.Seed, in.Worker)},
		dur: in.Durability,
		ckpts: ckptKeys{
			manifest: storage.OuterWorkerManifestKey(in.Run, in.Round, in.Step, in.Worker),
			step: func(s int) string {
				return storage.OuterWorkerCkptKey(in.Run, in.Round, in.Step, in.Worker, s)
			},
		},
	}
	// A checkpoint within this outer step (a retry after a crash) comes first; else the
	// worker's trainer of the previous step with the new global weights; else a new trainer.
	tr, listed, err := a.resume(ctx, j)
	if err != nil {
		return TrainWorkerOutput{}, err
	}
	out := TrainWorkerOutput{}
	fromState := false
	switch {
	case tr != nil:
		out.ResumedFrom = tr.StepCount()
		a.log().Info("resumed worker", "run", in.Run, "round", in.Round, "outer_step", in.Step, "worker", in.Worker, "inner_step", tr.StepCount())
	case in.State.Key != "":
		_, err := a.Store.GetStream(ctx, in.State.Key, in.State.SHA256, 0, func(r io.Reader) (err error) {
			tr, err = model.ResumeTrainer(r, data, j.tc)
			return err
		})
		if err != nil {
			return TrainWorkerOutput{}, fmt.Errorf("load worker %d trainer %s: %w", in.Worker, in.State.Key, err)
		}
		if err := tr.SetWeights(global); err != nil {
			return TrainWorkerOutput{}, err
		}
		fromState = true
	case in.Step > 0:
		return TrainWorkerOutput{}, Invalid(fmt.Sprintf("outer step %d of worker %d has no state: every outer step after the first continues the worker's trainer of the previous one", in.Step, in.Worker))
	default:
		if tr, err = model.NewTrainer(global, data, j.tc); err != nil {
			return TrainWorkerOutput{}, err
		}
		fromState = true // a new trainer is at step 0, the start of outer step 0
	}
	// A state must be at the outer step's start; a checkpoint within it, past its start.
	from, stop := min(in.Step*in.Outer.LocalSteps, tr.TotalSteps()), min((in.Step+1)*in.Outer.LocalSteps, tr.TotalSteps())
	if (fromState && tr.StepCount() != from) || (!fromState && (tr.StepCount() <= from || tr.StepCount() > stop)) {
		return TrainWorkerOutput{}, Invalid(fmt.Sprintf("worker %d's trainer is at inner step %d, outer step %d covers steps %d to %d; the state belongs to another outer step", in.Worker, tr.StepCount(), in.Step, from, stop))
	}
	hb := startHeartbeat(ctx, Heartbeat{Phase: j.phase, Round: j.round, Step: tr.StepCount(), Total: tr.TotalSteps()})
	defer hb.done()
	tout := TrainOutput{}
	if err := a.steps(ctx, j, tr, listed, hb, stop, &tout); err != nil {
		return TrainWorkerOutput{}, err
	}
	key := storage.OuterWorkerKey(in.Run, in.Round, in.Step, in.Worker)
	obj, err := a.Store.PutStream(ctx, key, tr.Save)
	if err != nil {
		return TrainWorkerOutput{}, fmt.Errorf("save worker %d trainer %s: %w", in.Worker, key, err)
	}
	out.State, out.Steps, out.Total, out.Tokens = obj.Ref(), tr.StepCount(), tr.TotalSteps(), tout.Tokens
	if out.Model, err = a.saveModel(ctx, storage.OuterWorkerModelKey(in.Run, in.Round, in.Step, in.Worker), tr.Model()); err != nil {
		return TrainWorkerOutput{}, err
	}
	if tr.Done() {
		if out.Log, err = a.saveTrainLog(ctx, storage.OuterWorkerLogKey(in.Run, in.Round, in.Step, in.Worker), tr.History()); err != nil {
			return TrainWorkerOutput{}, err
		}
	}
	out.FinalLoss = tout.FinalLoss
	if h := tr.History(); len(h) > 0 {
		out.FinalLoss = h[len(h)-1].Loss
	}
	a.log().Info("worker trained", "run", in.Run, "round", in.Round, "outer_step", in.Step, "worker", in.Worker, "inner_steps", out.Steps, "of", out.Total, "loss", out.FinalLoss)
	return out, nil
}

// CombineOuter applies outer step in.Step: the average of the workers' weight deltas through
// the outer optimizer (model.OuterConfig.OuterStep). After the last step it writes the
// round's model and training log.
func (a *Activities) CombineOuter(ctx context.Context, in CombineInput) (out CombineOutput, err error) {
	defer a.track(ctx, "combine", in.Run, in.Round)(&err)
	out, err = a.combineOuter(ctx, in)
	return out, Classify(err)
}

func (a *Activities) combineOuter(ctx context.Context, in CombineInput) (CombineOutput, error) {
	start := time.Now()
	if err := in.Outer.Validate(); err != nil {
		return CombineOutput{}, err
	}
	if len(in.Workers) != in.Outer.TrainWorkers {
		return CombineOutput{}, Invalid(fmt.Sprintf("outer step %d has %d worker results, train_workers is %d", in.Step, len(in.Workers), in.Outer.TrainWorkers))
	}
	hb := startHeartbeat(ctx, Heartbeat{Phase: "combine", Round: in.Round, Step: in.Step, Total: in.Steps})
	defer hb.done()
	global, err := a.loadModel(ctx, in.Global)
	if err != nil {
		return CombineOutput{}, err
	}
	// One worker's weights at a time, added in worker order (model.OuterSum): the memory of
	// the sum, not of K models.
	sum := model.NewOuterSum(global)
	for _, w := range in.Workers {
		local, err := a.loadModel(ctx, w)
		if err != nil {
			return CombineOutput{}, err
		}
		if err := sum.Add(local); err != nil {
			return CombineOutput{}, Invalid(fmt.Sprintf("outer step %d: %v", in.Step, err))
		}
	}
	st := model.NewOuterState(global)
	if in.Momentum.Key != "" {
		_, err := a.Store.GetStream(ctx, in.Momentum.Key, in.Momentum.SHA256, 0, func(r io.Reader) (err error) {
			st, err = model.LoadOuterState(r, global)
			return err
		})
		if err != nil {
			return CombineOutput{}, fmt.Errorf("load outer state %s: %w", in.Momentum.Key, err)
		}
	}
	if st.Steps != in.Step {
		return CombineOutput{}, Invalid(fmt.Sprintf("outer state has %d steps, outer step %d needs %d; it belongs to another step", st.Steps, in.Step, in.Step))
	}
	if err := in.Outer.OuterStepSum(global, sum, st); err != nil {
		return CombineOutput{}, fmt.Errorf("round %d outer step %d: %w", in.Round, in.Step, err)
	}
	var out CombineOutput
	mkey := storage.OuterMomentumKey(in.Run, in.Round, in.Step)
	obj, err := a.Store.PutStream(ctx, mkey, func(w io.Writer) error { return st.Save(w, global) })
	if err != nil {
		return CombineOutput{}, fmt.Errorf("save outer state %s: %w", mkey, err)
	}
	out.Momentum = obj.Ref()
	gkey := storage.OuterGlobalKey(in.Run, in.Round, in.Step)
	last := in.Step == in.Steps-1
	if last {
		gkey = storage.RoundModelKey(in.Run, in.Round)
		if out.Log, err = a.saveWorkersLog(ctx, in); err != nil {
			return CombineOutput{}, err
		}
	}
	if out.Global, err = a.saveModel(ctx, gkey, global); err != nil {
		return CombineOutput{}, err
	}
	a.log().Info("outer step", "run", in.Run, "round", in.Round, "outer_step", in.Step, "of", in.Steps, "workers", len(in.Workers), "seconds", time.Since(start).Seconds())
	return out, nil
}

// saveWorkersLog writes the round's training log from the workers' histories: one JSON line
// per inner step and worker (model.StepInfo plus "worker"), by step, then worker.
func (a *Activities) saveWorkersLog(ctx context.Context, in CombineInput) (storage.Ref, error) {
	if len(in.Logs) != len(in.Workers) {
		return storage.Ref{}, Invalid(fmt.Sprintf("the last outer step has %d worker logs for %d workers; every worker's shard must be done", len(in.Logs), len(in.Workers)))
	}
	hists := make([][]model.StepInfo, len(in.Logs))
	longest := 0
	for k, l := range in.Logs {
		b, err := a.read(ctx, l)
		if err != nil {
			return storage.Ref{}, fmt.Errorf("read worker %d log %s: %w", k, l.Key, err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		for dec.More() {
			var st model.StepInfo
			if err := dec.Decode(&st); err != nil {
				return storage.Ref{}, fmt.Errorf("worker %d log %s: %w", k, l.Key, err)
			}
			hists[k] = append(hists[k], st)
		}
		longest = max(longest, len(hists[k]))
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for s := 0; s < longest; s++ {
		for k, h := range hists {
			if s >= len(h) {
				continue
			}
			line := struct {
				model.StepInfo
				Worker int `json:"worker"`
			}{h[s], k}
			if err := enc.Encode(line); err != nil {
				return storage.Ref{}, fmt.Errorf("training log worker %d step %d: %w", k, h[s].Step, err)
			}
		}
	}
	return a.put(ctx, storage.TrainLogKey(in.Run, in.Round), b.Bytes())
}
