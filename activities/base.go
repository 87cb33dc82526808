package activities

import (
	"context"
	"encoding/json"
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
	tok := model.NewByteTokenizer()
	if in.Tokenizer.Key != "" { // a BPE that Prepare trained on the train pairs
		b, err := a.read(ctx, in.Tokenizer)
		if err != nil {
			return TrainOutput{}, fmt.Errorf("load tokenizer %s: %w", in.Tokenizer.Key, err)
		}
		tok = &model.Tokenizer{}
		if err := json.Unmarshal(b, tok); err != nil {
			return TrainOutput{}, fmt.Errorf("decode tokenizer %s: %w", in.Tokenizer.Key, err)
		}
	}
	return a.trainFresh(ctx, in.Run, "base", in.Shape, tok, in.Seed, in.Optim, in.Durability, pairs)
}

// trainFresh initializes a model of the given shape and tokenizer from seed and trains it with SFT on
// pairs into the run's base key: the run's own base (TrainBase) or a comparison's shared,
// pre-trained one (compare's PretrainBase). It heartbeats and checkpoints like Train.
func (a *Activities) trainFresh(ctx context.Context, run, phase string, shape model.Shape, tok *model.Tokenizer, seed uint64, o model.OptimConfig, dur Durability, pairs []dataset.Pair) (TrainOutput, error) {
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

// verifyBase loads a given checkpoint (verifying every tensor's sha256) and checks that it
// holds the run's context. Its shape is the run's: base_model describes only a model
// trained from scratch.
func (a *Activities) verifyBase(ctx context.Context, in BaseInput) (TrainOutput, error) {
	obj, err := a.Store.Stat(ctx, in.Base)
	if err != nil {
		return TrainOutput{}, fmt.Errorf("base %s: %w", in.Base, err)
	}
	m, err := a.loadModel(ctx, obj.Ref())
	if err != nil {
		return TrainOutput{}, err
	}
	if err := checkBaseContext(in.Context, in.Base, m.Config.Context); err != nil {
		return TrainOutput{}, err
	}
	a.log().Info("using given base", "run", in.Run, "key", in.Base, "params", m.NumParams(),
		"d_model", m.Config.DModel, "layers", m.Config.Layers, "heads", m.Config.Heads, "context", m.Config.Context, "vocab", m.Config.VocabSize)
	return TrainOutput{Model: obj.Ref()}, nil
}
