package activities

import (
	"bytes"
	"context"
	"runtime/pprof"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// goroutineLabels dumps the goroutine profile (debug=1 lists each group's pprof labels).
func goroutineLabels(t *testing.T) string {
	t.Helper()
	var b bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&b, 1); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// childLabels starts a goroutine, which inherits the caller's labels, and returns the
// goroutine profile taken while it runs.
func childLabels(t *testing.T) string {
	t.Helper()
	release, started, exited := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() { defer close(exited); close(started); <-release }() // inherits the labels set so far
	<-started
	dump := goroutineLabels(t)
	close(release)
	<-exited
	return dump
}

// A tracked activity's goroutines (those it starts, as the model's parallel loops do)
// carry the activity, run and round as pprof labels, and lose them when it ends.
func TestTrackLabelsGoroutines(t *testing.T) {
	const want = `"activity":"train"`
	for _, m := range []*Telemetry{nil, NewTelemetry(prometheus.NewRegistry())} {
		done := m.track(context.Background(), "train", "r1", 3)
		dump := childLabels(t)
		var err error
		done(&err)
		if !strings.Contains(dump, want) || !strings.Contains(dump, `"run":"r1"`) || !strings.Contains(dump, `"round":"3"`) {
			t.Fatalf("metrics %v: no goroutine labelled %s run r1 round 3 in:\n%s", m != nil, want, dump)
		}
		release2, started2 := make(chan struct{}), make(chan struct{})
		go func() { close(started2); <-release2 }()
		<-started2
		dump = goroutineLabels(t)
		close(release2)
		if strings.Contains(dump, want) {
			t.Fatalf("metrics %v: goroutines started after the activity ended still carry %s", m != nil, want)
		}
	}
}

// phase adds its label to the activity's own labels (a profile keeps both), and the
// activity's end clears it with them.
func TestPhaseKeepsActivityLabels(t *testing.T) {
	done := (*Telemetry)(nil).track(context.Background(), "generate", "r2", 1)
	phase(context.Background(), "generate", "r2", 1, "score")
	dump := childLabels(t)
	var err error
	done(&err)
	for _, want := range []string{`"activity":"generate"`, `"phase":"score"`, `"run":"r2"`, `"round":"1"`} {
		if !strings.Contains(dump, want) {
			t.Fatalf("no goroutine labelled %s in:\n%s", want, dump)
		}
	}
	if dump := goroutineLabels(t); strings.Contains(dump, `"phase":"score"`) {
		t.Fatalf("goroutines after the activity ended still carry phase score")
	}
}
