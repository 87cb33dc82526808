package e2e

import (
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/space-sft/space/e2e/harness"
	"github.com/space-sft/space/storage"
)

var resumedRe = regexp.MustCompile(`resuming round (\d+) from step (\d+)`)

// TestKillDuringTrain kills the only worker with SIGKILL while a round trains, starts a new
// worker process, and checks that the run completes, that the new worker resumed from a
// trainer checkpoint (step > 0, not from scratch), and that every round's model is
// byte-identical to an uninterrupted run with the same spec under another name.
func TestKillDuringTrain(t *testing.T) {
	e := harness.NewEnv(t)
	ctx, cancel := timeout(t, 5*time.Minute)
	defer cancel()

	ref := smallSpec("kill-ref", 1, 10) // 80 steps: the kill lands mid-round
	w1 := e.StartWorker("w1")
	t0 := time.Now()
	e.StartRun(ctx, ref)
	want := runToEnd(ctx, t, e, ref, w1)
	t.Logf("uninterrupted run: %.1fs", time.Since(t0).Seconds())

	spec := ref
	spec.Name = "kill-a"
	e.StartRun(ctx, spec)
	// Kill once round 1's trainer manifest lists a checkpoint (checkpoint_every 2: step 2 or
	// later). The checkpoint object alone is not enough: a resume reads only what the manifest,
	// written after it, lists, and a kill between the two leaves nothing to resume from.
	var atStep int
	harness.WaitFor(ctx, t, "a listed trainer checkpoint of round 1", func() bool {
		m, err := storage.ReadManifest(ctx, e.Store, storage.TrainManifestKey(spec.Name, 1), "")
		if err != nil || len(m.Keys) == 0 {
			return false
		}
		if steps := e.TrainCheckpoints(ctx, spec.Name, 1); len(steps) > 0 {
			atStep = steps[len(steps)-1]
		}
		return true
	})
	w1.Kill()
	killedAt := time.Now()
	t.Logf("kill -9 worker w1 (trainer checkpoint at step %d)", atStep)

	w2 := e.StartWorker("w2")
	got := runToEnd(ctx, t, e, spec, w2)
	t.Logf("interrupted run finished %.1fs after the kill", time.Since(killedAt).Seconds())

	m := resumedRe.FindStringSubmatch(w2.Log())
	if m == nil {
		t.Fatalf("w2 never resumed from a trainer checkpoint; its log:\n%s", tail(w2.Log(), 4000))
	}
	if step, _ := strconv.Atoi(m[2]); m[1] != "1" || step <= 0 {
		t.Errorf("w2 resumed round %s from step %s, want round 1 from a step > 0", m[1], m[2])
	} else {
		t.Logf("w2: %q", m[0])
	}
	sameModels(t, got, want)
	for _, r := range got.Rounds {
		t.Logf("round %d model sha256 %s (uninterrupted %s)", r.Round, short(r.ModelSHA256), short(want.Rounds[r.Round].ModelSHA256))
		// The training history continues across the kill: the same log, byte for byte.
		a, errA := e.Store.Stat(ctx, storage.TrainLogKey(spec.Name, r.Round))
		b, errB := e.Store.Stat(ctx, storage.TrainLogKey(ref.Name, r.Round))
		if errA != nil || errB != nil || a.SHA256 != b.SHA256 {
			t.Errorf("round %d training log: sha256 %s (%v), uninterrupted %s (%v)", r.Round, short(a.SHA256), errA, short(b.SHA256), errB)
		}
	}
}
