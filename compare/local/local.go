// Package local runs a comparison on a fresh local stack (Temporal dev server + versitygw,
// from bin/) with a worker in this process: `make compare`, `make compare-quick` and the
// tests of the compare wing. It is apart from package compare because it starts a worker,
// and the worker registers compare's workflow.
package local

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"

	"github.com/space-sft/space/compare"
	"github.com/space-sft/space/internal/stack"
	"github.com/space-sft/space/storage"
	"github.com/space-sft/space/worker/app"
)

// Run starts a stack in dir, runs the comparison with an in-process worker and writes the
// report to out/NAME. It returns after stopping the stack.
func Run(ctx context.Context, dir, out string, spec compare.Spec, w io.Writer) error {
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
func RunOn(ctx context.Context, temporal string, sc storage.Config, out string, spec compare.Spec, w io.Writer) error {
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
	id := compare.WorkflowID(spec.Name)
	wr, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: app.DefaultTaskQueue}, compare.Compare, spec)
	if err != nil {
		return fmt.Errorf("start comparison: %w", err)
	}
	fmt.Fprintf(w, "comparison %q on task %s: %d arms x %d seeds, %d rounds, n = %d (workflow %s)\n%s",
		full.Name, full.Task, len(full.Arms), len(full.Seeds), full.Rounds, full.N, id, full.Plan())
	res, err := compare.Wait(ctx, c, wr, workerDone, func(line string) { fmt.Fprintf(w, "  [%5.0fs] %s\n", time.Since(start).Seconds(), line) })
	if err != nil {
		return err
	}
	return compare.Fetch(ctx, sc, spec.Name, out, time.Since(start), res, w)
}
