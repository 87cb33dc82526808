package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/space-sft/space/e2e/harness"
	"github.com/space-sft/space/model"
	"github.com/space-sft/space/storage"
	"github.com/space-sft/space/workflows"
)

// gpt2Base imports the transformers-saved GPT2LMHeadModel fixture (GPT-2's configuration
// shrunk to n_embd 2: vocabulary 50257, 1024 positions) with GPT-2's own tokenizer and
// returns the model, as `space import hf` would write it.
func gpt2Base(t *testing.T) *model.GPT {
	t.Helper()
	ck, err := model.ImportHFDir("../model/testdata/hf/fake_gpt2", model.HFImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gunzip := func(name string) *bytes.Reader {
		b, err := os.ReadFile("../model/testdata/gpt2tok/" + name)
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if _, err := out.ReadFrom(zr); err != nil {
			t.Fatal(err)
		}
		return bytes.NewReader(out.Bytes())
	}
	tok, err := model.ReadVocabMerges(gunzip("vocab.json.gz"), gunzip("merges.txt.gz"), model.GPT2Specials)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ck.Model(tok)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// loadRound reads the model of a finished run's round from S3, sha256 verified.
func loadRound(ctx context.Context, t *testing.T, e *harness.Env, r workflows.RoundResult) *model.GPT {
	t.Helper()
	b, err := e.Store.Get(ctx, r.ModelKey, r.ModelSHA256)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestImportedGPT2Base fine-tunes an imported GPT-2-family checkpoint (GPT-2's vocabulary
// and byte-level BPE, 1024 positions) with SPACE on a user's JSONL file, on real worker
// processes: the run takes the base's shape and tokenizer, checks the pairs in GPT-2
// tokens against the run's context, and a second run of the same spec under another name
// gives the same checkpoints bit for bit.
func TestImportedGPT2Base(t *testing.T) {
	e := harness.NewEnv(t)
	ctx, cancel := timeout(t, 5*time.Minute)
	defer cancel()

	base := gpt2Base(t)
	var buf bytes.Buffer
	if err := base.Save(&buf); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Store.Put(ctx, "bases/gpt2-fake.safetensors", buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	var data strings.Builder
	for i := range 20 {
		fmt.Fprintf(&data, `{"prompt": "Name a colour, number %d:", "response": " The colour is %s."}`+"\n", i, []string{"red", "blue", "green", "yellow", "black"}[i%5]+strings.Repeat("!", i%3))
	}
	if _, err := e.Store.Put(ctx, "data/colours.jsonl", []byte(data.String())); err != nil {
		t.Fatal(err)
	}
	spec := func(name string) workflows.RunSpec {
		s := workflows.DefaultSpec()
		s.Name, s.Rounds, s.Data, s.Seed, s.Shards, s.MaxEval = name, 1, "data/colours.jsonl", 5, 2, 4
		s.Base, s.Context = "bases/gpt2-fake.safetensors", 48
		s.Epochs, s.BatchSize, s.LR = 1, 4, 1e-2
		s.Generation.MaxNewTokens = 8
		s.CheckpointEvery, s.ContinueAsNewEvery = 2, 1
		s.Timeouts = workflows.Timeouts{HeartbeatSeconds: 5, ActivityMinutes: 5}
		return s
	}
	w := e.StartWorker("w1")
	a, b := spec("gpt2-a"), spec("gpt2-b")
	e.StartRun(ctx, a)
	got := runToEnd(ctx, t, e, a, w)
	e.StartRun(ctx, b)
	again := runToEnd(ctx, t, e, b, w)
	sameModels(t, again, got)

	if got.Rounds[0].ModelKey != a.Base {
		t.Errorf("round 0 is %s, want the given base %s", got.Rounds[0].ModelKey, a.Base)
	}
	m := loadRound(ctx, t, e, got.Rounds[1])
	c := m.Config
	if m.Tok.Kind != "bpe" || c.VocabSize != 50257 || c.Context != 1024 || c.DModel != 2 {
		t.Errorf("round 1: tokenizer %s, vocab %d, context %d, d_model %d; want GPT-2's bpe, 50257, 1024 (the base's), 2", m.Tok.Kind, c.VocabSize, c.Context, c.DModel)
	}
	const text = " The colour is red."
	if ids, want := m.Tok.Encode(text), base.Tok.Encode(text); !slices.Equal(ids, want) || len(ids) >= len(text)/2 {
		t.Errorf("round 1's tokenizer encodes %q as %v, want GPT-2's %v", text, ids, want)
	}
	changed := false
	for i, p := range m.Params {
		changed = changed || !slices.Equal(p.Value.Data().([]float32), base.Params[i].Value.Data().([]float32))
	}
	if !changed {
		t.Error("round 1 has the base's weights: nothing was trained")
	}
	man, err := storage.ReadManifest(ctx, e.Store, storage.InputsManifestKey(a.Name), "")
	if err != nil {
		t.Fatal(err)
	}
	if man.Meta["n_train"] != "16" || man.Meta["n_test"] != "4" {
		t.Errorf("inputs manifest meta %v, want 16 train and 4 test pairs", man.Meta)
	}
	for _, r := range got.Rounds {
		t.Logf("round %d: %s sha256 %s metrics %v", r.Round, r.ModelKey, short(r.ModelSHA256), r.Metrics)
	}
}

// TestBPEFromScratch trains a base from scratch with a byte-level BPE learned on the run's
// own train pairs (base_model.tokenizer): the tokenizer is an input of the run (listed in
// its inputs manifest), every checkpoint carries it, and the run is deterministic.
func TestBPEFromScratch(t *testing.T) {
	e := harness.NewEnv(t)
	ctx, cancel := timeout(t, 5*time.Minute)
	defer cancel()
	spec := func(name string) workflows.RunSpec {
		s := smallSpec(name, 1, 1)
		s.BaseModel.Tokenizer = model.TokenizerSpec{Kind: "bpe", VocabSize: 300}
		return s
	}
	w := e.StartWorker("w1")
	a, b := spec("bpe-a"), spec("bpe-b")
	e.StartRun(ctx, a)
	got := runToEnd(ctx, t, e, a, w)
	e.StartRun(ctx, b)
	sameModels(t, runToEnd(ctx, t, e, b, w), got)

	man, err := storage.ReadManifest(ctx, e.Store, storage.InputsManifestKey(a.Name), "")
	if err != nil {
		t.Fatal(err)
	}
	tokObj, ok := man.Lookup(storage.InputKey(a.Name, "tokenizer.json"))
	if !ok {
		t.Fatalf("inputs manifest lists no tokenizer.json: %+v", man.Keys)
	}
	var tok model.Tokenizer
	if err := e.Store.GetJSON(ctx, tokObj.Key, tokObj.SHA256, &tok); err != nil {
		t.Fatal(err)
	}
	for _, r := range got.Rounds {
		m := loadRound(ctx, t, e, r)
		if m.Tok.Kind != "bpe" || m.Config.VocabSize != 300 || len(m.Tok.Merges()) != len(tok.Merges()) {
			t.Errorf("round %d: tokenizer %s with %d ids and %d merges, want the run's bpe with 300 ids and %d merges",
				r.Round, m.Tok.Kind, m.Config.VocabSize, len(m.Tok.Merges()), len(tok.Merges()))
		}
		if sp := m.Tok.SpecialIDs(); sp.BOS != sp.EOS || sp.SEP < 0 {
			t.Errorf("round %d: special ids %+v, want <|endoftext|> as BOS and EOS and a SEP", r.Round, sp)
		}
	}
	// Merges learned from the arithmetic text: a typical response takes fewer tokens than bytes.
	if n := len(tok.Encode("12+34=46. Answer: 46")); n >= len("12+34=46. Answer: 46") {
		t.Errorf("the trained BPE encodes %q in %d tokens, no fewer than its bytes", "12+34=46. Answer: 46", n)
	}
}
