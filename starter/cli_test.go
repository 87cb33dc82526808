package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/space-sft/space/activities"
	"github.com/space-sft/space/dataset"
	"github.com/space-sft/space/internal/stack"
	"github.com/space-sft/space/internal/stack/stacktest"
	"github.com/space-sft/space/model"
	"github.com/space-sft/space/storage"
	"github.com/space-sft/space/tasks"
	"github.com/space-sft/space/worker/app"
	"github.com/space-sft/space/workflows"
)

const tinySpec = `{
  "name": "cli", "method": "space", "rounds": 1, "task": "arith", "n": 16, "seed": 3,
  "shards": 2, "epochs": 1, "batch_size": 8, "lr": 0.001, "max_eval": 4,
  "generation": {"temperature": 1, "max_new_tokens": 24},
  "base_model": {"d_model": 16, "layers": 1, "heads": 2, "context": 64, "epochs": 2, "lr": 0.003},
  "timeouts": {"heartbeat_seconds": 10, "activity_minutes": 5}
}`

// capture runs a CLI command and returns what it printed.
func capture(t *testing.T, cmd func(context.Context, []string) error, args ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	stdout = &buf
	defer func() { stdout = os.Stdout }()
	if err := cmd(context.Background(), args); err != nil {
		t.Fatalf("%v: %v\n%s", args, err, buf.String())
	}
	return buf.Bytes()
}

// TestCLI drives the CLI against a real local stack with an in-process worker:
// run --wait --json, status, list, export (sha256 verified).
func TestCLI(t *testing.T) {
	st := stacktest.Start(t, stack.Options{})
	for _, kv := range st.Env() {
		k, v, _ := bytes.Cut([]byte(kv), []byte("="))
		t.Setenv(string(k), string(v))
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

	spec := filepath.Join(t.TempDir(), "spec.json")
	if err := os.WriteFile(spec, []byte(tinySpec), 0o644); err != nil {
		t.Fatal(err)
	}
	var res runOutput
	if err := json.Unmarshal(capture(t, cmdRun, "--spec", spec, "--wait", "--json"), &res); err != nil {
		t.Fatal(err)
	}
	if res.Status != "completed" || len(res.Rounds) != 2 || res.Final == nil || res.Final.ModelSHA256 == "" || res.WorkflowID != "space-run-cli" {
		t.Fatalf("run output: %+v", res)
	}
	t.Logf("run --json: best %d final %s", res.BestRound, res.Final.ModelKey)

	if out := capture(t, cmdStatus, "cli"); !bytes.Contains(out, []byte("run cli: completed")) {
		t.Errorf("status: %s", out)
	}
	var rows []listed
	if err := json.Unmarshal(capture(t, cmdList, "--json"), &rows); err != nil || len(rows) != 1 || rows[0].Run != "cli" {
		t.Errorf("list: %v %+v", err, rows)
	}
	testListFilters(t, spec)

	dir := t.TempDir()
	var ex exported
	if err := json.Unmarshal(capture(t, cmdExport, "cli", "--round", "1", "--format", "space", "--out", dir, "--json"), &ex); err != nil {
		t.Fatal(err)
	}
	if ex.SHA256 != res.Rounds[1].ModelSHA256 || !ex.Verified || ex.Format != "space" || ex.Round == nil || *ex.Round != 1 {
		t.Errorf("export: %+v, want sha %s", ex, res.Rounds[1].ModelSHA256)
	}
	data, err := os.ReadFile(filepath.Join(dir, "model.safetensors"))
	if err != nil || storage.SHA256Hex(data) != ex.SHA256 {
		t.Errorf("exported file: %v", err)
	}
	for _, name := range append([]string{"manifest.json"}, model.HFTokenizerFileNames...) {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Error(err)
		}
	}
	testReport(t, res)
	testSignals(t, spec)
	testSchedule(t, ctx, c, spec)

	// Without --round, export takes the best round from the run's result; without --format,
	// it writes a transformers folder.
	dir = t.TempDir()
	if err := json.Unmarshal(capture(t, cmdExport, "cli", "--out", dir, "--json"), &ex); err != nil || ex.Round == nil || *ex.Round != res.BestRound || ex.Format != "hf" {
		t.Errorf("export best: %v %+v, want round %d", err, ex, res.BestRound)
	}
	if ck, err := model.ImportHFDir(dir, model.HFImportOptions{}); err != nil || ck.Layout != "GPT2LMHeadModel" {
		t.Errorf("exported hf folder: %v", err)
	}
}

// testSchedule creates a schedule that fires at once, waits for its best.json, triggers it
// again and checks that the second firing started from the first firing's best model.
func testSchedule(t *testing.T, ctx context.Context, c client.Client, spec string) {
	store, err := storage.New(ctx, storage.ConfigFromEnv())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	arith, _ := tasks.Get("arith")
	if err := dataset.WriteJSONL(&buf, arith.Generate(11, 20)); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Put(ctx, "data/2026-11-26.jsonl", buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	// The template is the CLI spec; a firing replaces its name and its task with the data.
	capture(t, cmdSchedule, "create", "nightly", "--prefix", "data/", "--spec", spec, "--every", "24h", "--trigger-now")
	defer capture(t, cmdSchedule, "delete", "nightly")
	if out := capture(t, cmdSchedule, "list"); !bytes.Contains(out, []byte("nightly")) {
		t.Errorf("schedule list: %s", out)
	}
	waitBest := func(notRun string) activities.ScheduleBest {
		for {
			var b activities.ScheduleBest
			err := store.GetJSON(ctx, activities.BestKey("nightly"), "", &b)
			if err == nil && b.Run != notRun {
				return b
			}
			if ctx.Err() != nil {
				t.Fatalf("no best.json from schedule (last error %v)", err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	first := waitBest("")
	if first.Data != "data/2026-11-26.jsonl" {
		t.Errorf("first firing used %s", first.Data)
	}
	time.Sleep(time.Second) // run names carry the firing time in seconds
	capture(t, cmdSchedule, "trigger", "nightly")
	second := waitBest(first.Run)
	var res workflows.RunResult
	if err := c.GetWorkflow(ctx, workflows.WorkflowID(second.Run), "").Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	if res.Rounds[0].ModelKey != first.Model.Key {
		t.Errorf("second firing's base is %s, want the first firing's best %s", res.Rounds[0].ModelKey, first.Model.Key)
	}
	t.Logf("schedule: %s best %s -> %s", first.Run, first.Model.Key, second.Run)
}

// testSignals pauses a run through the CLI, sees the pause in `status`, resumes it, stops
// it, and watches it to its end: status "stopped", the report still written.
func testSignals(t *testing.T, spec string) {
	capture(t, cmdRun, "--spec", spec, "--name", "sig", "--rounds", "3", "--json")
	capture(t, signalCmd("pause"), "sig")
	deadline := time.Now().Add(time.Minute)
	for {
		var snap snapshot
		if err := json.Unmarshal(capture(t, cmdStatus, "sig", "--json"), &snap); err != nil {
			t.Fatal(err)
		}
		if snap.Progress != nil && snap.Progress.Phase == "paused" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run never paused: %+v", snap)
		}
		time.Sleep(100 * time.Millisecond)
	}
	capture(t, signalCmd("resume"), "sig")
	capture(t, signalCmd("stop"), "sig")
	dec := json.NewDecoder(bytes.NewReader(capture(t, cmdWatch, "sig", "--json", "--interval", "100ms")))
	var last runOutput
	for dec.More() {
		if err := dec.Decode(&last); err != nil {
			t.Fatal(err)
		}
	}
	if last.Status != "stopped" || len(last.Rounds) > 3 || last.ReportKey == "" {
		t.Errorf("watch result after stop: %+v", last)
	}
}

// testListFilters starts an SFT run beside the SPACE run "cli" and checks that `space list`
// filtered on the method (a search attribute the run was started with and keeps up to date)
// returns only the matching run, with its best round from the memo.
func testListFilters(t *testing.T, spec string) {
	t.Helper()
	capture(t, cmdRun, "--spec", spec, "--name", "cli-sft", "--method", "sft", "--wait", "--json")
	list := func(args ...string) []listed {
		var rows []listed
		if err := json.Unmarshal(capture(t, cmdList, append(args, "--json")...), &rows); err != nil {
			t.Fatalf("list %v: %v", args, err)
		}
		return rows
	}
	names := func(rows []listed) []string {
		var out []string
		for _, r := range rows {
			out = append(out, r.Run)
		}
		sort.Strings(out)
		return out
	}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"--method", "space"}, []string{"cli"}},
		{[]string{"--method", "sft"}, []string{"cli-sft"}},
		{[]string{"--task", "arith", "--status", "completed"}, []string{"cli", "cli-sft"}},
		{[]string{"--query", "SpaceMethod = 'sft' AND SpaceBestRound >= 0"}, []string{"cli-sft"}},
		{[]string{"--status", "running"}, nil},
	} {
		var got []string
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			// visibility is updated after the run: wait for it to settle
			if got = names(list(c.args...)); strings.Join(got, ",") == strings.Join(c.want, ",") || time.Now().After(deadline) {
				break
			}
		}
		if strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("space list %v: %v, want %v", c.args, got, c.want)
		}
	}
	rows := list("--method", "space")
	if len(rows) != 1 || rows[0].Method != "space" || rows[0].Task != "arith" || rows[0].Outcome != "completed" || rows[0].Best == nil || rows[0].Best.Model == "" {
		t.Errorf("list row of cli: %+v", rows)
	} else {
		t.Logf("list --method space: %+v best %+v", rows[0], *rows[0].Best)
	}
	if out := string(capture(t, cmdList, "--method", "sft")); !strings.Contains(out, "cli-sft") || !strings.Contains(out, "round ") {
		t.Errorf("list table:\n%s", out)
	}
}
