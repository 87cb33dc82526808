package workflows

import (
	"context"
	"fmt"
	"sync"

	"github.com/space-sft/space/activities"
	"github.com/space-sft/space/eval"
	"github.com/space-sft/space/storage"
)

// fakes are in-memory stand-ins for the activities: they return plausible keys and
// metrics at once and record what they were asked, so tests can check the orchestration.
type fakes struct {
	mu         sync.Mutex
	generate   []activities.GenerateInput
	train      []activities.TrainInput
	workers    []activities.TrainWorkerInput
	combines   []activities.CombineInput
	commits    []int
	reports    []activities.ReportInput
	evalShards []activities.EvaluateShardInput
	evals      []activities.EvaluateInput
	// nTest is the number of held-out pairs Prepare reports (default 3).
	nTest int
	// nll returns the held-out NLL of a round (default: decreasing with the round).
	nll func(round int) float64
}

func sha(s string) string { return fmt.Sprintf("%064x", len(s)) }

func ck(key string) storage.Ref { return storage.Ref{Key: key, SHA256: sha(key)} }

func (f *fakes) Prepare(_ context.Context, in activities.PrepareInput) (activities.PrepareOutput, error) {
	return activities.PrepareOutput{
		Train: ck("runs/" + in.Run + "/inputs/train.jsonl"), Test: ck("runs/" + in.Run + "/inputs/test.jsonl"),
		Manifest: ck("runs/" + in.Run + "/inputs/manifest.json"), NTrain: 12, NTest: max(f.nTest, 3),
	}, nil
}

func (f *fakes) TrainBase(_ context.Context, in activities.BaseInput) (activities.TrainOutput, error) {
	return activities.TrainOutput{Model: ck("runs/" + in.Run + "/base/model.safetensors"), Steps: 10, FinalLoss: 2}, nil
}

func (f *fakes) Generate(_ context.Context, in activities.GenerateInput) (activities.GenerateOutput, error) {
	f.mu.Lock()
	f.generate = append(f.generate, in)
	f.mu.Unlock()
	return activities.GenerateOutput{Shard: ck(fmt.Sprintf("runs/%s/rounds/%03d/synthetic/shard-%03d.json", in.Run, in.Round, in.Shard)), Prompts: 4}, nil
}

func (f *fakes) Train(_ context.Context, in activities.TrainInput) (activities.TrainOutput, error) {
	f.mu.Lock()
	f.train = append(f.train, in)
	f.mu.Unlock()
	return activities.TrainOutput{Model: ck(fmt.Sprintf("runs/%s/rounds/%03d/model.safetensors", in.Run, in.Round)), Steps: 6, FinalLoss: 0.5}, nil
}

func (f *fakes) EvaluateShard(_ context.Context, in activities.EvaluateShardInput) (activities.EvaluateShardOutput, error) {
	f.mu.Lock()
	f.evalShards = append(f.evalShards, in)
	f.mu.Unlock()
	return activities.EvaluateShardOutput{Part: ck(fmt.Sprintf("runs/%s/rounds/%03d/eval/part-%03d.json", in.Run, in.Round, in.Shard)), Prompts: in.ShardSize}, nil
}

func (f *fakes) Evaluate(_ context.Context, in activities.EvaluateInput) (activities.EvaluateOutput, error) {
	f.mu.Lock()
	f.evals = append(f.evals, in)
	f.mu.Unlock()
	nll := 3.0 - 0.5*float64(in.Round)
	if f.nll != nil {
		nll = f.nll(in.Round)
	}
	return activities.EvaluateOutput{
		File:   ck(fmt.Sprintf("runs/%s/rounds/%03d/metrics.json", in.Run, in.Round)),
		Values: map[string]float64{eval.NLL: nll},
	}, nil
}

func (f *fakes) CommitRound(_ context.Context, in activities.CommitInput) (storage.Ref, error) {
	f.mu.Lock()
	f.commits = append(f.commits, in.Round)
	f.mu.Unlock()
	return ck(fmt.Sprintf("runs/%s/rounds/%03d/manifest.json", in.Run, in.Round)), nil
}

func (f *fakes) Report(_ context.Context, in activities.ReportInput) (storage.Ref, error) {
	f.mu.Lock()
	f.reports = append(f.reports, in)
	f.mu.Unlock()
	return ck("runs/" + in.Run + "/report/report.md"), nil
}

func (f *fakes) TrainWorker(_ context.Context, in activities.TrainWorkerInput) (activities.TrainWorkerOutput, error) {
	f.mu.Lock()
	f.workers = append(f.workers, in)
	f.mu.Unlock()
	out := activities.TrainWorkerOutput{
		State: ck(storage.OuterWorkerKey(in.Run, in.Round, in.Step, in.Worker)), Model: ck(storage.OuterWorkerModelKey(in.Run, in.Round, in.Step, in.Worker)),
		Steps: 2 * (in.Step + 1), Total: 6, FinalLoss: 0.25 * float64(1+in.Worker),
	}
	if out.Steps == out.Total {
		out.Log = ck(storage.OuterWorkerLogKey(in.Run, in.Round, in.Step, in.Worker))
	}
	return out, nil
}

func (f *fakes) CombineOuter(_ context.Context, in activities.CombineInput) (activities.CombineOutput, error) {
	f.mu.Lock()
	f.combines = append(f.combines, in)
	f.mu.Unlock()
	out := activities.CombineOutput{Global: ck(storage.OuterGlobalKey(in.Run, in.Round, in.Step)), Momentum: ck(storage.OuterMomentumKey(in.Run, in.Round, in.Step))}
	if in.Step == in.Steps-1 {
		out.Global, out.Log = ck(storage.RoundModelKey(in.Run, in.Round)), ck(storage.TrainLogKey(in.Run, in.Round))
	}
	return out, nil
}
