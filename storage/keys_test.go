package storage

import (
	"errors"
	"strings"
	"testing"
)

func TestKeyLayout(t *testing.T) {
	const run = "r1"
	for _, c := range []struct{ got, want string }{
		{SpecKey(run), "runs/r1/spec.json"},
		{InputKey(run, "train.jsonl"), "runs/r1/inputs/train.jsonl"},
		{InputsManifestKey(run), "runs/r1/inputs/manifest.json"},
		{BaseModelKey(run), "runs/r1/base/model.safetensors"},
		{ShardKey(run, 2, 7), "runs/r1/rounds/002/synthetic/shard-007.json"},
		{TrainCkptKey(run, 1, 42), "runs/r1/rounds/001/train/step-0000042.safetensors"},
		{TrainLogKey(run, 1), "runs/r1/rounds/001/train/log.jsonl"},
		{RoundModelKey(run, 0), "runs/r1/rounds/000/model.safetensors"},
		{MetricsKey(run, 3), "runs/r1/rounds/003/metrics.json"},
		{RoundManifestKey(run, 3), "runs/r1/rounds/003/manifest.json"},
		{ReportKey(run, "report.md"), "runs/r1/report/report.md"},
		{ScheduleKey("nightly"), "schedules/nightly/spec.json"},
		{RoundPrefix(run, 12), "runs/r1/rounds/012/"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
		if err := ValidateKey(c.got); err != nil && !strings.HasSuffix(c.want, "/") {
			t.Errorf("layout key %q fails ValidateKey: %v", c.got, err)
		}
	}
}

func TestValidateName(t *testing.T) {
	good := []string{"a", "r1", "my-run.v2_x", "0", strings.Repeat("a", 63)}
	bad := []string{"", "A", "Run", "-x", ".x", "_x", "a/b", "a..b", "..", "a b", "é", "x\n",
		strings.Repeat("a", 64), "../etc", "a\\b"}
	for _, n := range good {
		if err := ValidateName(n); err != nil {
			t.Errorf("ValidateName(%q) = %v, want nil", n, err)
		}
	}
	for _, n := range bad {
		err := ValidateName(n)
		if err == nil {
			t.Errorf("ValidateName(%q) = nil, want error", n)
			continue
		}
		var ke *KeyError
		if !errors.As(err, &ke) || !IsPermanent(err) {
			t.Errorf("ValidateName(%q): want a permanent *KeyError, got %T", n, err)
		}
		if !strings.Contains(err.Error(), "[a-z0-9][a-z0-9._-]{0,62}") {
			t.Errorf("error %q does not state the rule", err)
		}
	}
}

func TestValidateKey(t *testing.T) {
	for _, k := range []string{"runs/r1/spec.json", "a", "x/y.z"} {
		if err := ValidateKey(k); err != nil {
			t.Errorf("ValidateKey(%q) = %v", k, err)
		}
	}
	for _, k := range []string{"", "/abs", "runs/../x", "runs/./x", "runs//x", "..", "a/..", "dir/",
		"a\\b", "a\x00b", strings.Repeat("k", 1025), SpecKey("../../etc")} {
		if err := ValidateKey(k); err == nil {
			t.Errorf("ValidateKey(%q) = nil, want error", k)
		}
	}
}
