package workflows

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/space-sft/space/activities"
	"github.com/space-sft/space/storage"
)

// RunSpec describes one self-play fine-tuning run. It is small and JSON-friendly: it is the
// workflow's input, it is stored in the history, and `space run --spec FILE` reads it as is.
// Zero values mean "use the default" (see Defaults); Validate explains what is wrong and how
// to fix it.
type RunSpec struct {
	Name   string `json:"name"`   // run id: [a-z0-9][a-z0-9._-]{0,62}; workflow ID is "space-run-"+Name
	Method string `json:"method"` // "space" (default), "spin" or "sft"
	Rounds int    `json:"rounds"` // self-play rounds after the base model (>= 1)

	Mu   int     `json:"mu,omitempty"`   // SPACE noise ratio: synthetic responses per prompt (default 1)
	Beta float64 `json:"beta,omitempty"` // SPIN only: scale of the reward gap (default 0.1)

	LR         float64 `json:"lr,omitempty"`          // learning rate of the rounds (default 1e-4)
	Optimizer  string  `json:"optimizer,omitempty"`   // "rmsprop" (default, the paper's) or "adam"
	Epochs     int     `json:"epochs,omitempty"`      // epochs per round (default 2, the paper's)
	BatchSize  int     `json:"batch_size,omitempty"`  // examples per optimizer step (default 8)
	MicroBatch int     `json:"micro_batch,omitempty"` // examples per forward/backward (0 = batch_size)
	WarmupFrac float64 `json:"warmup_frac,omitempty"` // linear warm-up fraction (default 0.1)
	ClipNorm   float64 `json:"clip_norm,omitempty"`   // gradient clipping (0 = off)

	Generation activities.Sampling `json:"generation"`       // sampling of the synthetic responses
	Shards     int                 `json:"shards,omitempty"` // parallel Generate activities per round (default 1)
	Seed       uint64              `json:"seed"`

	Data     string  `json:"data,omitempty"`      // S3 key of a JSONL dataset, or
	Task     string  `json:"task,omitempty"`      // a built-in task name ("arith")
	N        int     `json:"n,omitempty"`         // with task: number of train pairs (default 256)
	TestFrac float64 `json:"test_frac,omitempty"` // held-out fraction (default 0.2)
	// Holdout picks the held-out prompts of a task: "" or "test" (the test split), or "val",
	// a validation split from another seed stream, for choosing hyper-parameters without
	// looking at the test split (space compare's search).
	Holdout string `json:"holdout,omitempty"`
	MaxEval int    `json:"max_eval,omitempty"` // cap on held-out prompts decoded per evaluation (0 = all)

	Base      string   `json:"base,omitempty"` // S3 key of a base checkpoint; else one is trained
	BaseModel BaseSpec `json:"base_model"`     // shape (checked against Base when given) and SFT settings

	CheckpointEvery    int     `json:"checkpoint_every,omitempty"`      // trainer checkpoint every N steps (0 = off)
	CheckpointSeconds  float64 `json:"checkpoint_seconds,omitempty"`    // ... or every N seconds (default 60)
	ContinueAsNewEvery int     `json:"continue_as_new_every,omitempty"` // rounds per workflow run (default 2)
	EarlyStopPatience  int     `json:"early_stop_patience,omitempty"`   // rounds without improvement (0 = off)

	TaskQueues TaskQueues `json:"task_queues"`
	Timeouts   Timeouts   `json:"timeouts"`

	// Carry is the state handed from one workflow run to the next by Continue-As-New.
	// Users leave it empty.
	Carry *Carry `json:"carry,omitempty"`
}

// BaseSpec is the base model: its shape and, when no Base checkpoint is given, how the
// SFT base is trained on the real train pairs (with Adam, which trains a model from
// scratch faster than the rounds' RMSProp; batch_size and warmup_frac are the run's).
type BaseSpec struct {
	DModel  int     `json:"d_model,omitempty"` // default 64
	Layers  int     `json:"layers,omitempty"`  // default 2
	Heads   int     `json:"heads,omitempty"`   // default 4
	Context int     `json:"context,omitempty"` // default 64 tokens (prompt + response)
	Epochs  int     `json:"epochs,omitempty"`  // SFT epochs of the base (default 10)
	LR      float64 `json:"lr,omitempty"`      // SFT learning rate of the base (default 3e-3)
}

// TaskQueues routes inference and training to different workers. Empty = the workflow's
// own task queue ("space" by default), so a single worker runs everything.
type TaskQueues struct {
	Generate string `json:"generate,omitempty"`
	Train    string `json:"train,omitempty"`
}

// Timeouts of the activities. The defaults suit real runs; tests shorten them.
type Timeouts struct {
	HeartbeatSeconds float64 `json:"heartbeat_seconds,omitempty"` // Generate/Train/Evaluate (default 20)
	ActivityMinutes  float64 `json:"activity_minutes,omitempty"`  // StartToClose of the long ones (default 120)
}

// Methods the workflow knows. The loss itself lives in model/.
var Methods = []string{"space", "spin", "sft"}

// WorkflowID is the ID of a run's workflow, so that every CLI command can find it by name.
func WorkflowID(run string) string { return "space-run-" + run }

// Defaults returns the spec with every zero field set to its default. Validate runs on the
// result, so a zero that has no default (rounds, name) is still reported.
func (s RunSpec) Defaults() RunSpec {
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
	if s.Method == "" {
		s.Method = "space"
	}
	s.Method = strings.ToLower(s.Method)
	def(&s.Mu, 1)
	deff(&s.Beta, 0.1)
	deff(&s.LR, 1e-4)
	if s.Optimizer == "" {
		s.Optimizer = "rmsprop"
	}
	def(&s.Epochs, 2)
	def(&s.BatchSize, 8)
	deff(&s.WarmupFrac, 0.1)
	deff(&s.Generation.Temperature, 1)
	deff(&s.Generation.TopP, 1)
	def(&s.Generation.MaxNewTokens, 32)
	def(&s.Shards, 1)
	if s.Task != "" {
		def(&s.N, 256)
	}
	deff(&s.TestFrac, 0.2)
	def(&s.BaseModel.DModel, 64)
	def(&s.BaseModel.Layers, 2)
	def(&s.BaseModel.Heads, 4)
	def(&s.BaseModel.Context, 64)
	def(&s.BaseModel.Epochs, 10)
	deff(&s.BaseModel.LR, 3e-3)
	deff(&s.CheckpointSeconds, 60)
	def(&s.ContinueAsNewEvery, 2)
	deff(&s.Timeouts.HeartbeatSeconds, 20)
	deff(&s.Timeouts.ActivityMinutes, 120)
	return s
}

// Validate reports the first problem with the spec as "field: problem; fix". Problems
// that need the data (shards > prompts, pairs longer than the context) are found by Prepare.
func (s RunSpec) Validate() error {
	bad := func(field, problem, fix string) error {
		return fmt.Errorf("invalid spec: %s: %s; %s", field, problem, fix)
	}
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case storage.ValidateName(s.Name) != nil:
		return bad("name", fmt.Sprintf("%q is not a valid run name", s.Name),
			"use 1-63 characters of a-z, 0-9, '.', '_', '-', starting with a letter or digit, without \"..\"")
	case !contains(Methods, s.Method):
		return bad("method", fmt.Sprintf("unknown method %q", s.Method), "use one of "+strings.Join(Methods, ", "))
	case s.Rounds <= 0:
		return bad("rounds", fmt.Sprintf("%d", s.Rounds), "set rounds to 1 or more")
	case s.Mu <= 0:
		return bad("mu", fmt.Sprintf("%d", s.Mu), "set mu to 1 or more (synthetic responses per prompt)")
	case !finite(s.LR) || s.LR <= 0:
		return bad("lr", fmt.Sprintf("%v", s.LR), "set a finite positive learning rate, e.g. 1e-4")
	case !finite(s.Beta) || s.Beta <= 0:
		return bad("beta", fmt.Sprintf("%v", s.Beta), "set a finite positive beta, e.g. 0.1")
	case s.Optimizer != "rmsprop" && s.Optimizer != "adam":
		return bad("optimizer", fmt.Sprintf("unknown optimizer %q", s.Optimizer), "use rmsprop or adam")
	case s.Epochs <= 0 || s.BatchSize <= 0 || s.MicroBatch < 0:
		return bad("epochs/batch_size/micro_batch", "must be positive", "set epochs >= 1, batch_size >= 1, micro_batch >= 0")
	case !finite(s.WarmupFrac) || s.WarmupFrac < 0 || s.WarmupFrac >= 1:
		return bad("warmup_frac", fmt.Sprintf("%v", s.WarmupFrac), "use a fraction in [0, 1)")
	case !finite(s.ClipNorm) || s.ClipNorm < 0:
		return bad("clip_norm", fmt.Sprintf("%v", s.ClipNorm), "use 0 (off) or a positive norm")
	case !finite(s.Generation.Temperature) || s.Generation.Temperature < 0:
		return bad("generation.temperature", fmt.Sprintf("%v", s.Generation.Temperature), "use a positive temperature")
	case !finite(s.Generation.TopP) || s.Generation.TopP <= 0 || s.Generation.TopP > 1:
		return bad("generation.top_p", fmt.Sprintf("%v", s.Generation.TopP), "use a value in (0, 1]")
	case s.Generation.TopK < 0 || s.Generation.MaxNewTokens <= 0:
		return bad("generation.top_k/max_new_tokens", "must not be negative", "set top_k >= 0 and max_new_tokens >= 1")
	case s.Shards <= 0:
		return bad("shards", fmt.Sprintf("%d", s.Shards), "set shards to 1 or more")
	case (s.Data == "") == (s.Task == ""):
		return bad("data/task", "exactly one of them must be set", `set "data" to the S3 key of a JSONL file or "task" to a built-in task such as "arith"`)
	case s.Task != "" && s.N <= 0:
		return bad("n", fmt.Sprintf("%d", s.N), "set n (train pairs generated by the task) to 1 or more")
	case s.Holdout != "" && s.Holdout != "test" && s.Holdout != "val":
		return bad("holdout", fmt.Sprintf("unknown holdout %q", s.Holdout), `use "test" (default) or "val"`)
	case s.Holdout == "val" && s.Task == "":
		return bad("holdout", `"val" needs a built-in task`, "a dataset's held-out split is always its test split; omit holdout")
	case !finite(s.TestFrac) || s.TestFrac <= 0 || s.TestFrac >= 1:
		return bad("test_frac", fmt.Sprintf("%v", s.TestFrac), "use a fraction in (0, 1), e.g. 0.2")
	case s.BaseModel.DModel <= 0 || s.BaseModel.Layers <= 0 || s.BaseModel.Heads <= 0 || s.BaseModel.Context <= 1:
		return bad("base_model", "d_model, layers, heads and context must be positive", "omit them for the defaults (64, 2, 4, 64)")
	case s.BaseModel.DModel%s.BaseModel.Heads != 0:
		return bad("base_model.heads", fmt.Sprintf("d_model %d is not divisible by %d heads", s.BaseModel.DModel, s.BaseModel.Heads), "pick heads that divide d_model")
	case s.Base == "" && (s.BaseModel.Epochs <= 0 || !finite(s.BaseModel.LR) || s.BaseModel.LR <= 0):
		return bad("base_model.epochs/lr", "must be positive to train a base", "omit them for the defaults (10, 3e-3)")
	case s.CheckpointEvery < 0 || !finite(s.CheckpointSeconds) || s.CheckpointSeconds < 0:
		return bad("checkpoint_every/checkpoint_seconds", "must not be negative", "use 0 to turn one off")
	case s.ContinueAsNewEvery <= 0:
		return bad("continue_as_new_every", fmt.Sprintf("%d", s.ContinueAsNewEvery), "set it to 1 or more rounds")
	case s.EarlyStopPatience < 0:
		return bad("early_stop_patience", fmt.Sprintf("%d", s.EarlyStopPatience), "use 0 (off) or a number of rounds")
	case !finite(s.Timeouts.HeartbeatSeconds) || s.Timeouts.HeartbeatSeconds <= 0 ||
		!finite(s.Timeouts.ActivityMinutes) || s.Timeouts.ActivityMinutes <= 0:
		return bad("timeouts", "must be positive", "omit them for the defaults (20 s heartbeat, 120 min)")
	}
	return nil
}

// ParseSpec decodes a spec file strictly: an unknown field is an error naming it, because a
// misspelt field silently falling back to its default is the worst kind of mistake here.
func ParseSpec(data []byte) (RunSpec, error) {
	var s RunSpec
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return RunSpec{}, fmt.Errorf("parse spec: %w", err)
	}
	// A zero means "the default" inside the workflow, but a zero the user wrote for a field
	// whose zero is meaningless (mu 0, lr 0) is a mistake to report, not to replace.
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return RunSpec{}, fmt.Errorf("parse spec: %w", err)
	}
	isZero := func(v json.RawMessage) bool {
		var x float64
		return strings.TrimSpace(string(v)) != "null" && json.Unmarshal(v, &x) == nil && x == 0
	}
	for _, field := range NoZeroFields {
		if v, ok := raw[field]; ok && isZero(v) {
			return RunSpec{}, fmt.Errorf("invalid spec: %s: 0; set a positive value, or omit %s for its default", field, field)
		}
	}
	var gen map[string]json.RawMessage
	_ = json.Unmarshal(raw["generation"], &gen) // the typed decode above already checked it
	for _, f := range []struct {
		field string
		v     json.RawMessage
	}{{"warmup_frac", raw["warmup_frac"]}, {"generation.temperature", gen["temperature"]}} { // fixed order: the same error every time
		if f.v != nil && isZero(f.v) {
			return RunSpec{}, fmt.Errorf("invalid spec: %s: 0 %s", f.field, ZeroIsDefault[f.field])
		}
	}
	return s, nil
}

// ZeroIsDefault holds the spec fields whose 0 is a meaningful setting that a spec cannot
// express (0 is "the default" there), with what to do instead: written out as 0 they are
// rejected rather than silently replaced by the default.
var ZeroIsDefault = map[string]string{
	"warmup_frac":            "would mean the default warm-up (0.1), not none; for almost none use a small fraction such as 0.001",
	"generation.temperature": "would mean the default temperature (1), not greedy decoding; use a small temperature such as 0.05",
}

// NoZeroFields are the top-level spec fields whose zero would silently become the default:
// written out as 0 in a spec file (or a flag), they are rejected instead.
var NoZeroFields = []string{"rounds", "mu", "beta", "lr", "epochs", "batch_size", "shards", "n"}

func (s RunSpec) heartbeat() time.Duration {
	return time.Duration(s.Timeouts.HeartbeatSeconds * float64(time.Second))
}

func (s RunSpec) longTimeout() time.Duration {
	return time.Duration(s.Timeouts.ActivityMinutes * float64(time.Minute))
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
