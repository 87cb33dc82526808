package workflows

import (
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/worker"
)

// TestReplaySelfPlayHistory replays histories recorded from real runs (worker/app's
// TestEndToEnd: prepare, base, rounds, continue-as-new). It fails when a change to SelfPlay
// would break runs already in flight (non-determinism). Each file is a run recorded by the
// code of its time and is kept as it is:
//
//   - selfplay_history.json: before the complete-spec and search-attributes versions;
//   - selfplay_history_search_attributes.json: a run started with its search attributes,
//     which it upserts (versions complete-spec and search-attributes at 1);
//   - selfplay_history_rounds.json: a run of the code of 2 Dec 2026 (after commit deb443e),
//     the evaluation and round commands as they were before DiLoCo training and sharded
//     Evaluate: Prepare, TrainBase, Evaluate and CommitRound of round 0, then round 1
//     (Generate on 2 shards, Train, Evaluate, CommitRound) and Continue-As-New; and
//     selfplay_history_rounds_last.json, the same run's last execution (round 2 from the
//     carry, and Report). A change to those commands must be versioned (workflow.GetVersion)
//     for them to replay.
//   - selfplay_history_diloco.json: TestEndToEnd's run with train_workers 2, local_steps 2
//     and batch_size 2 (recorded once, by hand): a round trained over two workers, two
//     outer steps of two TrainWorker activities and a CombineOuter (version diloco at 1).
//
// A new pair is recorded with go test ./worker/app -run TestEndToEnd -update (into
// selfplay_history_newest.json and _last.json; rename them to keep them).
func TestReplaySelfPlayHistory(t *testing.T) {
	files, err := filepath.Glob("testdata/selfplay_history*.json")
	if err != nil || len(files) < 3 {
		t.Fatalf("histories: %v %v", files, err)
	}
	for _, f := range files {
		r := worker.NewWorkflowReplayer()
		r.RegisterWorkflow(SelfPlay)
		if err := r.ReplayWorkflowHistoryFromJSONFile(nil, f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
