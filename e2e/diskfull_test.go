package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/space-sft/space/e2e/harness"
	"github.com/space-sft/space/internal/stack"
	"github.com/space-sft/space/storage"
	"github.com/space-sft/space/workflows"
)

// TestDiskFull: the disk under the S3 gateway fills up during checkpoint saves, and the
// worker's own temporary space is full for the whole run. The gateway serves a 256 MiB tmpfs;
// the worker runs with TMPDIR, HOME, XDG_CACHE_HOME and its working directory on a second
// tmpfs filled to the last byte before it starts, and S3_FULL_WAIT=4s.
//
//   - Full for 1.5 s during Train round 1 (a filler file written until ENOSPC, then
//     removed): the save is refused with 507 InsufficientStorage, retried by the storage
//     layer after 1 s (and 2 s), and lands; the activity does not fail.
//   - Full and staying full during Train round 2 (the tmpfs remounted with the size of what
//     it holds, full at once): after S3_FULL_WAIT the trainer checkpoint save fails with
//     StorageFull and the run pauses itself, with one message (the progress query that
//     `space status` and `space watch` print) naming the endpoint and bucket and saying
//     `space resume RUN`. While paused no activity runs, and every object a committed round's
//     manifest lists still verifies. Then the volume is grown back, the test resumes the run
//     (the signal `space resume` sends), and Train resumes from its last listed checkpoint.
//
// The run completes with every round's model equal to an undisturbed run's (a worker with an
// ordinary TMPDIR, on the same gateway before any fault), and nothing appeared in the
// worker's full temporary space: the worker writes nothing to local disk. Run by
// make chaos-net (-args -e2e.net); it needs root for mount(8) and fails (does not skip)
// without it.
func TestDiskFull(t *testing.T) {
	if !*netE2E {
		t.Skip("the disk-full faults run with make chaos-net (-args -e2e.net)")
	}
	root := t.TempDir()
	stackDir := filepath.Join(root, "stack")
	s3Dir := filepath.Join(stackDir, "s3")
	const s3Size = "256m"
	mountTmpfs(t, s3Dir, s3Size)
	wtmp := filepath.Join(root, "worker-tmp")
	mountTmpfs(t, wtmp, "1m")
	tmpFill := fillDisk(t, wtmp)

	e := harness.NewEnvWith(t, stack.Options{Dir: stackDir})
	harness.WatchLocal(t, e.Processes(), e.Dir, root)
	ctx, cancel := timeout(t, 10*time.Minute)
	defer cancel()

	ref := smallSpec("full-ref", 3, 8) // 64 steps per round
	ref.BaseModel.DModel = 64
	ref.CheckpointEvery = 8 // 1.8 MB trainer checkpoints: 8 a round, 86 MB for both runs
	plain := e.StartWorker("full-ref")
	e.StartRun(ctx, ref)
	want := runToEnd(ctx, t, e, ref, plain)
	dur := map[string]float64{}
	for _, a := range e.ActivityTimes(ctx, workflows.WorkflowID(ref.Name)) {
		dur[a.Type] = max(dur[a.Type], a.Seconds)
	}
	plain.Stop()

	const fullWait = 4 * time.Second
	w := e.NewWorker("full", "--log-level", "debug")
	w.Env = []string{"TMPDIR=" + wtmp, "HOME=" + wtmp, "XDG_CACHE_HOME=" + wtmp, "S3_FULL_WAIT=" + fullWait.String()}
	w.Dir = wtmp
	w.Start()

	spec := ref
	spec.Name = "full"
	t0 := time.Now()
	run := startInBackground(ctx, e, spec)
	var rows []diskRow

	// 1. Full for a moment: the save waits and lands, nothing fails.
	hit := waitTrain(ctx, t, e, spec.Name, 1, 4)
	row := diskRow{fault: "S3 gateway's disk full for 1.5 s (filler file to ENOSPC, then removed)", at: time.Since(t0), phase: phaseOf(hit), held: 1500 * time.Millisecond}
	filler := fillDisk(t, s3Dir)
	time.Sleep(row.held)
	removeFiller(t, s3Dir)
	healed := time.Now()
	row.lost, row.how = trainBeyond(ctx, e, spec.Name, hit, healed)
	row.bound = 2*time.Second + chaosSlack // the backoff step the refused save waits at most after space is back
	refused := strings.Count(w.Log(), "S3 storage full: retrying the write")
	row.note = fmt.Sprintf("%d MB filler; %d refused write(s) retried by the storage layer", filler>>20, refused)
	if refused == 0 {
		t.Errorf("fault 1: no write was refused while the disk was full (the save did not hit it)")
	}
	firstHit := hit
	rows = append(rows, row)

	// 2. Full until a person makes space: the run pauses with one message, then resumes. The
	// volume is shrunk to what it holds (full at once, so that a trainer checkpoint save is
	// what hits it: writing a filler file takes longer than the rest of the round's
	// training here), then grown back.
	hit = waitTrain(ctx, t, e, spec.Name, 2, 4)
	row = diskRow{fault: "S3 gateway's volume full (shrunk to what it holds) until it is grown back and `space resume` is run", at: time.Since(t0), phase: phaseOf(hit)}
	filledAt := time.Now()
	used := shrinkToFull(t, s3Dir)
	var p workflows.Progress
	harness.WaitFor(ctx, t, "the run paused on the full disk", func() bool {
		p = progress(ctx, e, spec.Name)
		return p.Fault != ""
	})
	row.failedAfter = time.Since(filledAt)
	for _, m := range []string{"S3 storage full at endpoint " + e.Stack.S3Endpoint(), fmt.Sprintf("bucket %q", e.Stack.Bucket()), "free space", "`space resume full`"} {
		if !strings.Contains(p.Fault, m) {
			t.Errorf("fault 2: the pause message %q lacks %q", p.Fault, m)
		}
	}
	if !p.Paused || p.Phase != workflows.PhasePaused || p.Round != 2 {
		t.Errorf("fault 2: progress %+v, want paused in round 2", p)
	}
	t.Logf("paused %.1fs after the disk filled: %s", row.failedAfter.Seconds(), p.Fault)
	time.Sleep(3 * time.Second) // stays paused: nothing runs, nothing is retried
	if ps := e.PendingActivities(ctx, spec.Name); len(ps) > 0 {
		t.Errorf("fault 2: %d activities pending while paused (%s)", len(ps), ps[0].Type)
	}
	if p2 := progress(ctx, e, spec.Name); p2.Fault != p.Fault || !p2.Paused {
		t.Errorf("fault 2: the pause did not hold: %+v", p2)
	}
	if !strings.Contains(p.Fault, "save trainer checkpoint") {
		t.Errorf("fault 2: the pause came from another write than a trainer checkpoint's: %s", p.Fault)
	}
	verified := verifyCommitted(ctx, t, e, p.Results)
	remountSize(t, s3Dir, s3Size)
	row.held = time.Since(filledAt)
	resumed := time.Now()
	if err := e.Client.SignalWorkflow(ctx, workflows.WorkflowID(spec.Name), "", workflows.SignalResume, nil); err != nil {
		t.Fatal(err)
	}
	row.lost, row.how = trainBeyond(ctx, e, spec.Name, hit, resumed)
	// From the resume: a new Train, from the last listed checkpoint (at most a checkpoint
	// interval behind), plus the slack.
	row.bound = time.Duration(float64(spec.CheckpointEvery)*dur["Train"]/64*float64(time.Second)) + chaosSlack
	row.note = fmt.Sprintf("volume shrunk to the %d MB it held; paused %.1fs later, with: %s; %d objects of %d committed rounds verified while paused",
		used>>20, row.failedAfter.Seconds(), p.Fault, verified, len(p.Results))
	rows = append(rows, row)

	got, err := run.wait(ctx)
	if err != nil || got.Status != workflows.StatusCompleted {
		t.Logf("worker log:\n%s", tail(w.Log(), 8000))
		t.Fatalf("run with a full disk: %v (%+v)", err, got)
	}
	if o, ok := e.Outcome(ctx, workflows.WorkflowID(spec.Name), firstHit.RunID, firstHit.ActivityID); !ok || !o.Completed || o.Attempt != 1 {
		t.Errorf("fault 1: Train round 1 %+v; a full disk for a moment must cost a wait, not an attempt", o)
	} else {
		rows[0].note += fmt.Sprintf("; Train completed at attempt %d in %.1fs (undisturbed %.1fs)", o.Attempt, o.Seconds, dur["Train"])
	}
	sameModels(t, got, want)
	for _, r := range rows {
		if r.how == "timed out" {
			t.Errorf("%s: no progress after healing", r.fault)
		} else if r.lost > r.bound {
			t.Errorf("%s: lost %.1fs after healing, more than the bound %.1fs", r.fault, r.lost.Seconds(), r.bound.Seconds())
		}
	}

	// 3. The worker's temporary space was full all along: the run did not need it.
	left := listDir(t, wtmp)
	rows = append(rows, diskRow{fault: "worker's TMPDIR, HOME, XDG_CACHE_HOME and working directory on a full tmpfs (whole run)",
		phase: "every activity", how: "run completed; nothing needed", held: time.Since(t0),
		note: fmt.Sprintf("%d KB filler left 0 bytes free; files there after the run: %v", tmpFill>>10, left)})
	if len(left) != 1 || left[0] != "filler" {
		t.Errorf("the worker wrote to its full temporary space: %v", left)
	}
	table := diskTableMarkdown(rows, got, want, time.Since(t0))
	t.Logf("disk-full table:\n%s", table)
	appendNetTable(t, table)
}

type diskRow struct {
	fault, phase, how, note string
	at, held, lost, bound   time.Duration
	failedAfter             time.Duration
	outcome                 harness.ActivityOutcome
}

func diskTableMarkdown(rows []diskRow, got, want workflows.RunResult, total time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Disk-full run (TestDiskFull), %d rounds, %.0f s in all.\n\n", len(got.Rounds)-1, total.Seconds())
	b.WriteString("| # | fault | at (s) | phase hit | held (s) | seconds lost after healing | bound (s) | recovery | what happened |\n|---|---|---|---|---|---|---|---|---|\n")
	for i, r := range rows {
		lost, bound := fmt.Sprintf("%.1f", r.lost.Seconds()), fmt.Sprintf("%.1f", r.bound.Seconds())
		if r.bound == 0 {
			lost, bound = "-", "-"
		}
		fmt.Fprintf(&b, "| %d | %s | %.1f | %s | %.1f | %s | %s | %s | %s |\n", i+1, r.fault, r.at.Seconds(), r.phase, r.held.Seconds(),
			lost, bound, r.how, strings.ReplaceAll(r.note, "|", "/"))
	}
	b.WriteString(shaTable(got, want, "faults"))
	return b.String()
}

// shaTable compares every round's model sha256 with the reference run's (label names the
// disturbed run's column).
func shaTable(got, want workflows.RunResult, label string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n| round | model sha256 (%s) | model sha256 (undisturbed) | match |\n|---|---|---|---|\n", label)
	for i := range got.Rounds {
		w := ""
		if i < len(want.Rounds) {
			w = want.Rounds[i].ModelSHA256
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %v |\n", got.Rounds[i].Round, short(got.Rounds[i].ModelSHA256), short(w), got.Rounds[i].ModelSHA256 == w)
	}
	return b.String()
}

// mountTmpfs mounts a tmpfs of size (mount's syntax: 64m) on dir and unmounts it when the
// test ends (after the processes using it, whose cleanups were registered later, are gone).
// A failure to mount fails the test: the faults that need it are never skipped.
func mountTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount -t tmpfs -o size=%s tmpfs %s: %v %s: the disk-full faults need root (or CAP_SYS_ADMIN) and tmpfs", size, dir, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
}

// fillDisk writes dir/filler until the filesystem refuses a byte (ENOSPC) and returns its
// size.
func fillDisk(t *testing.T, dir string) int64 {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, "filler"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	var n int64
	for _, size := range []int{1 << 20, 4 << 10, 1} {
		for {
			k, err := f.Write(buf[:size])
			n += int64(k)
			if err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("fill %s: %v", dir, err)
				}
				break
			}
		}
	}
	return n
}

// shrinkToFull remounts the tmpfs at dir with the size of what it holds (tmpfs refuses
// less), so that it is full at once, and returns that size.
func shrinkToFull(t *testing.T, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	used := int64(st.Blocks-st.Bfree) * st.Bsize
	remountSize(t, dir, strconv.FormatInt(used, 10))
	return used
}

func remountSize(t *testing.T, dir, size string) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", "remount,size="+size, dir).CombinedOutput(); err != nil {
		t.Fatalf("mount -o remount,size=%s %s: %v %s", size, dir, err, out)
	}
}

func removeFiller(t *testing.T, dir string) {
	t.Helper()
	if err := os.Remove(filepath.Join(dir, "filler")); err != nil {
		t.Fatal(err)
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// waitTrain waits for the run's Train of round at step >= step.
func waitTrain(ctx context.Context, t *testing.T, e *harness.Env, run string, round, step int) harness.Pending {
	t.Helper()
	var hit harness.Pending
	harness.WaitFor(ctx, t, fmt.Sprintf("Train round %d at step %d", round, step), func() bool {
		for _, p := range e.PendingActivities(ctx, run) {
			if p.Type == "Train" && p.Started && p.HasProgress && p.Progress.Round == round && p.Progress.Step >= step {
				hit = p
				return true
			}
		}
		return false
	})
	return hit
}

// trainBeyond measures from `from` to a heartbeat of the same round's Train (any activity:
// a paused run schedules a new one) at a step beyond hit's, or the round's end.
func trainBeyond(ctx context.Context, e *harness.Env, run string, hit harness.Pending, from time.Time) (time.Duration, string) {
	for ctx.Err() == nil && time.Since(from) < 2*time.Minute {
		ps := e.PendingActivities(ctx, run)
		train := false
		for _, p := range ps {
			if p.Type != "Train" || !p.HasProgress || p.Progress.Round != hit.Progress.Round {
				continue
			}
			train = true
			if p.Started && p.LastBeat.After(from) && p.Progress.Step > hit.Progress.Step {
				how := fmt.Sprintf("same attempt went on to step %d", p.Progress.Step)
				if p.ActivityID != hit.ActivityID {
					how = fmt.Sprintf("Train scheduled again on resume, at step %d", p.Progress.Step)
				} else if p.Attempt != hit.Attempt {
					how = fmt.Sprintf("attempt %d at step %d", p.Attempt, p.Progress.Step)
				}
				return time.Since(from), how
			}
		}
		if !train && len(ps) > 0 && described(ctx, e, run) {
			if pr := progress(ctx, e, run); pr.Round > hit.Progress.Round || (pr.Round == hit.Progress.Round && pr.Phase != workflows.PhaseTrain && pr.Phase != workflows.PhasePaused) {
				return time.Since(from), "Train completed"
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(from), "timed out"
}

func phaseOf(p harness.Pending) string {
	return fmt.Sprintf("%s r%d step %d/%d attempt %d", p.Type, p.Progress.Round, p.Progress.Step, p.Progress.Total, p.Attempt)
}

func progress(ctx context.Context, e *harness.Env, run string) workflows.Progress {
	var p workflows.Progress
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if v, err := e.Client.QueryWorkflow(cctx, workflows.WorkflowID(run), "", workflows.QueryProgress); err == nil {
		_ = v.Get(&p)
	}
	return p
}

// verifyCommitted reads every object the committed rounds' manifests list, with its sha256,
// and returns how many verified.
func verifyCommitted(ctx context.Context, t *testing.T, e *harness.Env, rounds []workflows.RoundResult) int {
	t.Helper()
	n := 0
	for _, r := range rounds {
		m, err := storage.ReadManifest(ctx, e.Store, r.ManifestKey, "")
		if err != nil {
			t.Errorf("round %d manifest %s: %v", r.Round, r.ManifestKey, err)
			continue
		}
		for _, o := range m.Keys {
			if _, err := e.Store.Get(ctx, o.Key, o.SHA256); err != nil {
				t.Errorf("round %d: %s: %v", r.Round, o.Key, err)
				continue
			}
			n++
		}
	}
	return n
}
