package activities

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/space-sft/space/model"
	"github.com/space-sft/space/report"
	"github.com/space-sft/space/storage"
)

// Report writes runs/{run}/report/report.md (report.Run: a per-round table of every metric),
// one PNG per figure next to it, and report.html (report.HTML: the same with the per-step
// training log and the samples of each round, read from the objects the round's manifest
// lists).
func (a *Activities) Report(ctx context.Context, in ReportInput) (out storage.Ref, err error) {
	defer a.track(ctx, "report", in.Run, 0)(&err)
	out, err = a.report(ctx, in)
	return out, Classify(err)
}

func (a *Activities) report(ctx context.Context, in ReportInput) (storage.Ref, error) {
	rounds := make([]report.Round, len(in.Rounds))
	for i, r := range in.Rounds {
		rounds[i] = report.Round{Round: r.Round, ModelKey: r.ModelKey, ModelSHA256: r.ModelSHA256, Metrics: r.Metrics}
		if err := a.roundDetails(ctx, in.Run, r, &rounds[i]); err != nil {
			return storage.Ref{}, err
		}
	}
	md, figs, err := report.Run(in.Run, in.Method, in.Status, in.BestRound, rounds)
	if err != nil {
		return storage.Ref{}, err
	}
	for _, f := range figs {
		if _, err := a.putTyped(ctx, storage.ReportKey(in.Run, f.Name+".png"), f.PNG, "image/png"); err != nil {
			return storage.Ref{}, err
		}
	}
	page, err := report.HTML(in.Run, in.Method, in.Status, in.BestRound, rounds)
	if err != nil {
		return storage.Ref{}, err
	}
	if _, err := a.putTyped(ctx, storage.ReportKey(in.Run, "report.html"), page, "text/html; charset=utf-8"); err != nil {
		return storage.Ref{}, err
	}
	return a.putTyped(ctx, storage.ReportKey(in.Run, "report.md"), []byte(md), "text/markdown; charset=utf-8")
}

// roundDetails reads what the HTML shows of a committed round from the objects its manifest
// lists (each read by its listed sha256, never by listing a prefix): the training log and the samples in
// metrics.json. A round committed before these were kept simply shows less.
func (a *Activities) roundDetails(ctx context.Context, run string, r RoundResult, out *report.Round) error {
	if r.ManifestKey == "" {
		return nil
	}
	a.log().Debug("s3 read manifest", "key", r.ManifestKey)
	m, err := storage.ReadManifest(ctx, a.Store, r.ManifestKey, "")
	if err != nil {
		return fmt.Errorf("report: round %d manifest: %w", r.Round, err)
	}
	if obj, ok := m.Lookup(storage.TrainLogKey(run, r.Round)); ok {
		b, err := a.read(ctx, obj.Ref())
		if err != nil {
			return err
		}
		if out.Train, err = trainLog(b); err != nil {
			return Invalid(fmt.Sprintf("report: round %d training log %s: %v", r.Round, obj.Key, err))
		}
	}
	obj, ok := m.Lookup(storage.MetricsKey(run, r.Round))
	if !ok {
		return nil
	}
	b, err := a.read(ctx, obj.Ref())
	if err != nil {
		return err
	}
	var f MetricsFile
	if err := json.Unmarshal(b, &f); err != nil {
		return Invalid(fmt.Sprintf("report: round %d metrics %s: %v", r.Round, obj.Key, err))
	}
	out.TaskMetric = f.TaskMetric
	conv := func(ss []Sample) []report.Sample {
		var rs []report.Sample
		for _, s := range ss {
			rs = append(rs, report.Sample{Prompt: s.Prompt, Real: s.Real, Output: s.Output, Synthetic: s.Synthetic, Score: s.Score})
		}
		return rs
	}
	out.Samples, out.TrainSamples = conv(f.Samples), conv(f.TrainSamples)
	return nil
}

// trainLog decodes a training log (saveTrainLog: one model.StepInfo per line).
func trainLog(b []byte) ([]report.TrainStep, error) {
	var steps []report.TrainStep
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var s model.StepInfo
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			return nil, fmt.Errorf("line %d: %w", len(steps)+1, err)
		}
		steps = append(steps, report.TrainStep{Step: s.Step, Loss: s.Loss, RewardReal: s.RewardReal, RewardSynth: s.RewardSynth})
	}
	return steps, sc.Err()
}
