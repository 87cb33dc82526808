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
}

func cmdList(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	cn := connFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args); err != nil {
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
			Query: "WorkflowType = 'SelfPlay'", NextPageToken: token,
		})
		if err != nil {
			return err
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
			rows = append(rows, r)
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	if *asJSON {
		return printJSON(rows)
	}
	for _, r := range rows {
		fmt.Fprintf(stdout, "%-30s %-14s %s\n", r.Run, r.Status, r.Start.Local().Format(time.DateTime))
	}
	return nil
}
