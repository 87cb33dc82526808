package workflows

import "go.temporal.io/sdk/workflow"

// control holds the operator's wishes received by signal. Pause and stop never interrupt
// an activity: the workflow checks them between activities (pause) and between rounds (stop).
type control struct {
	pause, resume, stop workflow.ReceiveChannel
	paused, stopping    bool
}

func newControl(ctx workflow.Context, c *Carry) *control {
	k := &control{
		pause:    workflow.GetSignalChannel(ctx, SignalPause),
		resume:   workflow.GetSignalChannel(ctx, SignalResume),
		stop:     workflow.GetSignalChannel(ctx, SignalStop),
		paused:   c.Paused,
		stopping: c.Stop,
	}
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			sel := workflow.NewSelector(ctx)
			sel.AddReceive(k.pause, func(ch workflow.ReceiveChannel, _ bool) { ch.Receive(ctx, nil); k.paused = true })
			sel.AddReceive(k.resume, func(ch workflow.ReceiveChannel, _ bool) { ch.Receive(ctx, nil); k.paused = false })
			sel.AddReceive(k.stop, func(ch workflow.ReceiveChannel, _ bool) { ch.Receive(ctx, nil); k.stopping = true })
			sel.Select(ctx)
		}
	})
	return k
}

// drain applies signals still buffered, so none is lost when the run continues as new.
func (k *control) drain() {
	for k.pause.ReceiveAsync(nil) {
		k.paused = true
	}
	for k.resume.ReceiveAsync(nil) {
		k.paused = false
	}
	for k.stop.ReceiveAsync(nil) {
		k.stopping = true
	}
}

// gate blocks while the run is paused (a stop request also releases it, so a paused run
// can be stopped). It is called before every activity.
func (r *runner) gate(ctx workflow.Context) error {
	if !r.ctl.paused || r.ctl.stopping {
		return nil
	}
	prev := r.prog.Phase
	r.prog.Phase = PhasePaused
	workflow.GetLogger(ctx).Info("paused", "round", r.prog.Round)
	err := workflow.Await(ctx, func() bool { return !r.ctl.paused || r.ctl.stopping })
	r.prog.Phase = prev
	return err
}
