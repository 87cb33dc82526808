package main

import (
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/space-sft/space/workflows"
)

// Flags edit a complete spec (DefaultSpec): an explicit 0 is taken as written and judged by
// the spec's one check, which names the field; 0 where it means something (temperature:
// greedy) is accepted.
func TestSpecFlagsZero(t *testing.T) {
	parse := func(args ...string) (workflows.RunSpec, error) {
		fs := flag.NewFlagSet("run", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var edits []func(*workflows.RunSpec) error
		specFlags(fs, &edits)
		s := workflows.DefaultSpec()
		s.Name, s.Rounds, s.Task = "a", 1, "arith"
		if err := fs.Parse(args); err != nil {
			return s, err
		}
		for _, e := range edits {
			if err := e(&s); err != nil {
				return s, err
			}
		}
		return s, s.Validate()
	}
	for _, args := range [][]string{{"--mu", "0"}, {"--batch-size", "0"}, {"--lr", "0"}, {"--rounds", "0"}, {"--mu", "2000"}, {"--train-workers", "0"}, {"--local-steps", "0"}, {"--outer-lr", "0"}} {
		field := strings.ReplaceAll(strings.TrimPrefix(args[0], "--"), "-", "_")
		if _, err := parse(args...); err == nil || !strings.Contains(err.Error(), field+": is "+args[1]) {
			t.Errorf("%v: want an error naming %s, got %v", args, field, err)
		}
	}
	if s, err := parse("--temperature", "0"); err != nil || s.Generation.Temperature != 0 {
		t.Errorf("--temperature 0 (greedy): %v", err)
	}
	s, err := parse("--mu", "3", "--early-stop-patience", "0", "--lr", "0.001", "--method", "SPIN")
	if err != nil || s.Mu != 3 || s.LR != 0.001 || s.Method != "spin" {
		t.Fatalf("valid flags: %+v %v", s, err)
	}
	s, err = parse("--train-workers", "2", "--local-steps", "4", "--outer-lr", "0.5", "--outer-momentum", "0")
	if err != nil || s.TrainWorkers != 2 || s.LocalSteps != 4 || s.OuterLR != 0.5 || s.OuterMomentum != 0 {
		t.Fatalf("data-parallel flags: %+v %v", s.OuterConfig, err)
	}
	if s.BiasCorrection {
		t.Fatal("bias correction on by default")
	}
	s, err = parse("--bias-correction")
	if err != nil || !s.BiasCorrection || s.Optimizer != "rmsprop" {
		t.Fatalf("--bias-correction: %+v %v", s.OptimConfig, err)
	}
	s, err = parse("--name", "x", "--allow-duplicates=true", "--bias-correction=false")
	if err != nil || s.Name != "x" || !s.AllowDuplicates || s.BiasCorrection {
		t.Fatalf("string and boolean flags: %q %v %v %v", s.Name, s.AllowDuplicates, s.BiasCorrection, err)
	}
	// a value that does not parse is the flag's error, for every kind of field
	for _, args := range [][]string{{"--mu", "three"}, {"--lr", "fast"}, {"--bias-correction=maybe"}} {
		if _, err := parse(args...); err == nil || !strings.Contains(err.Error(), "invalid") {
			t.Errorf("%v: %v", args, err)
		}
	}
}
