package workflows

import (
	"fmt"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/space-sft/space/eval"
	"github.com/space-sft/space/internal/searchattr"
)

// versionSearchAttributes marks histories in which SelfPlay sets its search attributes
// and memo. Histories recorded before it replay without those commands.
const versionSearchAttributes = "search-attributes"

// versionScheduleSearchAttributes marks ScheduledFineTune histories whose firings start
// their run with search attributes.
const versionScheduleSearchAttributes = "schedule-search-attributes"

// StartAttributes are the search attributes a run starts with (`space run` sets them when
// the namespace has them registered): SelfPlay keeps them up to date only when SpaceMethod
// is among them.
func StartAttributes(spec RunSpec) temporal.SearchAttributes {
	return temporal.NewSearchAttributes(
		searchattr.Method.ValueSet(string(spec.Method)),
		searchattr.Task.ValueSet(spec.Task),
		searchattr.Status.ValueSet(searchattr.StatusRunning))
}

// childAttributes are the search attributes a scheduled firing starts its run with: the
// run's when the schedule's own workflow carries SpaceMethod (`space schedule create` sets
// it when the namespace has the attributes), none otherwise.
func childAttributes(ctx workflow.Context, spec RunSpec) temporal.SearchAttributes {
	if workflow.GetVersion(ctx, versionScheduleSearchAttributes, workflow.DefaultVersion, 1) == workflow.DefaultVersion ||
		!workflow.GetTypedSearchAttributes(ctx).ContainsKey(searchattr.Method) {
		return temporal.SearchAttributes{}
	}
	return StartAttributes(spec)
}

// MemoBest is the memo field that holds the best round (a BestMemo), shown by the Temporal
// UI and `space list`.
const MemoBest = "best"

// BestMemo is the memo of the best round so far.
type BestMemo struct {
	Round   int                `json:"round"`
	Metric  string             `json:"metric"` // what ranks rounds: task_score on a task, else test_nll
	Value   float64            `json:"value"`
	Model   string             `json:"model_key"`
	Metrics map[string]float64 `json:"metrics"` // all of the round's
}

// RankMetric is the metric that ranks rounds first (better): the task's score when the
// round has one, else the held-out NLL.
func RankMetric(m map[string]float64) (string, float64) {
	if v, ok := m[eval.TaskScore]; ok {
		return eval.TaskScore, v
	}
	return eval.NLL, m[eval.NLL]
}

// initVisibility decides whether this run publishes its search attributes (internal/searchattr)
// and sets the first ones. It does only when the run was started with SpaceMethod set:
// `space run` sets it when the namespace has the attributes registered, and a workflow that
// upserted an unregistered attribute would fail every workflow task.
func (r *runner) initVisibility(ctx workflow.Context) error {
	r.visible = workflow.GetVersion(ctx, versionSearchAttributes, workflow.DefaultVersion, 1) == 1 &&
		workflow.GetTypedSearchAttributes(ctx).ContainsKey(searchattr.Method)
	if !r.visible {
		return nil
	}
	return workflow.UpsertTypedSearchAttributes(ctx,
		searchattr.Method.ValueSet(string(r.spec.Method)),
		searchattr.Task.ValueSet(r.spec.Task),
		searchattr.Status.ValueSet(searchattr.StatusRunning))
}

// publishBest shows the best round so far: the current details (the UI's summary of a
// running workflow) always, search attributes and memo when visible.
func (r *runner) publishBest(ctx workflow.Context) error {
	m := r.bestMetrics()
	name, v := RankMetric(m)
	best := BestMemo{Round: r.c.BestRound, Metric: name, Value: v, Metrics: m}
	for _, rr := range r.c.Rounds {
		if rr.Round == r.c.BestRound {
			best.Model = rr.ModelKey
		}
	}
	workflow.SetCurrentDetails(ctx, fmt.Sprintf("**%s** on %s: round %d/%d done; best round %d, %s %.4g",
		r.spec.Method, r.dataName(), r.c.nextRound()-1, r.spec.Rounds, best.Round, name, v))
	if !r.visible {
		return nil
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx,
		searchattr.BestRound.ValueSet(int64(best.Round)),
		searchattr.BestMetric.ValueSet(v)); err != nil {
		return err
	}
	return workflow.UpsertMemo(ctx, map[string]any{MemoBest: best})
}

// publishStatus sets SpaceStatus to how the run ended.
func (r *runner) publishStatus(ctx workflow.Context, status string) error {
	if !r.visible {
		return nil
	}
	return workflow.UpsertTypedSearchAttributes(ctx, searchattr.Status.ValueSet(status))
}

// dataName is what the run trains on, for the summary.
func (r *runner) dataName() string {
	if r.spec.Task != "" {
		return r.spec.Task
	}
	return r.spec.Data
}
