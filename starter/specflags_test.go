package main

import (
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/space-sft/space/workflows"
)

// An explicit 0 for a field whose zero only means "the default" is refused by the flag,
// while fields whose 0 means something (early stop off) take it.
func TestSpecFlagsRejectMeaninglessZero(t *testing.T) {
	parse := func(args ...string) (workflows.RunSpec, error) {
		fs := flag.NewFlagSet("run", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var edits []func(*workflows.RunSpec) error
		specFlags(fs, &edits)
		var s workflows.RunSpec
		if err := fs.Parse(args); err != nil {
			return s, err
		}
		for _, e := range edits {
			if err := e(&s); err != nil {
				return s, err
			}
		}
		return s, nil
	}
	for _, args := range [][]string{{"--mu", "0"}, {"--batch-size", "0"}, {"--lr", "0"}, {"--rounds", "0"}} {
		if _, err := parse(args...); err == nil || !strings.Contains(err.Error(), "must not be 0") || !strings.Contains(err.Error(), strings.TrimPrefix(args[0], "--")) {
			t.Errorf("%v: want an error naming the flag, got %v", args, err)
		}
	}
	if _, err := parse("--temperature", "0"); err == nil || !strings.Contains(err.Error(), "not greedy decoding") {
		t.Errorf("--temperature 0: want an error saying 0 is not greedy here, got %v", err)
	}
	s, err := parse("--mu", "3", "--early-stop-patience", "0", "--lr", "0.001")
	if err != nil || s.Mu != 3 || s.LR != 0.001 {
		t.Fatalf("valid flags: %+v %v", s, err)
	}
}
