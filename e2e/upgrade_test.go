package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/converter"

	"github.com/space-sft/space/activities"
	"github.com/space-sft/space/e2e/harness"
	"github.com/space-sft/space/internal/stack"
	"github.com/space-sft/space/storage"
	"github.com/space-sft/space/workflows"
)

var upgradeFrom = flag.String("upgrade.from", "ab5524c", "TestUpgrade: the commit the old worker is built from")

// TestUpgrade: two workers of different builds on one task queue during an upgrade. The old
// worker is built from commit -upgrade.from (default ab5524c, the code before this session's
// versioned changes to SelfPlay's commands), taken with `git archive` into a temporary
// folder (the repository's history must be there: a shallow clone fails with a message); the
// new one from the working tree. A 4-round run starts on the old worker alone. While it
// trains round 2 (past its first trainer checkpoint) the old worker is frozen (SIGSTOP, so
// that it cannot finish the round while the new one starts), the new worker joins the task
// queue, and the old one is killed (SIGKILL): the new build replays the whole history so far
// (Continue-As-New only every 10 rounds) and takes over the Train activity in flight. The
// test asserts from the workflow history that the new worker completed that Train, and
// observes from the new worker's log and the Train's result whether it resumed the old
// build's trainer checkpoint or skipped it (a checkpoint format the new build refuses, as
// this tree refuses the float64 optimizer state of format 1) and trained the round from
// step 0. A skip is demanded when the builds' numbers differ.
//
// It must finish without a nondeterminism error (no workflow task fails), without redoing
// completed activities (as many activities scheduled, per type, as in an undisturbed run),
// and with every round committed by the old build equal (sha256) to the old build's own
// undisturbed run. Later rounds are trained by the new build, from the old build's round
// models. The two builds may compute different numbers (this session changes the
// optimizer's state to float32 and the SFT loss normalisation), so those rounds cannot in
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

	spec := smallSpec("up-old", 4, 8) // 64 steps a round, a checkpoint every 2
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

	// The upgrade: old alone, then it freezes mid-Train, the new one joins, the old one dies.
	run := spec
	run.Name = "up"
	old.Start()
	t0 := time.Now()
	bg := startInBackground(ctx, e, run)
	// Step 4 or later: the step-2 trainer checkpoint and its manifest were written before
	// step 3 began, so the new build has an old build's checkpoint to resume or to refuse.
	hit := waitTrain(ctx, t, e, run.Name, mixedRound, 4)
	committed := progress(ctx, e, run.Name).Results // a query: the old worker answers it, so before the freeze
	old.Pause()                                     // frozen mid-Train: it cannot complete the round while the new one starts
	nw.Start()
	time.Sleep(time.Second) // the new worker polls the queue too
	old.Kill()
	switched := time.Since(t0)
	oldCkpts := savedSteps(old.Log(), run.Name, mixedRound)
	t.Logf("old worker frozen at %s, killed %.1fs into the run; %d rounds committed by the old build; its round-%d trainer checkpoints: %v",
		phaseOf(hit), switched.Seconds(), len(committed), mixedRound, oldCkpts)
	if len(oldCkpts) == 0 {
		t.Errorf("the old worker saved no trainer checkpoint of round %d before it was killed: nothing for the new build to resume or refuse", mixedRound)
	}

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

	// The round in flight at the kill: who completed its Train (the history's
	// ActivityTaskStarted identity), and did it resume the old build's checkpoint?
	tr, ok := trainOf(ctx, e, run.Name, mixedRound)
	if !ok {
		t.Fatalf("no completed Train of round %d in the history of %s", mixedRound, run.Name)
	}
	if tr.Identity != nw.Identity {
		t.Errorf("round %d's Train was completed by worker %q (attempt %d), not by the new worker %q: no takeover happened",
			mixedRound, tr.Identity, tr.Attempt, nw.Identity)
	}
	obs := observeTakeover(nw.LogSince(), run.Name, mixedRound)
	how := ""
	switch {
	case obs.resumedFrom > 0 && len(obs.skipped) == 0 && tr.Out.ResumedFrom == obs.resumedFrom:
		how = fmt.Sprintf("resumed the old build's step-%d checkpoint", obs.resumedFrom)
		if !sameNumerics {
			t.Errorf("the new build resumed the old build's step-%d trainer checkpoint of round %d although the builds compute different numbers: it must refuse it and train the round from step 0",
				obs.resumedFrom, mixedRound)
		}
	case obs.resumedFrom == 0 && len(obs.skipped) > 0 && tr.Out.ResumedFrom == 0:
		how = fmt.Sprintf("skipped the old build's %d checkpoint(s) (%s), %d earlier one(s) unread for the same reason, and trained from step 0", len(obs.skipped), obs.reason, obs.earlier)
		if !strings.Contains(obs.reason, "trainer checkpoint format 1") {
			t.Errorf("the new build skipped the old build's trainer checkpoints of round %d for another reason than their format: %s", mixedRound, obs.reason)
		}
		if sameNumerics {
			t.Logf("note: the builds agree numerically, yet the new build refused the old build's checkpoints (%s)", obs.reason)
		}
	default:
		t.Errorf("round %d on the new build: neither a clean resume nor a clean skip of the old build's checkpoints (log: resumed from step %d, %d skipped, reason %q; Train result resumed_from %d)",
			mixedRound, obs.resumedFrom, len(obs.skipped), obs.reason, tr.Out.ResumedFrom)
		how = fmt.Sprintf("log: resumed from %d, %d skipped; result resumed_from %d", obs.resumedFrom, len(obs.skipped), tr.Out.ResumedFrom)
	}
	if tr.Out.Steps != 0 && hit.Progress.Total != 0 && tr.Out.Steps != hit.Progress.Total {
		t.Errorf("round %d's Train ended at step %d of %d", mixedRound, tr.Out.Steps, hit.Progress.Total)
	}
	// Trained by the new build's numbers (from step 0, or from a checkpoint whose numbers it
	// shares), so it cannot equal the old build's own round when the builds differ.
	if !sameNumerics && mixedRound < len(got.Rounds) && mixedRound < len(wantOld.Rounds) &&
		got.Rounds[mixedRound].ModelSHA256 == wantOld.Rounds[mixedRound].ModelSHA256 {
		t.Errorf("round %d equals the old build's own run (%s) although the new build trained it and the builds differ numerically",
			mixedRound, short(got.Rounds[mixedRound].ModelSHA256))
	}

	var b strings.Builder
	fmt.Fprintf(&b, "Upgrade (TestUpgrade): old worker built from %s, new from the working tree, one task queue; %d rounds of %d steps, Continue-As-New every %d. The old worker was frozen (SIGSTOP) at %s (last heartbeat seen), its round-%d trainer checkpoints at steps %v, then the new worker started and the old one was killed (SIGKILL) 1 s later, %.1f s into the run, after %d rounds (base included) were committed; %.0f s in all. Builds agree numerically on their undisturbed runs: %v.\n\n",
		*upgradeFrom, run.Rounds, hit.Progress.Total, run.ContinueAsNewEvery, phaseOf(hit), mixedRound, oldCkpts, switched.Seconds(), oldRounds, time.Since(t0).Seconds(), sameNumerics)
	fmt.Fprintf(&b, "Workflow tasks failed: %d. Activities scheduled %v (undisturbed %v). Activities completed by worker: %v. Round %d's Train completed by worker %q at attempt %d (from the history), which %s (from its log; the Train's result says resumed_from %d, %d steps).\n\n",
		failedTasks, scheduled, refScheduled, byID, mixedRound, tr.Identity, tr.Attempt, how, tr.Out.ResumedFrom, tr.Out.Steps)
	b.WriteString("| round | built by | model sha256 (upgrade) | old build alone | new build alone | equal to |\n|---|---|---|---|---|---|\n")
	for i, r := range got.Rounds {
		by := "old"
		switch {
		case i == mixedRound:
			by = fmt.Sprintf("old to step %d or a little beyond (checkpoints %v), frozen and killed; then %s (attempt %d) %s", hit.Progress.Step, oldCkpts, tr.Identity, tr.Attempt, how)
		case i > mixedRound:
			by = "new"
		case i >= oldRounds:
			by = "?" // a round neither committed by the old build before the kill nor the one in flight
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

// mixedRound is the round whose Train is in flight when the old worker is killed.
const mixedRound = 2

// savedSteps returns the steps of the trainer checkpoints a worker's log says it saved for a
// run's round.
func savedSteps(log, run string, round int) []int {
	re := regexp.MustCompile(`msg="saved trainer checkpoint" run=` + regexp.QuoteMeta(run) + ` round=` + strconv.Itoa(round) + ` step=(\d+) `)
	var steps []int
	for _, m := range re.FindAllStringSubmatch(log, -1) {
		n, _ := strconv.Atoi(m[1])
		steps = append(steps, n)
	}
	return steps
}

// takeover is what the new worker's log says it did with a round's trainer checkpoints.
type takeover struct {
	resumedFrom int      // the step of the "resuming round R from step N" line (0: none)
	skipped     []string // keys of the checkpoints it skipped
	reason      string   // why it skipped the first one
	earlier     int      // earlier checkpoints skipped unread for the same reason (one line)
}

var (
	resumingLine = regexp.MustCompile(`msg="resuming round (\d+) from step (\d+)" run=(\S+) `)
	skippingLine = regexp.MustCompile(`msg="skipping trainer checkpoint" key=(\S+) err=(.*)$`)
	earlierLine  = regexp.MustCompile(`msg="skipping the earlier trainer checkpoints too" count=(\d+)`)
)

func observeTakeover(log, run string, round int) takeover {
	var o takeover
	prefix := storage.TrainPrefix(run, round)
	for _, line := range strings.Split(log, "\n") {
		if m := resumingLine.FindStringSubmatch(line); m != nil && m[1] == strconv.Itoa(round) && m[3] == run {
			o.resumedFrom, _ = strconv.Atoi(m[2])
		}
		if m := earlierLine.FindStringSubmatch(line); m != nil && len(o.skipped) > 0 {
			n, _ := strconv.Atoi(m[1])
			o.earlier += n
		}
		if m := skippingLine.FindStringSubmatch(line); m != nil && strings.HasPrefix(m[1], prefix) {
			o.skipped = append(o.skipped, m[1])
			if o.reason == "" {
				o.reason = strings.Trim(m[2], `"`)
				if i := strings.Index(o.reason, " ("); i > 0 { // keep the head of the message
					o.reason = o.reason[:i]
				}
			}
		}
	}
	return o
}

// trainRecord is a round's completed Train activity, from the workflow history.
type trainRecord struct {
	Identity string // the worker of the attempt that completed it (ActivityTaskStarted)
	Attempt  int32
	Out      activities.TrainOutput
}

// trainOf finds the completed Train activity of a round in the run's history (every
// execution), by the round in its input.
func trainOf(ctx context.Context, e *harness.Env, run string, round int) (trainRecord, bool) {
	dc := converter.GetDefaultDataConverter()
	for _, id := range e.RunIDs(ctx, workflows.WorkflowID(run)) {
		ofRound := map[int64]bool{} // scheduled event id -> the round's Train
		started := map[int64]*historypb.HistoryEvent{}
		for _, ev := range e.History(ctx, workflows.WorkflowID(run), id) {
			if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == "Train" {
				var in struct {
					Round int `json:"round"`
				}
				if dc.FromPayloads(a.GetInput(), &in) == nil && in.Round == round {
					ofRound[ev.GetEventId()] = true
				}
			}
			if a := ev.GetActivityTaskStartedEventAttributes(); a != nil {
				started[ev.GetEventId()] = ev
			}
			if a := ev.GetActivityTaskCompletedEventAttributes(); a != nil && ofRound[a.GetScheduledEventId()] {
				var r trainRecord
				if s := started[a.GetStartedEventId()]; s != nil {
					r.Identity = s.GetActivityTaskStartedEventAttributes().GetIdentity()
					r.Attempt = s.GetActivityTaskStartedEventAttributes().GetAttempt()
				}
				_ = dc.FromPayloads(a.GetResult(), &r.Out)
				return r, true
			}
		}
	}
	return trainRecord{}, false
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
