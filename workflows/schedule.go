package workflows

import (
	"fmt"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/space-sft/space/activities"
	"github.com/space-sft/space/storage"
)

// ScheduleSpec is the input of ScheduledFineTune, the workflow a Temporal Schedule fires:
// every firing fine-tunes on the newest real data under DataPrefix, starting from the best
// checkpoint of this schedule's previous firing (or from the template's base at first).
type ScheduleSpec struct {
	Schedule   string  `json:"schedule"`    // schedule name; runs are named "{schedule}-{yyyymmdd-hhmmss}"
	DataPrefix string  `json:"data_prefix"` // S3 prefix of the JSONL files; the newest key wins
	Template   RunSpec `json:"template"`    // every field but name, data, task (and base after the first firing)
	// Complete says the template is a complete spec (DefaultSpec, ParseSpec), as `space
	// schedule create` makes it. Schedules created before leave it false: their template's
	// zero fields mean the defaults, as they did then.
	Complete bool `json:"complete,omitempty"`
}

// ScheduleWorkflowID is the workflow ID prefix of a schedule's firings.
func ScheduleWorkflowID(schedule string) string { return "space-schedule-" + schedule }

// ScheduledFineTune resolves the newest data and the last best checkpoint, runs SelfPlay as
// a child workflow, and records the run's best checkpoint under schedules/{name}/best.json
// so that the next firing continues from it.
func ScheduledFineTune(ctx workflow.Context, s ScheduleSpec) (RunResult, error) {
	var a *activities.Activities
	if len(s.Schedule) > 40 || storage.ValidateName(s.Schedule) != nil || s.DataPrefix == "" {
		return RunResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("invalid schedule: name %q (1-40 characters of a-z, 0-9, '.', '_', '-') and data_prefix %q (required)", s.Schedule, s.DataPrefix),
			"InvalidSpec", nil)
	}
	if !s.Complete {
		s.Template = s.Template.legacyDefaults()
	}
	short := ShortActivities(ctx)
	var res activities.ResolveOutput
	if err := workflow.ExecuteActivity(short, a.ResolveSchedule, activities.ResolveInput{Schedule: s.Schedule, DataPrefix: s.DataPrefix}).Get(ctx, &res); err != nil {
		return RunResult{}, StepError("resolve schedule", err)
	}

	spec := s.Template
	spec.Name = s.Schedule + "-" + workflow.GetInfo(ctx).WorkflowStartTime.UTC().Format("20060102-150405")
	spec.Data, spec.Task, spec.N = res.Data, "", 0
	if res.Best.Key != "" {
		spec.Base = res.Best.Key // continue from the last firing's best model
	}
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:            WorkflowID(spec.Name),
		WorkflowRunTimeout:    0,
		TypedSearchAttributes: childAttributes(ctx, spec),
	})
	var out RunResult
	if err := workflow.ExecuteChildWorkflow(cctx, SelfPlay, spec, nil).Get(ctx, &out); err != nil {
		return RunResult{}, fmt.Errorf("run %s: %w", spec.Name, err)
	}
	best, ok := out.Best()
	if !ok {
		return out, nil
	}
	rec := activities.RecordBestInput{
		Schedule: s.Schedule, Run: spec.Name, Round: best.Round, Data: res.Data,
		Model: storage.Ref{Key: best.ModelKey, SHA256: best.ModelSHA256}, Metrics: best.Metrics,
	}
	if err := workflow.ExecuteActivity(short, a.RecordBest, rec).Get(ctx, nil); err != nil {
		return RunResult{}, StepError("record best", err)
	}
	return out, nil
}
