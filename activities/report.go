package activities

import (
	"context"

	"github.com/space-sft/space/report"
	"github.com/space-sft/space/storage"
)

// Report writes runs/{run}/report/report.md (report.Run: a per-round table of every metric)
// and one PNG per figure next to it.
func (a *Activities) Report(ctx context.Context, in ReportInput) (out storage.Ref, err error) {
	defer a.track(ctx, "report", in.Run, 0)(&err)
	out, err = a.report(ctx, in)
	return out, Classify(err)
}

func (a *Activities) report(ctx context.Context, in ReportInput) (storage.Ref, error) {
	rounds := make([]report.Round, len(in.Rounds))
	for i, r := range in.Rounds {
		rounds[i] = report.Round{Round: r.Round, ModelKey: r.ModelKey, ModelSHA256: r.ModelSHA256, Metrics: r.Metrics}
	}
	md, figs, err := report.Run(in.Run, in.Method, in.Status, in.BestRound, rounds)
	if err != nil {
		return storage.Ref{}, err
	}
	for _, f := range figs {
		if _, err := a.put(ctx, storage.ReportKey(in.Run, f.Name+".png"), f.PNG); err != nil {
			return storage.Ref{}, err
		}
	}
	return a.put(ctx, storage.ReportKey(in.Run, "report.md"), []byte(md))
}
