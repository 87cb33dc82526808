package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The command converts the committed excerpts into exactly the committed sample, and
// refuses incomplete flags with the fix.
func TestConvertExcerpt(t *testing.T) {
	out := t.TempDir()
	raw := filepath.Join("..", "..", "dataset", "dict", "testdata")
	if err := run(filepath.Join(raw, "wordnet"), filepath.Join(raw, "gcide", "gcide"), out, 0, "", "", ""); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"wordnet.jsonl", "gcide.jsonl"} {
		got, err := os.ReadFile(filepath.Join(out, f))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join("..", "..", "tasks", "testdata", "wordnet", f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the committed sample (regenerate it with `make wordnet-sample`)", f)
		}
	}
	if err := run(raw, raw, "", 0, "", "", ""); err == nil || !strings.Contains(err.Error(), "-out is required") {
		t.Errorf("no -out: %v", err)
	}
	if err := run(raw, raw, out, 200, "", "", ""); err == nil || !strings.Contains(err.Error(), "-raw DIR go together") {
		t.Errorf("-sample without -raw: %v", err)
	}
	if err := run(t.TempDir(), raw, out, 0, "", "", ""); err == nil || !strings.Contains(err.Error(), "apt-get install wordnet-base") {
		t.Errorf("no WordNet: %v", err)
	}
}
