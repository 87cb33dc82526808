package e2e

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/space-sft/space/e2e/harness"
	"github.com/space-sft/space/storage"
	"github.com/space-sft/space/workflows"
)

// dataParallelSpec is smallSpec trained over 2 workers: shards of 16 pairs, batch 4, 16
// epochs = 64 inner steps per worker, 32 per outer step: 2 outer steps, each worker
// checkpointing every 2 inner steps. The kill comes after the first checkpoint of outer
// step 1 (inner step 34), with 30 steps of the outer step still to go.
func dataParallelSpec(name string) workflows.RunSpec {
	s := smallSpec(name, 1, 16)
	s.TrainWorkers, s.LocalSteps = 2, dpLocalSteps
	return s
}

const dpLocalSteps = 32 // inner steps per outer step in dataParallelSpec

// TestDataParallelKill runs a round trained over two workers (DiLoCo: each outer step two
// TrainWorker activities and a CombineOuter) on two worker processes that take one activity
// at a time, and kills one of them with SIGKILL in the middle of the second outer step, once
// it has checkpointed its shard there. A new worker process takes its place. The run
// completes; the retried worker resumed from its checkpoint inside the outer step (after the
// outer step's start, inner step 32); both workers ran TrainWorker activities; and the round's
// model and training log are byte-identical to an undisturbed two-worker run's.
func TestDataParallelKill(t *testing.T) {
	e := harness.NewEnv(t)
	ctx, cancel := timeout(t, 5*time.Minute)
	defer cancel()

	wa := e.StartWorker("wa", "--max-activities", "1")
	wb := e.StartWorker("wb", "--max-activities", "1")
	waitPollers(ctx, t, e, "wa", "wb")
	ref := dataParallelSpec("dp-ref")
	t0 := time.Now()
	e.StartRun(ctx, ref)
	want := runToEnd(ctx, t, e, ref, wa, wb)
	t.Logf("undisturbed two-worker run: %.1fs", time.Since(t0).Seconds())
	if ids := trainWorkerIdentities(ctx, e, ref.Name); !ids["wa"] || !ids["wb"] {
		t.Errorf("TrainWorker activities ran on %v, want both wa and wb", ids)
	}

	spec := dataParallelSpec("dp-kill")
	mark := len(wa.Log()) // the reference run's lines are not this run's
	e.StartRun(ctx, spec)
	// wa's first checkpoint inside outer step 1 (inner steps 33-63): wa is mid-outer-step.
	ckptRe := regexp.MustCompile(`saved trainer checkpoint.*key=` + regexp.QuoteMeta(storage.OuterStepPrefix(spec.Name, 1, 1)) + `worker-(\d+)/step-(\d+)`)
	var m []string
	harness.WaitFor(ctx, t, "a checkpoint of wa inside outer step 1", func() bool {
		m = ckptRe.FindStringSubmatch(wa.Log()[mark:])
		return m != nil
	})
	wa.Kill()
	shard, _ := strconv.Atoi(m[1])
	t.Logf("kill -9 wa (worker %d past inner step %s, inside outer step 1)", shard, strings.TrimLeft(m[2], "0"))
	wc := e.StartWorker("wc", "--max-activities", "1")
	got := runToEnd(ctx, t, e, spec, wb, wc)

	// The retry (on wb or wc) resumed worker m[1] inside outer step 1.
	resRe := regexp.MustCompile(`"resumed worker".*outer_step=1 worker=` + strconv.Itoa(shard) + ` inner_step=(\d+)`)
	var resumed []string
	for _, w := range []*harness.Worker{wb, wc} {
		if r := resRe.FindStringSubmatch(w.Log()); r != nil {
			resumed = r
			t.Logf("%s: %s", w.Identity, strings.TrimSpace(r[0]))
		}
	}
	if resumed == nil {
		t.Fatalf("no worker resumed worker %d inside outer step 1; logs:\nwb: %s\nwc: %s", shard, tail(wb.Log(), 3000), tail(wc.Log(), 3000))
	}
	if step, _ := strconv.Atoi(resumed[1]); step <= dpLocalSteps || step >= 2*dpLocalSteps {
		t.Errorf("the retry resumed from inner step %d, want a checkpoint inside outer step 1 (%d-%d)", step, dpLocalSteps+1, 2*dpLocalSteps-1)
	}
	sameModels(t, got, want)
	a, errA := e.Store.Stat(ctx, storage.TrainLogKey(spec.Name, 1))
	b, errB := e.Store.Stat(ctx, storage.TrainLogKey(ref.Name, 1))
	if errA != nil || errB != nil || a.SHA256 != b.SHA256 {
		t.Errorf("round 1 training log: sha256 %s (%v), undisturbed %s (%v)", short(a.SHA256), errA, short(b.SHA256), errB)
	}
	for k := 0; k < 2; k++ { // every worker's trainer after each outer step, byte for byte
		for step := 0; step < 2; step++ {
			x, errX := e.Store.Stat(ctx, storage.OuterWorkerKey(spec.Name, 1, step, k))
			y, errY := e.Store.Stat(ctx, storage.OuterWorkerKey(ref.Name, 1, step, k))
			if errX != nil || errY != nil || x.SHA256 != y.SHA256 {
				t.Errorf("worker %d after outer step %d: sha256 %s (%v), undisturbed %s (%v)", k, step, short(x.SHA256), errX, short(y.SHA256), errY)
			}
		}
	}
	t.Logf("round 1 model sha256: killed run %s, undisturbed %s", short(got.Rounds[1].ModelSHA256), short(want.Rounds[1].ModelSHA256))
}

// trainWorkerIdentities are the workers that started a run's TrainWorker activities.
func trainWorkerIdentities(ctx context.Context, e *harness.Env, run string) map[string]bool {
	ids := map[string]bool{}
	wid := workflows.WorkflowID(run)
	for _, runID := range e.RunIDs(ctx, wid) {
		scheduled := map[int64]string{}
		for _, ev := range e.History(ctx, wid, runID) {
			if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
				scheduled[ev.GetEventId()] = a.GetActivityType().GetName()
			}
			if a := ev.GetActivityTaskStartedEventAttributes(); a != nil && scheduled[a.GetScheduledEventId()] == "TrainWorker" {
				ids[a.GetIdentity()] = true
			}
		}
	}
	return ids
}
