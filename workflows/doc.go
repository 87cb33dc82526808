// Package workflows holds the durable orchestration of a SPACE self-play fine-tuning run.
//
// SelfPlay is one run: Prepare imports the real pairs, Base trains (or verifies) the base
// model, which is round 0 and the first opponent; then every round r samples synthetic
// responses from the opponent in Shards parallel Generate activities, trains the next model
// from the opponent (Train, or with train_workers K > 1 outer steps of K TrainWorker
// activities and a CombineOuter: data-parallel, DiLoCo), scores it (Evaluate; a held-out set
// larger than eval_shard_size is first split over parallel EvaluateShard activities, whose
// parts Evaluate joins into the same metrics) and commits it (CommitRound writes the
// round manifest last, so a manifest means a complete round). The round's model is the next
// opponent. Report renders the summary.
//
// The workflow is orchestration only: deterministic, no I/O, no math; everything heavy is an
// activity that reads and writes S3, and the history holds keys, sha256s and small metric
// maps. Long activities heartbeat and resume from trainer checkpoints in S3 after a worker
// dies. The run continues as new every ContinueAsNewEvery rounds, carrying its state.
//
// Operators talk to a run by workflow ID ("space-run-"+name): the "progress" query, and the
// "pause", "resume" and "stop" signals (pause between activities, stop after the current
// round, both survive Continue-As-New). A run also pauses itself on a fault that only a
// person can fix: an activity that failed with StorageFull (S3 stayed full for
// storage.Config.FullWait) leaves the run paused with the fault and what to do in its
// progress (Progress.Fault, shown by `space status` and `space watch`), and `space resume`
// runs that activity again (faults.go; version "fault-pause").
//
// The run's input is a RunSpec (spec.go): the run's own fields plus the settings of the
// packages that own them, embedded (model.LossConfig, model.OptimConfig, model.SampleConfig,
// model.Shape, activities.Durability, activities.EvalSharding). DefaultSpec gathers their defaults; Validate, their
// checks, runs in `space run` and again at workflow start, before any activity.
//
// It knows the activities it schedules (by their payload types) and storage.Ref; it must not
// do I/O or math, nor know the CLI or the compare wing (compare/), which starts SelfPlay as
// children like any client.
package workflows
