package activities

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/space-sft/space/dataset"
	"github.com/space-sft/space/storage"
	"github.com/space-sft/space/tasks"
)

// TestPrepareWordNet: a task backed by data files (tasks.Corpus) takes its held-out pairs
// from its own split, so that no test word is a train word; its data are named in the inputs
// manifest; an n beyond its train split fails non-retryably with the fix.
func TestPrepareWordNet(t *testing.T) {
	t.Setenv(tasks.WordNetDataEnv, "") // the committed sample, whatever this machine has
	a, env := newActivities(t)
	ctx := context.Background()
	words := func(ref storage.Ref) map[string]bool {
		data, err := a.Store.Get(ctx, ref.Key, ref.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		pairs, err := dataset.Parse(bytes.NewReader(data), ref.Key)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, p := range pairs {
			w := strings.TrimPrefix(p.Prompt, "define: ")
			out[w[:strings.LastIndex(w, " (")]] = true
		}
		return out
	}
	in := PrepareInput{Run: "wn", Task: "wordnet", N: 64, TestFrac: 0.2, Seed: 1, Context: 128, Shards: 1}
	prep := run[PrepareOutput](t, env, a.Prepare, in)
	if prep.NTrain != 64 || prep.NTest != 16 {
		t.Fatalf("%d train, %d test pairs; want 64, 16", prep.NTrain, prep.NTest)
	}
	train, test := words(prep.Train), words(prep.Test)
	in.Run, in.Holdout = "wn-val", "val"
	val := words(run[PrepareOutput](t, env, a.Prepare, in).Test)
	for w := range train {
		if test[w] || val[w] {
			t.Fatalf("train word %q is held out too", w)
		}
	}
	for w := range test {
		if val[w] {
			t.Fatalf("word %q is in test and val", w)
		}
	}
	m, err := storage.ReadManifest(ctx, a.Store, prep.Manifest.Key, prep.Manifest.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Meta["task_data"], "committed sample") {
		t.Fatalf("manifest meta %v does not name the task's data", m.Meta)
	}

	in.Run, in.N = "wn-big", 100000
	_, err = env.ExecuteActivity(a.Prepare, in)
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != ErrInvalidInput || !app.NonRetryable() {
		t.Fatalf("n beyond the train split: got %v, want a non-retryable InvalidInput", err)
	}
	for _, want := range []string{"n: task wordnet has", "committed sample", "set n to at most"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
