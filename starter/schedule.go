package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/space-sft/space/internal/searchattr"
	"github.com/space-sft/space/workflows"
)

// scheduleID is the Temporal Schedule ID of a space schedule.
func scheduleID(name string) string { return "space-" + name }

// cmdSchedule manages Temporal Schedules that fire ScheduledFineTune: each firing
// fine-tunes on the newest JSONL under --prefix, from the schedule's last best checkpoint.
func cmdSchedule(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New("usage: space schedule create|list|delete|trigger ...")
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("schedule "+sub, flag.ContinueOnError)
	cn := connFlags(fs)
	var (
		prefix, specFile, cron string
		every                  time.Duration
		now, asJSON            bool
	)
	if sub == "create" {
		fs.StringVar(&prefix, "prefix", "", "S3 prefix of the real data (newest .jsonl key wins; name files by date)")
		fs.StringVar(&specFile, "spec", "", "RunSpec JSON template (name, data and task are set per firing)")
		fs.DurationVar(&every, "every", 0, "interval between firings, e.g. 24h")
		fs.StringVar(&cron, "cron", "", `cron expression instead of --every, e.g. "0 3 * * *"`)
		fs.BoolVar(&now, "trigger-now", false, "also fire once right away")
	}
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	c, err := cn.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	sc := c.ScheduleClient()
	name := ""
	if sub != "list" {
		if len(pos) != 1 {
			return fmt.Errorf("usage: space schedule %s NAME", sub)
		}
		name = pos[0]
	}

	switch sub {
	case "create":
		tmpl := workflows.DefaultSpec()
		if specFile != "" {
			data, err := os.ReadFile(specFile)
			if err != nil {
				return err
			}
			if tmpl, err = workflows.ParseSpec(data); err != nil {
				return fmt.Errorf("%s: %w", specFile, err)
			}
		}
		if tmpl.Rounds == 0 {
			tmpl.Rounds = 1
		}
		probe := tmpl // check the template as a firing would use it
		probe.Name, probe.Data, probe.Task = name+"-20060102-150405", prefix+"x.jsonl", ""
		if err := probe.Validate(); err != nil {
			return fmt.Errorf("template: %w", err)
		}
		if prefix == "" || (every == 0) == (cron == "") {
			return errors.New("set --prefix and exactly one of --every or --cron")
		}
		// SpaceMethod on the schedule's workflow tells it that its runs may carry the
		// search attributes (workflows.ScheduledFineTune).
		var attrs temporal.SearchAttributes
		if registered(ctx, c, cn.temporal.Namespace, "the schedule's runs start without them") {
			attrs = temporal.NewSearchAttributes(searchattr.Method.ValueSet(string(tmpl.Method)))
		}
		spec := client.ScheduleSpec{}
		if every > 0 {
			spec.Intervals = []client.ScheduleIntervalSpec{{Every: every}}
		} else {
			spec.CronExpressions = []string{cron}
		}
		_, err := sc.Create(ctx, client.ScheduleOptions{
			ID:   scheduleID(name),
			Spec: spec,
			Action: &client.ScheduleWorkflowAction{
				ID: workflows.ScheduleWorkflowID(name), Workflow: workflows.ScheduledFineTune, TaskQueue: cn.queue,
				TypedSearchAttributes: attrs,
				Args:                  []any{workflows.ScheduleSpec{Schedule: name, DataPrefix: prefix, Template: tmpl, Complete: true}},
			},
			// A firing that finds the previous one still training is skipped, not queued:
			// each firing continues from the last best model, so two at once make no sense.
			Overlap:            enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
			TriggerImmediately: now,
		})
		if err != nil {
			return fmt.Errorf("create schedule %s: %w", name, err)
		}
		fmt.Fprintf(stdout, "created schedule %s (Temporal schedule %s)\n", name, scheduleID(name))
	case "list":
		it, err := sc.List(ctx, client.ScheduleListOptions{})
		if err != nil {
			return err
		}
		type row struct {
			Name string      `json:"name"`
			ID   string      `json:"schedule_id"`
			Next []time.Time `json:"next"`
		}
		var rows []row
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				return err
			}
			if !strings.HasPrefix(e.ID, "space-") {
				continue
			}
			rows = append(rows, row{Name: strings.TrimPrefix(e.ID, "space-"), ID: e.ID, Next: e.NextActionTimes})
		}
		if asJSON {
			return printJSON(rows)
		}
		for _, r := range rows {
			next := "-"
			if len(r.Next) > 0 {
				next = r.Next[0].Local().Format(time.DateTime)
			}
			fmt.Fprintf(stdout, "%-30s next %s\n", r.Name, next)
		}
	case "delete":
		if err := sc.GetHandle(ctx, scheduleID(name)).Delete(ctx); err != nil {
			return fmt.Errorf("delete schedule %s: %w", name, err)
		}
		fmt.Fprintf(stdout, "deleted schedule %s\n", name)
	case "trigger":
		err := sc.GetHandle(ctx, scheduleID(name)).Trigger(ctx, client.ScheduleTriggerOptions{Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP})
		if err != nil {
			return fmt.Errorf("trigger schedule %s: %w", name, err)
		}
		fmt.Fprintf(stdout, "triggered schedule %s\n", name)
	default:
		return fmt.Errorf("unknown schedule command %q (create, list, delete, trigger)", sub)
	}
	return nil
}
