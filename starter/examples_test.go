package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/space-sft/space/workflows"
)

// TestExamplesAreValid keeps the example specs in step with RunSpec.
func TestExamplesAreValid(t *testing.T) {
	files, _ := filepath.Glob("examples/*.json")
	if len(files) == 0 {
		t.Fatal("no examples")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s, err := workflows.ParseSpec(data)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if err := s.Validate(); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
