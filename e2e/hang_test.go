package e2e

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/space-sft/space/e2e/harness"
	"github.com/space-sft/space/storage"
	"github.com/space-sft/space/workflows"
)

// TestHungWorker: the worker training a round hangs (SIGSTOP) instead of dying. Its
// heartbeats stop, the Train activity times out and a second worker takes it over, resuming
// from the last listed checkpoint. Once the new attempt has gone beyond the hung one, the
// hung worker is resumed (SIGCONT) with its link to Temporal black-holed for 2 s (a split
// partition: S3 reachable, Temporal not), so that it goes on where it was, writing trainer
// checkpoints and the trainer manifest under the same keys as the new attempt, until a
// heartbeat gets through and tells it the attempt is gone. Those late writes are harmless because training is deterministic:
// a checkpoint of step N has the same bytes whichever attempt writes it (checked key by key
// from both workers' logs), and the manifest only ever lists such checkpoints. The run
// completes with the undisturbed run's model, and every checkpoint the final trainer
// manifest lists verifies against its sha256. Run by make chaos-net (-args -e2e.net).
func TestHungWorker(t *testing.T) {
	if !*netE2E {
		t.Skip("runs with make chaos-net (-args -e2e.net)")
	}
	e := harness.NewEnv(t)
	harness.WatchLocal(t, e.Processes(), e.Dir, e.Stack.Dir())
	ctx, cancel := timeout(t, 10*time.Minute)
	defer cancel()
	// Worker a reaches Temporal through a proxy, so that on resuming it can be kept from
	// learning that its attempt is gone while it still reaches S3: a late writer.
	tp := harness.NewNetProxy(t, "temporal-a", e.Stack.TemporalAddress())
	a := e.NewWorker("hung-a")
	a.Env = []string{"TEMPORAL_ADDRESS=" + tp.Addr()}
	a.Start()
	ref := smallSpec("hung-ref", 1, 4) // 128 steps in round 1
	ref.N, ref.Mu, ref.MaxEval, ref.Generation.MaxNewTokens = 128, 2, 0, 40
	ref.BaseModel.DModel = 64
	ref.CheckpointEvery = 1 // every step the resumed worker takes before it learns it lost the attempt writes
	e.StartRun(ctx, ref)
	want := runToEnd(ctx, t, e, ref, a)

	spec := ref
	spec.Name = "hung"
	e.StartRun(ctx, spec)
	var hit harness.Pending
	harness.WaitFor(ctx, t, "Train round 1 at step 16", func() bool {
		for _, p := range e.PendingActivities(ctx, spec.Name) {
			if p.Type == "Train" && p.Started && p.HasProgress && p.Progress.Round == 1 && p.Progress.Step >= 16 {
				hit = p
				return true
			}
		}
		return false
	})
	a.Pause()
	paused := time.Now()
	b := e.StartWorker("hung-b")
	var took harness.Pending
	harness.WaitFor(ctx, t, "the new attempt beyond the hung one", func() bool {
		for _, p := range e.PendingActivities(ctx, spec.Name) {
			if p.ActivityID == hit.ActivityID && p.Attempt > hit.Attempt && p.Started && p.HasProgress && p.Progress.Step >= hit.Progress.Step+24 {
				took = p
				return true
			}
		}
		return false
	})
	const lateFor = 2 * time.Second
	t.Logf("worker a hung at Train r1 step %d (attempt %d); attempt %d on %s at step %d after %.1fs; resuming a, cut from Temporal for %v",
		hit.Progress.Step, hit.Attempt, took.Attempt, took.Identity, took.Progress.Step, time.Since(paused).Seconds(), lateFor)
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(tp.Both("timeout", map[string]any{"timeout": 0})) // a's heartbeats go nowhere
	a.Resume()
	time.Sleep(lateFor)
	tp.Clear()
	got := runToEnd(ctx, t, e, spec, a, b)
	sameModels(t, got, want)
	if took.Identity != "hung-b" {
		t.Errorf("the new attempt ran on %q, want hung-b", took.Identity)
	}

	// The late writes of the resumed worker, against the new attempt's.
	alog := a.Log()
	i := strings.LastIndex(alog, "--- harness: resume ")
	if i < 0 {
		t.Fatal("no resume in the hung worker's log")
	}
	late := savedCheckpoints(alog[i:], spec.Name)
	fresh := savedCheckpoints(b.Log(), spec.Name)
	same := 0
	for key, sha := range late {
		if other, ok := fresh[key]; ok {
			if other != sha {
				t.Errorf("%s: the hung attempt wrote sha256 %s after resuming, the new attempt %s", key, short(sha), short(other))
			}
			same++
		}
	}
	t.Logf("after SIGCONT the hung worker wrote %d trainer checkpoints, %d of them under keys the new attempt also wrote (same bytes)", len(late), same)
	for _, line := range strings.Split(alog[i:], "\n") {
		if strings.Contains(line, `msg="Activity error."`) || strings.Contains(line, "resuming round") {
			t.Logf("hung worker after SIGCONT: %s", tail(line[strings.Index(line, "msg="):], 220))
		}
	}
	if *netTable != "" { // both logs beside the table, to read what the resumed worker did
		_ = os.WriteFile(*netTable+".hung-a.log", []byte(alog), 0o644)
		_ = os.WriteFile(*netTable+".hung-b.log", []byte(b.Log()), 0o644)
	}
	if len(fresh) == 0 {
		t.Error("the new attempt saved no trainer checkpoint")
	}
	if same == 0 { // the SDK cancels an attempt whose heartbeat deadline passed: a race, not a failure
		t.Log("the resumed worker was cancelled before it wrote a checkpoint under a key of the new attempt")
	}

	// Whatever the last manifest writer was, what it lists verifies.
	m, err := storage.ReadManifest(ctx, e.Store, storage.TrainManifestKey(spec.Name, 1), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range m.Keys {
		if _, err := e.Store.Get(ctx, o.Key, o.SHA256); err != nil {
			t.Errorf("listed checkpoint %s: %v", o.Key, err)
		}
	}
	t.Logf("final trainer manifest lists %d checkpoints, all verified", len(m.Keys))
	if o, ok := e.Outcome(ctx, workflows.WorkflowID(spec.Name), hit.RunID, hit.ActivityID); !ok || !o.Completed || o.Attempt < 2 {
		t.Errorf("Train round 1: %+v, want completed by a later attempt", o)
	} else {
		t.Logf("Train round 1 completed at attempt %d after %.1fs (undisturbed Train: 128 steps); attempt %d failed with %q", o.Attempt, o.Seconds, o.Attempt-1, o.LastFailure)
	}
}

var savedCkpt = regexp.MustCompile(`msg="saved trainer checkpoint" run=(\S+) round=\d+ step=\d+ key=(\S+) sha256=([0-9a-f]{64})`)

// savedCheckpoints returns key -> sha256 of the trainer checkpoints a worker log says it saved
// for a run.
func savedCheckpoints(log, run string) map[string]string {
	out := map[string]string{}
	for _, m := range savedCkpt.FindAllStringSubmatch(log, -1) {
		if m[1] == run {
			out[m[2]] = m[3]
		}
	}
	return out
}
