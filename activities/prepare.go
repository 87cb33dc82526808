package activities

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/space-sft/space/dataset"
	"github.com/space-sft/space/model"
	"github.com/space-sft/space/storage"
	"github.com/space-sft/space/tasks"
)

// Prepare imports the real pairs of a run (a dataset object in S3, JSONL or Parquet, or a
// built-in task), checks every pair against the model's context, splits train/test (or
// takes the test set from a fixed evaluation file, TestData) and writes the run's inputs
// with a manifest. A bad dataset fails non-retryably, naming the record and the fix.
func (a *Activities) Prepare(ctx context.Context, in PrepareInput) (PrepareOutput, error) {
	out, err := a.prepare(ctx, in)
	return out, Classify(err)
}

func (a *Activities) prepare(ctx context.Context, in PrepareInput) (PrepareOutput, error) {
	if err := storage.ValidateName(in.Run); err != nil {
		return PrepareOutput{}, err
	}
	train, test, checked, err := a.realPairs(ctx, in)
	if err != nil {
		return PrepareOutput{}, err
	}
	tok, context, err := a.runTokenizer(ctx, in, train)
	if err != nil {
		return PrepareOutput{}, err
	}
	for _, set := range checked {
		if err := CheckContext(tok, set.pairs, context, set.name); err != nil {
			return PrepareOutput{}, err
		}
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
	if in.TestData != "" {
		m.Meta["test_source"] = in.TestData
	}
	if t, _ := tasks.Get(in.Task); t != nil {
		if c, ok := t.(tasks.Corpus); ok { // which data files the task read (loaded above)
			info, _ := c.Load()
			m.Meta["task_data"] = info.Source
		}
	}
	write := func(name string, pairs []dataset.Pair) (storage.Ref, error) {
		var buf bytes.Buffer
		if err := dataset.WriteJSONL(&buf, pairs); err != nil {
			return storage.Ref{}, err
		}
		obj, err := a.Store.Put(ctx, storage.InputKey(in.Run, name), buf.Bytes())
		m.Add(obj)
		return obj.Ref(), err
	}
	out := PrepareOutput{NTrain: len(train), NTest: len(test), Context: context}
	if in.Base == "" && tok.Kind == "bpe" { // trained here: the base's TrainBase builds the model with it
		obj, err := a.Store.PutJSON(ctx, storage.InputKey(in.Run, "tokenizer.json"), tok)
		if err != nil {
			return PrepareOutput{}, err
		}
		m.Add(obj)
		out.Tokenizer = obj.Ref()
	}
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

// pairSet is pairs in the order a length error should count them in, and their name.
type pairSet struct {
	pairs []dataset.Pair
	name  string
}

// realPairs returns the train and test pairs, and all pairs as the user knows them (each
// dataset file in file order) for the context check. A task draws its test set from another
// seed, so the two never share a generator stream; a dataset is split deterministically, or
// is all train when a fixed evaluation file (TestData) is the test set.
func (a *Activities) realPairs(ctx context.Context, in PrepareInput) (train, test []dataset.Pair, all []pairSet, err error) {
	if in.Task != "" {
		t, err := tasks.Get(in.Task)
		if err != nil {
			return nil, nil, nil, Invalid("task: " + err.Error())
		}
		nTest := int(float64(in.N)*in.TestFrac/(1-in.TestFrac) + 0.5)
		heldOut := mix(in.Seed ^ 0x7e57)
		if in.Holdout == "val" { // a validation split: its own stream, never the test prompts
			heldOut = mix(in.Seed ^ 0x7a1d)
		}
		if c, ok := t.(tasks.Corpus); ok { // held out by the data's own split
			if train, test, err = corpusPairs(t, c, in, heldOut, max(nTest, 1)); err != nil {
				return nil, nil, nil, err
			}
		} else {
			train, test = t.Generate(in.Seed, in.N), t.Generate(heldOut, max(nTest, 1))
		}
		return train, test, []pairSet{{append(train[:len(train):len(train)], test...), "task " + in.Task}}, nil
	}
	pairs, err := a.userPairs(ctx, in.Data, "data", in.Dataset)
	if err != nil {
		return nil, nil, nil, err
	}
	if in.TestData == "" {
		train, test = dataset.Split(pairs, in.TestFrac, in.Seed)
		return train, test, []pairSet{{pairs, in.Data}}, nil // file order: record i is the i-th pair
	}
	if test, err = a.userPairs(ctx, in.TestData, "test_data", in.Dataset); err != nil {
		return nil, nil, nil, err
	}
	return pairs, test, []pairSet{{pairs, in.Data}, {test, in.TestData}}, nil
}

// corpusPairs are the pairs of a task backed by data files: n train pairs (an n larger than
// the train split is an error), and up to nTest held-out pairs of the split Holdout names.
func corpusPairs(t tasks.Task, c tasks.Corpus, in PrepareInput, heldOut uint64, nTest int) (train, test []dataset.Pair, err error) {
	info, err := c.Load()
	if err != nil {
		return nil, nil, Invalid(err.Error())
	}
	if in.N > info.Train {
		return nil, nil, Invalid(fmt.Sprintf("n: task %s has %d train pairs in %s; set n to at most %d", in.Task, info.Train, info.Source, info.Train))
	}
	split := "test"
	if in.Holdout == "val" {
		split = "val"
	}
	return t.Generate(in.Seed, in.N), c.HeldOut(split, heldOut, nTest), nil
}

// userPairs reads and checks one of the user's dataset files, the spec's field (data or
// test_data) named in a read error.
func (a *Activities) userPairs(ctx context.Context, key, field string, opt dataset.Options) ([]dataset.Pair, error) {
	a.log().Debug("s3 read input", "key", key) // the user's dataset: validated record by record below
	data, err := a.Store.Get(ctx, key, "")
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", field, key, err)
	}
	return dataset.ParseWith(bytes.NewReader(data), key, opt)
}

// runTokenizer returns the run's tokenizer and context: a given base checkpoint's (read
// from its header only, however large the checkpoint), or for a model trained from scratch
// the one in.Tokenizer says, trained on the train pairs when it is a BPE.
func (a *Activities) runTokenizer(ctx context.Context, in PrepareInput, train []dataset.Pair) (*model.Tokenizer, int, error) {
	if in.Base == "" {
		texts := make([]string, 0, 2*len(train))
		for _, p := range train {
			texts = append(texts, p.Prompt, p.Response)
		}
		tok, err := in.Tokenizer.Build(texts) // a zero TokenizerSpec (runs started before it existed) is the byte tokenizer
		if err != nil {
			var ie *model.InputError
			if errors.As(err, &ie) {
				return nil, 0, Invalid(fmt.Sprintf("base_model.tokenizer.%s: %s; %s", ie.Field, ie.Problem, ie.Fix))
			}
			return nil, 0, err
		}
		return tok, in.Context, nil
	}
	cfg, tok, err := a.baseInfo(ctx, in.Base)
	if err != nil {
		return nil, 0, err
	}
	if in.Context == 0 {
		return tok, cfg.Context, nil
	}
	if err := checkBaseContext(in.Context, in.Base, cfg.Context); err != nil {
		return nil, 0, err
	}
	return tok, in.Context, nil
}

// checkBaseContext refuses a run context beyond the positions of its base checkpoint.
func checkBaseContext(context int, base string, positions int) error {
	if context > positions {
		return Invalid(fmt.Sprintf("context: is %d but base %s has %d positions; set context to at most %d (or omit it to use %d)",
			context, base, positions, positions, positions))
	}
	return nil
}

// baseInfo reads the config and tokenizer of a base checkpoint from its header.
func (a *Activities) baseInfo(ctx context.Context, key string) (model.Config, *model.Tokenizer, error) {
	a.log().Debug("s3 read header", "key", key) // the header only; TrainBase reads it whole, verified
	r, err := a.Store.Open(ctx, key)
	if err != nil {
		return model.Config{}, nil, fmt.Errorf("base %s: %w", key, err)
	}
	defer r.Close()
	cfg, tok, err := model.ReadInfo(r)
	var ne net.Error
	if errors.As(err, &ne) { // the connection, not the file: a retry may fix it
		return model.Config{}, nil, fmt.Errorf("base %s: reading its header: %w", key, err)
	}
	if err != nil {
		return model.Config{}, nil, Invalid(fmt.Sprintf("base %s is not a space checkpoint (%v); import a Hugging Face model with `space import hf DIR --out %s`", key, err, key))
	}
	return cfg, tok, nil
}

// CheckContext applies the model's length policy to every pair before any training, so a
// too-long record fails the run at once with its index rather than hours later. The error
// names the first record that does not fit and the length the longest one needs, so that
// one change of the context is enough.
func CheckContext(tok *model.Tokenizer, pairs []dataset.Pair, context int, set string) error {
	first, firstN, longest, over := -1, 0, 0, 0
	for i, p := range pairs {
		pr, err := tok.EncodePrompt(p.Prompt)
		if err != nil {
			return fmt.Errorf("%s record %d: %w", set, i+1, err)
		}
		re, err := tok.EncodeResponse(p.Response)
		if err != nil {
			return fmt.Errorf("%s record %d: %w", set, i+1, err)
		}
		n := len(pr) + len(re)
		longest = max(longest, n)
		if n > context {
			over++
			if first < 0 {
				first, firstN = i, n
			}
		}
	}
	if first < 0 {
		return nil
	}
	p, what := pairs[first], "prompt"
	text := p.Prompt
	if text == "" { // a {text} corpus: the text is the response
		text, what = p.Response, "text"
	}
	return Invalid(fmt.Sprintf("%s record %d (%s %.40q): prompt + response = %d tokens exceeds the context of %d "+
		"(%d of %d records do not fit; the longest needs %d tokens); "+
		"shorten or drop them, or raise the run's context to at least %d (context, or base_model.context for a model trained from scratch)",
		set, first+1, what, text, firstN, context, over, len(pairs), longest, longest))
}
