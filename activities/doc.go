// Package activities holds the durable steps of a SPACE run, the Temporal activities that
// SelfPlay schedules: Prepare (import the real pairs), TrainBase (round 0), Generate (a
// shard of synthetic responses), Train (a round), TrainWorker and CombineOuter (a round
// trained over several workers, DiLoCo: train_outer.go), Evaluate (with EvaluateShard for a
// shard of a large held-out set: EvalSharding), CommitRound (the round's
// manifest, written last), Report, and the schedule's ResolveSchedule and RecordBest.
//
// Each activity is thin: it loads its inputs from S3 (storage), calls model/ (training,
// sampling, log-probs) and eval/ (the metrics' math) or report/ (rendering), saves what it
// made, and heartbeats its progress (Heartbeat) while it works. Errors a retry cannot fix
// (bad input, a NaN loss, an integrity failure) leave as non-retryable application errors
// (Classify); everything else is retried by Temporal, and Train resumes from its last trainer
// checkpoint. Payloads (types.go) are small: S3 references (storage.Ref), never data.
//
// Settings arrive as their owners' types (model.LossConfig, model.OptimConfig,
// model.SampleConfig, model.Shape, Durability, EvalSharding). The run spec's Validate checked them before
// the workflow scheduled anything; the activities add no rules of their own (model/ keeps
// its guards, and the checks that need the data, such as shards against prompts, are
// Prepare's).
//
// It knows model/, eval/, report/, storage/, dataset/ and tasks/; it must not know the
// workflows that call it, the CLI, or the compare wing (which reuses Track, Put, PutJSON
// and TrainFresh).
package activities
