package compare

import (
	"fmt"
	"math"
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

// The paper preset (issue 12): a base SFT'd on many more target pairs than any arm has,
// from a seed no arm uses; SFT(n), SFT(4n), SPIN, SPACE mu 1/3/7 and proximal SFT with the
// same search budget; every n arm makes enough steps per round to leave RMSProp's start-up
// (sft-4n four times as many); round 0 selectable; forgetting measured.
func TestPaperPreset(t *testing.T) {
	for _, task := range []string{"markov", "arith"} {
		s, err := NamedPreset("paper", task, "", 0, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		s = s.Defaults()
		if err := s.Validate(); err != nil {
			t.Fatalf("%s: %v", task, err)
		}
		if s.Name != "paper-"+task || s.Rounds != 10 || len(s.Seeds) < 5 || !s.SelectRound0 || s.SourceEval <= 0 || s.TargetSFT.M < 16*s.N {
			t.Fatalf("%s: %+v", task, s)
		}
		// RMSProp's v after t steps is (1 - 0.99^t) of its running value (model/optim.go).
		if math.Pow(0.99, PaperStepsPerRound) > 0.05 {
			t.Fatalf("%d steps leave RMSProp's start-up bias above 5%%", PaperStepsPerRound)
		}
		methods := map[string]bool{}
		budget := len(s.Arms[0].Grid())
		for _, a := range s.Arms {
			methods[fmt.Sprintf("%s/%d", a.Method, a.Mu)] = true
			if len(a.Grid()) != budget {
				t.Errorf("arm %s tries %d settings, others %d", a.Name, len(a.Grid()), budget)
			}
			if steps := a.StepsPerRound(s); steps < PaperStepsPerRound*a.DataMult {
				t.Errorf("arm %s: %d steps per round", a.Name, steps)
			}
		}
		for _, m := range []string{"sft/1", "spin/1", "space/1", "space/3", "space/7", "psft/1"} {
			if !methods[m] {
				t.Errorf("%s: no arm %s", task, m)
			}
		}
		// psft's grid sets its KL weight (Beta); space's never does.
		var psft, space Arm
		for _, a := range s.Arms {
			switch a.Name {
			case "psft":
				psft = a
			case "space":
				space = a
			}
		}
		if c := s.child(psft, psft.Grid()[1], 1, false, 0, "b"); c.Method != "psft" || c.Beta != psft.Grid()[1].Beta || c.Beta == 0 {
			t.Errorf("psft child: %+v", c.LossConfig)
		}
		if c := s.child(space, Setting{LR: 1e-4, Beta: 0.5}, 1, false, 0, "b"); c.Beta != 0 {
			t.Errorf("space child has beta %v", c.Beta)
		}
		sft := s.targetSFTChild("runs/x/base/model.safetensors")
		if sft.Method != "sft" || sft.N != s.TargetSFT.M || sft.Seed != s.TargetSFT.Seed || sft.Holdout != "val" || sft.Rounds != s.TargetSFT.Epochs || sft.Epochs != 1 || sft.Base == "" {
			t.Errorf("target SFT child: %+v", sft)
		}
	}
	bad := func(edit func(*Spec), field string) {
		t.Helper()
		s := Paper("p", "markov").Defaults()
		edit(&s)
		if err := s.Validate(); err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("want an error naming %s, got %v", field, err)
		}
	}
	bad(func(s *Spec) { s.TargetSFT.M = 4 * s.N }, "target_sft.m")
	bad(func(s *Spec) { s.TargetSFT.Seed = s.Seeds[2] }, "target_sft.seed")
	bad(func(s *Spec) { s.TargetSFT.Seed = s.SearchSeed }, "target_sft.seed")
	bad(func(s *Spec) { s.SourceEval = -1 }, "source_eval")
	if _, err := NamedPreset("huge", "markov", "", 0, 0, 0); err == nil || !strings.Contains(err.Error(), "paper") {
		t.Errorf("unknown preset: %v", err)
	}
	// Plan's total is the sum of its parts.
	s := Paper("p", "markov").Defaults()
	want := s.Pretrain.Epochs*((s.Pretrain.N+31)/32) + s.TargetSFT.Epochs*((s.TargetSFT.M+31)/32)
	for _, a := range s.Arms {
		want += a.StepsPerRound(s) * s.Rounds * (len(s.Seeds) + len(a.Grid()))
	}
	if !strings.Contains(s.Plan(), fmt.Sprintf("total: %d optimizer steps", want)) {
		t.Errorf("plan, want %d steps:\n%s", want, s.Plan())
	}
}

// Round 0 counts in the selection only with SelectRound0; the target SFT stage keeps its
// epoch of lowest validation NLL, the pre-trained base (round 0) included.
func TestSelectRound0AndTargetSFTChoice(t *testing.T) {
	rounds := func(metric string, vs ...float64) []workflows.RoundResult {
		var out []workflows.RoundResult
		for i, v := range vs {
			out = append(out, workflows.RoundResult{Round: i, ModelKey: fmt.Sprintf("m%d", i), Metrics: map[string]float64{metric: v}})
		}
		return out
	}
	arms := []Arm{{Name: "space", Method: "space", LRs: []float64{1e-4, 1e-3}}}
	search := []ArmRun{
		{Arm: "space", Setting: Setting{LR: 1e-4}, Status: "completed", Rounds: rounds(eval.KL, 0.5, 0.7, 0.6)},
		{Arm: "space", Setting: Setting{LR: 1e-3}, Status: "completed", Rounds: rounds(eval.KL, 0.5, 0.9, 0.8)},
	}
	if c := choose(Spec{Task: "markov", Rounds: 2, Arms: arms}, search); c[0].Round != 2 || c[0].Value != 0.6 {
		t.Errorf("without select_round0: %+v", c[0])
	}
	if c := choose(Spec{Task: "markov", Rounds: 2, Arms: arms, SelectRound0: true}, search); c[0].Round != 0 || c[0].Value != 0.5 {
		t.Errorf("with select_round0: %+v", c[0])
	}
	got, err := targetSFTChoice("r", rounds(eval.NLL, 2.0, 1.1, 0.9, 1.0))
	if err != nil || got.Epoch != 2 || got.Model != "m2" || len(got.ValNLL) != 4 {
		t.Errorf("target SFT choice %+v %v", got, err)
	}
	if got, _ := targetSFTChoice("r", rounds(eval.NLL, 0.8, 1.1)); got.Epoch != 0 || got.Model != "m0" {
		t.Errorf("the pre-trained base is best: %+v", got)
	}
	if _, err := targetSFTChoice("r", rounds(eval.KL, 0.8)); err == nil {
		t.Error("rounds without test_nll accepted")
	}
}
