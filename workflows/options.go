package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Error types a retry cannot fix. Activities mark such errors non-retryable themselves;
// listing the types here as well protects against an activity that forgot to.
var nonRetryable = []string{"InvalidInput", "InvalidSpec", "NonFinite", "Integrity"}

// RetryPolicy is every activity's: exponential backoff from 1 s to 1 min, 10 attempts,
// never for the error types a retry cannot fix.
func RetryPolicy() *temporal.RetryPolicy {
	return &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        time.Minute,
		MaximumAttempts:        10,
		NonRetryableErrorTypes: nonRetryable,
	}
}

// shortCtx is for the bookkeeping activities (Prepare, CommitRound, Report): seconds of
// work on the workflow's own task queue.
func (s RunSpec) shortCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 15 * time.Minute,
		RetryPolicy:         RetryPolicy(),
	})
}

// longCtx is for the compute activities. They heartbeat, so a dead worker is noticed after
// HeartbeatTimeout rather than after the long StartToClose, and the retry resumes from the
// last trainer checkpoint in S3.
func (s RunSpec) longCtx(ctx workflow.Context, queue string) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:           queue, // "" = the workflow's task queue
		StartToCloseTimeout: s.longTimeout(),
		HeartbeatTimeout:    s.heartbeat(),
		RetryPolicy:         RetryPolicy(),
	})
}
