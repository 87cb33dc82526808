package workflows

import (
	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"

	"github.com/space-sft/space/eval"
	"github.com/space-sft/space/internal/searchattr"
)

// A run started with SpaceMethod set (space run does, when the namespace has the
// attributes) publishes method, task and status at start, the best round and its metric
// after every round, a memo of the best round, and how it ended.
func (s *selfPlaySuite) TestSearchAttributesAndMemo() {
	s.Require().NoError(s.env.SetTypedSearchAttributesOnStart(temporal.NewSearchAttributes(searchattr.Method.ValueSet("space"))))
	var upserts []temporal.SearchAttributes
	s.env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		upserts = append(upserts, args.Get(0).(temporal.SearchAttributes))
	}).Return(nil)
	var memos []map[string]any
	s.env.OnUpsertMemo(mock.Anything).Run(func(args mock.Arguments) {
		memos = append(memos, args.Get(0).(map[string]any))
	}).Return(nil)

	s.env.ExecuteWorkflow(SelfPlay, testSpec(), nil)
	res := s.result()

	// start, base, round 1, round 2, end
	s.Require().Len(upserts, 5)
	first := upserts[0]
	method, _ := first.GetKeyword(searchattr.Method)
	task, _ := first.GetKeyword(searchattr.Task)
	status, _ := first.GetKeyword(searchattr.Status)
	s.Equal([]string{"space", "arith", searchattr.StatusRunning}, []string{method, task, status})
	for i, round := range []int64{0, 1, 2} {
		got, ok := upserts[1+i].GetInt64(searchattr.BestRound)
		s.True(ok)
		s.LessOrEqual(got, round)
		_, ok = upserts[1+i].GetFloat64(searchattr.BestMetric)
		s.True(ok)
	}
	lastBest, _ := upserts[3].GetInt64(searchattr.BestRound)
	s.Equal(int64(res.BestRound), lastBest)
	best, _ := upserts[3].GetFloat64(searchattr.BestMetric)
	s.Equal(res.Rounds[res.BestRound].Metrics[eval.NLL], best, "the fakes report no task score: ranked by NLL")
	end, _ := upserts[4].GetKeyword(searchattr.Status)
	s.Equal(StatusCompleted, end)

	s.Require().Len(memos, 3)
	m := memos[2][MemoBest].(BestMemo)
	s.Equal(BestMemo{Round: res.BestRound, Metric: eval.NLL, Value: best, Model: res.Rounds[res.BestRound].ModelKey, Metrics: res.Rounds[res.BestRound].Metrics}, m)
}

// A run started without the attributes (a namespace that lacks them, or an older starter)
// sets none: an unregistered attribute would fail its workflow tasks.
func (s *selfPlaySuite) TestNoSearchAttributesWhenNotStartedWithThem() {
	s.env.OnUpsertTypedSearchAttributes(mock.Anything).Return(nil).Times(0)
	s.env.OnUpsertMemo(mock.Anything).Return(nil).Times(0)
	s.env.ExecuteWorkflow(SelfPlay, testSpec(), nil)
	s.Equal(StatusCompleted, s.result().Status)
	s.env.AssertNotCalled(s.T(), "UpsertTypedSearchAttributes", mock.Anything)
}

func (s *selfPlaySuite) TestRankMetric() {
	name, v := RankMetric(map[string]float64{eval.TaskScore: 0.5, eval.NLL: 1.2})
	s.Equal(eval.TaskScore, name)
	s.Equal(0.5, v)
	name, v = RankMetric(map[string]float64{eval.NLL: 1.2})
	s.Equal(eval.NLL, name)
	s.Equal(1.2, v)
}
