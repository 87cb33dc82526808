package workflows

import (
	"errors"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/space-sft/space/activities"
)

// versionFaultPause marks runs that pause on a fault a person must fix (S3 storage full)
// instead of failing: the activity that hit it runs again once the run is resumed.
const versionFaultPause = "fault-pause"

// execute schedules an activity as workflow.ExecuteActivity does. When it fails because S3
// refused writes for lack of space (type StorageFull: the storage layer has already retried
// for storage.Config.FullWait), the run pauses with the fault in its progress (`space status`,
// `space watch`), and `space resume RUN` runs the activity again. Nothing committed is lost:
// the failed activity wrote nothing that a manifest lists, and Train resumes from its last
// listed checkpoint. A stop request while paused ends the pause with the error.
func (r *runner) execute(ctx, actx workflow.Context, activity, in any) workflow.Future {
	f := workflow.ExecuteActivity(actx, activity, in)
	res, set := workflow.NewFuture(ctx)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			err := f.Get(ctx, nil)
			var app *temporal.ApplicationError
			if !errors.As(err, &app) || app.Type() != activities.ErrStorageFull ||
				workflow.GetVersion(ctx, versionFaultPause, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
				set.Chain(f)
				return
			}
			if !r.pauseOnFault(ctx, app.Message()) {
				set.Chain(f)
				return
			}
			f = workflow.ExecuteActivity(actx, activity, in)
		}
	})
	return res
}

// pauseOnFault pauses the run with fault as its one message, and waits for `space resume`
// (true) or `space stop` (false).
func (r *runner) pauseOnFault(ctx workflow.Context, fault string) bool {
	r.ctl.paused = true
	r.prog.Fault = fault + "; the run is paused: once that is fixed, `space resume " + r.spec.Name + "`"
	prev := r.prog.Phase
	if prev != PhasePaused {
		r.prog.Phase = PhasePaused
	}
	workflow.GetLogger(ctx).Error("run paused on a fault", "run", r.spec.Name, "fault", r.prog.Fault)
	_ = workflow.Await(ctx, func() bool { return !r.ctl.paused || r.ctl.stopping })
	r.prog.Fault = ""
	if r.prog.Phase == PhasePaused {
		r.prog.Phase = prev
	}
	return !r.ctl.stopping
}
