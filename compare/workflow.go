package compare

import (
	"fmt"
	"reflect"
	"strings"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/space-sft/space/activities"
	"github.com/space-sft/space/eval"
	"github.com/space-sft/space/model"
	"github.com/space-sft/space/storage"
	"github.com/space-sft/space/workflows"
)

// ArmRun is one child's outcome.
type ArmRun struct {
	Arm     string                  `json:"arm"`
	Seed    uint64                  `json:"seed"`
	Search  bool                    `json:"search,omitempty"`
	Setting Setting                 `json:"setting"`
	Run     string                  `json:"run"`
	Status  string                  `json:"status"`          // completed, or failed
	Error   string                  `json:"error,omitempty"` // why it failed (e.g. NonFinite: SPIN collapse)
	Rounds  []workflows.RoundResult `json:"rounds,omitempty"`
}

// Choice is an arm's setting and round chosen on the validation split.
type Choice struct {
	Arm     string  `json:"arm"`
	Setting Setting `json:"setting"`
	Round   int     `json:"round"` // best validation round (1..Rounds; 0 too with select_round0)
	Value   float64 `json:"value"` // its primary metric on validation (when Found)
	Found   bool    `json:"found"` // false: no search (single setting) or every search run failed
	Tried   int     `json:"tried"` // settings tried (the search budget)
}

// TargetSFTResult is the paper regime's SFT stage (TargetSFTSpec): its run, the validation
// NLL of every epoch (round 0: the pre-trained base) and the epoch kept as every arm's base.
type TargetSFTResult struct {
	Run    string    `json:"run"`
	ValNLL []float64 `json:"val_nll"`
	Epoch  int       `json:"epoch"`
	Model  string    `json:"model"` // its checkpoint's key
}

// Result is the comparison's result and the input of its report.
type Result struct {
	Spec      Spec             `json:"spec"`
	Base      storage.Ref      `json:"base"`
	TargetSFT *TargetSFTResult `json:"target_sft,omitempty"`
	Choices   []Choice         `json:"choices"`
	Search    []ArmRun         `json:"search"`
	Final     []ArmRun         `json:"final"`
	Seconds   float64          `json:"seconds"`
	ReportKey string           `json:"report_key"`
}

// Progress answers the "progress" query of a comparison.
type Progress struct {
	Phase   string   `json:"phase"` // pretrain, search, final, report, done
	Done    int      `json:"done"`  // children finished in this phase
	Total   int      `json:"total"`
	Running []string `json:"running"`
}

// WorkflowID is the workflow ID of a comparison.
func WorkflowID(name string) string { return "space-compare-" + name }

// versionFidelity2 marks comparisons recorded since sft became maximum likelihood
// (model.SFTNorm), the search ran on several seeds and every task had 5 final seeds; those
// recorded before it go on as they began (Spec.legacyDefaults).
const versionFidelity2 = "fidelity-2"

// versionArithN marks comparisons recorded since arith's default n became ArithN (512);
// those recorded before it keep n = 128.
const versionArithN = "arith-n512"

// Compare runs a comparison (see Spec).
func Compare(ctx workflow.Context, spec Spec) (Result, error) {
	if workflow.GetVersion(ctx, versionArithN, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		spec = spec.legacyN()
	}
	if workflow.GetVersion(ctx, versionFidelity2, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		spec = spec.legacyDefaults()
	} else {
		spec = spec.Defaults()
	}
	if err := spec.Validate(); err != nil {
		return Result{}, temporal.NewNonRetryableApplicationError(err.Error(), "InvalidSpec", nil)
	}
	start := workflow.Now(ctx)
	prog := &Progress{Phase: "pretrain"}
	if err := workflow.SetQueryHandler(ctx, workflows.QueryProgress, func() (Progress, error) { return *prog, nil }); err != nil {
		return Result{}, err
	}
	res := Result{Spec: spec}
	var a *Activities
	short := workflows.ShortActivities(ctx)
	long := spec.Timeouts.LongActivities(ctx, "")
	pin := PretrainInput{
		Run: spec.Name, Task: spec.Task, N: spec.Pretrain.N, Seed: spec.Pretrain.Seed, Shape: spec.Model,
		Optim: model.OptimConfig{Optimizer: "adam", LR: spec.Pretrain.LR, WarmupFrac: 0.05, Epochs: spec.Pretrain.Epochs, BatchSize: spec.Pretrain.BatchSize, ClipNorm: 1},
	}
	var base activities.TrainOutput
	if err := workflow.ExecuteActivity(long, a.PretrainBase, pin).Get(ctx, &base); err != nil {
		return Result{}, workflows.StepError("pretrain", err)
	}
	res.Base = base.Model
	armBase := base.Model.Key
	if spec.TargetSFT.M > 0 {
		// The paper's regime: SFT on the target's M pairs, kept at its validation optimum.
		prog.Phase = "target-sft"
		cs := spec.targetSFTChild(base.Model.Key)
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: workflows.WorkflowID(cs.Name)})
		var rr workflows.RunResult
		if err := workflow.ExecuteChildWorkflow(cctx, workflows.SelfPlay, cs, nil).Get(ctx, &rr); err != nil {
			return Result{}, workflows.StepError("target-sft", err)
		}
		t, err := targetSFTChoice(cs.Name, rr.Rounds)
		if err != nil {
			return Result{}, temporal.NewNonRetryableApplicationError(err.Error(), "TargetSFT", nil)
		}
		res.TargetSFT, armBase = &t, t.Model
	}

	// Search on the validation split: every arm with more than one setting.
	type job struct {
		arm  Arm
		set  Setting
		seed uint64
		k    int
	}
	var jobs []job
	for _, arm := range spec.Arms {
		if g := arm.Grid(); len(g) > 1 {
			for k, set := range g {
				for _, seed := range spec.SearchSeeds {
					jobs = append(jobs, job{arm, set, seed, k})
				}
			}
		}
	}
	prog.Phase = "search"
	runChildren := func(jobs []job, search bool) []ArmRun {
		out := make([]ArmRun, len(jobs))
		prog.Done, prog.Total = 0, len(jobs)
		next := 0
		sel := workflow.NewSelector(ctx)
		running := 0
		startOne := func(i int) {
			j := jobs[i]
			cs := spec.child(j.arm, j.set, j.seed, search, j.k, armBase)
			out[i] = ArmRun{Arm: j.arm.Name, Seed: j.seed, Search: search, Setting: j.set, Run: cs.Name}
			cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: workflows.WorkflowID(cs.Name)})
			f := workflow.ExecuteChildWorkflow(cctx, workflows.SelfPlay, cs, nil)
			running++
			prog.Running = append(prog.Running, cs.Name)
			sel.AddFuture(f, func(f workflow.Future) {
				var rr workflows.RunResult
				if err := f.Get(ctx, &rr); err != nil {
					out[i].Status, out[i].Error = "failed", err.Error()
				} else {
					out[i].Status, out[i].Rounds = rr.Status, rr.Rounds
				}
				running--
				prog.Done++
				prog.Running = remove(prog.Running, out[i].Run)
			})
		}
		for next < len(jobs) || running > 0 {
			for running < spec.Concurrency && next < len(jobs) {
				startOne(next)
				next++
			}
			sel.Select(ctx)
		}
		return out
	}
	res.Search = runChildren(jobs, true)
	res.Choices = choose(spec, res.Search)

	prog.Phase = "final"
	jobs = jobs[:0]
	for _, arm := range spec.Arms {
		set := chosen(res.Choices, arm)
		for _, seed := range spec.Seeds {
			jobs = append(jobs, job{arm, set, seed, 0})
		}
	}
	res.Final = runChildren(jobs, false)
	if spec.SourceEval > 0 {
		prog.Phase = "forgetting"
		if err := forgetting(long, spec, res.Final); err != nil {
			return Result{}, workflows.StepError("forgetting", err)
		}
	}

	prog.Phase = "report"
	res.Seconds = workflow.Now(ctx).Sub(start).Seconds()
	var rep ReportOutput
	if err := workflow.ExecuteActivity(short, a.CompareReport, reportInput(res)).Get(ctx, &rep); err != nil {
		return Result{}, workflows.StepError("report", err)
	}
	res.ReportKey = rep.Report.Key
	prog.Phase = "done"
	return res, nil
}

func remove(xs []string, x string) []string {
	out := xs[:0]
	for _, v := range xs {
		if v != x {
			out = append(out, v)
		}
	}
	return out
}

// targetSFTChoice picks the SFT stage's epoch with the lowest validation NLL (0, the
// pre-trained base, included).
func targetSFTChoice(run string, rounds []workflows.RoundResult) (TargetSFTResult, error) {
	t := TargetSFTResult{Run: run, Epoch: -1}
	best := 0.0
	for _, rr := range rounds {
		v, ok := rr.Metrics[eval.NLL]
		if !ok {
			return t, fmt.Errorf("target SFT run %s: round %d has no %s", run, rr.Round, eval.NLL)
		}
		t.ValNLL = append(t.ValNLL, v)
		if t.Epoch < 0 || v < best {
			t.Epoch, best, t.Model = rr.Round, v, rr.ModelKey
		}
	}
	if t.Epoch < 0 {
		return t, fmt.Errorf("target SFT run %s reported no rounds", run)
	}
	return t, nil
}

// forgetting adds SourceNLL, measured by the SourceNLL activity (all runs at once), to every
// round of the completed final runs.
func forgetting(ctx workflow.Context, spec Spec, final []ArmRun) error {
	var a *Activities
	futures := make([]workflow.Future, len(final))
	for i, r := range final {
		if r.Status == "failed" || len(r.Rounds) == 0 {
			continue
		}
		in := SourceNLLInput{Run: r.Run, Task: spec.Task, Seed: sourceEvalSeed(spec), N: spec.SourceEval}
		for _, rr := range r.Rounds {
			in.Models = append(in.Models, storage.Ref{Key: rr.ModelKey, SHA256: rr.ModelSHA256})
		}
		futures[i] = workflow.ExecuteActivity(ctx, a.SourceNLL, in)
	}
	// Wait for all (no activity left running unobserved when one fails), then the first error.
	return workflows.WaitAll(ctx, futures, func(i int) string { return "source NLL of " + final[i].Run },
		func(i int, nll []float64) error {
			if len(nll) != len(final[i].Rounds) {
				return fmt.Errorf("source NLL of %s: %d values for %d rounds", final[i].Run, len(nll), len(final[i].Rounds))
			}
			for k := range final[i].Rounds {
				if final[i].Rounds[k].Metrics == nil {
					final[i].Rounds[k].Metrics = map[string]float64{}
				}
				final[i].Rounds[k].Metrics[SourceNLL] = nll[k]
			}
			return nil
		})
}

// sourceEvalSeed is the seed of the forgetting metric's held-out source pairs: another
// stream than the pre-training corpus's.
func sourceEvalSeed(spec Spec) uint64 { return spec.Pretrain.Seed ^ 0x5ce0 }

// choose picks, per arm, the setting and round (>= 1, or >= 0 with SelectRound0) with the
// best selection metric on the validation split, averaged over the search seeds. A
// (setting, round) counts only when every search seed measured it: a setting that failed on
// one seed (a SPIN collapse) is not chosen on the others' luck. An arm with a single setting keeps it (round: the last).
func choose(spec Spec, search []ArmRun) []Choice {
	metric, higher := spec.selectMetric()
	var out []Choice
	for _, arm := range spec.Arms {
		g := arm.Grid()
		c := Choice{Arm: arm.Name, Setting: g[0], Round: arm.rounds(spec), Tried: len(g)}
		for _, set := range g {
			sum := map[int]float64{} // round -> sum over the search seeds
			count := map[int]int{}
			for _, r := range search {
				if r.Arm != arm.Name || r.Setting != set || r.Status == "failed" {
					continue
				}
				for _, rr := range r.Rounds {
					if v, ok := rr.Metrics[metric]; ok && (rr.Round > 0 || spec.SelectRound0) {
						sum[rr.Round] += v
						count[rr.Round]++
					}
				}
			}
			first := 1
			if spec.SelectRound0 {
				first = 0
			}
			for round := first; round <= arm.rounds(spec); round++ {
				if count[round] != len(spec.SearchSeeds) {
					continue
				}
				v := sum[round] / float64(count[round])
				if !c.Found || (higher && v > c.Value) || (!higher && v < c.Value) {
					c.Setting, c.Round, c.Value, c.Found = set, round, v, true
				}
			}
		}
		out = append(out, c)
	}
	return out
}

func chosen(cs []Choice, arm Arm) Setting {
	for _, c := range cs {
		if c.Arm == arm.Name {
			return c.Setting
		}
	}
	return arm.Grid()[0]
}

// reportInput flattens the result for the report activity.
func reportInput(res Result) ReportInput {
	metric, higher := res.Spec.selectMetric()
	in := ReportInput{
		Name: res.Spec.Name, Task: res.Spec.Task, N: res.Spec.N, Rounds: res.Spec.Rounds, NEval: res.Spec.NEval,
		Seeds: res.Spec.Seeds, SearchSeeds: res.Spec.SearchSeeds, Primary: metric, HigherBetter: higher, Seconds: res.Seconds, Base: res.Base,
		Model:    fmt.Sprintf("d_model %d, %d layers, %d heads, context %d", res.Spec.Model.DModel, res.Spec.Model.Layers, res.Spec.Model.Heads, res.Spec.Model.Context),
		Pretrain: fmt.Sprintf("%d pairs of the %s pretrain corpus, %d epochs, adam lr %g, batch %d", res.Spec.Pretrain.N, res.Spec.Task, res.Spec.Pretrain.Epochs, res.Spec.Pretrain.LR, res.Spec.Pretrain.BatchSize),
		Training: fmt.Sprintf("%s, %d epochs per round, batch %d, warm-up %g, clip %g; synthetic: temperature %g, max %d tokens",
			res.Spec.Optimizer, res.Spec.Epochs, res.Spec.BatchSize, res.Spec.WarmupFrac, res.Spec.ClipNorm, res.Spec.Generation.Temperature, res.Spec.Generation.MaxNewTokens),
	}
	if t := res.TargetSFT; t != nil {
		var nll []string
		for _, v := range t.ValNLL {
			nll = append(nll, fmt.Sprintf("%.4g", v))
		}
		in.TargetSFT = fmt.Sprintf("then SFT on %d target pairs of seed %d (run %s: adam lr %g, batch %d, up to %d epochs); validation NLL by epoch (0 = pre-trained) %s; epoch %d kept as every arm's round 0 `%s`",
			res.Spec.TargetSFT.M, res.Spec.TargetSFT.Seed, t.Run, res.Spec.TargetSFT.LR, res.Spec.TargetSFT.BatchSize, res.Spec.TargetSFT.Epochs, strings.Join(nll, ", "), t.Epoch, t.Model)
	}
	in.SelectRound0 = res.Spec.SelectRound0
	for _, a := range res.Spec.Arms {
		desc := fmt.Sprintf("%s on %d real pairs", a.Method, a.DataMult*res.Spec.N)
		if a.Method == "space" || a.Method == "psft" {
			desc += fmt.Sprintf(", mu %d", a.Mu)
		}
		desc += fmt.Sprintf(", %d steps per round", a.StepsPerRound(res.Spec))
		if a.Method == "sft" {
			desc += ", sft_norm " + string(model.LossConfig{Method: model.MethodSFT, SFTNorm: a.SFTNorm}.SFTNormOrDefault())
		}
		var grid []string
		for _, s := range a.Grid() {
			grid = append(grid, s.String())
		}
		if a.Rounds > 0 || a.Epochs > 0 {
			desc += fmt.Sprintf(", %d rounds of %d epochs", a.rounds(res.Spec), a.epochs(res.Spec))
		}
		in.Arms = append(in.Arms, ReportArm{Name: a.Name, Description: desc, Grid: strings.Join(grid, "; "), Rounds: a.rounds(res.Spec), StepsPerRound: a.StepsPerRound(res.Spec)})
	}
	for _, x := range res.Spec.Arms {
		for _, y := range res.Spec.Arms {
			tok, seq := x, y
			tok.Name, tok.SFTNorm, seq.Name, seq.SFTNorm = "", "", "", ""
			if x.Method == "sft" && x.SFTNorm != model.SFTNormSequence && y.SFTNorm == model.SFTNormSequence && reflect.DeepEqual(tok, seq) {
				in.SFTNormPairs = append(in.SFTNormPairs, [2]string{x.Name, y.Name})
			}
		}
	}
	for _, c := range res.Choices {
		in.Choices = append(in.Choices, ReportChoice{Arm: c.Arm, Setting: c.Setting.String(), Round: c.Round, Value: c.Value, Found: c.Found, Tried: c.Tried})
	}
	conv := func(rs []ArmRun) []ReportRun {
		var out []ReportRun
		for _, r := range rs {
			out = append(out, ReportRun{Arm: r.Arm, Seed: r.Seed, Setting: r.Setting.String(), Run: r.Run, Status: r.Status, Error: r.Error, Rounds: r.Rounds})
		}
		return out
	}
	in.Search, in.Final = conv(res.Search), conv(res.Final)
	return in
}
