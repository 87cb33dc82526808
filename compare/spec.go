package compare

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/space-sft/space/eval"
	"github.com/space-sft/space/model"
	"github.com/space-sft/space/storage"
	"github.com/space-sft/space/workflows"
)

// Spec is one comparison of methods on a built-in task, the paper's protocol:
//
//  1. one base model is pre-trained (SFT) on the task's broad related corpus
//     (tasks.Pretrainer), never on the target's real pairs, and every arm starts from it;
//  2. search: every arm tries the same number of settings (its grid: learning rates, and
//     beta for SPIN) on a validation split, on every search seed; the setting and round
//     with the best primary metric on validation, averaged over the search seeds, are kept;
//  3. final: every arm runs with its chosen setting on every seed, measured on the test
//     split; a seed gives every arm the same real pairs (the 4n arm's first n are the n
//     arm's) and the same held-out prompts;
//  4. a report (markdown tables with paired differences, their 95% t intervals and
//     verdicts; results.json with the raw numbers; one PNG per metric) goes to
//     runs/{name}/report/ in S3.
//
// Every arm is a SelfPlay child workflow (SFT arms are SelfPlay with method sft: round r
// is 2r epochs of SFT); self-play arms make the same optimizer steps per round.
type Spec struct {
	Name   string   `json:"name"`   // [a-z0-9][a-z0-9._-]{0,62}, short: children are NAME-ARM-sSEED
	Task   string   `json:"task"`   // built-in task with a Pretrain corpus: "arith", "markov" or "wordnet"
	N      int      `json:"n"`      // real train pairs of the 1x arms (default 128; arith ArithN, 512)
	Seeds  []uint64 `json:"seeds"`  // final seeds (default 1..5)
	Rounds int      `json:"rounds"` // rounds after the base (default 5: the paper's iter0..iter4)
	Arms   []Arm    `json:"arms"`   // default DefaultArms()
	NEval  int      `json:"n_eval"` // held-out prompts per evaluation (default 64; markov 128)

	// SearchSeeds are the seeds of the search runs (default 100, 101; none a final seed):
	// every setting runs on each, and its validation metric is their mean.
	SearchSeeds []uint64 `json:"search_seeds,omitempty"`
	// SearchSeed is the one search seed of specs written before search_seeds: when set
	// without search_seeds, the search runs on it alone.
	SearchSeed uint64 `json:"search_seed,omitempty"`
	// Select is the metric that picks each arm's setting and round on validation: "" = the
	// task's primary metric (PrimaryMetric), or test_nll, kl, task_score, sample_valid.
	Select string `json:"select,omitempty"`

	Model    model.Shape  `json:"model"`    // shape of the base; default per task
	Pretrain PretrainSpec `json:"pretrain"` // the base model's corpus and SFT; default per task

	// The rounds' optimizer (model.OptimConfig, fields inline): default rmsprop, 2 epochs
	// per round, batch 16, warm-up 0.1, clip 1. lr must stay 0: each arm's grid (lrs) sets it.
	model.OptimConfig
	Generation model.SampleConfig `json:"generation"` // synthetic data; default T=1, per-task max tokens

	// The paper's regime (Paper, `--preset paper`; docs/compare.md): TargetSFT fine-tunes the
	// pre-trained base on M target pairs before any arm starts; SelectRound0 lets the
	// validation selection keep round 0 ("no self-play"); SourceEval > 0 measures forgetting,
	// source_nll (NLL per token on SourceEval held-out pairs of the pre-training corpus's
	// family), at every round of the final runs.
	TargetSFT    TargetSFTSpec `json:"target_sft,omitzero"`
	SelectRound0 bool          `json:"select_round0,omitempty"`
	SourceEval   int           `json:"source_eval,omitempty"`

	Concurrency int                `json:"concurrency,omitempty"` // children running at once (default 2)
	Timeouts    workflows.Timeouts `json:"timeouts"`
}

// Arm is one method of the comparison and its search grid.
type Arm struct {
	Name     string    `json:"name"`                // e.g. "space", "sft-4n"
	Method   string    `json:"method"`              // sft, spin, space or psft (proximal SFT, model.MethodPSFT)
	Mu       int       `json:"mu,omitempty"`        // SPACE noise ratio (default 1)
	DataMult int       `json:"data_mult,omitempty"` // real pairs = DataMult * N (default 1)
	LRs      []float64 `json:"lrs"`                 // learning rates tried
	Betas    []float64 `json:"betas,omitempty"`     // SPIN's betas or psft's KL weights (lambda) tried (grid LRs x Betas)
	// Rounds and Epochs override the comparison's for this arm (0 = the comparison's): e.g.
	// one round of 10 epochs on the base's synthetic data against 5 rounds of 2 epochs with
	// fresh samples (the paper's claim 4, at the same number of optimizer steps).
	Rounds int `json:"rounds,omitempty"`
	Epochs int `json:"epochs,omitempty"`
	// SFTNorm is an sft arm's loss normalisation (model.SFTNorm): "" or "token", maximum
	// likelihood; "sequence", the token mean per response of older builds (SFTNormArms).
	SFTNorm model.SFTNorm `json:"sft_norm,omitempty"`
}

func (a Arm) rounds(s Spec) int {
	if a.Rounds > 0 {
		return a.Rounds
	}
	return s.Rounds
}

func (a Arm) epochs(s Spec) int {
	if a.Epochs > 0 {
		return a.Epochs
	}
	return s.Epochs
}

// StepsPerRound is the optimizer steps one round of the arm makes: its epochs over its
// DataMult*N real pairs (each with its synthetic responses) in batches of BatchSize.
func (a Arm) StepsPerRound(s Spec) int {
	return a.epochs(s) * ((a.DataMult*s.N + s.BatchSize - 1) / s.BatchSize)
}

// Plan lists the optimizer steps the comparison makes, the basis of its time estimate: per
// arm, the steps of one round, of one run (its rounds) and of all its runs (search and
// final), with the rows a step trains on (1 + mu per example for the self-play methods, 1
// for sft); and the totals, with the pre-training and the TargetSFT stage. Call it on a
// spec with its defaults filled.
func (s Spec) Plan() string {
	var b strings.Builder
	ceil := func(a, b int) int { return (a + b - 1) / b }
	pre := s.Pretrain.Epochs * ceil(s.Pretrain.N, s.Pretrain.BatchSize)
	fmt.Fprintf(&b, "pretrain: %d steps of batch %d\n", pre, s.Pretrain.BatchSize)
	total, rowSteps := pre, pre*s.Pretrain.BatchSize
	if t := s.TargetSFT; t.M > 0 {
		st := t.Epochs * ceil(t.M, t.BatchSize)
		fmt.Fprintf(&b, "target SFT: %d steps of batch %d (%d epochs of %d pairs)\n", st, t.BatchSize, t.Epochs, t.M)
		total, rowSteps = total+st, rowSteps+st*t.BatchSize
	}
	for _, a := range s.Arms {
		rows := 1
		if a.Method != "sft" {
			rows += a.Mu
		}
		runs := len(s.Seeds)
		if g := len(a.Grid()); g > 1 {
			runs += g * len(s.SearchSeeds)
		}
		per := a.StepsPerRound(s)
		fmt.Fprintf(&b, "%s: %d steps per round x %d rounds x %d runs = %d steps of %d x %d rows\n", a.Name, per, a.rounds(s), runs, per*a.rounds(s)*runs, s.BatchSize, rows)
		total += per * a.rounds(s) * runs
		rowSteps += per * a.rounds(s) * runs * s.BatchSize * rows
	}
	fmt.Fprintf(&b, "total: %d optimizer steps, %d sequences trained on\n", total, rowSteps)
	return b.String()
}

// PretrainSpec is the base model's training: SFT from scratch on the task's Pretrain corpus.
type PretrainSpec struct {
	N         int     `json:"n,omitempty"`
	Epochs    int     `json:"epochs,omitempty"`
	LR        float64 `json:"lr,omitempty"`
	BatchSize int     `json:"batch_size,omitempty"`
	Seed      uint64  `json:"seed,omitempty"`
}

// TargetSFTSpec is the paper's starting point (its models were SFT'd to convergence on a
// large instruction set before any self-play): the pre-trained base is fine-tuned with SFT
// on M pairs of the target task, drawn from their own seed stream (Seed), so they are
// independent of every arm's real, validation and test pairs, for up to Epochs epochs (one
// SelfPlay child of method sft, one epoch per round, Adam); the epoch with the lowest NLL on
// its own validation split (round 0, the pre-trained base, included) is every arm's round
// 0. M = 0: off (the arms start from the pre-trained base).
type TargetSFTSpec struct {
	M         int     `json:"m,omitempty"`          // target pairs; must exceed the largest arm's real pairs (paper: 16n)
	Epochs    int     `json:"epochs,omitempty"`     // most epochs (default 10)
	LR        float64 `json:"lr,omitempty"`         // Adam's peak learning rate (default 1e-3), per epoch: warm-up 0.05, linear decay
	BatchSize int     `json:"batch_size,omitempty"` // default 32
	Seed      uint64  `json:"seed,omitempty"`       // the pairs' seed (default 1000): neither a final seed nor the search seed
}

// Setting is one point of an arm's grid.
type Setting struct {
	LR   float64 `json:"lr"`
	Beta float64 `json:"beta,omitempty"`
}

func (s Setting) String() string {
	if s.Beta > 0 {
		return fmt.Sprintf("lr %g, beta %g", s.LR, s.Beta)
	}
	return fmt.Sprintf("lr %g", s.LR)
}

// Grid lists the arm's settings.
func (a Arm) Grid() []Setting {
	var out []Setting
	for _, lr := range a.LRs {
		if (a.Method == "spin" || a.Method == "psft") && len(a.Betas) > 0 {
			for _, b := range a.Betas {
				out = append(out, Setting{LR: lr, Beta: b})
			}
			continue
		}
		out = append(out, Setting{LR: lr})
	}
	return out
}

// DefaultArms are the paper's comparison with the same search budget (4 settings) per arm.
func DefaultArms() []Arm {
	lrs := []float64{1e-4, 3e-4, 1e-3, 3e-3}
	return []Arm{
		{Name: "sft-n", Method: "sft", LRs: lrs},
		{Name: "sft-4n", Method: "sft", DataMult: 4, LRs: lrs},
		{Name: "spin", Method: "spin", LRs: []float64{1e-4, 3e-4}, Betas: []float64{0.1, 1}},
		{Name: "space", Method: "space", Mu: 1, LRs: lrs},
		{Name: "space-mu3", Method: "space", Mu: 3, LRs: lrs},
	}
}

// QuickArms are single-setting arms (no search) for `--quick`.
func QuickArms() []Arm {
	return []Arm{
		{Name: "sft-n", Method: "sft", LRs: []float64{1e-3}},
		{Name: "sft-4n", Method: "sft", DataMult: 4, LRs: []float64{1e-3}},
		{Name: "spin", Method: "spin", LRs: []float64{3e-4}, Betas: []float64{1}},
		{Name: "space", Method: "space", Mu: 1, LRs: []float64{1e-3}},
	}
}

// SFTNormArms put the two SFT losses side by side (`--arms sft-norm`): SFT(n) and SFT(4n),
// each with maximum likelihood (sft_norm "token", the default) and with the token mean per
// response of builds before it ("sequence"), whose optimum favours short responses. Each
// arm searches the default grid, or with quick keeps QuickArms' single learning rate.
func SFTNormArms(quick bool) []Arm {
	lrs := DefaultArms()[0].LRs
	if quick {
		lrs = QuickArms()[0].LRs
	}
	var out []Arm
	for _, mult := range []int{1, 4} {
		name := "sft-n"
		if mult > 1 {
			name = fmt.Sprintf("sft-%dn", mult)
		}
		out = append(out,
			Arm{Name: name, Method: "sft", DataMult: mult, LRs: lrs, SFTNorm: model.SFTNormToken},
			Arm{Name: name + "-seq", Method: "sft", DataMult: mult, LRs: lrs, SFTNorm: model.SFTNormSequence})
	}
	return out
}

// legacyN is n as comparisons recorded before versionArithN had it: 128 on every task
// when the spec leaves it unset (arith's default is now ArithN).
func (s Spec) legacyN() Spec {
	if s.N == 0 {
		s.N = 128
	}
	return s
}

// legacyDefaults completes a comparison recorded before the "fidelity-2" version marker as
// the builds of then did, so that the children it has yet to start are those it would have
// started: 3 final seeds but on markov (5), one search seed (100), and sft arms with the
// sequence mean (SFTNorm "sequence").
func (s Spec) legacyDefaults() Spec {
	if len(s.Seeds) == 0 && s.Task != "markov" {
		s.Seeds = []uint64{1, 2, 3}
	}
	if len(s.SearchSeeds) == 0 {
		s.SearchSeeds = []uint64{s.SearchSeed}
		if s.SearchSeed == 0 {
			s.SearchSeeds = []uint64{100}
		}
	}
	s = s.Defaults()
	arms := append([]Arm(nil), s.Arms...)
	for i, a := range arms {
		if a.Method == "sft" && a.SFTNorm == "" {
			arms[i].SFTNorm = model.SFTNormSequence
		}
	}
	s.Arms = arms
	return s
}

// ArithN is arith's default number of real pairs (n), 4 times the other tasks' 128:
// comparisons recorded before the version marker versionArithN keep 128.
const ArithN = 512

// Defaults fills zero fields, some per task (model size, corpus, response length).
func (s Spec) Defaults() Spec {
	def := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	deff := func(p *float64, v float64) {
		if *p == 0 {
			*p = v
		}
	}
	if s.Task == "arith" {
		// 4n = 2048 target pairs: what it takes for SFT to lift the base's accuracy
		// clearly (cmd/arithprobe: 512 pairs do not, 2048 do; docs/compare.md).
		def(&s.N, ArithN)
	}
	def(&s.N, 128)
	if len(s.Seeds) == 0 { // 5: a t interval on 4 degrees of freedom (2.78 standard errors)
		s.Seeds = []uint64{1, 2, 3, 4, 5}
	}
	def(&s.Rounds, 5) // iter0..iter4 of the paper
	if len(s.Arms) == 0 {
		s.Arms = DefaultArms()
	}
	for i := range s.Arms {
		def(&s.Arms[i].Mu, 1)
		def(&s.Arms[i].DataMult, 1)
		s.Arms[i].Method = strings.ToLower(s.Arms[i].Method)
	}
	if s.Task == "markov" {
		def(&s.NEval, 128)
	}
	def(&s.NEval, 64)
	if len(s.SearchSeeds) == 0 {
		s.SearchSeeds = []uint64{100, 101}
		if s.SearchSeed != 0 {
			s.SearchSeeds = []uint64{s.SearchSeed}
		}
	}
	switch s.Task {
	case "wordnet": // byte-level glosses of up to 80 bytes: context 128
		def(&s.Model.DModel, 64)
		def(&s.Model.Context, 128)
		def(&s.Pretrain.N, 10000)
		def(&s.Pretrain.Epochs, 2)
		def(&s.Generation.MaxNewTokens, 80)
	case "arith":
		def(&s.Model.DModel, 64)
		// 2000 steps of batch 32 on the curriculum corpus (tasks.Arith.Mix): the base gets
		// about half the target right (51.5 % of 200 in cmd/arithprobe, docs/compare.md).
		def(&s.Pretrain.N, 64000)
		def(&s.Pretrain.Epochs, 1)
		def(&s.NEval, 128)
		def(&s.Generation.MaxNewTokens, 28)
	default: // markov and others: short responses
		def(&s.Model.DModel, 32)
		def(&s.Pretrain.N, 2000)
		def(&s.Pretrain.Epochs, 3)
		def(&s.Generation.MaxNewTokens, 20)
	}
	def(&s.Model.Layers, 2)
	def(&s.Model.Heads, 4)
	def(&s.Model.Context, 64)
	deff(&s.Pretrain.LR, 3e-3)
	def(&s.Pretrain.BatchSize, 32)
	if s.Pretrain.Seed == 0 {
		s.Pretrain.Seed = 7
	}
	if s.Optimizer == "" {
		s.Optimizer = model.DefaultOptimizer
	}
	def(&s.Epochs, 2)
	def(&s.BatchSize, 16)
	deff(&s.WarmupFrac, 0.1)
	deff(&s.ClipNorm, 1)
	deff(&s.Generation.Temperature, 1)
	deff(&s.Generation.TopP, 1)
	if s.TargetSFT.M > 0 {
		def(&s.TargetSFT.Epochs, 10)
		deff(&s.TargetSFT.LR, 1e-3)
		def(&s.TargetSFT.BatchSize, 32)
		if s.TargetSFT.Seed == 0 {
			s.TargetSFT.Seed = 1000
		}
	}
	def(&s.Concurrency, 2)
	deff(&s.Timeouts.HeartbeatSeconds, 30)
	deff(&s.Timeouts.ActivityMinutes, 60)
	return s
}

// Validate checks the spec and every child spec it implies.
func (s Spec) Validate() error {
	bad := func(field, problem, fix string) error {
		return fmt.Errorf("invalid compare spec: %s: %s; %s", field, problem, fix)
	}
	if err := storage.ValidateName(s.Name); err != nil {
		return bad("name", err.Error(), "use a short name of a-z, 0-9, '.', '_', '-'")
	}
	if s.Task == "" {
		return bad("task", "empty", `name a built-in task with a pretrain corpus, e.g. "markov" or "arith"`)
	}
	if len(s.Arms) == 0 {
		return bad("arms", "empty", "omit arms for the default comparison")
	}
	if s.LR != 0 {
		return bad("lr", fmt.Sprint(s.LR), "leave lr out: each arm's lrs are the learning rates it tries")
	}
	if len(s.Seeds) == 0 || len(s.SearchSeeds) == 0 || s.Rounds <= 0 || s.N <= 0 || s.NEval <= 0 {
		return bad("seeds/search_seeds/rounds/n/n_eval", "must be set", "omit them for the defaults")
	}
	seeds := map[uint64]string{}
	for _, list := range []struct {
		name  string
		seeds []uint64
	}{{"seeds", s.Seeds}, {"search_seeds", s.SearchSeeds}} {
		for _, x := range list.seeds {
			if prev, ok := seeds[x]; ok {
				return bad(list.name, fmt.Sprintf("seed %d is also in %s", x, prev),
					"give every final and search seed once: a search seed must not be a final seed, or the setting would be chosen on the data it is tested on")
			}
			seeds[x] = list.name
		}
	}
	seen := map[string]bool{}
	for _, a := range s.Arms {
		if seen[a.Name] {
			return bad("arms", fmt.Sprintf("two arms named %q", a.Name), "give every arm its own name")
		}
		seen[a.Name] = true
		if len(a.Grid()) == 0 {
			return bad("arms."+a.Name+".lrs", "empty", "give at least one learning rate")
		}
		if a.DataMult <= 0 {
			return bad("arms."+a.Name+".data_mult", fmt.Sprint(a.DataMult), "use 1 or more")
		}
		for k, set := range a.Grid() {
			for _, sp := range []workflows.RunSpec{s.child(a, set, s.SearchSeeds[len(s.SearchSeeds)-1], true, k, ""), s.child(a, set, s.Seeds[len(s.Seeds)-1], false, 0, "")} {
				if err := sp.Validate(); err != nil {
					return bad("arms."+a.Name, err.Error(), "fix the arm or shorten the comparison's name")
				}
			}
		}
	}
	if s.Select != "" {
		if m, _ := s.selectMetric(); m != s.Select {
			return bad("select", fmt.Sprintf("unknown metric %q", s.Select), "use test_nll, kl, task_score or sample_valid")
		}
	}
	if s.Concurrency <= 0 {
		return bad("concurrency", fmt.Sprint(s.Concurrency), "use 1 or more")
	}
	if s.SourceEval < 0 {
		return bad("source_eval", fmt.Sprint(s.SourceEval), "use 0 (no forgetting metric) or a number of held-out source pairs, e.g. 128")
	}
	if t := s.TargetSFT; t.M != 0 {
		most := 0
		for _, a := range s.Arms {
			most = max(most, a.DataMult*s.N)
		}
		if t.M <= most {
			return bad("target_sft.m", fmt.Sprintf("is %d, not more than the %d real pairs of the largest arm", t.M, most), "use many more target pairs than any arm has (the paper's regime: e.g. 16 n)")
		}
		for _, seed := range append(append([]uint64(nil), s.SearchSeeds...), s.Seeds...) {
			if t.Seed == seed {
				return bad("target_sft.seed", fmt.Sprintf("is %d, also an arm's seed", t.Seed), "use a seed that is neither a final seed nor the search seed (default 1000)")
			}
		}
		if err := s.targetSFTChild("b").Validate(); err != nil {
			return bad("target_sft", err.Error(), "fix target_sft or shorten the comparison's name")
		}
	}
	return nil
}

// targetSFTChild is the SelfPlay spec of the paper regime's SFT stage (TargetSFTSpec): SFT
// from the pre-trained base on M target pairs of seed TargetSFT.Seed, one epoch per round,
// evaluated every epoch on a validation split of NEval prompts.
func (s Spec) targetSFTChild(base string) workflows.RunSpec {
	t := s.TargetSFT
	sp := workflows.DefaultSpec()
	sp.Name, sp.Rounds, sp.Seed, sp.Shards = s.Name+"-sft", t.Epochs, t.Seed, 1
	sp.LossConfig = model.LossConfig{Method: model.MethodSFT}
	sp.OptimConfig = model.OptimConfig{Optimizer: "adam", LR: t.LR, WarmupFrac: 0.05, Epochs: 1, BatchSize: t.BatchSize, ClipNorm: 1}
	sp.Generation = s.Generation
	sp.Task, sp.N = s.Task, t.M
	sp.TestFrac, sp.Holdout, sp.MaxEval = float64(s.NEval)/float64(t.M+s.NEval), "val", s.NEval
	sp.Base = base
	sp.BaseModel.Shape = s.Model
	sp.CheckpointSeconds = 120
	sp.ContinueAsNewEvery = t.Epochs
	sp.Timeouts = s.Timeouts
	return sp
}

// childName is the run name of an arm's child: NAME-ARM-sSEED (final) or NAME-v-ARM-K (search).
// childName is the run name of an arm's child: NAME-ARM-sSEED (final), NAME-v-ARM-K-sSEED
// (search), or NAME-v-ARM-K when there is one search seed (the names of comparisons made
// before search_seeds).
func (s Spec) childName(a Arm, seed uint64, search bool, k int) string {
	if search && len(s.SearchSeeds) == 1 {
		return fmt.Sprintf("%s-v-%s-%d", s.Name, a.Name, k)
	}
	if search {
		return fmt.Sprintf("%s-v-%s-%d-s%d", s.Name, a.Name, k, seed)
	}
	return fmt.Sprintf("%s-%s-s%d", s.Name, a.Name, seed)
}

// child is the SelfPlay spec of one arm with one setting on one seed.
func (s Spec) child(a Arm, set Setting, seed uint64, search bool, k int, base string) workflows.RunSpec {
	holdout := "test"
	if search {
		holdout = "val"
	}
	beta := set.Beta
	if a.Method != "spin" && a.Method != "psft" {
		beta = 0
	}
	sp := workflows.DefaultSpec()
	sp.Name, sp.Rounds, sp.Seed, sp.Shards = s.childName(a, seed, search, k), a.rounds(s), seed, 1
	sp.LossConfig = model.LossConfig{Method: model.Method(a.Method), Mu: a.Mu, Beta: beta, SFTNorm: a.SFTNorm}
	sp.OptimConfig = s.OptimConfig
	sp.LR, sp.Epochs = set.LR, a.epochs(s)
	sp.Generation = s.Generation
	sp.Task, sp.N = s.Task, s.N*a.DataMult
	// The held-out set is the first NEval prompts of the seed's held-out stream for every
	// arm: the 4n arm draws more, and MaxEval keeps the same first NEval.
	sp.TestFrac, sp.Holdout, sp.MaxEval = float64(s.NEval)/float64(s.N+s.NEval), holdout, s.NEval
	sp.Base = base
	sp.BaseModel.Shape = s.Model
	sp.CheckpointSeconds = 120
	sp.ContinueAsNewEvery = a.rounds(s)
	sp.Timeouts = s.Timeouts
	return sp
}

// PrimaryMetric is the metric that picks settings and rounds: KL to p_data when the task
// knows it (lower is better), the held-out NLL on wordnet, else the task score (higher is
// better).
func PrimaryMetric(task string) (name string, higherBetter bool) {
	switch task {
	case "markov":
		return eval.KL, false
	case "wordnet": // exact glosses of unseen words are rare for a small model: NLL ranks
		return eval.NLL, false
	}
	return eval.TaskScore, true
}

// selectMetric is the metric that picks settings and rounds: Select, else the primary one.
func (s Spec) selectMetric() (name string, higherBetter bool) {
	switch s.Select {
	case eval.NLL, eval.KL:
		return s.Select, false
	case eval.TaskScore, eval.SampleValid:
		return s.Select, true
	}
	return PrimaryMetric(s.Task)
}

// Quick is `--quick`: one seed, two rounds, single-setting arms (no search), a tiny
// model and corpus. It checks that the whole comparison runs and reports, in minutes; its
// numbers mean little.
func Quick(name, task string) Spec {
	s := Spec{
		Name: name, Task: task, N: 64, Seeds: []uint64{1}, Rounds: 2, Arms: QuickArms(), NEval: 32,
		Model:    model.Shape{DModel: 32, Layers: 2, Heads: 4, Context: 64},
		Pretrain: PretrainSpec{N: 2000, Epochs: 3},
	}
	switch task {
	case "arith":
		s.Pretrain.N = 3000
	case "wordnet": // glosses need context 128; the committed sample has about 400 train words
		s.Model.Context, s.Generation.MaxNewTokens = 128, 80
	}
	return s
}

// PaperArms are the arms of the paper's regime: SFT on n and 4n pairs, SPIN, SPACE with
// mu 1, 3 and 7 (the paper's ablation), and proximal SFT, the control that tells SPACE's
// stability from plain regularisation towards the opponent. Same search budget (4
// settings) per arm; the learning rates are lower than DefaultArms' because every arm
// starts from a model already fine-tuned on the target (TargetSFT). SPIN and proximal SFT
// spend two of their tries on beta, so they try the two smallest of the others' rates (the
// markov run at cca6444 gave them 1e-4 and 3e-4, and every arm chose its grid's smallest:
// theirs was 3 times the others').
func PaperArms() []Arm {
	lrs := []float64{3e-5, 1e-4, 3e-4, 1e-3}
	pair := slices.Clone(lrs[:2]) // not an alias of lrs: each arm owns its grid
	return []Arm{
		{Name: "sft-n", Method: "sft", LRs: lrs},
		{Name: "sft-4n", Method: "sft", DataMult: 4, LRs: lrs},
		{Name: "spin", Method: "spin", LRs: pair, Betas: []float64{0.1, 1}},
		{Name: "space", Method: "space", Mu: 1, LRs: lrs},
		{Name: "space-mu3", Method: "space", Mu: 3, LRs: lrs},
		{Name: "space-mu7", Method: "space", Mu: 7, LRs: lrs},
		{Name: "psft", Method: "psft", Mu: 1, LRs: pair, Betas: []float64{0.1, 1}},
	}
}

// PaperStepsPerRound is the least number of optimizer steps a round of the paper preset
// makes on n pairs: 12 epochs of 128 pairs in batches of 16, enough for SFT on n pairs to
// fit them and begin to over-fit (the paper's rounds are about 1.5k steps, each near
// convergence). The paper preset's RMSProp corrects its second moment's bias
// (OptimConfig.BiasCorrection): its state starts at 0 every round (v_t = a v_{t-1} +
// (1-a) g^2, a = 0.99), so without the correction v is (1 - a^t) of its running value for
// the first t steps and every step is 1/sqrt(1 - a^t) too long (2.6x at the 16 steps of the
// default comparison's round; under 2.6 % only from t = 298, which an uncorrected round
// would have to exceed to leave that start-up). With it every step has its intended length
// from the first.
const PaperStepsPerRound = 96

// Paper is `--preset paper`, the paper's regime (issue 12; docs/compare.md): the
// pre-trained base is first fine-tuned with SFT on 16n target pairs (TargetSFT), so every
// arm starts from a model that has converged on the target as the paper's SFT models had;
// 10 rounds of PaperStepsPerRound optimizer steps on the n arms (4x on sft-4n) with
// bias-corrected RMSProp; PaperArms on 5 seeds; round 0 may be chosen on validation;
// forgetting measured on 128 source pairs. Far slower than the default comparison
// (`make compare-plan PRESET=paper` counts its steps).
func Paper(name, task string) Spec {
	s := Spec{Name: name, Task: task, N: 128, Seeds: []uint64{1, 2, 3, 4, 5}, Rounds: 10, Arms: PaperArms(),
		SelectRound0: true, SourceEval: 128}
	s.BatchSize = 16
	s.BiasCorrection = true
	s.Epochs = (PaperStepsPerRound*s.BatchSize + s.N - 1) / s.N // 12 epochs of 128 pairs: 96 steps
	s.TargetSFT = TargetSFTSpec{M: 16 * s.N}
	return s
}

// Presets names the comparisons SpecFlags' --preset chooses.
var Presets = []string{"default", "quick", "paper"}

// Preset is the comparison the command-line flags describe: the task's default comparison
// (or Quick), with the number of seeds, rounds and real pairs overridden when positive.
func Preset(task string, quick bool, name string, seeds, rounds, n int) Spec {
	p := "default"
	if quick {
		p = "quick"
	}
	s, _ := NamedPreset(p, task, name, seeds, rounds, n)
	return s
}

// NamedPreset is Preset for a preset named in Presets: "default", "quick" or "paper"
// (whose default name is paper-TASK). n changes the paper preset's pairs (and the
// TargetSFT pairs with them, 16n) but not its epochs per round.
func NamedPreset(preset, task, name string, seeds, rounds, n int) (Spec, error) {
	if name == "" {
		name = map[string]string{"default": "cmp-", "quick": "quick-", "paper": "paper-"}[preset] + task
	}
	var s Spec
	switch preset {
	case "default":
		s = Spec{Name: name, Task: task}
	case "quick":
		s = Quick(name, task)
	case "paper":
		s = Paper(name, task)
		if n > 0 {
			s.TargetSFT.M = 16 * n
		}
	default:
		return Spec{}, fmt.Errorf("unknown preset %q; use one of %s", preset, strings.Join(Presets, ", "))
	}
	if seeds > 0 {
		s.Seeds = nil
		for i := 1; i <= seeds; i++ {
			s.Seeds = append(s.Seeds, uint64(i))
		}
	}
	if rounds > 0 {
		s.Rounds = rounds
	}
	if n > 0 {
		s.N = n
	}
	return s, nil
}

// SpecFlags declares the flags that choose a comparison (--task, --quick, --preset, --name,
// --seeds, --rounds, --n, --arms, or --spec FILE) on fs, for `make compare` and `space compare` alike. The
// returned function, called after fs.Parse, gives the comparison: the file's when --spec is
// set, else Preset's.
func SpecFlags(fs *flag.FlagSet) func() (Spec, error) {
	task := fs.String("task", "markov", "built-in task with a pretrain corpus: markov, arith or wordnet (WordNet glosses, base on GCIDE: make wordnet-data)")
	quick := fs.Bool("quick", false, "one seed, two rounds, no search, small model (minutes); the same as --preset quick")
	preset := fs.String("preset", "default", "default, quick, or paper: the paper's regime (base SFT'd on 16n target pairs, 7 arms incl. SPACE mu 1/3/7 and proximal SFT, 10 rounds of 12 epochs (96 steps at n = 128) with bias-corrected RMSProp, forgetting metric; markov 23 min, arith longer)")
	name := fs.String("name", "", "comparison name (default cmp-TASK, quick-TASK with --quick, paper-TASK with --preset paper)")
	seeds := fs.Int("seeds", 0, "final seeds 1..N (default 5; quick 1)")
	rounds := fs.Int("rounds", 0, "rounds after the base (default 5; quick 2; paper 10)")
	n := fs.Int("n", 0, "real train pairs of the 1x arms (default 128; quick 64)")
	arms := fs.String("arms", "", `arm set: "" the paper's comparison, or "sft-norm": SFT(n) and SFT(4n) with the maximum-likelihood and the old per-response-mean loss side by side`)
	specFile := fs.String("spec", "", "comparison spec JSON file (compare.Spec in compare/spec.go); replaces the flags above")
	return func() (Spec, error) {
		if *specFile == "" {
			p := *preset
			if *quick {
				if p != "default" && p != "quick" {
					return Spec{}, fmt.Errorf("--quick and --preset %s: choose one", p)
				}
				p = "quick"
			}
			s, err := NamedPreset(p, *task, *name, *seeds, *rounds, *n)
			if err != nil {
				return Spec{}, err
			}
			switch *arms {
			case "":
			case "sft-norm":
				s.Arms = SFTNormArms(*quick)
				if *name == "" {
					s.Name = strings.Replace(s.Name, *task, "sftnorm-"+*task, 1)
				}
			default:
				return Spec{}, fmt.Errorf(`--arms %q: unknown arm set; use "sft-norm" or leave it out`, *arms)
			}
			return s, nil
		}
		data, err := os.ReadFile(*specFile)
		if err != nil {
			return Spec{}, err
		}
		var s Spec
		if err := json.Unmarshal(data, &s); err != nil {
			return Spec{}, fmt.Errorf("%s: %w", *specFile, err)
		}
		return s, nil
	}
}
