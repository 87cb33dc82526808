package compare

import (
	"strings"
	"testing"

	"github.com/space-sft/space/activities"
	"github.com/space-sft/space/eval"
	"github.com/space-sft/space/workflows"
	"go.temporal.io/sdk/testsuite"
)

func TestCompareSpecAndChoice(t *testing.T) {
	s := Spec{Name: "c", Task: "markov"}.Defaults()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	budget := len(s.Arms[0].Grid())
	for _, a := range s.Arms {
		if len(a.Grid()) != budget {
			t.Errorf("arm %s tries %d settings, others %d: the search budget must be the same", a.Name, len(a.Grid()), budget)
		}
	}
	// The 4n arm's held-out set is the 1x arm's: same stream, MaxEval keeps the first NEval.
	one := s.child(s.Arms[0], Setting{LR: 1e-3}, 1, false, 0, "b")
	four := s.child(s.Arms[1], Setting{LR: 1e-3}, 1, false, 0, "b")
	if four.N != 4*one.N || one.MaxEval != s.NEval || four.MaxEval != s.NEval || one.TestFrac != four.TestFrac {
		t.Fatalf("children: %+v %+v", one, four)
	}
	if n := int(float64(one.N)*one.TestFrac/(1-one.TestFrac) + 0.5); n != s.NEval {
		t.Fatalf("1x arm draws %d held-out pairs, want %d", n, s.NEval)
	}
	if v := s.child(s.Arms[3], Setting{LR: 1e-3}, 100, true, 2, "b"); v.Holdout != "val" || v.Name != "c-v-space-2" {
		t.Fatalf("search child: %+v", v)
	}
	if bad := (Spec{Name: "Bad Name", Task: "markov"}).Defaults(); bad.Validate() == nil {
		t.Fatal("bad name accepted")
	}
	withLR := Spec{Name: "c", Task: "markov"}.Defaults()
	withLR.LR = 1e-3 // the arms' grids set it: a comparison-wide lr would be silently ignored
	if err := withLR.Validate(); err == nil || !strings.Contains(err.Error(), "lr") {
		t.Fatalf("lr on the comparison: %v", err)
	}

	rounds := func(kl ...float64) []workflows.RoundResult {
		var out []workflows.RoundResult
		for i, v := range kl {
			out = append(out, workflows.RoundResult{Round: i, Metrics: map[string]float64{eval.KL: v}})
		}
		return out
	}
	search := []ArmRun{
		{Arm: "space", Setting: Setting{LR: 1e-4}, Status: "completed", Rounds: rounds(0.1, 3, 2.5)}, // round 0 never counts
		{Arm: "space", Setting: Setting{LR: 1e-3}, Status: "completed", Rounds: rounds(5, 2, 2.2)},
		{Arm: "space", Setting: Setting{LR: 3e-3}, Status: "failed", Rounds: rounds(5, 0.5)},
	}
	cs := choose(Spec{Task: "markov", Rounds: 2, Arms: []Arm{{Name: "space", Method: "space", LRs: []float64{1e-4, 1e-3, 3e-3}}}}, search)
	if len(cs) != 1 || cs[0].Setting.LR != 1e-3 || cs[0].Round != 1 || cs[0].Value != 2 || !cs[0].Found || cs[0].Tried != 3 {
		t.Fatalf("choice %+v", cs)
	}
}

// Every exported method of an activities struct is registered as an activity: the run's
// and the compare wing's must both register (a helper method would panic here).
func TestActivitiesRegister(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(&activities.Activities{})
	env.RegisterActivity(&Activities{})
}
