package app_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/space-sft/space/eval"
	"github.com/space-sft/space/internal/stack"
	"github.com/space-sft/space/internal/stack/stacktest"
	"github.com/space-sft/space/storage"
	"github.com/space-sft/space/worker/app"
	"github.com/space-sft/space/workflows"
)

// newestHistory is the history file -update writes (the run's first execution: prepare,
// base, round 1, continue-as-new; and its last, round 2 and the report, to newestHistory
// with "_last"). The recorded ones stay as they were, so that the replay test keeps proving
// that runs begun by older workers replay: selfplay_history_rounds.json and its _last were
// written by -update on 2 Dec 2026 and renamed; rename a new recording the same way
// (selfplay_history_WHAT.json) to keep it.
const newestHistory = "selfplay_history_newest.json"

var update = flag.Bool("update", false, "rewrite workflows/testdata/"+newestHistory+" (and its _last) from this run")

// TinySpec is a run small enough for a 2-core CI machine: a d16 one-layer model on 16
// arithmetic problems, two rounds of two shards, a continue-as-new after every round.
func tinySpec(name string) workflows.RunSpec {
	s := workflows.DefaultSpec() // space, mu 1, temperature 1, test_frac 0.2, context 64
	s.Name, s.Rounds, s.Task, s.N, s.Seed, s.Shards, s.MaxEval = name, 2, "arith", 16, 1, 2, 4
	s.Epochs, s.BatchSize, s.LR = 1, 8, 1e-3
	s.Generation.MaxNewTokens = 24
	s.BaseModel.DModel, s.BaseModel.Layers, s.BaseModel.Heads, s.BaseModel.Epochs = 16, 1, 2, 2
	s.CheckpointEvery, s.ContinueAsNewEvery = 1, 1
	s.Timeouts = workflows.Timeouts{HeartbeatSeconds: 10, ActivityMinutes: 5}
	return s
}

// TestEndToEnd runs SelfPlay against a real Temporal dev server and S3 gateway with an
// in-process worker, then checks the result and the objects the run left in S3.
func TestEndToEnd(t *testing.T) {
	st := stacktest.Start(t, stack.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	c, err := client.Dial(client.Options{HostPort: st.TemporalAddress()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0") // a free port for /metrics
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := ln.Addr().String()
	ln.Close()
	wctx, stopWorker := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		// The worker dials its own client, so that the SDK's metrics reach /metrics.
		done <- app.Run(wctx, app.Options{TemporalAddress: st.TemporalAddress(), Storage: st.StorageConfig(), MetricsAddr: metricsAddr, Pprof: true,
			Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	}()
	defer func() { stopWorker(); <-done }()

	spec := tinySpec("e2e")
	// CPU profiles from --pprof, one second after another for as long as the run lasts (on a
	// loaded machine its activities may start late): their samples carry the activities'
	// pprof labels.
	profile := make(chan [][]byte, 1)
	runDone := make(chan struct{})
	go func() {
		var bs [][]byte
		for {
			select {
			case <-runDone:
				profile <- bs
				return
			default:
			}
			resp, err := http.Get("http://" + metricsAddr + "/debug/pprof/profile?seconds=1")
			if err != nil { // the listener may not be up yet
				time.Sleep(100 * time.Millisecond)
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			bs = append(bs, b)
		}
	}()
	// Started as `space run` starts a run: with its search attributes (the stack registers
	// them), which it keeps up to date.
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.WorkflowID(spec.Name), TaskQueue: app.DefaultTaskQueue,
		TypedSearchAttributes: workflows.StartAttributes(spec)}, workflows.SelfPlay, spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	firstRunID := run.GetRunID() // Get follows Continue-As-New to the last execution
	var res workflows.RunResult
	err = run.Get(ctx, &res)
	close(runDone)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if res.Status != workflows.StatusCompleted || len(res.Rounds) != 3 {
		t.Fatalf("result: %+v", res)
	}
	for _, r := range res.Rounds {
		for _, k := range []string{eval.NLL, eval.TaskScore} {
			if _, ok := r.Metrics[k]; !ok {
				t.Errorf("round %d lacks %s: %v", r.Round, k, r.Metrics)
			}
		}
	}
	if _, ok := res.Rounds[2].Metrics[eval.DiscAccuracy]; !ok {
		t.Errorf("round 2 lacks rewards: %v", res.Rounds[2].Metrics)
	}
	store, err := storage.New(ctx, st.StorageConfig())
	if err != nil {
		t.Fatal(err)
	}
	m, err := storage.ReadManifest(ctx, store, storage.RoundManifestKey("e2e", 2), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.GetListed(ctx, m, res.Rounds[2].ModelKey); err != nil {
		t.Fatalf("round 2 model not in its manifest: %v", err)
	}
	if _, err := store.GetListed(ctx, m, storage.TrainLogKey("e2e", 2)); err != nil {
		t.Errorf("round 2 training log not in its manifest: %v", err)
	}
	for _, k := range []string{storage.ReportKey("e2e", "report.md"), storage.ReportKey("e2e", "report.html"), storage.ReportKey("e2e", "test_nll.png"), storage.ShardKey("e2e", 2, 1)} {
		if ok, err := store.Exists(ctx, k); !ok || err != nil {
			t.Errorf("%s missing (%v)", k, err)
		}
	}
	t.Logf("result: %+v", res)

	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`space_activities_total{activity="train",outcome="ok"} 2`, "space_tokens_per_second", "space_train_loss", `space_s3_seconds_count{op="get"}`, `space_s3_bytes_total{op="put"}`,
		// the Temporal SDK's, on the same endpoint
		"# TYPE temporal_request counter", `temporal_activity_execution_latency_count{activity_type="Train"`, `temporal_workflow_completed{`, "temporal_num_pollers{"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	var sdkNames []string
	for _, line := range strings.Split(string(body), "\n") {
		if name, ok := strings.CutPrefix(line, "# TYPE temporal_"); ok {
			sdkNames = append(sdkNames, "temporal_"+name)
		}
	}
	t.Logf("SDK metrics on /metrics: %s", strings.Join(sdkNames, ", "))

	// The profile is gzipped protobuf; label keys and values are entries of its string table
	// (field 6: tag 0x32, length, bytes), so an exact entry "activity" and one holding the run
	// name can only come from the labels (function names hold such words only inside longer
	// entries).
	entry := func(v string) []byte { return append([]byte{0x32, byte(len(v))}, v...) }
	profiles, labelled := <-profile, false
	for _, p := range profiles {
		zr, err := gzip.NewReader(bytes.NewReader(p))
		if err != nil {
			t.Fatalf("/debug/pprof/profile: %v", err)
		}
		raw, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		labelled = labelled || (bytes.Contains(raw, entry("activity")) && bytes.Contains(raw, entry(spec.Name)))
	}
	if !labelled {
		t.Errorf("none of the %d one-second CPU profiles taken during the run has the label activity with the value %q", len(profiles), spec.Name)
	}

	if *update { // the first execution and the last feed the replay test
		dir := filepath.Join("..", "..", "workflows", "testdata")
		writeHistory(ctx, t, c, workflows.WorkflowID(spec.Name), firstRunID, filepath.Join(dir, newestHistory))
		writeHistory(ctx, t, c, workflows.WorkflowID(spec.Name), run.GetRunID(), filepath.Join(dir, strings.TrimSuffix(newestHistory, ".json")+"_last.json"))
	}
}

// writeHistory saves a workflow run's history as JSON, the format of `temporal workflow
// show --output json`, which worker.NewWorkflowReplayer reads.
func writeHistory(ctx context.Context, t *testing.T, c client.Client, id, runID, path string) {
	t.Helper()
	var h historypb.History
	it := c.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		h.Events = append(h.Events, ev)
	}
	data, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(&h)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d events)", path, len(h.Events))
}
