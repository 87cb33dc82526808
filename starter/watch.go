package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/space-sft/space/activities"
	"github.com/space-sft/space/workflows"
)

// snapshot is what `space watch` and `space status` know of a run at one moment: the
// workflow's own progress (query) and the live step of its running activity (heartbeat
// details from DescribeWorkflowExecution: the workflow itself never sees heartbeats).
type snapshot struct {
	Run      string                `json:"run"`
	Status   string                `json:"status"` // Temporal's: Running, Completed, Failed, ...
	Progress *workflows.Progress   `json:"progress,omitempty"`
	Activity string                `json:"activity,omitempty"` // the pending activity, e.g. "Train"
	Attempt  int32                 `json:"attempt,omitempty"`
	Live     *activities.Heartbeat `json:"live,omitempty"` // its last heartbeat: step, total, loss
	Failure  string                `json:"failure,omitempty"`
	// Started is when the run began (its first workflow execution, before any
	// continue-as-new); ElapsedS and LeftS are seconds since then and an estimate of the
	// seconds left (watch: absent until it can be estimated).
	Started  time.Time `json:"started,omitzero"`
	ElapsedS float64   `json:"elapsed_s,omitempty"`
	LeftS    float64   `json:"left_s,omitempty"`
}

func take(ctx context.Context, c client.Client, run string) (snapshot, error) {
	id := workflows.WorkflowID(run)
	d, err := c.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		return snapshot{}, fmt.Errorf("run %s (workflow %s): %w", run, id, err)
	}
	info := d.GetWorkflowExecutionInfo()
	s := snapshot{Run: run, Status: statusName(info.GetStatus()), Started: info.GetStartTime().AsTime()}
	if first := info.GetFirstRunId(); first != "" && first != info.GetExecution().GetRunId() {
		if fd, err := c.DescribeWorkflowExecution(ctx, id, first); err == nil {
			s.Started = fd.GetWorkflowExecutionInfo().GetStartTime().AsTime()
		}
	}
	for _, pa := range d.GetPendingActivities() {
		if s.Live != nil {
			break
		}
		s.Activity, s.Attempt = pa.GetActivityType().GetName(), pa.GetAttempt()
		if f := pa.GetLastFailure(); f != nil {
			s.Failure = f.GetMessage()
		}
		if det := pa.GetHeartbeatDetails(); det != nil {
			var p activities.Heartbeat
			if converter.GetDefaultDataConverter().FromPayloads(det, &p) == nil {
				s.Live = &p
			}
		}
	}
	if s.Status == "Running" {
		if v, err := c.QueryWorkflow(ctx, id, "", workflows.QueryProgress); err == nil {
			var p workflows.Progress
			if v.Get(&p) == nil {
				s.Progress = &p
			}
		}
	}
	return s, nil
}

func statusName(st enumspb.WorkflowExecutionStatus) string {
	switch st {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		return "Running"
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		return "Completed"
	case enumspb.WORKFLOW_EXECUTION_STATUS_FAILED:
		return "Failed"
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		return "Canceled"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED:
		return "Terminated"
	case enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
		return "ContinuedAsNew"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
		return "TimedOut"
	}
	return st.String()
}

// live renders the running activity's progress (a bar of width characters, step/total,
// loss, tok/s; sep between the last three), or "" when there is none.
func (s snapshot) live(width int, sep string) string {
	if s.Live == nil || s.Live.Total <= 0 {
		return ""
	}
	out := fmt.Sprintf(" %s %d/%d", bar(s.Live.Step, s.Live.Total, width), s.Live.Step, s.Live.Total)
	if s.Live.Loss != 0 {
		out += fmt.Sprintf("%sloss %.4f", sep, s.Live.Loss)
	}
	if s.Live.TokS > 0 {
		out += fmt.Sprintf("%s%.0f tok/s", sep, s.Live.TokS)
	}
	return out
}

// outer is " outer t/T" while a round trains over several workers (outer steps done), else "".
func outer(p *workflows.Progress) string {
	if p.OuterSteps == 0 {
		return ""
	}
	return fmt.Sprintf(" outer %d/%d", p.OuterStep, p.OuterSteps)
}

// line renders a snapshot as one line: round, phase, bar, step/total, loss.
func (s snapshot) line() string {
	if s.Progress == nil {
		return fmt.Sprintf("%s: %s", s.Run, s.Status)
	}
	p := s.Progress
	out := fmt.Sprintf("%s: round %d/%d %-8s", s.Run, p.Round, p.Rounds, p.Phase)
	out += outer(p) + s.live(24, " ")
	if s.Attempt > 1 {
		out += fmt.Sprintf(" (%s attempt %d: %s)", s.Activity, s.Attempt, s.Failure)
	}
	switch {
	case p.Fault != "":
		out += " [paused: " + p.Fault + "]"
	case p.Paused:
		out += " [paused]"
	}
	if p.Stopping {
		out += " [stopping after this round]"
	}
	return out
}

func cmdWatch(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("watch", flag.ContinueOnError)
	cn := connFlags(fs)
	asJSON := fs.Bool("json", false, "print one JSON snapshot per change, then the result")
	every := fs.Duration("interval", time.Second, "poll interval")
	run, err := oneRun(fs, args)
	if err != nil {
		return err
	}
	c, err := cn.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	v := newView(stdout, *asJSON)
	for {
		s, err := take(ctx, c, run)
		if err != nil {
			return err
		}
		if s.Status != "Running" {
			v.close()
			return finish(ctx, c, run, *asJSON)
		}
		v.show(s, time.Now())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(*every):
		}
	}
}

// finish prints a closed run's result (following continue-as-new to the last run).
func finish(ctx context.Context, c client.Client, run string, asJSON bool) error {
	var res workflows.RunResult
	if err := c.GetWorkflow(ctx, workflows.WorkflowID(run), "").Get(ctx, &res); err != nil {
		return fmt.Errorf("run %s: %w", run, err)
	}
	return printResult(res, asJSON)
}

func cmdStatus(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	cn := connFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	run, err := oneRun(fs, args)
	if err != nil {
		return err
	}
	c, err := cn.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	s, err := take(ctx, c, run)
	if err != nil {
		return err
	}
	if s.Status != "Running" {
		return finish(ctx, c, run, *asJSON)
	}
	if *asJSON {
		return printJSON(s)
	}
	fmt.Fprintln(stdout, s.line())
	if s.Progress != nil && len(s.Progress.Results) > 0 {
		printRounds(s.Progress.Results, s.Progress.BestRound)
	}
	return nil
}
