package compare

import (
	"fmt"
	"math"
	"slices"
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
	if v := s.child(s.Arms[3], Setting{LR: 1e-3}, 100, true, 2, "b"); v.Holdout != "val" || v.Name != "c-v-space-2-s100" {
		t.Fatalf("search child: %+v", v)
	}
	one1 := s
	one1.SearchSeeds = []uint64{100} // one search seed: the names of comparisons made before search_seeds
	if v := one1.child(s.Arms[3], Setting{LR: 1e-3}, 100, true, 2, "b"); v.Name != "c-v-space-2" {
		t.Fatalf("search child with one search seed: %s", v.Name)
	}
	// every reported table has at least 5 seeds, the search at least 2, for both tasks
	for _, task := range []string{"markov", "arith"} {
		d := Spec{Name: "c", Task: task}.Defaults()
		if len(d.Seeds) < 5 || len(d.SearchSeeds) < 2 {
			t.Errorf("%s: %d final seeds, %d search seeds", task, len(d.Seeds), len(d.SearchSeeds))
		}
	}
	overlap := Spec{Name: "c", Task: "markov", SearchSeeds: []uint64{3, 100}}.Defaults()
	if err := overlap.Validate(); err == nil || !strings.Contains(err.Error(), "search_seeds: seed 3 is also in seeds") {
		t.Fatalf("a search seed that is a final seed: %v", err)
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
	arms := []Arm{{Name: "space", Method: "space", LRs: []float64{1e-4, 1e-3, 3e-3}}}
	cs := choose(Spec{Task: "markov", Rounds: 2, SearchSeeds: []uint64{100}, Arms: arms}, search)
	if len(cs) != 1 || cs[0].Setting.LR != 1e-3 || cs[0].Round != 1 || cs[0].Value != 2 || !cs[0].Found || cs[0].Tried != 3 {
		t.Fatalf("choice %+v", cs)
	}

	// Two search seeds: the mean over them decides, and a (setting, round) that a seed did
	// not measure (its run failed) is not chosen.
	run := func(lr float64, seed uint64, status string, kl ...float64) ArmRun {
		return ArmRun{Arm: "space", Setting: Setting{LR: lr}, Seed: seed, Status: status, Rounds: rounds(kl...)}
	}
	search = []ArmRun{
		run(1e-4, 100, "completed", 5, 1.0, 3.0), run(1e-4, 101, "completed", 5, 3.4, 3.0), // mean r1 2.2, r2 3.0
		run(1e-3, 100, "completed", 5, 2.5, 2.0), run(1e-3, 101, "completed", 5, 2.5, 2.2), // mean r1 2.5, r2 2.1 (best)
		run(3e-3, 100, "completed", 5, 0.1, 0.1), run(3e-3, 101, "failed", 5, 0.1), // one seed failed
	}
	cs = choose(Spec{Task: "markov", Rounds: 2, SearchSeeds: []uint64{100, 101}, Arms: arms}, search)
	if len(cs) != 1 || cs[0].Setting.LR != 1e-3 || cs[0].Round != 2 || math.Abs(cs[0].Value-2.1) > 1e-12 || !cs[0].Found {
		t.Fatalf("choice over two search seeds %+v, want lr 1e-3 at round 2 (mean 2.1)", cs)
	}
}

// A comparison recorded before "fidelity-2" completes as then: 3 final seeds but on markov,
// one search seed (search_seed, else 100), sft arms with the sequence mean.
func TestCompareLegacyDefaults(t *testing.T) {
	old := Spec{Name: "c", Task: "arith"}.legacyDefaults()
	if len(old.Seeds) != 3 || len(old.SearchSeeds) != 1 || old.SearchSeeds[0] != 100 {
		t.Fatalf("legacy arith: seeds %v, search seeds %v", old.Seeds, old.SearchSeeds)
	}
	for _, a := range old.Arms {
		if want := map[bool]string{true: "sequence", false: ""}[a.Method == "sft"]; string(a.SFTNorm) != want {
			t.Errorf("legacy arm %s: sft_norm %q, want %q", a.Name, a.SFTNorm, want)
		}
	}
	if err := old.Validate(); err != nil {
		t.Fatal(err)
	}
	if m := (Spec{Name: "c", Task: "markov", SearchSeed: 7}).legacyDefaults(); len(m.Seeds) != 5 || len(m.SearchSeeds) != 1 || m.SearchSeeds[0] != 7 {
		t.Fatalf("legacy markov: seeds %v, search seeds %v", m.Seeds, m.SearchSeeds)
	}
	if DefaultArms()[0].SFTNorm != "" {
		t.Fatal("legacyDefaults changed DefaultArms")
	}
	// a spec file of then with search_seed alone searches on it alone today too
	if n := (Spec{Name: "c", Task: "markov", SearchSeed: 7}).Defaults(); len(n.SearchSeeds) != 1 || n.SearchSeeds[0] != 7 {
		t.Fatalf("search_seed alone: %v", n.SearchSeeds)
	}
}

// arith's n is ArithN (512) since "arith-n512"; a comparison recorded before keeps 128, as
// do the other tasks, and a spec that sets n keeps its own.
func TestArithN(t *testing.T) {
	for _, c := range []struct {
		s      Spec
		legacy bool
		want   int
	}{
		{Spec{Name: "c", Task: "arith"}, false, ArithN},
		{Spec{Name: "c", Task: "arith"}, true, 128},
		{Spec{Name: "c", Task: "markov"}, false, 128},
		{Spec{Name: "c", Task: "wordnet"}, false, 128},
		{Spec{Name: "c", Task: "arith", N: 64}, false, 64},
		{Spec{Name: "c", Task: "arith", N: 64}, true, 64},
	} {
		s := c.s
		if c.legacy {
			s = s.legacyN()
		}
		if got := s.Defaults().N; got != c.want {
			t.Errorf("%s n %d legacy %v: n = %d, want %d", c.s.Task, c.s.N, c.legacy, got, c.want)
		}
	}
	if s := (Spec{Name: "c", Task: "arith"}).legacyN().legacyDefaults(); s.N != 128 {
		t.Errorf("pre-fidelity-2 arith: n = %d", s.N)
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
// same search budget; every n arm makes PaperStepsPerRound steps per round with bias-corrected
// RMSProp (sft-4n four times as many); round 0 selectable; forgetting measured.
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
		// RMSProp's v after t steps is (1 - 0.99^t) of its running value (model/optim.go):
		// the preset corrects it, or else a round would need ln 0.05 / ln 0.99 = 298 steps.
		if !s.BiasCorrection || s.Optimizer != "rmsprop" {
			t.Fatalf("%s: optimizer %q, bias correction %v", task, s.Optimizer, s.BiasCorrection)
		}
		if c := s.child(s.Arms[3], s.Arms[3].Grid()[0], 1, false, 0, "b"); !c.BiasCorrection {
			t.Fatalf("%s: a child runs without the bias correction", task)
		}
		methods := map[string]bool{}
		budget := len(s.Arms[0].Grid())
		for _, a := range s.Arms {
			methods[fmt.Sprintf("%s/%d", a.Method, a.Mu)] = true
			if len(a.Grid()) != budget {
				t.Errorf("arm %s tries %d settings, others %d", a.Name, len(a.Grid()), budget)
			}
			// every arm can reach the grid's smallest learning rate (the markov run chose it
			// for every arm that had it)
			if slices.Min(a.LRs) != slices.Min(s.Arms[0].LRs) {
				t.Errorf("arm %s: smallest lr %v, others %v", a.Name, slices.Min(a.LRs), slices.Min(s.Arms[0].LRs))
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
	bad(func(s *Spec) { s.TargetSFT.Seed = s.SearchSeeds[1] }, "target_sft.seed")
	bad(func(s *Spec) { s.SourceEval = -1 }, "source_eval")
	if _, err := NamedPreset("huge", "markov", "", 0, 0, 0); err == nil || !strings.Contains(err.Error(), "paper") {
		t.Errorf("unknown preset: %v", err)
	}
	// Plan's total is the sum of its parts.
	s := Paper("p", "markov").Defaults()
	want := s.Pretrain.Epochs*((s.Pretrain.N+31)/32) + s.TargetSFT.Epochs*((s.TargetSFT.M+31)/32)
	for _, a := range s.Arms {
		want += a.StepsPerRound(s) * s.Rounds * (len(s.Seeds) + len(a.Grid())*len(s.SearchSeeds))
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
	if c := choose(Spec{Task: "markov", Rounds: 2, Arms: arms, SearchSeeds: []uint64{100}}, search); c[0].Round != 2 || c[0].Value != 0.6 {
		t.Errorf("without select_round0: %+v", c[0])
	}
	if c := choose(Spec{Task: "markov", Rounds: 2, Arms: arms, SearchSeeds: []uint64{100}, SelectRound0: true}, search); c[0].Round != 0 || c[0].Value != 0.5 {
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
