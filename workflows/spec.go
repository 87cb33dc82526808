package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"

	"github.com/space-sft/space/activities"
	"github.com/space-sft/space/dataset"
	"github.com/space-sft/space/eval"
	"github.com/space-sft/space/model"
	"github.com/space-sft/space/storage"
)

// RunSpec describes one self-play fine-tuning run. It is small and JSON-friendly: it is the
// workflow's input, it is stored in the history, and `space run --spec FILE` reads it as is.
//
// Settings that belong to another package are that package's type, embedded (their JSON
// fields inline) rather than copied: the loss (model.LossConfig: method, mu, beta, hinge,
// gamma, sft_norm), the optimizer of the rounds (model.OptimConfig: optimizer, lr, warmup_frac,
// epochs, batch_size, micro_batch, clip_norm, bias_correction), the training of a round over several workers
// (model.OuterConfig: train_workers, local_steps, outer_lr, outer_momentum), the sampling of synthetic responses
// (model.SampleConfig), the base model's shape (model.Shape), how a dataset is read
// (dataset.Options: allow_duplicates), the scorer of outputs (eval.Scorer), how often
// training checkpoints (activities.Durability) and when evaluation is split over parallel
// activities (activities.EvalSharding). Their defaults and their checks are written once, by
// their owner; DefaultSpec gathers the defaults and Validate runs the checks.
//
// A spec is complete: every field holds the value the run uses. Start from DefaultSpec
// (ParseSpec decodes a file onto it), so that an explicit 0 means 0: temperature 0 is greedy
// decoding, warmup_frac 0 no warm-up, and mu 0 an error.
type RunSpec struct {
	Name   string `json:"name"`   // run id: [a-z0-9][a-z0-9._-]{0,62}; workflow ID is "space-run-"+Name
	Rounds int    `json:"rounds"` // self-play rounds after the base model (>= 1)

	model.LossConfig                     // method (space, spin, sft, sipo, ssimpo, psft), mu, beta, hinge, gamma, sft_norm
	model.OptimConfig                    // the rounds' optimizer, learning rate, batch, epochs
	model.OuterConfig                    // train_workers, local_steps, outer_lr, outer_momentum: a round's training over workers (DiLoCo; train_workers 1 = off)
	Generation        model.SampleConfig `json:"generation"` // sampling of the synthetic responses
	Shards            int                `json:"shards"`     // parallel Generate activities per round
	Seed              uint64             `json:"seed"`

	Data     string  `json:"data,omitempty"` // S3 key of a dataset (JSONL or Parquet), or
	Task     string  `json:"task,omitempty"` // a built-in task name ("arith", "markov")
	N        int     `json:"n"`              // with task: number of train pairs
	TestFrac float64 `json:"test_frac"`      // held-out fraction (unused with test_data)
	// TestData is the S3 key of a fixed evaluation file (the same formats as Data): when
	// set, it is the held-out set and every pair of Data is trained on; test_frac is then
	// unused (a spec file may not write both). Only with Data.
	TestData        string `json:"test_data,omitempty"`
	dataset.Options        // allow_duplicates: keep duplicate pairs of data and test_data
	// Scorer is an optional rule each greedy output on a held-out prompt must pass
	// ({"regex": ...}, {"contains": ...} or {"contains_reference": true}); its pass rate is
	// the metric scorer_pass.
	Scorer eval.Scorer `json:"scorer,omitzero"`
	// Holdout picks the held-out prompts of a task: "" or "test" (the test split), or "val",
	// a validation split from another seed stream, for choosing hyper-parameters without
	// looking at the test split (space compare's search).
	Holdout string `json:"holdout,omitempty"`
	MaxEval int    `json:"max_eval,omitempty"` // cap on held-out prompts decoded per evaluation (0 = all)

	// Base is the S3 key of a base checkpoint (e.g. written by `space import hf`): the run
	// fine-tunes it, with its shape and its tokenizer. Else a base is trained from scratch as
	// BaseModel says (BaseModel is then not used; a spec file may not set both).
	Base      string   `json:"base,omitempty"`
	BaseModel BaseSpec `json:"base_model"` // shape, tokenizer and SFT settings of a base trained from scratch
	// Context is the run's context: every real pair (prompt and response, framed, in the
	// model's tokens) must fit in it, and Prepare rejects the first that does not. 0 means
	// the model's: the base checkpoint's positions (1024 for GPT-2), or base_model.context.
	// It may not exceed them.
	Context int `json:"context,omitempty"`

	activities.Durability       // checkpoint_every, checkpoint_seconds
	activities.EvalSharding     // eval_shard_size: held-out prompts per parallel evaluation shard
	ContinueAsNewEvery      int `json:"continue_as_new_every"`         // rounds per workflow run
	EarlyStopPatience       int `json:"early_stop_patience,omitempty"` // rounds without improvement (0 = off)

	TaskQueues TaskQueues `json:"task_queues"`
	Timeouts   Timeouts   `json:"timeouts"`

	// legacyCarry is the Continue-As-New state that runs of builds before "complete-spec"
	// version 1 handed on inside the spec (as "carry"); UnmarshalJSON keeps it for SelfPlay.
	legacyCarry *Carry
}

// plainSpec is RunSpec without its UnmarshalJSON: ParseSpec decodes files through it, so
// that an unknown field, "carry" included, is an error.
type plainSpec RunSpec

// UnmarshalJSON decodes a spec onto the receiver's values. A "carry" field, which runs
// continued-as-new by builds before version 1 of "complete-spec" put inside the spec, is
// kept aside for SelfPlay, so that such a run goes on where it was after an upgrade.
func (s *RunSpec) UnmarshalJSON(data []byte) error {
	v := struct {
		plainSpec
		Carry *Carry `json:"carry"`
	}{plainSpec: plainSpec(*s)}
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	*s = RunSpec(v.plainSpec)
	s.legacyCarry = v.Carry
	return nil
}

// BaseSpec is the base model: its shape and, when no Base checkpoint is given, how the
// SFT base is trained on the real train pairs: with Adam, which trains a model from
// scratch faster than the rounds' RMSProp, for Epochs at learning rate LR; batch_size,
// micro_batch, warmup_frac and clip_norm are the run's.
type BaseSpec struct {
	model.Shape
	Tokenizer model.TokenizerSpec `json:"tokenizer"` // "byte", or a "bpe" of vocab_size ids trained on the train pairs
	Epochs    int                 `json:"epochs"`    // SFT epochs of the base
	LR        float64             `json:"lr"`        // SFT learning rate of the base
}

// TaskQueues routes inference and training to different workers. Empty = the workflow's
// own task queue ("space" by default), so a single worker runs everything.
type TaskQueues struct {
	Generate string `json:"generate,omitempty"`
	Train    string `json:"train,omitempty"`
}

// Timeouts of the activities. The defaults suit real runs; tests shorten them.
type Timeouts struct {
	HeartbeatSeconds float64 `json:"heartbeat_seconds"` // Generate/Train/Evaluate
	ActivityMinutes  float64 `json:"activity_minutes"`  // StartToClose of the long ones
}

// WorkflowID is the ID of a run's workflow, so that every CLI command can find it by name.
func WorkflowID(run string) string { return "space-run-" + run }

// DefaultSpec is a run spec with every default filled in; Name, Rounds and one of Data or
// Task are left for the caller. The settings owned by model/ and activities/ come from
// their Default functions.
func DefaultSpec() RunSpec {
	return RunSpec{
		LossConfig:         model.DefaultLoss(),
		OptimConfig:        model.DefaultOptim(),
		OuterConfig:        model.DefaultOuter(),
		Generation:         model.DefaultSampling(),
		Shards:             1,
		N:                  256,
		TestFrac:           0.2,
		BaseModel:          BaseSpec{Shape: model.DefaultShape(), Tokenizer: model.DefaultTokenizer(), Epochs: 10, LR: 3e-3},
		Durability:         activities.DefaultDurability(),
		EvalSharding:       activities.DefaultEvalSharding(),
		ContinueAsNewEvery: 2,
		Timeouts:           Timeouts{HeartbeatSeconds: 20, ActivityMinutes: 120},
	}
}

// baseOptim is the optimizer setting of the base model's SFT (see BaseSpec).
func (s RunSpec) baseOptim() model.OptimConfig {
	o := s.OptimConfig
	o.Optimizer, o.Epochs, o.LR = "adam", s.BaseModel.Epochs, s.BaseModel.LR
	return o
}

// Validate reports the first problem with the spec as "invalid spec: field: problem; fix".
// It is the one check of a spec: `space run` calls it before it starts anything, and the
// workflow calls it again (the same code, so the same message) before any activity runs.
// Problems that need the data (shards > prompts, pairs longer than the context) are found
// by Prepare.
func (s RunSpec) Validate() error {
	if err := s.validate(); err != nil {
		var ie *model.InputError
		if errors.As(err, &ie) {
			return fmt.Errorf("invalid spec: %s: %s; %s", ie.Field, ie.Problem, ie.Fix)
		}
		return err
	}
	return nil
}

func (s RunSpec) validate() error {
	bad := func(field, problem, fix string) error {
		return &model.InputError{Field: field, Problem: problem, Fix: fix}
	}
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	if storage.ValidateName(s.Name) != nil {
		return bad("name", fmt.Sprintf("%q is not a valid run name", s.Name),
			"use 1-63 characters of a-z, 0-9, '.', '_', '-', starting with a letter or digit, without \"..\"")
	}
	if s.Rounds <= 0 {
		return bad("rounds", fmt.Sprintf("is %d", s.Rounds), "set rounds to 1 or more")
	}
	if err := s.LossConfig.Validate(); err != nil {
		return err
	}
	if err := s.OptimConfig.Validate(); err != nil {
		return err
	}
	if err := s.OuterConfig.Validate(); err != nil {
		return err
	}
	if err := s.Generation.Validate(); err != nil {
		return prefixed("generation.", err)
	}
	switch {
	case s.Shards <= 0:
		return bad("shards", fmt.Sprintf("is %d", s.Shards), "set shards to 1 or more")
	case (s.Data == "") == (s.Task == ""):
		return bad("data/task", "exactly one of them must be set", `set "data" to the S3 key of a JSONL file or "task" to a built-in task such as "arith"`)
	case s.Task != "" && s.N <= 0:
		return bad("n", fmt.Sprintf("is %d", s.N), "set n (train pairs generated by the task) to 1 or more")
	case s.TestData != "" && s.Data == "":
		return bad("test_data", "is set for a task", `a task draws its own held-out prompts; omit test_data, or give "data" too`)
	case s.TestData != "" && s.TestData == s.Data:
		return bad("test_data", fmt.Sprintf("is %q, the same key as data", s.TestData),
			"give a separate evaluation file (a held-out set must not be trained on), or omit test_data to hold out test_frac of data")
	case s.Holdout != "" && s.Holdout != "test" && s.Holdout != "val":
		return bad("holdout", fmt.Sprintf("unknown holdout %q", s.Holdout), `use "test" (default) or "val"`)
	case s.Holdout == "val" && s.Task == "":
		return bad("holdout", `"val" needs a built-in task`, "a dataset's held-out split is always its test split; omit holdout")
	case s.TestData == "" && (!finite(s.TestFrac) || s.TestFrac <= 0 || s.TestFrac >= 1): // unused with test_data
		return bad("test_frac", fmt.Sprintf("is %v", s.TestFrac), "use a fraction in (0, 1), e.g. 0.2")
	case s.MaxEval < 0:
		return bad("max_eval", fmt.Sprintf("is %d", s.MaxEval), "use 0 (every held-out prompt) or a positive cap")
	}
	if err := s.Scorer.Validate(); err != nil {
		return prefixed("scorer.", err)
	}
	if s.Context < 0 {
		return bad("context", fmt.Sprintf("is %d", s.Context), "use 0 (the model's context) or a number of tokens")
	}
	if s.Base == "" {
		if err := s.BaseModel.Shape.Validate("base_model."); err != nil {
			return err
		}
		if err := s.BaseModel.Tokenizer.Validate("base_model.tokenizer."); err != nil {
			return err
		}
		if err := s.baseOptim().Validate(); err != nil {
			return prefixed("base_model.", err)
		}
		if s.Context > s.BaseModel.Context {
			return bad("context", fmt.Sprintf("is %d but base_model.context is %d", s.Context, s.BaseModel.Context),
				"raise base_model.context (the positions of the model trained from scratch) or lower context")
		}
	}
	if err := s.Durability.Validate(); err != nil {
		return err
	}
	if err := s.EvalSharding.Validate(); err != nil {
		return err
	}
	switch {
	case s.ContinueAsNewEvery <= 0:
		return bad("continue_as_new_every", fmt.Sprintf("is %d", s.ContinueAsNewEvery), "set it to 1 or more rounds")
	case s.EarlyStopPatience < 0:
		return bad("early_stop_patience", fmt.Sprintf("is %d", s.EarlyStopPatience), "use 0 (off) or a number of rounds")
	case !finite(s.Timeouts.HeartbeatSeconds) || s.Timeouts.HeartbeatSeconds <= 0:
		return bad("timeouts.heartbeat_seconds", fmt.Sprintf("is %v", s.Timeouts.HeartbeatSeconds), "use a positive number of seconds (default 20)")
	case !finite(s.Timeouts.ActivityMinutes) || s.Timeouts.ActivityMinutes <= 0:
		return bad("timeouts.activity_minutes", fmt.Sprintf("is %v", s.Timeouts.ActivityMinutes), "use a positive number of minutes (default 120)")
	}
	return nil
}

// prefixed puts a spec path in front of an owner's field name ("generation.top_k").
func prefixed(prefix string, err error) error {
	var ie *model.InputError
	if errors.As(err, &ie) {
		return &model.InputError{Field: prefix + ie.Field, Problem: ie.Problem, Fix: ie.Fix}
	}
	return err
}

// ParseSpec decodes a spec file onto DefaultSpec, strictly: a field the file leaves out
// keeps its default, a field it writes is taken as written (0 included), and an unknown
// field is an error naming it, because a misspelt field silently falling back to its
// default is the worst kind of mistake here. It does not validate: call Validate.
func ParseSpec(data []byte) (RunSpec, error) {
	s := plainSpec(DefaultSpec())
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return RunSpec{}, fmt.Errorf("parse spec: %w", err)
	}
	var keys map[string]json.RawMessage
	if json.Unmarshal(data, &keys) == nil && keys["base"] != nil && keys["base_model"] != nil {
		return RunSpec{}, errors.New(`parse spec: "base" and "base_model" are both set: a run with a base checkpoint uses its shape and tokenizer, and base_model describes only a model trained from scratch; remove base_model (set "context" to bound the run's context)`)
	}
	if keys["test_data"] != nil && keys["test_frac"] != nil {
		return RunSpec{}, errors.New(`parse spec: "test_data" and "test_frac" are both set: with test_data the held-out set is that file and every pair of data is trained on; remove test_frac (or test_data, to hold out a random test_frac of data)`)
	}
	return RunSpec(s), nil
}

// legacyDefaults gives a spec recorded before specs were complete (workflow histories
// without the "complete-spec" version marker, schedules created before it) the meaning it
// had then: every zero field took its default.
func (s RunSpec) legacyDefaults() RunSpec {
	s.Method = model.Method(strings.ToLower(string(s.Method)))
	n := s.N
	fillZeros(reflect.ValueOf(&s).Elem(), reflect.ValueOf(DefaultSpec()))
	if s.Task == "" {
		s.N = n // n had a default only for tasks
	}
	return s
}

// legacySFTNorm gives a spec recorded before sft_norm existed (a history without the
// "sft-norm" version marker) the loss it had then: sft was the token mean per sequence.
// The choice is written into the spec, so a run continued as new, whose history starts
// afresh with the marker, keeps it.
func (s RunSpec) legacySFTNorm() RunSpec {
	if s.Method == model.MethodSFT && s.SFTNorm == "" {
		s.SFTNorm = model.SFTNormSequence
	}
	return s
}

// legacyOuter gives a spec written before data-parallel training (no train_workers,
// local_steps, outer_lr or outer_momentum: all zero) the default, one worker, which is how
// such runs trained. A spec that sets any of them is taken as written.
func (s RunSpec) legacyOuter() RunSpec {
	if s.OuterConfig == (model.OuterConfig{}) {
		s.OuterConfig = model.DefaultOuter()
	}
	return s
}

// fillZeros sets every zero leaf of dst to def's value, recursing into structs.
func fillZeros(dst, def reflect.Value) {
	for i := 0; i < dst.NumField(); i++ {
		if !dst.Type().Field(i).IsExported() {
			continue
		}
		f := dst.Field(i)
		if f.Kind() == reflect.Struct {
			fillZeros(f, def.Field(i))
			continue
		}
		if f.IsZero() {
			f.Set(def.Field(i))
		}
	}
}

// runContext is the context Prepare checks the pairs against: Context, or for a model
// trained from scratch base_model.context when Context is 0. For a base checkpoint, 0 is
// passed on and means the checkpoint's own.
func (s RunSpec) runContext() int {
	if s.Context == 0 && s.Base == "" {
		return s.BaseModel.Context
	}
	return s.Context
}
