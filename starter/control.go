package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/space-sft/space/workflows"
)

// signalCmd sends pause, resume or stop. They take effect between activities (pause) or
// after the current round (stop), so the command returns before the run reacts.
func signalCmd(signal string) func(context.Context, []string) error {
	return func(ctx context.Context, args []string) error {
		fs := flag.NewFlagSet(signal, flag.ContinueOnError)
		cn := connFlags(fs)
		run, err := oneRun(fs, args)
		if err != nil {
			return err
		}
		c, err := cn.dial()
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.SignalWorkflow(ctx, workflows.WorkflowID(run), "", signal, nil); err != nil {
			return fmt.Errorf("%s %s: %w", signal, run, err)
		}
		fmt.Fprintf(stdout, "sent %s to run %s\n", signal, run)
		return nil
	}
}

// listed is one row of `space list --json`.
type listed struct {
	Run        string    `json:"run"`
	WorkflowID string    `json:"workflow_id"`
	Status     string    `json:"status"`
	Start      time.Time `json:"start"`
	Close      time.Time `json:"close,omitzero"`
	// From the search attributes and memo (runs started without them have none).
	Method  string              `json:"method,omitempty"`
	Task    string              `json:"task,omitempty"`
	Outcome string              `json:"outcome,omitempty"` // SpaceStatus: running, completed, stopped, early_stopped
	Best    *workflows.BestMemo `json:"best,omitempty"`
}

func cmdList(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	cn := connFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	var filter listFilter
	filter.flags(fs)
	if _, err := parse(fs, args); err != nil {
		return err
	}
	query, err := filter.visibilityQuery()
	if err != nil {
		return err
	}
	c, err := cn.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	var rows []listed
	var token []byte
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: query, NextPageToken: token,
		})
		if err != nil {
			return fmt.Errorf("list %s: %w", query, err)
		}
		for _, e := range resp.GetExecutions() {
			// Continue-as-new leaves one closed execution per chunk of rounds; show the
			// latest execution of each run only.
			if e.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW {
				continue
			}
			id := e.GetExecution().GetWorkflowId()
			r := listed{Run: strings.TrimPrefix(id, "space-run-"), WorkflowID: id, Status: statusName(e.GetStatus()), Start: e.GetStartTime().AsTime()}
			if e.GetCloseTime() != nil {
				r.Close = e.GetCloseTime().AsTime()
			}
			r.fromAttributes(e.GetSearchAttributes(), e.GetMemo())
			rows = append(rows, r)
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	if *asJSON {
		return printJSON(rows)
	}
	fmt.Fprintf(stdout, "%-24s %-14s %-8s %-8s %-19s %s\n", "RUN", "STATUS", "METHOD", "TASK", "STARTED", "BEST")
	for _, r := range rows {
		status := r.Status
		if r.Outcome == workflows.StatusStopped || r.Outcome == workflows.StatusEarlyStopped {
			status = r.Outcome
		}
		best := "-"
		if r.Best != nil {
			m := r.Best.Metrics
			if m == nil {
				m = map[string]float64{r.Best.Metric: r.Best.Value}
			}
			best = describeBest(r.Best.Round, m)
		}
		fmt.Fprintf(stdout, "%-24s %-14s %-8s %-8s %-19s %s\n", r.Run, status, dash(r.Method), dash(r.Task), r.Start.Local().Format(time.DateTime), best)
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
