package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/space-sft/space/internal/stack"
	"github.com/space-sft/space/internal/stack/stacktest"
	"github.com/space-sft/space/worker/app"
)

// A comparison small enough for a test: two arms, one seed, one round, a d16 model.
const tinyCompare = `{
  "name": "clicmp", "task": "markov", "n": 32, "seeds": [1], "rounds": 1, "n_eval": 16,
  "arms": [{"name": "sft-n", "method": "sft", "lrs": [0.001]}, {"name": "space", "method": "space", "lrs": [0.001]}],
  "model": {"d_model": 16, "layers": 1, "heads": 2, "context": 64},
  "pretrain": {"n": 300, "epochs": 1}
}`

// TestCompareCLI runs `space compare --spec` against a real local stack with an in-process
// worker and checks that the report lands in --out.
func TestCompareCLI(t *testing.T) {
	st := stacktest.Start(t, stack.Options{})
	for _, kv := range st.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	c, err := client.Dial(client.Options{HostPort: st.TemporalAddress()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- app.Run(ctx, app.Options{Client: c, Storage: st.StorageConfig(), Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	}()
	defer func() { cancel(); <-done }()

	dir := t.TempDir()
	spec := filepath.Join(dir, "compare.json")
	if err := os.WriteFile(spec, []byte(tinyCompare), 0o644); err != nil {
		t.Fatal(err)
	}
	out := capture(t, cmdCompare, "--spec", spec, "--out", filepath.Join(dir, "out"))
	md, err := os.ReadFile(filepath.Join(dir, "out", "clicmp", "compare.md"))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"| sft-n |", "| space |", "### kl", "## Paired differences"} {
		if !bytes.Contains(md, []byte(want)) {
			t.Errorf("compare.md lacks %q", want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out", "clicmp", "compare_kl.png")); err != nil {
		t.Error(err)
	}
	if !bytes.Contains(out, []byte("comparison done in")) {
		t.Errorf("output:\n%s", out)
	}
}
