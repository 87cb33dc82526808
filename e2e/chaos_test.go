package e2e

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/space-sft/space/e2e/harness"
	"github.com/space-sft/space/workflows"
)

var (
	chaosLong  = flag.Bool("chaos.long", false, "run the long chaos test (also E2E_CHAOS=long); make chaos sets it")
	chaosSeed  = flag.Uint64("chaos.seed", 1, "seed of the chaos test's fault moments")
	chaosTable = flag.String("chaos.table", os.Getenv("E2E_CHAOS_TABLE"), "also write the chaos table (markdown) to this file")
)

// chaosSlack is the part of a fault's lost time that is neither redone work (at most one
// checkpoint interval), nor the heartbeat timeout, nor the retry policy's backoff before the
// next attempt (1 s, doubling with each attempt: workflows/options.go): a new worker process
// starting and polling (about 1 s), the harness's heartbeat throttle (0.2 s) and polling
// (0.05 s), the SDK's reconnect after a server restart, on a 2-core machine shared with
// other work.
const chaosSlack = 4 * time.Second

// backoff is the retry policy's wait before attempt n (n >= 2): 1 s * 2^(n-2).
func backoff(n int32) time.Duration {
	if n < 2 {
		return 0
	}
	return min(time.Second<<(n-2), time.Minute)
}

// Phase order inside a round, to tell when a run has gone past a fault's target.
var phaseOrder = map[string]int{"TrainBase": 0, "Generate": 1, "Train": 2, "Evaluate": 3}

type fault struct {
	kind   string // "kill -9 worker", "restart temporal", "restart s3"
	target string // activity type it aims at
	round  int
	retry  int // how many times this fault was aimed again after landing too late

	injected bool
	landed   bool          // the hit activity was still running: the fault cost something
	at       time.Duration // fault start, from the run's start
	phase    string        // what was running
	down     time.Duration // how long the server was down (restarts)
	lost     time.Duration // from the fault (or the server's return) to progress beyond it
	how      string        // what counted as recovery
	bound    time.Duration
}

// TestChaos runs a 2-round SPACE run (3 rounds with -chaos.long) while the harness kills
// the worker with SIGKILL at seeded random moments of generation, training and evaluation,
// restarting it each time, and restarts the Temporal dev server and the S3 gateway once
// each. The run must complete with every round's model byte-identical to an undisturbed
// run, and each fault must cost at most checkpoint interval + heartbeat timeout + slack.
func TestChaos(t *testing.T) {
	long := *chaosLong || os.Getenv("E2E_CHAOS") == "long"
	rounds, epochs := 2, 2
	plan := []fault{
		{kind: "kill -9 worker", target: "Generate", round: 1},
		{kind: "kill -9 worker", target: "Train", round: 1},
		{kind: "restart temporal", target: "Train", round: 1},
		{kind: "kill -9 worker", target: "Train", round: 1},
		{kind: "kill -9 worker", target: "Evaluate", round: 1},
		{kind: "kill -9 worker", target: "Generate", round: 2},
		{kind: "restart s3", target: "Train", round: 2},
		{kind: "kill -9 worker", target: "Train", round: 2},
		{kind: "kill -9 worker", target: "Evaluate", round: 2},
	}
	limit := 8 * time.Minute
	if long {
		rounds, epochs, limit = 4, 4, 25*time.Minute
		plan = nil
		for r := 1; r <= rounds; r++ {
			plan = append(plan, fault{kind: "kill -9 worker", target: "Generate", round: r},
				fault{kind: "kill -9 worker", target: "Train", round: r})
			if r == 2 {
				plan = append(plan, fault{kind: "restart temporal", target: "Train", round: r})
			}
			plan = append(plan, fault{kind: "kill -9 worker", target: "Train", round: r})
			if r == 3 {
				plan = append(plan, fault{kind: "restart s3", target: "Train", round: r})
			}
			plan = append(plan, fault{kind: "kill -9 worker", target: "Evaluate", round: r})
		}
	}
	e := harness.NewEnv(t)
	ctx, cancel := timeout(t, limit)
	defer cancel()
	w := e.StartWorker("chaos", "--log-level", "debug") // debug: the "s3 read" lines checked below

	// The undisturbed reference, and the activity durations that aim the faults.
	ref, want, dur, ckpt := chaosReference(ctx, t, e, w, "chaos-ref", rounds, epochs)
	hb := time.Duration(ref.Timeouts.HeartbeatSeconds * float64(time.Second))
	t.Logf("undisturbed activity seconds: %v; checkpoint interval %.2fs", dur, ckpt.Seconds())

	spec := ref
	spec.Name = "chaos"
	t0 := time.Now()
	run := startInBackground(ctx, e, spec)
	finished := run.finished

	rng := rand.New(rand.NewPCG(*chaosSeed, 0xc4a05))
	for i := 0; i < len(plan); i++ {
		f := &plan[i]
		p, ok := aim(ctx, t, e, spec.Name, f, rng, dur, finished)
		if !ok {
			continue
		}
		f.injected = true
		f.at = time.Since(t0)
		f.phase = fmt.Sprintf("%s r%d step %d/%d attempt %d", p.Type, p.Progress.Round, p.Progress.Step, p.Progress.Total, p.Attempt)
		var from time.Time // the moment from which lost time counts
		switch f.kind {
		case "kill -9 worker":
			w.Kill()
			from = time.Now()
			w.Start() // a supervisor restarting the worker
		case "restart temporal":
			start := time.Now()
			if err := e.Stack.StopTemporal(); err != nil {
				t.Fatalf("stop temporal: %v", err)
			}
			time.Sleep(time.Second)
			if err := e.Stack.StartTemporal(ctx); err != nil {
				t.Fatalf("start temporal: %v", err)
			}
			from = time.Now()
			f.down = from.Sub(start)
		case "restart s3":
			start := time.Now()
			if err := e.Stack.StopS3(); err != nil {
				t.Fatalf("stop s3: %v", err)
			}
			time.Sleep(2 * time.Second)
			if err := e.Stack.StartS3(ctx); err != nil {
				t.Fatalf("start s3: %v", err)
			}
			from = time.Now()
			f.down = from.Sub(start)
		}
		f.lost, f.how, f.landed = recovery(ctx, e, spec.Name, p, from, finished)
		f.bound = ckpt + hb + backoff(p.Attempt+1) + chaosSlack
		t.Logf("fault %d: %s during %s at %.1fs: recovered after %.1fs (%s)", i+1, f.kind, f.phase, f.at.Seconds(), f.lost.Seconds(), f.how)
		if !f.landed && f.retry < 2 { // aim again at the same phase
			again := fault{kind: f.kind, target: f.target, round: f.round, retry: f.retry + 1}
			plan = append(plan[:i+1], append([]fault{again}, plan[i+1:]...)...)
		}
	}

	got, runErr := run.wait(ctx)
	if runErr != nil || got.Status != workflows.StatusCompleted {
		t.Logf("worker log:\n%s", tail(w.Log(), 8000))
		t.Fatalf("chaos run: %v (result %+v)", runErr, got)
	}
	retries := 0
	for _, a := range e.ActivityTimes(ctx, workflows.WorkflowID(spec.Name)) {
		if a.Attempt > 1 {
			retries++
		}
	}
	table := chaosTableMarkdown(plan, got, want, retries, time.Since(t0), *chaosSeed, long)
	t.Logf("chaos table:\n%s", table)
	if *chaosTable != "" {
		if err := os.WriteFile(*chaosTable, []byte(table), 0o644); err != nil {
			t.Error(err)
		}
	}

	sameModels(t, got, want)
	checkListedReads(t, w.LogPath)
	kills, kinds := 0, map[string]bool{}
	for _, f := range plan {
		if !f.landed {
			continue
		}
		kinds[f.kind] = true
		if f.kind == "kill -9 worker" {
			kinds["kill during "+f.target] = true
			kills++
		}
		if f.lost > f.bound {
			t.Errorf("%s during %s lost %.1fs, more than checkpoint interval %.2fs + heartbeat timeout %.0fs + retry backoff + slack %.0fs = %.1fs",
				f.kind, f.phase, f.lost.Seconds(), ckpt.Seconds(), hb.Seconds(), chaosSlack.Seconds(), f.bound.Seconds())
		}
	}
	if kills < 5 {
		t.Errorf("only %d kills landed on a running activity, want at least 5", kills)
	}
	for _, k := range []string{"kill during Generate", "kill during Train", "kill during Evaluate", "restart temporal", "restart s3"} {
		if !kinds[k] {
			t.Errorf("no fault of kind %q landed", k)
		}
	}
}

// backgroundRun is a run awaited in the background while a test injects faults into it.
type backgroundRun struct {
	done chan struct{}
	res  workflows.RunResult
	err  error
}

// startInBackground starts spec's run and waits for its end in the background.
func startInBackground(ctx context.Context, e *harness.Env, spec workflows.RunSpec) *backgroundRun {
	e.StartRun(ctx, spec)
	r := &backgroundRun{done: make(chan struct{})}
	go func() { defer close(r.done); r.res, r.err = waitRun(ctx, e, spec.Name) }()
	return r
}

// finished reports whether the run has ended.
func (r *backgroundRun) finished() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// wait returns the run's result, or ctx's error if ctx ends first.
func (r *backgroundRun) wait(ctx context.Context) (workflows.RunResult, error) {
	select {
	case <-r.done:
		return r.res, r.err
	case <-ctx.Done():
		return workflows.RunResult{}, ctx.Err()
	}
}

// waitRun waits for a run's result, riding out a Temporal server restart (the long poll
// fails while the server is down; only a closed workflow's error is final).
func waitRun(ctx context.Context, e *harness.Env, name string) (workflows.RunResult, error) {
	for {
		var res workflows.RunResult
		err := e.Client.GetWorkflow(ctx, workflows.WorkflowID(name), "").Get(ctx, &res)
		var wee *temporal.WorkflowExecutionError
		if err == nil || errors.As(err, &wee) || ctx.Err() != nil {
			return res, err
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// aim waits until the fault's target activity runs (started by a worker, heartbeating) and
// then for a random part of its undisturbed duration, and returns it if it still runs
// then. It gives up (false) when the run has gone past the target or has finished.
func aim(ctx context.Context, t *testing.T, e *harness.Env, run string, f *fault, rng *rand.Rand, dur map[string]float64, finished func() bool) (harness.Pending, bool) {
	var fireAt time.Time
	var key string
	for ctx.Err() == nil && !finished() {
		var cur *harness.Pending
		past := false
		for _, p := range e.PendingActivities(ctx, run) {
			if !p.HasProgress {
				continue
			}
			if p.Progress.Round > f.round || (p.Progress.Round == f.round && phaseOrder[p.Type] > phaseOrder[f.target]) {
				past = true
			}
			// Parallel shards: stay with the one aimed at, whatever order the server lists them in.
			if p.Type == f.target && p.Progress.Round == f.round && p.Started && (cur == nil || pendingKey(p) == key) {
				cur = &p
			}
		}
		switch {
		case cur == nil && past:
			t.Logf("missed %s during %s round %d: the run went past it", f.kind, f.target, f.round)
			return harness.Pending{}, false
		case cur == nil:
			fireAt, key = time.Time{}, ""
		case pendingKey(*cur) != key:
			key = pendingKey(*cur)
			frac := 0.4 * rng.Float64() // a random moment within the first 40% of the activity
			fireAt = time.Now().Add(time.Duration(frac * dur[f.target] * float64(time.Second)))
		case !time.Now().Before(fireAt):
			return *cur, true
		}
		time.Sleep(25 * time.Millisecond)
	}
	return harness.Pending{}, false
}

// pendingKey identifies one attempt of one activity.
func pendingKey(p harness.Pending) string {
	return fmt.Sprintf("%s/%s/%d", p.RunID, p.ActivityID, p.Attempt)
}

// recovery waits until the run has progressed beyond the fault's point and returns the
// time since from: the hit activity restarted on a worker (Generate and Evaluate redo
// their work from the start) or, for Train and for an activity that survived a server
// restart, heartbeated a step beyond the one it had reached; or it completed, or the run
// moved on to a later activity.
//
// landed is false when the hit activity was already gone at the first look after the fault:
// it had completed just before (its last heartbeat is up to 0.2 s old when aimed at).
func recovery(ctx context.Context, e *harness.Env, run string, hit harness.Pending, from time.Time, finished func() bool) (lost time.Duration, how string, landed bool) {
	first := true
	for ctx.Err() == nil {
		if finished() {
			return time.Since(from), "run finished", !first
		}
		ps := e.PendingActivities(ctx, run)
		if ps == nil && !described(ctx, e, run) {
			time.Sleep(50 * time.Millisecond) // the server is still coming back
			continue
		}
		var same *harness.Pending
		later := ""
		for _, p := range ps {
			if p.RunID == hit.RunID && p.ActivityID == hit.ActivityID {
				same = &p
			} else if p.Started && p.HasProgress && (p.Progress.Round > hit.Progress.Round ||
				(p.Progress.Round == hit.Progress.Round && phaseOrder[p.Type] > phaseOrder[hit.Type])) {
				later = p.Type
			}
		}
		switch {
		case same == nil && first:
			return time.Since(from), "none: the activity had just completed", false
		case later != "":
			return time.Since(from), "run moved on to " + later, true
		case same == nil:
			return time.Since(from), "activity completed", true
		case same.Started && same.HasProgress && same.LastBeat.After(from):
			beyond := same.Progress.Step > hit.Progress.Step
			restarted := same.Attempt > hit.Attempt
			switch {
			case restarted && (hit.Type != "Train" || beyond):
				return time.Since(from), fmt.Sprintf("attempt %d at step %d", same.Attempt, same.Progress.Step), true
			case !restarted && beyond:
				return time.Since(from), fmt.Sprintf("same attempt went on to step %d", same.Progress.Step), true
			}
		}
		first = false
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(from), "timed out", true
}

// described reports whether the server answers for the run (a nil pending list during a
// server restart is not a completed activity).
func described(ctx context.Context, e *harness.Env, run string) bool {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := e.Client.DescribeWorkflowExecution(cctx, workflows.WorkflowID(run), "")
	return err == nil
}

func chaosTableMarkdown(plan []fault, got, want workflows.RunResult, retries int, total time.Duration, seed uint64, long bool) string {
	var b strings.Builder
	mode := "short (make test)"
	if long {
		mode = "long (make chaos)"
	}
	fmt.Fprintf(&b, "Chaos run, %s, seed %d, %d rounds, %.0f s in all, %d activity retries in the history.\n\n", mode, seed, len(got.Rounds)-1, total.Seconds(), retries)
	b.WriteString("| # | fault | at (s) | phase hit | server down (s) | seconds lost | bound (s) | recovery |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	recovered := 0
	for i, f := range plan {
		if !f.injected {
			fmt.Fprintf(&b, "| %d | %s | - | %s round %d (missed: the phase ended before the chosen moment) | - | - | - | - |\n", i+1, f.kind, f.target, f.round)
			continue
		}
		down := "-"
		if f.down > 0 {
			down = fmt.Sprintf("%.1f", f.down.Seconds())
		}
		if f.landed && f.how != "timed out" {
			recovered++
		}
		fmt.Fprintf(&b, "| %d | %s | %.1f | %s | %s | %.1f | %.1f | %s |\n", i+1, f.kind, f.at.Seconds(), f.phase, down, f.lost.Seconds(), f.bound.Seconds(), f.how)
	}
	fmt.Fprintf(&b, "\nRecoveries: %d of %d faults that hit a running activity (%d injected).\n", recovered, countLanded(plan), countInjected(plan))
	b.WriteString(shaTable(got, want, "chaos"))
	return b.String()
}

func countLanded(plan []fault) int {
	n := 0
	for _, f := range plan {
		if f.landed {
			n++
		}
	}
	return n
}

func countInjected(plan []fault) int {
	n := 0
	for _, f := range plan {
		if f.injected {
			n++
		}
	}
	return n
}

// s3Read matches the activities' debug line for every object a run reads (activities.read
// and the trainer resume): the key and the sha256 it is verified against.
var s3Read = regexp.MustCompile(`msg="s3 read" key=(\S+) sha256=(\S*)`)

// checkListedReads asserts that no object outside a manifest is read: every object read by
// every worker process of the run (the whole log, across restarts) was read by the sha256 that
// a manifest or the workflow (an activity's recorded output, the round's manifest in the
// making) listed for it, never by listing a prefix and trusting what was there. Trainer
// checkpoints, found after a crash, come from the round's trainer manifest.
func checkListedReads(t *testing.T, logPath string) {
	t.Helper()
	data, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	reads, ckpts := 0, 0
	hex64 := regexp.MustCompile(`^[0-9a-f]{64}$`)
	for _, m := range s3Read.FindAllStringSubmatch(string(data), -1) {
		reads++
		if strings.Contains(m[1], "/train/step-") {
			ckpts++
		}
		if !hex64.MatchString(m[2]) {
			t.Errorf("object %s was read without a listed sha256 (%q)", m[1], m[2])
		}
	}
	t.Logf("%d object reads, all by a listed sha256 (%d of them trainer checkpoints after a crash)", reads, ckpts)
	if reads == 0 || ckpts == 0 {
		t.Errorf("the worker log has %d object reads and %d trainer-checkpoint reads: want both > 0", reads, ckpts)
	}
}

// chaosReference runs the undisturbed reference of the chaos tests: smallSpec made larger
// so that generation and evaluation last long enough (a second or more) to be hit (d64, 128
// prompts, 2 synthetic responses each, all test prompts). It returns the spec, its result,
// the longest duration of each activity type (which aims the faults) and the checkpoint
// interval in seconds of training (part of every fault's bound).
func chaosReference(ctx context.Context, t *testing.T, e *harness.Env, w *harness.Worker, name string, rounds, epochs int) (workflows.RunSpec, workflows.RunResult, map[string]float64, time.Duration) {
	t.Helper()
	ref := smallSpec(name, rounds, epochs)
	ref.N, ref.Mu, ref.MaxEval, ref.Generation.MaxNewTokens = 128, 2, 0, 40
	ref.BaseModel.DModel = 64
	e.StartRun(ctx, ref)
	want := runToEnd(ctx, t, e, ref, w)
	dur := map[string]float64{}
	for _, a := range e.ActivityTimes(ctx, workflows.WorkflowID(ref.Name)) {
		dur[a.Type] = max(dur[a.Type], a.Seconds)
	}
	stepSec := dur["Train"] / float64(epochs*((ref.N+ref.BatchSize-1)/ref.BatchSize))
	ckpt := time.Duration(float64(ref.CheckpointEvery) * stepSec * float64(time.Second))
	return ref, want, dur, ckpt
}
