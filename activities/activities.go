package activities

import (
	"context"
	"log/slog"

	"github.com/space-sft/space/storage"
)

// Activities holds the dependencies of every activity. The workflow calls the methods
// through a nil *Activities (`var a *activities.Activities; workflow.ExecuteActivity(ctx,
// a.Train, in)`), so activity names are checked by the compiler; the worker registers a
// real value with a Store.
type Activities struct {
	Store     *storage.Store
	Log       *slog.Logger
	Telemetry *Telemetry // optional: nil disables the Prometheus series
}

func (a *Activities) log() *slog.Logger {
	if a.Log == nil {
		return slog.Default()
	}
	return a.Log
}

// track marks an activity as running (Prometheus series, pprof labels) and returns the
// function that records its end: `defer a.track(ctx, "train", run, round)(&err)`.
func (a *Activities) track(ctx context.Context, activity, run string, round int) func(err *error) {
	return a.Telemetry.track(ctx, activity, run, round)
}
