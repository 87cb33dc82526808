package storage

import (
	"fmt"
	"path"
	"regexp"
	"strings"
	"unicode"
)

// Key layout. Rounds and shards are zero-padded to 3 digits, steps to 7,
// so keys sort in order (up to round 999 and step 9,999,999; beyond, the key just grows).
//
//	runs/{run}/spec.json
//	runs/{run}/inputs/{name}                 train.jsonl, test.jsonl, manifest.json
//	runs/{run}/base/model.safetensors
//	runs/{run}/rounds/{r:03d}/synthetic/shard-{k:03d}.json
//	runs/{run}/rounds/{r:03d}/train/step-{s:07d}.safetensors
//	runs/{run}/rounds/{r:03d}/train/log.jsonl    one JSON line per training step (round 0: the base's)
//	runs/{run}/rounds/{r:03d}/outer/{t:04d}/...   data-parallel training (OuterStepPrefix)
//	runs/{run}/rounds/{r:03d}/model.safetensors
//	runs/{run}/rounds/{r:03d}/metrics.json
//	runs/{run}/rounds/{r:03d}/manifest.json  written last; lists keys + sha256
//	runs/{run}/report/{name}                 report.md, report.html, *.png
//	schedules/{schedule}/spec.json
//
// The functions below do not validate their arguments (they stay usable in expressions):
// validate a user-supplied name once with ValidateName where it enters the system. Store
// methods check every key with ValidateKey anyway, so an invalid name cannot escape.

// RunPrefix is the prefix of every object of a run: "runs/{run}/".
func RunPrefix(run string) string { return "runs/" + run + "/" }

// SpecKey: the run's specification (written by the starter).
func SpecKey(run string) string { return RunPrefix(run) + "spec.json" }

// InputsPrefix: "runs/{run}/inputs/".
func InputsPrefix(run string) string { return RunPrefix(run) + "inputs/" }

// InputKey: an input file of the run, e.g. InputKey(run, "train.jsonl").
func InputKey(run, name string) string { return InputsPrefix(run) + name }

// InputsManifestKey: the manifest listing the run's inputs.
func InputsManifestKey(run string) string { return InputKey(run, "manifest.json") }

// BaseModelKey: the model the run starts from (round 0's opponent).
func BaseModelKey(run string) string { return RunPrefix(run) + "base/model.safetensors" }

// RoundPrefix: "runs/{run}/rounds/{r:03d}/".
func RoundPrefix(run string, round int) string {
	return fmt.Sprintf("%srounds/%03d/", RunPrefix(run), round)
}

// ShardKey: synthetic responses of shard k of round r.
func ShardKey(run string, round, shard int) string {
	return fmt.Sprintf("%ssynthetic/shard-%03d.json", RoundPrefix(run, round), shard)
}

// EvalPartKey: the model's outputs on evaluation shard k of round r's held-out prompts.
func EvalPartKey(run string, round, shard int) string {
	return fmt.Sprintf("%seval/part-%03d.json", RoundPrefix(run, round), shard)
}

// TrainPrefix: "runs/{run}/rounds/{r:03d}/train/" (trainer checkpoints).
func TrainPrefix(run string, round int) string { return RoundPrefix(run, round) + "train/" }

// TrainCkptKey: trainer checkpoint (weights, optimizer moments, step, RNG) after step s.
func TrainCkptKey(run string, round, step int) string {
	return fmt.Sprintf("%sstep-%07d.safetensors", TrainPrefix(run, round), step)
}

// TrainManifestKey: "runs/{run}/rounds/{r:03d}/train/manifest.json", the trainer checkpoints
// of the round, rewritten after each one is saved; a resume reads only what it lists.
func TrainManifestKey(run string, round int) string { return TrainPrefix(run, round) + "manifest.json" }

// TrainLogKey: "runs/{run}/rounds/{r:03d}/train/log.jsonl", the round's training history,
// one JSON line per optimizer step (model.StepInfo), written with the round's model.
func TrainLogKey(run string, round int) string { return TrainPrefix(run, round) + "log.jsonl" }

// OuterStepPrefix: "runs/{run}/rounds/{r:03d}/outer/{t:04d}/", the objects of outer step t
// of a round trained over several workers (DiLoCo):
//
//	worker-{k:03d}.safetensors            worker k's trainer after its inner steps of step t
//	worker-{k:03d}.model.safetensors      its weights alone (what the combination reads)
//	worker-{k:03d}.log.jsonl              its training history, once its shard is done
//	worker-{k:03d}/step-{s:07d}.safetensors, worker-{k:03d}/manifest.json
//	                                      its checkpoints within step t (a retry resumes)
//	global.safetensors, momentum.safetensors   the weights and outer optimizer state after step t
//
// Each key's content is a function of the run's inputs alone, so a retried or late attempt
// writes the same bytes that an earlier one did.
func OuterStepPrefix(run string, round, step int) string {
	return fmt.Sprintf("%souter/%04d/", RoundPrefix(run, round), step)
}

// OuterWorkerKey: worker k's trainer (weights, inner optimizer state) after outer step t.
func OuterWorkerKey(run string, round, step, worker int) string {
	return fmt.Sprintf("%sworker-%03d.safetensors", OuterStepPrefix(run, round, step), worker)
}

// OuterWorkerModelKey: worker k's weights after outer step t (the model of its trainer).
func OuterWorkerModelKey(run string, round, step, worker int) string {
	return fmt.Sprintf("%sworker-%03d.model.safetensors", OuterStepPrefix(run, round, step), worker)
}

// OuterWorkerLogKey: worker k's training history (one model.StepInfo per line) after outer
// step t, written once its shard's steps are all done.
func OuterWorkerLogKey(run string, round, step, worker int) string {
	return fmt.Sprintf("%sworker-%03d.log.jsonl", OuterStepPrefix(run, round, step), worker)
}

// OuterWorkerCkptKey: worker k's trainer checkpoint after inner step s, within outer step t.
func OuterWorkerCkptKey(run string, round, step, worker, inner int) string {
	return fmt.Sprintf("%sworker-%03d/step-%07d.safetensors", OuterStepPrefix(run, round, step), worker, inner)
}

// OuterWorkerManifestKey: the checkpoints of worker k within outer step t.
func OuterWorkerManifestKey(run string, round, step, worker int) string {
	return fmt.Sprintf("%sworker-%03d/manifest.json", OuterStepPrefix(run, round, step), worker)
}

// OuterGlobalKey: the global weights after outer step t (the start of step t+1).
func OuterGlobalKey(run string, round, step int) string {
	return OuterStepPrefix(run, round, step) + "global.safetensors"
}

// OuterMomentumKey: the outer optimizer's state after outer step t.
func OuterMomentumKey(run string, round, step int) string {
	return OuterStepPrefix(run, round, step) + "momentum.safetensors"
}

// RoundModelKey: the final model of round r, the opponent of round r+1.
func RoundModelKey(run string, round int) string {
	return RoundPrefix(run, round) + "model.safetensors"
}

// MetricsKey: metrics of round r.
func MetricsKey(run string, round int) string { return RoundPrefix(run, round) + "metrics.json" }

// RoundManifestKey: the manifest of round r, written last.
func RoundManifestKey(run string, round int) string { return RoundPrefix(run, round) + "manifest.json" }

// ReportPrefix: "runs/{run}/report/".
func ReportPrefix(run string) string { return RunPrefix(run) + "report/" }

// ReportKey: a report file, e.g. ReportKey(run, "report.md").
func ReportKey(run, name string) string { return ReportPrefix(run) + name }

// SchedulePrefix: "schedules/{schedule}/".
func SchedulePrefix(schedule string) string { return "schedules/" + schedule + "/" }

// ScheduleKey: the specification of a schedule.
func ScheduleKey(schedule string) string { return SchedulePrefix(schedule) + "spec.json" }

// NameRule is the rule run, schedule, input and report names follow.
const NameRule = "must match [a-z0-9][a-z0-9._-]{0,62}: 1 to 63 characters, lowercase letters, digits, '.', '_' or '-', " +
	"starting with a letter or digit, and no \"..\""

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// ValidateName checks a run, schedule, input or report name against NameRule, so that it is
// one path segment that cannot escape its prefix. The error (a *KeyError) names the value and
// the rule.
func ValidateName(name string) error {
	if !nameRE.MatchString(name) || strings.Contains(name, "..") {
		return &KeyError{What: "name", Value: name, Rule: NameRule}
	}
	return nil
}

// ValidateKey checks an object key: not empty, at most 1024 bytes, no leading '/', no empty,
// "." or ".." segments, no backslash and no control characters. Every Store method applies it.
func ValidateKey(key string) error {
	if err := validateKeyChars("key", key); err != nil {
		return err
	}
	if strings.HasSuffix(key, "/") {
		return &KeyError{What: "key", Value: key, Rule: "must not end with '/'"}
	}
	return nil
}

func validateKeyChars(what, key string) error {
	bad := func(rule string) error { return &KeyError{What: what, Value: key, Rule: rule} }
	switch {
	case key == "":
		return bad("must not be empty")
	case len(key) > 1024:
		return bad("must be at most 1024 bytes")
	case strings.HasPrefix(key, "/"):
		return bad("must not start with '/'")
	case strings.ContainsRune(key, '\\'):
		return bad("must not contain '\\'")
	case strings.IndexFunc(key, unicode.IsControl) >= 0:
		return bad("must not contain control characters")
	}
	segs := strings.Split(key, "/")
	for i, seg := range segs {
		last := i == len(segs)-1
		if (seg == "" && !last) || seg == "." || seg == ".." {
			return bad("must not contain empty, \".\" or \"..\" path segments")
		}
	}
	if path.Clean(key) != strings.TrimSuffix(key, "/") {
		return bad("must be a clean path")
	}
	return nil
}
