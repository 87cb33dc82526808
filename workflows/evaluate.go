package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/space-sft/space/activities"
	"github.com/space-sft/space/storage"
)

// versionEvalShards marks histories in which a held-out set larger than eval_shard_size is
// evaluated by EvaluateShard activities before Evaluate. Histories without it ran one
// Evaluate whatever the size, and replay that way.
const versionEvalShards = "eval-shards"

// evaluate scores a round's model. A held-out set of more than eval_shard_size prompts
// (activities.EvalSharding) is first split into shards run as parallel EvaluateShard
// activities on the generate queue, so that several workers share it; Evaluate then joins
// their parts, adds the rewards, and gives the metrics an unsplit evaluation gives.
func (r *runner) evaluate(ctx workflow.Context, in activities.EvaluateInput) (activities.EvaluateOutput, error) {
	var a *activities.Activities
	s := r.spec
	actx := s.Timeouts.LongActivities(ctx, s.TaskQueues.Generate)
	n := r.c.Prepared.NTest
	if s.MaxEval > 0 {
		n = min(n, s.MaxEval)
	}
	if k := s.EvalSharding.Shards(n); k > 1 && workflow.GetVersion(ctx, versionEvalShards, workflow.DefaultVersion, 1) == 1 {
		futures := make([]workflow.Future, k)
		for i := range futures {
			futures[i] = r.execute(ctx, actx, a.EvaluateShard, activities.EvaluateShardInput{
				EvaluateInput: in, Shard: i, ShardSize: s.EvalShardSize,
			})
		}
		in.Parts = make([]storage.Ref, k)
		err := WaitAll(ctx, futures, func(i int) string { return fmt.Sprintf("round %d evaluate shard %d", in.Round, i) },
			func(i int, out activities.EvaluateShardOutput) error { in.Parts[i] = out.Part; return nil })
		if err != nil {
			return activities.EvaluateOutput{}, err
		}
	}
	var ev activities.EvaluateOutput
	if err := r.execute(ctx, actx, a.Evaluate, in).Get(ctx, &ev); err != nil {
		return activities.EvaluateOutput{}, StepError(fmt.Sprintf("round %d evaluate", in.Round), err)
	}
	return ev, nil
}
