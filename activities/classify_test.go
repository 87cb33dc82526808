package activities

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/space-sft/space/dataset"
	"github.com/space-sft/space/model"
	"github.com/space-sft/space/storage"
)

func TestClassify(t *testing.T) {
	cases := []struct {
		err      error
		typ      string // "" = left retryable
		contains string
	}{
		{fmt.Errorf("train round 2: %w", &model.NonFiniteError{Step: 7, Term: "loss"}), ErrNonFinite, "non-finite loss at step 7"},
		{&model.InputError{Field: "sequence", Problem: "too long", Fix: "shorten"}, ErrInvalidInput, "too long"},
		{&dataset.Error{Name: "d.jsonl", Line: 3, Problem: "bad", Fix: "fix"}, ErrInvalidInput, "3"},
		{fmt.Errorf("load: %w", &storage.IntegrityError{Key: "k", Want: "a", Got: "b"}), ErrIntegrity, "k"},
		{fmt.Errorf("load: %w", &storage.IntegrityError{Key: "k", Want: "a", Got: "b", Source: "metadata", InTransit: true}), "", "in transit"},
		{&storage.NotFoundError{Key: "runs/x/base/model.safetensors"}, ErrInvalidInput, "not found"},
		{fmt.Errorf("save: %w", &storage.FullError{Op: "put", Key: "k", Bucket: "b", Endpoint: "http://127.0.0.1:1"}), ErrStorageFull, `S3 storage full at endpoint http://127.0.0.1:1, bucket "b"`},
		{errors.New("connection reset"), "", "reset"},
	}
	for _, c := range cases {
		err := Classify(c.err)
		var app *temporal.ApplicationError
		isApp := errors.As(err, &app)
		switch {
		case c.typ == "" && isApp:
			t.Errorf("%v: marked %s, want retryable as is", c.err, app.Type())
		case c.typ != "" && (!isApp || app.Type() != c.typ || !app.NonRetryable()):
			t.Errorf("%v: got %v, want non-retryable %s", c.err, err, c.typ)
		}
		if err == nil || !strings.Contains(err.Error(), c.contains) {
			t.Errorf("%v: message %q lacks %q", c.err, err, c.contains)
		}
	}
}

func TestSampleSeedsDiffer(t *testing.T) {
	seen := map[uint64]bool{}
	for r := 0; r < 3; r++ {
		for i := 0; i < 50; i++ {
			for j := 0; j < 3; j++ {
				s := sampleSeed(1, r, i, j)
				if seen[s] {
					t.Fatalf("seed collision at round %d prompt %d sample %d", r, i, j)
				}
				seen[s] = true
			}
		}
	}
}
