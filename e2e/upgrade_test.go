package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/space-sft/space/e2e/harness"
	"github.com/space-sft/space/internal/stack"
	"github.com/space-sft/space/workflows"
)

var upgradeFrom = flag.String("upgrade.from", "ab5524c", "TestUpgrade: the commit the old worker is built from")

// TestUpgrade: two workers of different builds on one task queue during an upgrade. The old
// worker is built from commit -upgrade.from (default ab5524c, the code before this session's
// versioned changes to SelfPlay's commands), taken with `git archive` into a temporary
// folder (the repository's history must be there: a shallow clone fails with a message); the
// new one from the working tree. A 4-round run starts on the old worker alone. While it
// trains round 2 the new worker joins the task queue and the old one is killed (SIGKILL):
// the new build replays the whole history so far (Continue-As-New only every 10 rounds) and
// takes over the Train activity in flight from the old build's trainer checkpoint.
//
// It must finish without a nondeterminism error (no workflow task fails), without redoing
// completed activities (as many activities scheduled, per type, as in an undisturbed run),
// and with every round committed by the old build equal (sha256) to the old build's own
// undisturbed run. Later rounds are trained by the new build, from the old build's round
// models and checkpoints. The two builds may compute different numbers (this session changes
// the optimizer's state to float32 and the SFT loss normalisation), so those rounds cannot in
// general equal either build's undisturbed run; the test runs the new build alone as well
// and demands equality in every round only when the two builds agree on every round
// (numerics unchanged between them). Run by make chaos-net (-args -e2e.net).
func TestUpgrade(t *testing.T) {
	if !*netE2E {
		t.Skip("the two-build upgrade test runs with make chaos-net (-args -e2e.net)")
	}
	oldBin := buildOldWorker(t, *upgradeFrom)
	e := harness.NewEnv(t)
	harness.WatchLocal(t, e.Processes(), e.Dir, e.Stack.Dir())
	ctx, cancel := timeout(t, 15*time.Minute)
	defer cancel()

	spec := smallSpec("up-old", 4, 4) // 32 steps a round, a checkpoint every 2
	spec.BaseModel.DModel = 64
	spec.ContinueAsNewEvery = 10 // the new build replays the whole run so far

	// Each build alone.
	old := e.NewWorker("old")
	old.Bin = oldBin
	old.Start()
	e.StartRun(ctx, spec)
	wantOld := runToEnd(ctx, t, e, spec, old)
	refScheduled := scheduledByType(ctx, e, spec.Name)
	old.Stop()
	newRef := spec
	newRef.Name = "up-new"
	nw := e.StartWorker("new")
	e.StartRun(ctx, newRef)
	wantNew := runToEnd(ctx, t, e, newRef, nw)
	nw.Stop()
	sameNumerics := true
	for i := range wantOld.Rounds {
		if i >= len(wantNew.Rounds) || wantNew.Rounds[i].ModelSHA256 != wantOld.Rounds[i].ModelSHA256 {
			sameNumerics = false
		}
	}

	// The upgrade: old alone, then new joins, then old dies mid-Train.
	run := spec
	run.Name = "up"
	old.Start()
	t0 := time.Now()
	bg := startInBackground(ctx, e, run)
	hit := waitTrain(ctx, t, e, run.Name, 2, 8)
	committed := progress(ctx, e, run.Name).Results
	nw.Start()
	time.Sleep(time.Second) // the new worker polls the queue too
	old.Kill()
	switched := time.Since(t0)
	t.Logf("old worker killed at %s (%.1fs), %d rounds committed by the old build", phaseOf(hit), switched.Seconds(), len(committed))

	got, err := waitUpgrade(ctx, t, e, run.Name, bg)
	if err != nil || got.Status != workflows.StatusCompleted {
		t.Logf("new worker log:\n%s", tail(nw.Log(), 6000))
		t.Fatalf("upgraded run: %v (%+v)", err, got)
	}

	// No workflow task failed (a nondeterminism error fails workflow tasks, over and over).
	failedTasks := 0
	for _, id := range e.RunIDs(ctx, workflows.WorkflowID(run.Name)) {
		for _, ev := range e.History(ctx, workflows.WorkflowID(run.Name), id) {
			if ev.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED {
				failedTasks++
				a := ev.GetWorkflowTaskFailedEventAttributes()
				t.Errorf("workflow task failed (%s): %s", a.GetCause(), a.GetFailure().GetMessage())
			}
		}
	}
	// Nothing completed was done again: the same activities were scheduled as undisturbed.
	scheduled := scheduledByType(ctx, e, run.Name)
	if fmt.Sprint(scheduled) != fmt.Sprint(refScheduled) {
		t.Errorf("activities scheduled %v, undisturbed %v: completed work was redone", scheduled, refScheduled)
	}
	// The rounds the old build committed equal its undisturbed run's.
	oldRounds := len(committed)
	if oldRounds < 2 {
		t.Errorf("only %d rounds committed before the switch; want the base and round 1", oldRounds)
	}
	for i := 0; i < oldRounds && i < len(got.Rounds); i++ {
		if got.Rounds[i].ModelSHA256 != wantOld.Rounds[i].ModelSHA256 {
			t.Errorf("round %d (old build): sha256 %s, the old build alone %s", i, short(got.Rounds[i].ModelSHA256), short(wantOld.Rounds[i].ModelSHA256))
		}
	}
	if sameNumerics {
		sameModels(t, got, wantOld)
	}
	byID := completedByIdentity(ctx, e, run.Name)

	var b strings.Builder
	fmt.Fprintf(&b, "Upgrade (TestUpgrade): old worker built from %s, new from the working tree, one task queue; %d rounds, Continue-As-New every %d. The old worker was killed at %s, %.1f s into the run, after %d rounds (base included) were committed; %.0f s in all. Builds agree numerically on their undisturbed runs: %v.\n\n",
		*upgradeFrom, run.Rounds, run.ContinueAsNewEvery, phaseOf(hit), switched.Seconds(), oldRounds, time.Since(t0).Seconds(), sameNumerics)
	fmt.Fprintf(&b, "Workflow tasks failed: %d. Activities scheduled %v (undisturbed %v). Activities completed by worker: %v.\n\n", failedTasks, scheduled, refScheduled, byID)
	b.WriteString("| round | built by | model sha256 (upgrade) | old build alone | new build alone | equal to |\n|---|---|---|---|---|---|\n")
	for i, r := range got.Rounds {
		by := "old"
		switch {
		case i == oldRounds:
			by = fmt.Sprintf("old to step %d, then new (from the old build's checkpoint)", hit.Progress.Step)
		case i > oldRounds:
			by = "new"
		}
		eq := []string{}
		if i < len(wantOld.Rounds) && r.ModelSHA256 == wantOld.Rounds[i].ModelSHA256 {
			eq = append(eq, "old")
		}
		if i < len(wantNew.Rounds) && r.ModelSHA256 == wantNew.Rounds[i].ModelSHA256 {
			eq = append(eq, "new")
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s |\n", r.Round, by, short(r.ModelSHA256), roundSHA(wantOld, i), roundSHA(wantNew, i), strings.Join(eq, ", "))
	}
	t.Logf("upgrade table:\n%s", b.String())
	appendNetTable(t, b.String())
}

func roundSHA(r workflows.RunResult, i int) string {
	if i < len(r.Rounds) {
		return short(r.Rounds[i].ModelSHA256)
	}
	return "-"
}

// buildOldWorker builds ./worker as of commit from (git archive into a temporary folder, no
// network: GOPROXY=off) and returns the binary.
func buildOldWorker(t *testing.T, from string) string {
	t.Helper()
	root, err := stack.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("git", "-C", root, "rev-parse", "--verify", "--quiet", from+"^{commit}").CombinedOutput(); err != nil {
		t.Fatalf("TestUpgrade builds the old worker from commit %s, which the repository at %s lacks (%v %s): "+
			"run it in a clone with the history (git fetch --unshallow), or pass -upgrade.from COMMIT", from, root, err, out)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	extract := exec.Command("bash", "-c", `set -o pipefail; git -C "$1" archive "$2" | tar -x -C "$3"`, "extract", root, from, src)
	if out, err := extract.CombinedOutput(); err != nil {
		t.Fatalf("git archive %s: %v %s", from, err, out)
	}
	bin := filepath.Join(dir, "worker-old")
	args := []string{"build", "-o", bin}
	if tags := harness.BuildTags(); len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	build := exec.Command("go", append(args, "./worker")...)
	build.Dir = src
	build.Env = append(os.Environ(), "GOPROXY=off", "GOWORK=off", "GOFLAGS=-buildvcs=false")
	start := time.Now()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the worker of %s: %v\n%s", from, err, out)
	}
	t.Logf("built the worker of %s in %.0fs", from, time.Since(start).Seconds())
	return bin
}

// waitUpgrade waits for the run, failing at once when a workflow task fails (a
// nondeterminism error would otherwise retry until the test's timeout).
func waitUpgrade(ctx context.Context, t *testing.T, e *harness.Env, run string, bg *backgroundRun) (workflows.RunResult, error) {
	t.Helper()
	for !bg.finished() {
		for _, ev := range e.History(ctx, workflows.WorkflowID(run), "") {
			if ev.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED {
				a := ev.GetWorkflowTaskFailedEventAttributes()
				t.Fatalf("a workflow task failed on the new build (%s): %s", a.GetCause(), a.GetFailure().GetMessage())
			}
		}
		select {
		case <-ctx.Done():
			return workflows.RunResult{}, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return bg.wait(ctx)
}

// scheduledByType counts the activities a run scheduled, by type, over all its executions.
func scheduledByType(ctx context.Context, e *harness.Env, run string) map[string]int {
	n := map[string]int{}
	for _, id := range e.RunIDs(ctx, workflows.WorkflowID(run)) {
		for _, ev := range e.History(ctx, workflows.WorkflowID(run), id) {
			if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
				n[a.GetActivityType().GetName()]++
			}
		}
	}
	return n
}

// completedByIdentity counts completed activities by the worker that completed them.
func completedByIdentity(ctx context.Context, e *harness.Env, run string) string {
	n := map[string]int{}
	for _, id := range e.RunIDs(ctx, workflows.WorkflowID(run)) {
		started := map[int64]string{}
		for _, ev := range e.History(ctx, workflows.WorkflowID(run), id) {
			if a := ev.GetActivityTaskStartedEventAttributes(); a != nil {
				started[ev.GetEventId()] = a.GetIdentity()
			}
			if a := ev.GetActivityTaskCompletedEventAttributes(); a != nil {
				n[started[a.GetStartedEventId()]]++
			}
		}
	}
	keys := make([]string, 0, len(n))
	for k := range n {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, n[k]))
	}
	return strings.Join(parts, ", ")
}
