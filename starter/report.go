package main

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/space-sft/space/storage"
)

// reported is the --json output of `space report`.
type reported struct {
	Run   string   `json:"run"`
	HTML  string   `json:"html"`  // the page to open in a browser
	Files []string `json:"files"` // every file written: report.html, report.md, the PNGs
}

// cmdReport copies a run's report from S3 (runs/RUN/report/: report.html, report.md and the
// PNG plots, each verified against its stored sha256) into --out and says where the HTML is.
// The Report activity writes them when the run ends (completed, stopped or early-stopped);
// for a run without a report it asks Temporal whether the run is still going.
//
//	space report RUN [--out DIR] [--json]
func cmdReport(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	cn := connFlags(fs)
	out := fs.String("out", "", "local folder for the report (default: ./RUN-report)")
	asJSON := fs.Bool("json", false, "print JSON")
	s3 := s3Flags(fs, "")
	run, err := oneRun(fs, args)
	if err != nil {
		return err
	}
	if err := storage.ValidateName(run); err != nil {
		return err
	}
	if *out == "" {
		*out = run + "-report"
	}
	store, err := storage.New(ctx, *s3)
	if err != nil {
		return err
	}
	prefix := storage.ReportPrefix(run)
	htmlKey := storage.ReportKey(run, "report.html")
	if ok, err := store.Exists(ctx, htmlKey); err != nil {
		return err
	} else if !ok {
		return noReport(ctx, cn, run, s3.Bucket, htmlKey)
	}
	files, err := storage.Download(ctx, store, prefix, *out)
	if err != nil {
		return fmt.Errorf("download %s: %w", prefix, err)
	}
	slices.Sort(files)
	res := reported{Run: run, Files: files, HTML: filepath.Join(*out, "report.html")}
	if abs, err := filepath.Abs(res.HTML); err == nil {
		res.HTML = abs
	}
	if *asJSON {
		return printJSON(res)
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = filepath.Base(f)
	}
	fmt.Fprintf(stdout, "report of run %s written to %s: %s\n", run, *out, strings.Join(names, ", "))
	fmt.Fprintf(stdout, "  open file://%s in a browser\n", filepath.ToSlash(res.HTML))
	return nil
}

// noReport explains a missing report: the run is still going (the report comes at its end),
// or it ended before reports had an HTML page, or there is no such run.
func noReport(ctx context.Context, cn *conn, run, bucket, key string) error {
	msg := fmt.Sprintf("run %s has no report.html in s3://%s/%s", run, bucket, key)
	c, err := cn.dial()
	if err != nil {
		return fmt.Errorf("%s (the report is written when a run ends; Temporal could not be asked about the run: %v)", msg, err)
	}
	defer c.Close()
	s, err := take(ctx, c, run)
	if err != nil {
		return fmt.Errorf("%s, and Temporal does not know the run: %w", msg, err)
	}
	if s.Status == "Running" {
		return fmt.Errorf("%s yet: the run is running, and its report is written when it ends (`space watch %s`)", msg, run)
	}
	return fmt.Errorf("%s: the run is %s (a run that failed, or ended before reports had an HTML page, has none)", msg, strings.ToLower(s.Status))
}
