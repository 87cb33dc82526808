package activities

import (
	"context"
	"fmt"

	"github.com/space-sft/space/dataset"
	"github.com/space-sft/space/model"
	"github.com/space-sft/space/storage"
)

// TrainBase makes round 0, the first opponent: it trains a fresh model with SFT on the real
// train pairs, or, when the run names a base checkpoint, verifies that checkpoint's shape
// against the spec and uses it as is.
func (a *Activities) TrainBase(ctx context.Context, in BaseInput) (out TrainOutput, err error) {
	defer a.track(ctx, "base", in.Run, 0)(&err)
	out, err = a.trainBase(ctx, in)
	return out, Classify(err)
}

func (a *Activities) trainBase(ctx context.Context, in BaseInput) (TrainOutput, error) {
	if in.Base != "" {
		return a.verifyBase(ctx, in)
	}
	pairs, err := a.loadPairs(ctx, in.Train)
	if err != nil {
		return TrainOutput{}, err
	}
	return a.trainFresh(ctx, in.Run, "base", in.Shape, in.Seed, in.Optim, in.Durability, pairs)
}

// trainFresh initializes a model of the given shape from seed and trains it with SFT on
// pairs into the run's base key: the run's own base (TrainBase) or a comparison's shared,
// pre-trained one (compare's PretrainBase). It heartbeats and checkpoints like Train.
func (a *Activities) trainFresh(ctx context.Context, run, phase string, shape model.Shape, seed uint64, o model.OptimConfig, dur Durability, pairs []dataset.Pair) (TrainOutput, error) {
	tok := model.NewByteTokenizer()
	m, err := model.New(model.Config{VocabSize: tok.VocabSize(), Shape: shape, Seed: seed}, tok)
	if err != nil {
		return TrainOutput{}, err
	}
	data, err := examples(m, pairs, nil)
	if err != nil {
		return TrainOutput{}, err
	}
	return a.trainLoop(ctx, trainJob{
		run: run, round: 0, phase: phase, model: m, data: data,
		tc:  model.TrainConfig{Loss: model.LossConfig{Method: model.MethodSFT}, OptimConfig: o, Seed: seed},
		dur: dur, finalKey: storage.BaseModelKey(run),
	})
}

// verifyBase loads a given checkpoint and checks that its shape is the spec's, so that a
// run never silently trains a different model than its spec says.
func (a *Activities) verifyBase(ctx context.Context, in BaseInput) (TrainOutput, error) {
	obj, err := a.Store.Stat(ctx, in.Base)
	if err != nil {
		return TrainOutput{}, fmt.Errorf("base %s: %w", in.Base, err)
	}
	m, err := a.loadModel(ctx, obj.Ref())
	if err != nil {
		return TrainOutput{}, err
	}
	c, s := m.Config, in.Shape
	if c.Shape != s {
		return TrainOutput{}, Invalid(fmt.Sprintf("base %s has d_model %d, layers %d, heads %d, context %d but the spec's base_model says %d, %d, %d, %d; "+
			"set base_model to the checkpoint's shape", in.Base, c.DModel, c.Layers, c.Heads, c.Context, s.DModel, s.Layers, s.Heads, s.Context))
	}
	a.log().Info("using given base", "run", in.Run, "key", in.Base, "params", m.NumParams())
	return TrainOutput{Model: obj.Ref()}, nil
}
