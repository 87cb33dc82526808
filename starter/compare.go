package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/space-sft/space/compare"
)

// cmdCompare starts a Compare workflow (SFT on n and 4n, SPIN, SPACE mu 1 and 3, from one
// pre-trained base, settings chosen on a validation split) on the workers, waits for it and
// copies its report (compare.md, results.json, PNGs) from S3 to --out/NAME.
//
//	space compare --task markov [--quick | --preset paper] [--seeds 3] [--rounds 4] [--n 128] [--out out/compare]
//	space compare --spec compare.json [--no-wait] [--json]
func cmdCompare(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	cn := connFlags(fs)
	chosen := compare.SpecFlags(fs)
	out := fs.String("out", "out/compare", "local folder for the report (OUT/NAME/)")
	noWait := fs.Bool("no-wait", false, "start the comparison and return")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	s3 := s3Flags(fs, "")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	spec, err := chosen()
	if err != nil {
		return err
	}
	if err := spec.Defaults().Validate(); err != nil {
		return err
	}
	c, err := cn.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	id := compare.WorkflowID(spec.Name)
	start := time.Now()
	wr, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: cn.queue, WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
	}, compare.Compare, spec)
	if err != nil {
		return fmt.Errorf("start %s: %w", id, err)
	}
	if *noWait {
		fmt.Fprintf(stdout, "started comparison %s (workflow %s)\n", spec.Name, id)
		return nil
	}
	fmt.Fprintf(stdout, "started comparison %s (workflow %s), waiting...\n", spec.Name, id)
	res, err := compare.Wait(ctx, c, wr, nil, func(line string) {
		fmt.Fprintf(stdout, "  [%5.0fs] %s\n", time.Since(start).Seconds(), line)
	})
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(res)
	}
	return compare.Fetch(ctx, *s3, spec.Name, *out, time.Since(start), res, stdout)
}
