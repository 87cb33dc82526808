package workflows

import (
	"context"
	"strings"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"

	"github.com/space-sft/space/activities"
	"github.com/space-sft/space/internal/searchattr"
	"github.com/space-sft/space/storage"
)

// TestScheduledFineTune: a firing resolves the newest data and the last best model, runs
// SelfPlay on them as a child, and records the child's best round.
func (s *selfPlaySuite) TestScheduledFineTune() {
	var a *activities.Activities
	s.env = s.NewTestWorkflowEnvironment() // our TrainBase mock must come before mockAll's
	s.env.RegisterWorkflow(SelfPlay)
	s.env.OnActivity(a.ResolveSchedule, mock.Anything, activities.ResolveInput{Schedule: "nightly", DataPrefix: "data/"}).
		Return(activities.ResolveOutput{Data: "data/2026-11-26.jsonl", Best: ck("runs/nightly-old/rounds/002/model.safetensors")}, nil)
	var recorded activities.RecordBestInput
	s.env.OnActivity(a.RecordBest, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.RecordBestInput) error {
		recorded = in
		return nil
	})
	var base activities.BaseInput
	s.env.OnActivity(a.TrainBase, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.BaseInput) (activities.TrainOutput, error) {
		base = in
		return activities.TrainOutput{Model: storage.Ref{Key: in.Base, SHA256: sha(in.Base)}}, nil
	})
	s.mockAll()
	s.env.SetStartTime(time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC))
	tmpl := DefaultSpec() // task and name are replaced per firing
	tmpl.Rounds, tmpl.Task, tmpl.N = 1, "arith", 8
	s.env.ExecuteWorkflow(ScheduledFineTune, ScheduleSpec{Schedule: "nightly", DataPrefix: "data/", Template: tmpl})
	res := s.result()

	s.True(strings.HasPrefix(res.Run, "nightly-20261126-"), res.Run)
	s.Equal("runs/nightly-old/rounds/002/model.safetensors", base.Base) // continues from the last best
	s.Equal("nightly", recorded.Schedule)
	s.Equal(res.Run, recorded.Run)
	s.Equal("data/2026-11-26.jsonl", recorded.Data)
	best, _ := res.Best()
	s.Equal(best.ModelKey, recorded.Model.Key)
}

// A schedule created on a namespace with the search attributes (its workflow carries
// SpaceMethod) starts each firing's run with them, and the run keeps them up to date.
func (s *selfPlaySuite) TestScheduledFineTuneSearchAttributes() {
	var a *activities.Activities
	s.env = s.NewTestWorkflowEnvironment()
	s.env.RegisterWorkflow(SelfPlay)
	s.env.OnActivity(a.ResolveSchedule, mock.Anything, mock.Anything).Return(activities.ResolveOutput{Data: "data/x.jsonl"}, nil)
	s.env.OnActivity(a.RecordBest, mock.Anything, mock.Anything).Return(nil)
	s.mockAll()
	var upserts int
	s.env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(mock.Arguments) { upserts++ }).Return(nil)
	s.env.OnUpsertMemo(mock.Anything).Return(nil)
	s.Require().NoError(s.env.SetTypedSearchAttributesOnStart(temporal.NewSearchAttributes(searchattr.Method.ValueSet("space"))))
	tmpl := DefaultSpec()
	tmpl.Rounds = 1
	s.env.ExecuteWorkflow(ScheduledFineTune, ScheduleSpec{Schedule: "nightly", DataPrefix: "data/", Template: tmpl, Complete: true})
	s.result()
	s.Equal(4, upserts, "the child run: start, base, round 1, end")
}
