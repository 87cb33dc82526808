package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/space-sft/space/model"
	"github.com/space-sft/space/storage"
)

// Train trains round in.Round: it starts from the opponent (the previous round's model),
// trains on the real pairs and the round's synthetic shards with the run's loss, and saves
// the round's model. A retry resumes from the latest trainer checkpoint in S3.
func (a *Activities) Train(ctx context.Context, in TrainInput) (out TrainOutput, err error) {
	defer a.track(ctx, "train", in.Run, in.Round)(&err)
	out, err = a.train(ctx, in)
	return out, Classify(err)
}

func (a *Activities) train(ctx context.Context, in TrainInput) (TrainOutput, error) {
	opp, err := a.loadModel(ctx, in.Opponent)
	if err != nil {
		return TrainOutput{}, err
	}
	pairs, err := a.loadPairs(ctx, in.Train)
	if err != nil {
		return TrainOutput{}, err
	}
	var items []ShardItem
	if in.Loss.SelfPlay() {
		if items, err = a.loadShards(ctx, in.Shards, len(pairs), in.Loss.Mu); err != nil {
			return TrainOutput{}, err
		}
	}
	data, err := examples(opp, pairs, items)
	if err != nil {
		return TrainOutput{}, err
	}
	return a.trainLoop(ctx, trainJob{
		run: in.Run, round: in.Round, phase: "train", model: opp, data: data,
		tc: model.TrainConfig{Loss: in.Loss, OptimConfig: in.Optim, Seed: in.Seed}, dur: in.Durability,
		finalKey: storage.RoundModelKey(in.Run, in.Round),
	})
}

// trainJob is one training activity's work: the base SFT or a round.
type trainJob struct {
	run      string
	round    int
	phase    string
	model    *model.GPT
	data     []model.Example
	tc       model.TrainConfig
	dur      Durability
	finalKey string
	// ckpts names the trainer checkpoints and their manifest; zero: the round's
	// (storage.TrainCkptKey, storage.TrainManifestKey). A data-parallel worker has its own.
	ckpts ckptKeys
}

// ckptKeys are where a training activity keeps its resumable checkpoints.
type ckptKeys struct {
	manifest string
	step     func(step int) string
}

func (j trainJob) manifestKey() string {
	if j.ckpts.manifest != "" {
		return j.ckpts.manifest
	}
	return storage.TrainManifestKey(j.run, j.round)
}

func (j trainJob) ckptKey(step int) string {
	if j.ckpts.step != nil {
		return j.ckpts.step(step)
	}
	return storage.TrainCkptKey(j.run, j.round, step)
}

// trainLoop resumes or starts a trainer, steps it to the end (steps), and saves the
// training log and the final model.
func (a *Activities) trainLoop(ctx context.Context, j trainJob) (TrainOutput, error) {
	start := time.Now()
	tr, listed, err := a.resume(ctx, j)
	if err != nil {
		return TrainOutput{}, err
	}
	from := 0
	if tr != nil {
		from = tr.StepCount()
	}
	if tr == nil {
		if tr, err = model.NewTrainer(j.model, j.data, j.tc); err != nil {
			return TrainOutput{}, err
		}
	}
	out := TrainOutput{ResumedFrom: from}
	hb := startHeartbeat(ctx, Heartbeat{Phase: j.phase, Round: j.round, Step: tr.StepCount(), Total: tr.TotalSteps()})
	defer hb.done() // until the final model is saved
	if err := a.steps(ctx, j, tr, listed, hb, tr.TotalSteps(), &out); err != nil {
		return TrainOutput{}, err
	}
	var err2 error
	if out.Log, err2 = a.saveTrainLog(ctx, storage.TrainLogKey(j.run, j.round), tr.History()); err2 != nil {
		return TrainOutput{}, err2
	}
	if out.Model, err2 = a.saveModel(ctx, j.finalKey, tr.Model()); err2 != nil {
		return TrainOutput{}, err2
	}
	out.Steps = tr.StepCount()
	out.Seconds = time.Since(start).Seconds()
	a.log().Info("trained", "run", j.run, "phase", j.phase, "round", j.round, "steps", out.Steps, "loss", out.FinalLoss, "seconds", out.Seconds)
	return out, nil
}

// steps steps a trainer up to step stop, heartbeating (hb) every step and saving a trainer
// checkpoint (listed in j's manifest) every CheckpointEvery steps or CheckpointSeconds,
// except at stop, where the caller saves what it needs. It adds the tokens and the last
// loss to out. On a non-finite loss it returns at once and saves nothing: the last good
// checkpoint stays the latest one.
func (a *Activities) steps(ctx context.Context, j trainJob, tr *model.Trainer, listed *storage.Manifest, hb *heartbeat, stop int, out *TrainOutput) error {
	lastSave := time.Now()
	for tr.StepCount() < stop {
		if err := ctx.Err(); err != nil {
			return err // cancelled or heartbeat timed out: the retry resumes
		}
		t0 := time.Now()
		info, err := tr.Step()
		if err != nil {
			return fmt.Errorf("%s round %d: %w", j.phase, j.round, err)
		}
		tokS := float64(info.Tokens) / max(time.Since(t0).Seconds(), 1e-9)
		hb.set(Heartbeat{Phase: j.phase, Round: j.round, Step: tr.StepCount(), Total: tr.TotalSteps(), Loss: info.Loss, TokS: tokS})
		a.Telemetry.step(j.phase, j.run, info.Loss, tokS)
		out.Tokens += info.Tokens
		out.FinalLoss = info.Loss
		every := j.dur.CheckpointEvery > 0 && tr.StepCount()%j.dur.CheckpointEvery == 0
		timed := j.dur.CheckpointSeconds > 0 && time.Since(lastSave).Seconds() >= j.dur.CheckpointSeconds
		if (every || timed) && tr.StepCount() < stop {
			if err := a.saveTrainer(ctx, j, tr, listed); err != nil {
				return err
			}
			lastSave = time.Now()
		}
	}
	return nil
}

// saveTrainLog writes the training history, one JSON line per step. The trainer carries the
// history through its checkpoints, so a resumed round writes the same bytes as an
// uninterrupted one.
func (a *Activities) saveTrainLog(ctx context.Context, key string, hist []model.StepInfo) (storage.Ref, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for _, h := range hist {
		if err := enc.Encode(h); err != nil {
			return storage.Ref{}, fmt.Errorf("training log step %d: %w", h.Step, err)
		}
	}
	return a.put(ctx, key, b.Bytes())
}

// saveTrainer writes a trainer checkpoint, then the round's trainer manifest listing it
// (with every earlier one of this attempt's lineage). A crash between the two leaves the new
// checkpoint unlisted, and a resume never reads it.
func (a *Activities) saveTrainer(ctx context.Context, j trainJob, tr *model.Trainer, listed *storage.Manifest) error {
	key := j.ckptKey(tr.StepCount())
	obj, err := a.Store.PutStream(ctx, key, tr.Save) // streamed: no second copy of weights and moments
	if err != nil {
		return fmt.Errorf("save trainer checkpoint %s: %w", key, err)
	}
	listed.Add(obj)
	listed.CreatedAt = time.Time{} // stamped anew by WriteManifest
	if _, err := storage.WriteManifest(ctx, a.Store, j.manifestKey(), listed); err != nil {
		return fmt.Errorf("write trainer manifest: %w", err)
	}
	a.log().Info("saved trainer checkpoint", "run", j.run, "round", j.round, "step", tr.StepCount(), "key", key, "sha256", obj.SHA256)
	return nil
}

// resume reads the round's trainer manifest and resumes from the latest listed checkpoint
// that verifies (against the listed sha256) and matches the data and configuration
// (ResumeTrainer checks fingerprints, so a leftover of another run with the same name is
// skipped, not silently continued). It returns the manifest to extend with later
// checkpoints: the listed ones up to the resumed step, or an empty one.
func (a *Activities) resume(ctx context.Context, j trainJob) (*model.Trainer, *storage.Manifest, error) {
	fresh := &storage.Manifest{CreatedBy: fmt.Sprintf("activity %s run=%s round=%d", j.phase, j.run, j.round)}
	key := j.manifestKey()
	a.log().Debug("s3 read manifest", "key", key)
	m, err := storage.ReadManifest(ctx, a.Store, key, "")
	if storage.IsNotFound(err) {
		return nil, fresh, nil
	}
	if err != nil {
		a.log().Warn("ignoring unreadable trainer manifest", "key", key, "err", err)
		return nil, fresh, nil
	}
	// Keys carry the step zero-padded, so the lexical order is the step order.
	objs := append([]storage.Object(nil), m.Keys...)
	sort.Slice(objs, func(x, y int) bool { return objs[x].Key > objs[y].Key })
	for i, o := range objs {
		a.log().Debug("s3 read", "key", o.Key, "sha256", o.SHA256)
		var tr *model.Trainer
		_, err := a.Store.GetStream(ctx, o.Key, o.SHA256, o.Size, func(r io.Reader) (err error) {
			tr, err = model.ResumeTrainer(r, j.data, j.tc)
			return err
		})
		if err != nil {
			a.log().Warn("skipping trainer checkpoint", "key", o.Key, "err", err)
			if errors.Is(err, model.ErrIncompatibleTrainer) {
				// Another build's format, config or data: the earlier ones share it.
				a.log().Warn("skipping the earlier trainer checkpoints too", "count", len(objs)-i-1)
				break
			}
			continue
		}
		a.log().Info(fmt.Sprintf("resuming round %d from step %d", j.round, tr.StepCount()), "run", j.run, "key", o.Key)
		// Keep listing this checkpoint and the earlier ones; later ones failed to verify.
		for _, earlier := range objs[i:] {
			fresh.Add(earlier)
		}
		return tr, fresh, nil
	}
	return nil, fresh, nil
}
