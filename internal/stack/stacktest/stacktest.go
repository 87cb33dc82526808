// Package stacktest starts a local stack (internal/stack) for a test, on free ports in a
// temporary folder, and stops it when the test ends.
//
// With -short it skips the test. Otherwise a missing bin/temporal or bin/versitygw fails the
// test with a message saying to run `make tools`: integration tests never skip silently.
package stacktest

import (
	"context"
	"testing"
	"time"

	"github.com/space-sft/space/internal/stack"
)

// Start starts a stack for t (see package doc). opts.Dir defaults to t.TempDir(); ports
// default to free ones; the web UI is off unless opts.UIPort is set.
func Start(t testing.TB, opts stack.Options) *stack.Stack {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs the local stack (run without -short)")
	}
	for _, name := range []string{"versitygw", "temporal"} {
		if name == "temporal" && opts.SkipTemporal {
			continue
		}
		if opts.BinDir == "" {
			if _, err := stack.FindBin(name); err != nil {
				t.Fatalf("integration test needs bin/%s: %v", name, err)
			}
		}
	}
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.UIPort == 0 {
		opts.Headless = true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := stack.Start(ctx, opts)
	if err != nil {
		t.Fatalf("start local stack: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stop local stack: %v", err)
		}
	})
	return s
}

// StartS3 starts only the S3 gateway.
func StartS3(t testing.TB) *stack.Stack {
	t.Helper()
	return Start(t, stack.Options{SkipTemporal: true})
}
