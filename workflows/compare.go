package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/space-sft/space/activities"
	"github.com/space-sft/space/storage"
)

// CompareSpec is one comparison of methods on a built-in task, the paper's protocol:
//
//  1. one base model is pre-trained (SFT) on the task's broad related corpus
//     (tasks.Pretrainer), never on the target's real pairs, and every arm starts from it;
//  2. search: every arm tries the same number of settings (its grid: learning rates, and
//     beta for SPIN) on a validation split, one seed; the best setting and round by the
//     task's primary metric on validation are kept;
//  3. final: every arm runs with its chosen setting on every seed, measured on the test
//     split; a seed gives every arm the same real pairs (the 4n arm's first n are the n
//     arm's) and the same held-out prompts;
//  4. a report (markdown table, results.json, one PNG per metric) goes to
//     runs/{name}/report/ in S3.
//
// Every arm is a SelfPlay child workflow (SFT arms are SelfPlay with method sft: round r
// is 2r epochs of SFT); self-play arms make the same optimizer steps per round.
type CompareSpec struct {
	Name   string   `json:"name"`   // [a-z0-9][a-z0-9._-]{0,62}, short: children are NAME-ARM-sSEED
	Task   string   `json:"task"`   // built-in task with a Pretrain corpus: "arith" or "markov"
	N      int      `json:"n"`      // real train pairs of the 1x arms (default 128)
	Seeds  []uint64 `json:"seeds"`  // final seeds (default 1, 2, 3; markov 1..5)
	Rounds int      `json:"rounds"` // rounds after the base (default 5: the paper's iter0..iter4)
	Arms   []Arm    `json:"arms"`   // default DefaultArms()
	NEval  int      `json:"n_eval"` // held-out prompts per evaluation (default 64; markov 128)

	SearchSeed uint64 `json:"search_seed"` // seed of the search runs (default 100; not a final seed)
	// Select is the metric that picks each arm's setting and round on validation: "" = the
	// task's primary metric (PrimaryMetric), or test_nll, kl, task_score, sample_valid.
	Select string `json:"select,omitempty"`

	Model    BaseSpec     `json:"model"`    // shape (epochs/lr unused); default per task
	Pretrain PretrainSpec `json:"pretrain"` // the base model's corpus and SFT; default per task

	Optimizer  string              `json:"optimizer,omitempty"`   // rounds' optimizer (default rmsprop)
	Epochs     int                 `json:"epochs,omitempty"`      // epochs per round (default 2)
	BatchSize  int                 `json:"batch_size,omitempty"`  // default 16
	WarmupFrac float64             `json:"warmup_frac,omitempty"` // default 0.1
	ClipNorm   float64             `json:"clip_norm,omitempty"`   // default 1
	Generation activities.Sampling `json:"generation"`            // synthetic data; default T=1, per-task max tokens

	Concurrency int      `json:"concurrency,omitempty"` // children running at once (default 2)
	Timeouts    Timeouts `json:"timeouts"`
}

// Arm is one method of the comparison and its search grid.
type Arm struct {
	Name     string    `json:"name"`                // e.g. "space", "sft-4n"
	Method   string    `json:"method"`              // sft, spin or space
	Mu       int       `json:"mu,omitempty"`        // SPACE noise ratio (default 1)
	DataMult int       `json:"data_mult,omitempty"` // real pairs = DataMult * N (default 1)
	LRs      []float64 `json:"lrs"`                 // learning rates tried
	Betas    []float64 `json:"betas,omitempty"`     // SPIN: betas tried (grid LRs x Betas)
	// Rounds and Epochs override the comparison's for this arm (0 = the comparison's): e.g.
	// one round of 10 epochs on the base's synthetic data against 5 rounds of 2 epochs with
	// fresh samples (the paper's claim 4, at the same number of optimizer steps).
	Rounds int `json:"rounds,omitempty"`
	Epochs int `json:"epochs,omitempty"`
}

func (a Arm) rounds(s CompareSpec) int {
	if a.Rounds > 0 {
		return a.Rounds
	}
	return s.Rounds
}

func (a Arm) epochs(s CompareSpec) int {
	if a.Epochs > 0 {
		return a.Epochs
	}
	return s.Epochs
}

// PretrainSpec is the base model's training: SFT from scratch on the task's Pretrain corpus.
type PretrainSpec struct {
	N         int     `json:"n,omitempty"`
	Epochs    int     `json:"epochs,omitempty"`
	LR        float64 `json:"lr,omitempty"`
	BatchSize int     `json:"batch_size,omitempty"`
	Seed      uint64  `json:"seed,omitempty"`
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
		if a.Method == "spin" && len(a.Betas) > 0 {
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

// Defaults fills zero fields, some per task (model size, corpus, response length).
func (s CompareSpec) Defaults() CompareSpec {
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
	def(&s.N, 128)
	if len(s.Seeds) == 0 {
		s.Seeds = []uint64{1, 2, 3}
		if s.Task == "markov" { // cheap: more seeds for tighter paired differences
			s.Seeds = []uint64{1, 2, 3, 4, 5}
		}
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
	if s.SearchSeed == 0 {
		s.SearchSeed = 100
	}
	switch s.Task {
	case "arith":
		def(&s.Model.DModel, 64)
		def(&s.Pretrain.N, 8000) // 1000 steps: about half the source problems right
		def(&s.Pretrain.Epochs, 4)
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
		s.Optimizer = "rmsprop"
	}
	def(&s.Epochs, 2)
	def(&s.BatchSize, 16)
	deff(&s.WarmupFrac, 0.1)
	deff(&s.ClipNorm, 1)
	deff(&s.Generation.Temperature, 1)
	deff(&s.Generation.TopP, 1)
	def(&s.Concurrency, 2)
	deff(&s.Timeouts.HeartbeatSeconds, 30)
	deff(&s.Timeouts.ActivityMinutes, 60)
	return s
}

// Validate checks the spec and every child spec it implies.
func (s CompareSpec) Validate() error {
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
	if len(s.Seeds) == 0 || s.Rounds <= 0 || s.N <= 0 || s.NEval <= 0 {
		return bad("seeds/rounds/n/n_eval", "must be set", "omit them for the defaults")
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
			for _, sp := range []RunSpec{s.child(a, set, s.SearchSeed, true, k, ""), s.child(a, set, s.Seeds[0], false, 0, "")} {
				sp = sp.Defaults()
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
	return nil
}

// childName is the run name of an arm's child: NAME-ARM-sSEED (final) or NAME-v-ARM-K (search).
func (s CompareSpec) childName(a Arm, seed uint64, search bool, k int) string {
	if search {
		return fmt.Sprintf("%s-v-%s-%d", s.Name, a.Name, k)
	}
	return fmt.Sprintf("%s-%s-s%d", s.Name, a.Name, seed)
}

// child is the SelfPlay spec of one arm with one setting on one seed.
func (s CompareSpec) child(a Arm, set Setting, seed uint64, search bool, k int, base string) RunSpec {
	holdout := "test"
	if search {
		holdout = "val"
	}
	beta := set.Beta
	if a.Method != "spin" {
		beta = 0
	}
	return RunSpec{
		Name: s.childName(a, seed, search, k), Method: a.Method, Rounds: a.rounds(s), Mu: a.Mu, Beta: beta,
		LR: set.LR, Optimizer: s.Optimizer, Epochs: a.epochs(s), BatchSize: s.BatchSize,
		WarmupFrac: s.WarmupFrac, ClipNorm: s.ClipNorm, Generation: s.Generation, Shards: 1, Seed: seed,
		Task: s.Task, N: s.N * a.DataMult,
		// The held-out set is the first NEval prompts of the seed's held-out stream for every
		// arm: the 4n arm draws more, and MaxEval keeps the same first NEval.
		TestFrac: float64(s.NEval) / float64(s.N+s.NEval), Holdout: holdout, MaxEval: s.NEval,
		Base:               base,
		BaseModel:          BaseSpec{DModel: s.Model.DModel, Layers: s.Model.Layers, Heads: s.Model.Heads, Context: s.Model.Context},
		CheckpointSeconds:  120,
		ContinueAsNewEvery: a.rounds(s),
		Timeouts:           s.Timeouts,
	}
}

// PrimaryMetric is the metric that picks settings and rounds: KL to p_data when the task
// knows it (lower is better), else the task score (higher is better).
func PrimaryMetric(task string) (name string, higherBetter bool) {
	if task == "markov" {
		return activities.MetricKL, false
	}
	return activities.MetricTaskScore, true
}

// selectMetric is the metric that picks settings and rounds: Select, else the primary one.
func (s CompareSpec) selectMetric() (name string, higherBetter bool) {
	switch s.Select {
	case activities.MetricNLL, activities.MetricKL:
		return s.Select, false
	case activities.MetricTaskScore, activities.MetricSampleValid:
		return s.Select, true
	}
	return PrimaryMetric(s.Task)
}

// ArmRun is one child's outcome.
type ArmRun struct {
	Arm     string        `json:"arm"`
	Seed    uint64        `json:"seed"`
	Search  bool          `json:"search,omitempty"`
	Setting Setting       `json:"setting"`
	Run     string        `json:"run"`
	Status  string        `json:"status"`          // completed, or failed
	Error   string        `json:"error,omitempty"` // why it failed (e.g. NonFinite: SPIN collapse)
	Rounds  []RoundResult `json:"rounds,omitempty"`
}

// Choice is an arm's setting and round chosen on the validation split.
type Choice struct {
	Arm     string  `json:"arm"`
	Setting Setting `json:"setting"`
	Round   int     `json:"round"` // best validation round (1..Rounds)
	Value   float64 `json:"value"` // its primary metric on validation (when Found)
	Found   bool    `json:"found"` // false: no search (single setting) or every search run failed
	Tried   int     `json:"tried"` // settings tried (the search budget)
}

// CompareResult is the comparison's result and the input of its report.
type CompareResult struct {
	Spec      CompareSpec           `json:"spec"`
	Base      activities.Checkpoint `json:"base"`
	Choices   []Choice              `json:"choices"`
	Search    []ArmRun              `json:"search"`
	Final     []ArmRun              `json:"final"`
	Seconds   float64               `json:"seconds"`
	ReportKey string                `json:"report_key"`
}

// CompareProgress answers the "progress" query of a comparison.
type CompareProgress struct {
	Phase   string   `json:"phase"` // pretrain, search, final, report, done
	Done    int      `json:"done"`  // children finished in this phase
	Total   int      `json:"total"`
	Running []string `json:"running"`
}

// CompareWorkflowID is the workflow ID of a comparison.
func CompareWorkflowID(name string) string { return "space-compare-" + name }

// Compare runs a comparison (see CompareSpec).
func Compare(ctx workflow.Context, spec CompareSpec) (CompareResult, error) {
	spec = spec.Defaults()
	if err := spec.Validate(); err != nil {
		return CompareResult{}, temporal.NewNonRetryableApplicationError(err.Error(), "InvalidSpec", nil)
	}
	start := workflow.Now(ctx)
	prog := &CompareProgress{Phase: "pretrain"}
	if err := workflow.SetQueryHandler(ctx, QueryProgress, func() (CompareProgress, error) { return *prog, nil }); err != nil {
		return CompareResult{}, err
	}
	res := CompareResult{Spec: spec}
	var a *activities.Activities
	short := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 15 * time.Minute, RetryPolicy: retryPolicy()})
	long := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Duration(spec.Timeouts.ActivityMinutes * float64(time.Minute)),
		HeartbeatTimeout:    time.Duration(spec.Timeouts.HeartbeatSeconds * float64(time.Second)),
		RetryPolicy:         retryPolicy(),
	})
	pin := activities.PretrainInput{
		Run: spec.Name, Task: spec.Task, N: spec.Pretrain.N, Seed: spec.Pretrain.Seed,
		Shape: activities.ModelShape{DModel: spec.Model.DModel, Layers: spec.Model.Layers, Heads: spec.Model.Heads, Context: spec.Model.Context},
		Optim: activities.Optim{Optimizer: "adam", LR: spec.Pretrain.LR, WarmupFrac: 0.05, Epochs: spec.Pretrain.Epochs, BatchSize: spec.Pretrain.BatchSize, ClipNorm: 1},
	}
	var base activities.TrainOutput
	if err := workflow.ExecuteActivity(long, a.PretrainBase, pin).Get(ctx, &base); err != nil {
		return CompareResult{}, fail("pretrain", err)
	}
	res.Base = base.Model

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
				jobs = append(jobs, job{arm, set, spec.SearchSeed, k})
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
			cs := spec.child(j.arm, j.set, j.seed, search, j.k, base.Model.Key)
			out[i] = ArmRun{Arm: j.arm.Name, Seed: j.seed, Search: search, Setting: j.set, Run: cs.Name}
			cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: WorkflowID(cs.Name)})
			f := workflow.ExecuteChildWorkflow(cctx, SelfPlay, cs)
			running++
			prog.Running = append(prog.Running, cs.Name)
			sel.AddFuture(f, func(f workflow.Future) {
				var rr RunResult
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

	prog.Phase = "report"
	res.Seconds = workflow.Now(ctx).Sub(start).Seconds()
	var rep activities.CompareReportOutput
	if err := workflow.ExecuteActivity(short, a.CompareReport, reportInput(res)).Get(ctx, &rep); err != nil {
		return CompareResult{}, fail("report", err)
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

// choose picks, per arm, the setting and round (>= 1) with the best primary metric on the
// validation split. An arm with a single setting keeps it (round: the last).
func choose(spec CompareSpec, search []ArmRun) []Choice {
	metric, higher := spec.selectMetric()
	var out []Choice
	for _, arm := range spec.Arms {
		g := arm.Grid()
		c := Choice{Arm: arm.Name, Setting: g[0], Round: arm.rounds(spec), Tried: len(g)}
		for _, r := range search {
			if r.Arm != arm.Name || r.Status == "failed" {
				continue
			}
			for _, rr := range r.Rounds {
				v, ok := rr.Metrics[metric]
				if rr.Round == 0 || !ok {
					continue
				}
				if !c.Found || (higher && v > c.Value) || (!higher && v < c.Value) {
					c.Setting, c.Round, c.Value, c.Found = r.Setting, rr.Round, v, true
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
func reportInput(res CompareResult) activities.CompareReportInput {
	metric, higher := res.Spec.selectMetric()
	in := activities.CompareReportInput{
		Name: res.Spec.Name, Task: res.Spec.Task, N: res.Spec.N, Rounds: res.Spec.Rounds, NEval: res.Spec.NEval,
		Seeds: res.Spec.Seeds, Primary: metric, HigherBetter: higher, Seconds: res.Seconds, Base: res.Base,
		Model:    fmt.Sprintf("d_model %d, %d layers, %d heads, context %d", res.Spec.Model.DModel, res.Spec.Model.Layers, res.Spec.Model.Heads, res.Spec.Model.Context),
		Pretrain: fmt.Sprintf("%d pairs of the %s pretrain corpus, %d epochs, adam lr %g, batch %d", res.Spec.Pretrain.N, res.Spec.Task, res.Spec.Pretrain.Epochs, res.Spec.Pretrain.LR, res.Spec.Pretrain.BatchSize),
		Training: fmt.Sprintf("%s, %d epochs per round, batch %d, warm-up %g, clip %g; synthetic: temperature %g, max %d tokens",
			res.Spec.Optimizer, res.Spec.Epochs, res.Spec.BatchSize, res.Spec.WarmupFrac, res.Spec.ClipNorm, res.Spec.Generation.Temperature, res.Spec.Generation.MaxNewTokens),
	}
	for _, a := range res.Spec.Arms {
		desc := fmt.Sprintf("%s on %d real pairs", a.Method, a.DataMult*res.Spec.N)
		if a.Method == "space" {
			desc += fmt.Sprintf(", mu %d", a.Mu)
		}
		var grid []string
		for _, s := range a.Grid() {
			grid = append(grid, s.String())
		}
		if a.Rounds > 0 || a.Epochs > 0 {
			desc += fmt.Sprintf(", %d rounds of %d epochs", a.rounds(res.Spec), a.epochs(res.Spec))
		}
		in.Arms = append(in.Arms, activities.CompareArm{Name: a.Name, Description: desc, Grid: strings.Join(grid, "; "), Rounds: a.rounds(res.Spec)})
	}
	for _, c := range res.Choices {
		in.Choices = append(in.Choices, activities.CompareChoice{Arm: c.Arm, Setting: c.Setting.String(), Round: c.Round, Value: c.Value, Found: c.Found, Tried: c.Tried})
	}
	conv := func(rs []ArmRun) []activities.CompareRun {
		var out []activities.CompareRun
		for _, r := range rs {
			out = append(out, activities.CompareRun{Arm: r.Arm, Seed: r.Seed, Setting: r.Setting.String(), Run: r.Run, Status: r.Status, Error: r.Error, Rounds: r.Rounds})
		}
		return out
	}
	in.Search, in.Final = conv(res.Search), conv(res.Final)
	return in
}

// QuickCompare is `--quick`: one seed, two rounds, single-setting arms (no search), a tiny
// model and corpus. It checks that the whole comparison runs and reports, in minutes; its
// numbers mean little.
func QuickCompare(name, task string) CompareSpec {
	s := CompareSpec{
		Name: name, Task: task, N: 64, Seeds: []uint64{1}, Rounds: 2, Arms: QuickArms(), NEval: 32,
		Model:    BaseSpec{DModel: 32, Layers: 2, Heads: 4, Context: 64},
		Pretrain: PretrainSpec{N: 2000, Epochs: 3},
	}
	if task == "arith" {
		s.Pretrain.N = 3000
	}
	return s
}
