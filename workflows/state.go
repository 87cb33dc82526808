package workflows

import (
	"github.com/space-sft/space/activities"
	"github.com/space-sft/space/storage"
)

// RoundResult is what a committed round leaves behind (round 0 is the base model).
type RoundResult = activities.RoundResult

// Run statuses.
const (
	StatusCompleted    = "completed"     // every round ran
	StatusStopped      = "stopped"       // the "stop" signal ended the run after a round
	StatusEarlyStopped = "early_stopped" // early_stop_patience rounds without improvement
)

// Phases reported by the "progress" query.
const (
	PhasePrepare  = "prepare"
	PhaseBase     = "base"
	PhaseGenerate = "generate"
	PhaseTrain    = "train"
	PhaseEvaluate = "evaluate"
	PhaseReport   = "report"
	PhasePaused   = "paused"
	PhaseDone     = "done"
	PhaseStopped  = "stopped"
)

// Query, signal and workflow names used by the CLI.
const (
	QueryProgress = "progress"
	SignalPause   = "pause"
	SignalResume  = "resume"
	SignalStop    = "stop"
)

// RunResult is the workflow's result: every committed round, the best one and the report.
type RunResult struct {
	Run       string        `json:"run"`
	Status    string        `json:"status"`
	Rounds    []RoundResult `json:"rounds"`
	BestRound int           `json:"best_round"`
	ReportKey string        `json:"report_key"`
}

// RoundMetrics is each round's metric map, in order.
func RoundMetrics(rounds []RoundResult) []map[string]float64 {
	ms := make([]map[string]float64, len(rounds))
	for i, r := range rounds {
		ms[i] = r.Metrics
	}
	return ms
}

// Best returns the best round's result (the base when no round beat it).
func (r RunResult) Best() (RoundResult, bool) {
	for _, rr := range r.Rounds {
		if rr.Round == r.BestRound {
			return rr, true
		}
	}
	return RoundResult{}, false
}

// versionCompleteSpec marks histories whose SelfPlay input is a complete spec (DefaultSpec).
const versionCompleteSpec = "complete-spec"

// versionSFTNorm marks histories recorded since sft became maximum likelihood
// (model.SFTNorm): an sft spec without sft_norm means "token" in them, "sequence" before.
const versionSFTNorm = "sft-norm"

// versionDiLoCo marks histories whose rounds may train over several workers (RunSpec's
// train_workers > 1: TrainWorker and CombineOuter activities instead of one Train). It is
// asked only for such rounds, so histories of one-worker rounds are unchanged.
const versionDiLoCo = "diloco"

// Carry is the state one workflow run hands to the next through Continue-As-New (the
// workflow's second argument, never part of the spec a user writes): the
// inputs, the committed rounds (whose last model is the next opponent), the best round,
// and the signals received so far, so that a pause or stop is not lost at the boundary.
type Carry struct {
	Prepared  activities.PrepareOutput `json:"prepared"`
	Base      storage.Ref              `json:"base"`
	Opponent  storage.Ref              `json:"opponent"`
	Rounds    []RoundResult            `json:"rounds"`
	BestRound int                      `json:"best_round"`
	Paused    bool                     `json:"paused,omitempty"`
	Stop      bool                     `json:"stop,omitempty"`
}

// nextRound is the round the run goes on with: the one after the last committed round.
func (c *Carry) nextRound() int {
	if len(c.Rounds) == 0 {
		return 0
	}
	return c.Rounds[len(c.Rounds)-1].Round + 1
}

// Progress is the answer to the "progress" query. Step and TotalSteps are known to the
// workflow only between activities; `space watch` fills them live from the heartbeat
// details of the pending activity (DescribeWorkflowExecution).
type Progress struct {
	Run        string `json:"run"`
	Round      int    `json:"round"`
	Rounds     int    `json:"rounds"`
	Phase      string `json:"phase"`
	Step       int    `json:"step"`
	TotalSteps int    `json:"total_steps"`
	// OuterStep of OuterSteps: outer steps done in a round trained over several workers
	// (train_workers > 1); both 0 otherwise.
	OuterStep   int                `json:"outer_step,omitempty"`
	OuterSteps  int                `json:"outer_steps,omitempty"`
	LastMetrics map[string]float64 `json:"last_metrics,omitempty"`
	Results     []RoundResult      `json:"results"`
	BestRound   int                `json:"best_round"`
	Paused      bool               `json:"paused"`
	Stopping    bool               `json:"stopping"`
	// Fault: why the run paused itself (S3 storage full) and what to do; empty otherwise.
	Fault string `json:"fault,omitempty"`
}
