package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Error types a retry cannot fix. Activities mark such errors non-retryable themselves;
// listing the types here as well protects against an activity that forgot to.
var nonRetryable = []string{"InvalidInput", "InvalidSpec", "NonFinite", "Integrity", "StorageFull"}

// retryPolicy is every activity's: exponential backoff from 1 s to 1 min, 10 attempts,
// never for the error types a retry cannot fix.
func retryPolicy() *temporal.RetryPolicy {
	return &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        time.Minute,
		MaximumAttempts:        10,
		NonRetryableErrorTypes: nonRetryable,
	}
}

// ShortActivities is for the bookkeeping activities (Prepare, CommitRound, Report, a
// comparison's report): seconds of work on the workflow's own task queue.
func ShortActivities(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 15 * time.Minute,
		RetryPolicy:         retryPolicy(),
	})
}

// LongActivities is for the compute activities, on queue ("" = the workflow's task queue).
// They heartbeat, so a dead worker is noticed after HeartbeatSeconds rather than after the
// long StartToClose, and the retry resumes from the last trainer checkpoint in S3.
func (t Timeouts) LongActivities(ctx workflow.Context, queue string) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:           queue,
		StartToCloseTimeout: time.Duration(t.ActivityMinutes * float64(time.Minute)),
		HeartbeatTimeout:    time.Duration(t.HeartbeatSeconds * float64(time.Second)),
		RetryPolicy:         retryPolicy(),
	})
}
