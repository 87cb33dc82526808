package activities

import (
	"bytes"
	"context"
	"fmt"

	"github.com/space-sft/space/dataset"
	"github.com/space-sft/space/model"
	"github.com/space-sft/space/storage"
	"github.com/space-sft/space/tasks"
)

// Prepare imports the real pairs of a run (a JSONL object in S3 or a built-in task),
// checks every pair against the model's context, splits train/test and writes the run's
// inputs with a manifest. A bad dataset fails non-retryably, naming the record and the fix.
func (a *Activities) Prepare(ctx context.Context, in PrepareInput) (PrepareOutput, error) {
	out, err := a.prepare(ctx, in)
	return out, Classify(err)
}

func (a *Activities) prepare(ctx context.Context, in PrepareInput) (PrepareOutput, error) {
	if err := storage.ValidateName(in.Run); err != nil {
		return PrepareOutput{}, err
	}
	train, test, err := a.realPairs(ctx, in)
	if err != nil {
		return PrepareOutput{}, err
	}
	if len(test) == 0 {
		return PrepareOutput{}, Invalid(fmt.Sprintf("test set is empty (%d pairs, test_frac %v); raise test_frac or add pairs", len(train), in.TestFrac))
	}
	if in.Shards > len(train) {
		return PrepareOutput{}, Invalid(fmt.Sprintf("shards: %d shards for %d train prompts; set shards to at most %d", in.Shards, len(train), len(train)))
	}

	var m storage.Manifest
	m.CreatedBy = "activity Prepare run=" + in.Run
	m.Meta = map[string]string{"n_train": fmt.Sprint(len(train)), "n_test": fmt.Sprint(len(test)), "source": in.Data + in.Task}
	write := func(name string, pairs []dataset.Pair) (storage.Ref, error) {
		var buf bytes.Buffer
		if err := dataset.WriteJSONL(&buf, pairs); err != nil {
			return storage.Ref{}, err
		}
		obj, err := a.Store.Put(ctx, storage.InputKey(in.Run, name), buf.Bytes())
		m.Add(obj)
		return obj.Ref(), err
	}
	out := PrepareOutput{NTrain: len(train), NTest: len(test)}
	if out.Train, err = write("train.jsonl", train); err != nil {
		return PrepareOutput{}, err
	}
	if out.Test, err = write("test.jsonl", test); err != nil {
		return PrepareOutput{}, err
	}
	if len(in.Spec) > 0 {
		obj, err := a.Store.Put(ctx, storage.SpecKey(in.Run), in.Spec)
		if err != nil {
			return PrepareOutput{}, err
		}
		m.Add(obj)
	}
	obj, err := storage.WriteManifest(ctx, a.Store, storage.InputsManifestKey(in.Run), &m)
	if err != nil {
		return PrepareOutput{}, err
	}
	out.Manifest = obj.Ref()
	a.log().Info("prepared inputs", "run", in.Run, "train", len(train), "test", len(test))
	return out, nil
}

// realPairs returns the train and test pairs. A task draws its test set from another seed,
// so the two never share a generator stream; a dataset is split deterministically.
func (a *Activities) realPairs(ctx context.Context, in PrepareInput) (train, test []dataset.Pair, err error) {
	if in.Task != "" {
		t, err := tasks.Get(in.Task)
		if err != nil {
			return nil, nil, Invalid("task: " + err.Error())
		}
		nTest := int(float64(in.N)*in.TestFrac/(1-in.TestFrac) + 0.5)
		heldOut := mix(in.Seed ^ 0x7e57)
		if in.Holdout == "val" { // a validation split: its own stream, never the test prompts
			heldOut = mix(in.Seed ^ 0x7a1d)
		}
		train, test = t.Generate(in.Seed, in.N), t.Generate(heldOut, max(nTest, 1))
		if err := CheckContext(append(train[:len(train):len(train)], test...), in.Context, "task "+in.Task); err != nil {
			return nil, nil, err
		}
		return train, test, nil
	}
	a.log().Debug("s3 read input", "key", in.Data) // the user's dataset: validated line by line below
	data, err := a.Store.Get(ctx, in.Data, "")
	if err != nil {
		return nil, nil, fmt.Errorf("data %s: %w", in.Data, err)
	}
	pairs, err := dataset.Parse(bytes.NewReader(data), in.Data)
	if err != nil {
		return nil, nil, err
	}
	if err := CheckContext(pairs, in.Context, in.Data); err != nil { // file order: record i is the i-th pair
		return nil, nil, err
	}
	train, test = dataset.Split(pairs, in.TestFrac, in.Seed)
	return train, test, nil
}

// CheckContext applies the model's length policy to every pair before any training, so a
// too-long record fails the run at once with its index rather than hours later.
func CheckContext(pairs []dataset.Pair, context int, set string) error {
	tok := model.NewByteTokenizer()
	for i, p := range pairs {
		pr, err := tok.EncodePrompt(p.Prompt)
		if err != nil {
			return fmt.Errorf("%s record %d: %w", set, i+1, err)
		}
		re, err := tok.EncodeResponse(p.Response)
		if err != nil {
			return fmt.Errorf("%s record %d: %w", set, i+1, err)
		}
		if n := len(pr) + len(re); n > context {
			return Invalid(fmt.Sprintf("%s record %d (prompt %.40q): prompt + response = %d tokens exceeds the context of %d; "+
				"shorten it, drop it, or raise base_model.context", set, i+1, p.Prompt, n, context))
		}
	}
	return nil
}
