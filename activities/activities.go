package activities

import (
	"log/slog"

	"github.com/space-sft/space/storage"
)

// Activities holds the dependencies of every activity. The workflow calls the methods
// through a nil *Activities (`var a *activities.Activities; workflow.ExecuteActivity(ctx,
// a.Train, in)`), so activity names are checked by the compiler; the worker registers a
// real value with a Store.
type Activities struct {
	Store   *storage.Store
	Log     *slog.Logger
	Metrics *Metrics // optional: nil disables Prometheus metrics
}

func (a *Activities) log() *slog.Logger {
	if a.Log == nil {
		return slog.Default()
	}
	return a.Log
}
