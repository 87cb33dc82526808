package activities

import (
	"context"

	"github.com/space-sft/space/dataset"
	"github.com/space-sft/space/model"
	"github.com/space-sft/space/storage"
)

// The steps other packages' activities share with these (the compare wing's PretrainBase
// and CompareReport). They are functions, not methods: every exported method of
// Activities is registered as an activity.

// Track marks an activity of a as running (Prometheus series, pprof labels) and returns
// the function that records its end: `defer activities.Track(ctx, a, "pretrain", run, 0)(&err)`.
func Track(ctx context.Context, a *Activities, activity, run string, round int) func(err *error) {
	return a.track(ctx, activity, run, round)
}

// Put stores data under key (its sha256 in the object's metadata) and returns its reference.
func Put(ctx context.Context, a *Activities, key string, data []byte) (storage.Ref, error) {
	return a.put(ctx, key, data)
}

// PutJSON stores v as JSON under key and returns its reference.
func PutJSON(ctx context.Context, a *Activities, key string, v any) (storage.Ref, error) {
	return a.putJSON(ctx, key, v)
}

// TrainFresh initializes a model of the given shape and tokenizer from seed and trains it
// with SFT on pairs into the run's base key, heartbeating and checkpointing like Train.
func TrainFresh(ctx context.Context, a *Activities, run, phase string, shape model.Shape, tok *model.Tokenizer, seed uint64, o model.OptimConfig, dur Durability, pairs []dataset.Pair) (TrainOutput, error) {
	return a.trainFresh(ctx, run, phase, shape, tok, seed, o, dur, pairs)
}

// LoadModel reads a checkpoint from S3, verifying its sha256.
func LoadModel(ctx context.Context, a *Activities, c storage.Ref) (*model.GPT, error) {
	return a.loadModel(ctx, c)
}

// EncodePairs frames pairs in the model's tokens (as training and evaluation do); a pair
// the tokenizer refuses is an error naming it.
func EncodePairs(m *model.GPT, pairs []dataset.Pair) ([]model.Sequence, error) {
	return encodeAll(m, pairs)
}
