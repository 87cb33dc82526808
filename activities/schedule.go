package activities

import (
	"context"
	"fmt"
	"strings"

	"github.com/space-sft/space/storage"
)

// ResolveInput names a schedule and the prefix its real data lands under.
type ResolveInput struct {
	Schedule   string `json:"schedule"`
	DataPrefix string `json:"data_prefix"`
}

// ResolveOutput is what a firing starts from.
type ResolveOutput struct {
	Data string      `json:"data"` // newest .jsonl key under the prefix
	Best storage.Ref `json:"best"` // the previous firing's best model (empty at the first)
}

// ScheduleBest is schedules/{name}/best.json.
type ScheduleBest struct {
	Schedule string             `json:"schedule"`
	Run      string             `json:"run"`
	Round    int                `json:"round"`
	Data     string             `json:"data"`
	Model    storage.Ref        `json:"model"`
	Metrics  map[string]float64 `json:"metrics"`
}

// RecordBestInput is a finished firing's best round.
type RecordBestInput = ScheduleBest

// BestKey is where a schedule keeps its best checkpoint so far.
func BestKey(schedule string) string { return storage.SchedulePrefix(schedule) + "best.json" }

// ResolveSchedule finds the newest data under the prefix (the greatest key: name files with
// a sortable date, e.g. data/2026-11-26.jsonl) and the schedule's last best checkpoint.
func (a *Activities) ResolveSchedule(ctx context.Context, in ResolveInput) (out ResolveOutput, err error) {
	defer a.track(ctx, "resolve", "", 0)(&err)
	objs, err := a.Store.List(ctx, in.DataPrefix)
	if err != nil {
		return ResolveOutput{}, Classify(err)
	}
	for _, o := range objs {
		if strings.HasSuffix(o.Key, ".jsonl") && o.Key > out.Data {
			out.Data = o.Key
		}
	}
	if out.Data == "" {
		return ResolveOutput{}, Invalid(fmt.Sprintf("no .jsonl file under %q; upload real data there first", in.DataPrefix))
	}
	var best ScheduleBest
	switch err := a.Store.GetJSON(ctx, BestKey(in.Schedule), "", &best); {
	case err == nil:
		out.Best = best.Model
	case !storage.IsNotFound(err):
		return ResolveOutput{}, Classify(err)
	}
	return out, nil
}

// RecordBest stores a firing's best checkpoint as the schedule's next starting point.
func (a *Activities) RecordBest(ctx context.Context, in RecordBestInput) (err error) {
	defer a.track(ctx, "record_best", in.Run, in.Round)(&err)
	_, err = a.putJSON(ctx, BestKey(in.Schedule), in)
	return Classify(err)
}
