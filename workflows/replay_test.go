package workflows

import (
	"testing"

	"go.temporal.io/sdk/worker"
)

// TestReplaySelfPlayHistory replays a history recorded from a real run (the first run of
// worker/app's TestEndToEnd: prepare, base, one round of two shards, continue-as-new). It
// fails when a change to SelfPlay would break runs already in flight (non-determinism).
// Regenerate with: go test ./worker/app -run TestEndToEnd -update
func TestReplaySelfPlayHistory(t *testing.T) {
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflow(SelfPlay)
	if err := r.ReplayWorkflowHistoryFromJSONFile(nil, "testdata/selfplay_history.json"); err != nil {
		t.Fatal(err)
	}
}
