package compare

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/space-sft/space/storage"
	"github.com/space-sft/space/workflows"
)

// Fetch copies a finished comparison's report from S3 into out/NAME and prints it.
func Fetch(ctx context.Context, sc storage.Config, name, out string, wall time.Duration, res Result, w io.Writer) error {
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
	var in ReportInput
	if err := json.Unmarshal(data, &in); err != nil {
		return fmt.Errorf("results.json: %w", err)
	}
	md, figs := RenderMarkdown(in)
	for _, f := range figs {
		png, err := DrawMetric(in, f)
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
func Wait(ctx context.Context, c client.Client, wr client.WorkflowRun, workerDone <-chan error, line func(string)) (Result, error) {
	var res Result
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
	var p Progress
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
