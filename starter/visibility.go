package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/space-sft/space/internal/searchattr"
	"github.com/space-sft/space/workflows"
)

// cmdSetup registers space's search attributes on the namespace (internal/searchattr).
func cmdSetup(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("setup", flag.ContinueOnError)
	cn := connFlags(fs)
	if _, err := parse(fs, args); err != nil {
		return err
	}
	c, err := cn.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	ns := cn.temporal.Namespace
	added, err := searchattr.Ensure(ctx, c.OperatorService(), ns)
	if err != nil {
		return err
	}
	if len(added) == 0 {
		fmt.Fprintf(stdout, "namespace %s already has space's search attributes\n", ns)
		return nil
	}
	fmt.Fprintf(stdout, "registered on namespace %s: %s\n", ns, strings.Join(added, ", "))
	return nil
}

// startAttributes are the search attributes `space run` starts a run with: the run then
// keeps them up to date (workflows/visibility.go). When the namespace lacks them, the run
// starts without (a workflow setting an unregistered attribute would fail) and a note says
// how to register them.
func startAttributes(ctx context.Context, c client.Client, ns string, spec workflows.RunSpec) temporal.SearchAttributes {
	if !registered(ctx, c, ns, "the run starts without them") {
		return temporal.SearchAttributes{}
	}
	return workflows.StartAttributes(spec)
}

// registered reports whether the namespace has space's search attributes, and when it
// has not, prints a note saying what follows (then) and how to register them.
func registered(ctx context.Context, c client.Client, ns, then string) bool {
	missing, err := searchattr.Missing(ctx, c.OperatorService(), ns)
	if err == nil && len(missing) == 0 {
		return true
	}
	why := fmt.Sprintf("namespace %s lacks the search attributes %s", ns, strings.Join(missing, ", "))
	if err != nil {
		why = err.Error()
	}
	fmt.Fprintf(os.Stderr, "note: %s; %s (no method, task or best round in the Temporal UI, and `space list --method/--task/--status` will not find it). Register them once with `space setup`, or: %s\n",
		why, then, searchattr.CreateCommand(ns))
	return false
}

// runSummary is the one line the Temporal UI shows for a run (StaticSummary).
func runSummary(spec workflows.RunSpec) string {
	on := spec.Task
	if on == "" {
		on = spec.Data
	}
	return fmt.Sprintf("%s on %s, %d rounds", spec.Method, on, spec.Rounds)
}

// listFilter is `space list`'s filters, as a Temporal visibility query.
type listFilter struct {
	method, task, status, query string
}

func (f *listFilter) flags(fs *flag.FlagSet) {
	fs.StringVar(&f.method, "method", "", "only runs of this method (space, spin, sft, sipo, ssimpo, psft): SpaceMethod")
	fs.StringVar(&f.task, "task", "", "only runs on this built-in task: SpaceTask")
	fs.StringVar(&f.status, "status", "", "only runs that are running, failed, terminated, canceled, timed_out (Temporal's status) or completed, stopped, early_stopped (SpaceStatus)")
	fs.StringVar(&f.query, "query", "", `a Temporal visibility query ANDed with the rest, e.g. "SpaceBestMetric < 1.5 AND StartTime > '2026-12-01T00:00:00Z'"`)
}

// visibilityQuery builds the query (values are checked, not escaped: they cannot hold a quote).
func (f listFilter) visibilityQuery() (string, error) {
	q := []string{"WorkflowType = 'SelfPlay'"}
	for _, kv := range [][2]string{{searchattr.Method.GetName(), strings.ToLower(f.method)}, {searchattr.Task.GetName(), f.task}} {
		if kv[1] == "" {
			continue
		}
		if strings.ContainsAny(kv[1], `'"\`) {
			return "", fmt.Errorf("--%s %q: quotes are not allowed", strings.ToLower(strings.TrimPrefix(kv[0], "Space")), kv[1])
		}
		q = append(q, fmt.Sprintf("%s = '%s'", kv[0], kv[1]))
	}
	switch s := strings.ToLower(f.status); s {
	case "":
	case "running", "failed", "terminated", "canceled", "timed_out":
		q = append(q, fmt.Sprintf("ExecutionStatus = '%s'", map[string]string{
			"running": "Running", "failed": "Failed", "terminated": "Terminated", "canceled": "Canceled", "timed_out": "TimedOut"}[s]))
	case workflows.StatusCompleted, workflows.StatusStopped, workflows.StatusEarlyStopped:
		q = append(q, fmt.Sprintf("%s = '%s'", searchattr.Status.GetName(), s))
	default:
		return "", fmt.Errorf("--status %q: want running, completed, stopped, early_stopped, failed, terminated, canceled or timed_out", f.status)
	}
	if f.query != "" {
		q = append(q, "("+f.query+")")
	}
	return strings.Join(q, " AND "), nil
}

// fromAttributes fills a listed row's method, task, outcome and best round from the
// execution's search attributes and memo (absent for runs started without them).
func (r *listed) fromAttributes(sa *commonpb.SearchAttributes, memo *commonpb.Memo) {
	dc := converter.GetDefaultDataConverter()
	str := func(name string) string {
		var s string
		if p := sa.GetIndexedFields()[name]; p != nil {
			_ = dc.FromPayload(p, &s)
		}
		return s
	}
	r.Method, r.Task, r.Outcome = str(searchattr.Method.GetName()), str(searchattr.Task.GetName()), str(searchattr.Status.GetName())
	if p := memo.GetFields()[workflows.MemoBest]; p != nil {
		var b workflows.BestMemo
		if dc.FromPayload(p, &b) == nil {
			r.Best = &b
		}
	}
}
