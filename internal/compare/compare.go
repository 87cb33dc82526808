// Package compare runs a comparison of methods end to end (`make compare`, `make
// compare-quick`, `space compare`): it starts a fresh local stack
// (Temporal dev server + versitygw, from bin/), a worker in this process, and runs the
// Compare workflow (SFT on n and 4n, SPIN, SPACE mu 1 and 3 from one pre-trained base, the
// hyper-parameters chosen on a validation split) on a built-in task; then it copies the
// report (compare.md, results.json, one PNG per metric) into a local folder, prints the
// wall time and stops the stack.
package compare

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"

	"github.com/space-sft/space/activities"
	"github.com/space-sft/space/internal/stack"
	"github.com/space-sft/space/storage"
	"github.com/space-sft/space/worker/app"
	"github.com/space-sft/space/workflows"
)

// Spec is the comparison the flags describe.
func Spec(task string, quick bool, name string, seeds, rounds, n int) workflows.CompareSpec {
	if name == "" {
		name = "cmp-" + task
		if quick {
			name = "quick-" + task
		}
	}
	s := workflows.CompareSpec{Name: name, Task: task}
	if quick {
		s = workflows.QuickCompare(name, task)
	}
	if seeds > 0 {
		s.Seeds = nil
		for i := 1; i <= seeds; i++ {
			s.Seeds = append(s.Seeds, uint64(i))
		}
	}
	if rounds > 0 {
		s.Rounds = rounds
	}
	if n > 0 {
		s.N = n
	}
	return s
}

// Run starts a stack in dir, runs the comparison with an in-process worker and writes the
// report to out/NAME. It returns after stopping the stack.
func Run(ctx context.Context, dir, out string, spec workflows.CompareSpec, w io.Writer) error {
	ctx, cancel := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	st, err := stack.Start(ctx, stack.Options{Dir: dir, UIPort: 0, Headless: true})
	if err != nil {
		return err
	}
	defer st.Stop()
	fmt.Fprintf(w, "stack: Temporal %s, web UI %s, S3 %s\n", st.TemporalAddress(), st.UIAddress(), st.S3Endpoint())
	return RunOn(ctx, st.TemporalAddress(), st.StorageConfig(), out, spec, w)
}

// RunOn runs the comparison on a running stack with an in-process worker.
func RunOn(ctx context.Context, temporal string, sc storage.Config, out string, spec workflows.CompareSpec, w io.Writer) error {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	sdkLog := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	c, err := client.Dial(client.Options{HostPort: temporal, Logger: log.NewStructuredLogger(sdkLog)})
	if err != nil {
		return err
	}
	defer c.Close()
	wctx, stopWorker := context.WithCancel(ctx)
	workerDone := make(chan error, 1)
	go func() { workerDone <- app.Run(wctx, app.Options{Client: c, Storage: sc, Log: logger}) }()
	defer func() { stopWorker(); <-workerDone }()

	full := spec.Defaults()
	if err := full.Validate(); err != nil {
		return err
	}
	start := time.Now()
	id := workflows.CompareWorkflowID(spec.Name)
	wr, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: app.DefaultTaskQueue}, workflows.Compare, spec)
	if err != nil {
		return fmt.Errorf("start comparison: %w", err)
	}
	fmt.Fprintf(w, "comparison %q on task %s: %d arms x %d seeds, %d rounds, n = %d (workflow %s)\n",
		full.Name, full.Task, len(full.Arms), len(full.Seeds), full.Rounds, full.N, id)
	res, err := Wait(ctx, c, wr, workerDone, func(line string) { fmt.Fprintf(w, "  [%5.0fs] %s\n", time.Since(start).Seconds(), line) })
	if err != nil {
		return err
	}
	return Fetch(ctx, sc, spec.Name, out, time.Since(start), res, w)
}

// Fetch copies a finished comparison's report from S3 into out/NAME and prints it.
func Fetch(ctx context.Context, sc storage.Config, name, out string, wall time.Duration, res workflows.CompareResult, w io.Writer) error {
	store, err := storage.New(ctx, sc)
	if err != nil {
		return err
	}
	dst := filepath.Join(out, name)
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	files, err := storage.Download(ctx, store, storage.ReportPrefix(name), dst)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\ncomparison done in %.0f s (%.1f min); %d files in %s:\n", wall.Seconds(), wall.Minutes(), len(files), dst)
	for _, f := range files {
		fmt.Fprintln(w, "  "+f)
	}
	md, err := os.ReadFile(filepath.Join(dst, "compare.md"))
	if err == nil {
		fmt.Fprintln(w)
		fmt.Fprintln(w, string(md))
	}
	for _, r := range append(res.Search, res.Final...) {
		if r.Status == "failed" {
			fmt.Fprintf(w, "note: run %s failed: %s\n", r.Run, strings.SplitN(r.Error, "\n", 2)[0])
		}
	}
	return nil
}

// Render rewrites dir/compare.md and dir/compare_*.png from dir/results.json (the report
// activity's input), e.g. after a change to the report's layout.
func Render(dir string) error {
	data, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		return err
	}
	var in activities.CompareReportInput
	if err := json.Unmarshal(data, &in); err != nil {
		return fmt.Errorf("results.json: %w", err)
	}
	md, figs := activities.RenderCompare(in)
	for _, f := range figs {
		png, err := activities.DrawCompare(in, f)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "compare_"+f+".png"), png, 0o644); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, "compare.md"), []byte(md), 0o644)
}

// Wait follows a comparison until it ends, calling line with each new progress line.
func Wait(ctx context.Context, c client.Client, wr client.WorkflowRun, workerDone <-chan error, line func(string)) (workflows.CompareResult, error) {
	var res workflows.CompareResult
	resCh := make(chan error, 1)
	go func() { resCh <- wr.Get(ctx, &res) }()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	last := ""
	for {
		select {
		case err := <-resCh:
			if err != nil {
				return res, fmt.Errorf("comparison failed: %w", err)
			}
			return res, nil
		case err := <-workerDone: // nil channel (no in-process worker): never ready
			return res, fmt.Errorf("worker stopped: %v", err)
		case <-tick.C:
			if l := progress(ctx, c, wr.GetID()); l != "" && l != last {
				line(l)
				last = l
			}
		}
	}
}

// progress is one line of a comparison's progress query ("" when it does not answer).
func progress(ctx context.Context, c client.Client, id string) string {
	qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	v, err := c.QueryWorkflow(qctx, id, "", workflows.QueryProgress)
	if err != nil {
		return ""
	}
	var p workflows.CompareProgress
	if err := v.Get(&p); err != nil {
		return ""
	}
	s := p.Phase
	if p.Total > 0 {
		s += fmt.Sprintf(" %d/%d done", p.Done, p.Total)
	}
	if len(p.Running) > 0 {
		s += "; running " + strings.Join(p.Running, ", ")
	}
	return s
}
