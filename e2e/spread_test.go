package e2e

import (
	"context"
	"sort"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/space-sft/space/e2e/harness"
	"github.com/space-sft/space/workflows"
)

// TestShardsSpreadOverWorkers runs a round of 4 generation shards on two worker processes
// that each take one activity at a time, reads the workflow history, and checks that
// Generate activities were started by both workers (ActivityTaskStarted carries the
// worker's identity), and that the models are byte-identical to a one-worker run: where a
// shard runs does not change what it samples.
func TestShardsSpreadOverWorkers(t *testing.T) {
	e := harness.NewEnv(t)
	ctx, cancel := timeout(t, 4*time.Minute)
	defer cancel()

	ref := smallSpec("spread-ref", 1, 1)
	ref.Shards = 4
	spec := ref
	spec.Name = "spread"
	want, got := soloThenPair(ctx, t, e, ref, spec)

	byIdentity := startedBy(ctx, e, spec.Name, "Generate")
	var ids []string
	for id, evs := range byIdentity {
		ids = append(ids, id)
		t.Logf("worker %s started Generate activities (scheduled events %v)", id, evs)
	}
	sort.Strings(ids)
	if len(byIdentity["wa"]) == 0 || len(byIdentity["wb"]) == 0 {
		t.Errorf("Generate ran on %v, want both wa and wb", ids)
	}
	sameModels(t, got, want)
	t.Logf("round 1 model sha256: two workers %s, one worker %s", short(got.Rounds[1].ModelSHA256), short(want.Rounds[1].ModelSHA256))
}

// soloThenPair runs ref to the end on one worker ("solo"), then spec on two workers ("wa",
// "wb") that each take one activity at a time, and returns both results.
func soloThenPair(ctx context.Context, t *testing.T, e *harness.Env, ref, spec workflows.RunSpec) (solo, pair workflows.RunResult) {
	t.Helper()
	w := e.StartWorker("solo")
	e.StartRun(ctx, ref)
	solo = runToEnd(ctx, t, e, ref, w)
	w.Stop()

	wa := e.StartWorker("wa", "--max-activities", "1")
	wb := e.StartWorker("wb", "--max-activities", "1")
	waitPollers(ctx, t, e, "wa", "wb")
	e.StartRun(ctx, spec)
	return solo, runToEnd(ctx, t, e, spec, wa, wb)
}

// startedBy lists, per worker identity, the activities of a type that the worker started in
// every execution of a run (the scheduled event ids of their ActivityTaskStarted events).
func startedBy(ctx context.Context, e *harness.Env, run, activityType string) map[string][]int64 {
	byIdentity := map[string][]int64{}
	wid := workflows.WorkflowID(run)
	for _, runID := range e.RunIDs(ctx, wid) {
		scheduled := map[int64]string{} // event id -> activity type
		for _, ev := range e.History(ctx, wid, runID) {
			if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
				scheduled[ev.GetEventId()] = a.GetActivityType().GetName()
			}
			if a := ev.GetActivityTaskStartedEventAttributes(); a != nil && scheduled[a.GetScheduledEventId()] == activityType {
				byIdentity[a.GetIdentity()] = append(byIdentity[a.GetIdentity()], a.GetScheduledEventId())
			}
		}
	}
	return byIdentity
}

// waitPollers waits until every named worker polls the activity queue.
func waitPollers(ctx context.Context, t *testing.T, e *harness.Env, ids ...string) {
	t.Helper()
	harness.WaitFor(ctx, t, "pollers "+joinIDs(ids), func() bool {
		d, err := e.Client.DescribeTaskQueue(ctx, harness.TaskQueue, enumspb.TASK_QUEUE_TYPE_ACTIVITY)
		if err != nil {
			return false
		}
		seen := map[string]bool{}
		for _, p := range d.GetPollers() {
			seen[p.GetIdentity()] = true
		}
		for _, id := range ids {
			if !seen[id] {
				return false
			}
		}
		return true
	})
}

func joinIDs(ids []string) string {
	s := ""
	for i, id := range ids {
		if i > 0 {
			s += ", "
		}
		s += id
	}
	return s
}
