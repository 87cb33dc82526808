package activities

import (
	"context"
	"runtime/pprof"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Telemetry is the worker's Prometheus series. A nil *Telemetry is valid and records nothing,
// so tests and library users need no registry.
type Telemetry struct {
	TokensPerSec *prometheus.GaugeVec   // by activity: training or sampling throughput
	Loss         *prometheus.GaugeVec   // by run: last training loss
	Round        *prometheus.GaugeVec   // by run: round in progress
	Running      *prometheus.GaugeVec   // by activity: 1 while running (the phase)
	Activities   *prometheus.CounterVec // by activity and outcome (ok|error)
	Seconds      *prometheus.HistogramVec
	S3Seconds    *prometheus.HistogramVec // by op (get|put): time of each S3 transfer, hashing included
	S3Bytes      *prometheus.CounterVec   // by op: bytes moved
}

// NewTelemetry creates the series and registers them with reg.
func NewTelemetry(reg prometheus.Registerer) *Telemetry {
	m := &Telemetry{
		TokensPerSec: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "space_tokens_per_second", Help: "Tokens processed per second by the last step."}, []string{"activity"}),
		Loss:         prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "space_train_loss", Help: "Loss of the last training step."}, []string{"run"}),
		Round:        prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "space_round", Help: "Round in progress (0 = base)."}, []string{"run"}),
		Running:      prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "space_activity_running", Help: "Activities running now, by type (the worker's phase)."}, []string{"activity"}),
		Activities:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "space_activities_total", Help: "Finished activities by type and outcome."}, []string{"activity", "outcome"}),
		Seconds:      prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "space_activity_seconds", Help: "Activity duration.", Buckets: prometheus.ExponentialBuckets(0.1, 4, 10)}, []string{"activity"}),
		S3Seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "space_s3_seconds", Help: "Time of each S3 get or put, hashing included.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}, []string{"op"}),
		S3Bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "space_s3_bytes_total", Help: "Bytes read from (get) and written to (put) S3."}, []string{"op"}),
	}
	reg.MustRegister(m.TokensPerSec, m.Loss, m.Round, m.Running, m.Activities, m.Seconds, m.S3Seconds, m.S3Bytes)
	return m
}

// S3 records one S3 transfer (storage.Store.SetObserver).
func (m *Telemetry) S3(op string, bytes int64, d time.Duration) {
	if m == nil {
		return
	}
	m.S3Seconds.WithLabelValues(op).Observe(d.Seconds())
	m.S3Bytes.WithLabelValues(op).Add(float64(bytes))
}

// track marks an activity as running and returns the function that records its end. It
// also labels the activity's goroutine, and so every goroutine the model starts for it, with
// pprof labels activity, run and round: a CPU profile of the worker (--pprof) splits by them
// (go tool pprof -tagfocus activity=train ...). Valid on a nil *Telemetry (labels only).
func (m *Telemetry) track(ctx context.Context, activity, run string, round int) func(err *error) {
	pprof.SetGoroutineLabels(pprof.WithLabels(ctx, pprof.Labels("activity", activity, "run", run, "round", strconv.Itoa(round))))
	unlabel := func() { pprof.SetGoroutineLabels(ctx) }
	if m == nil {
		return func(*error) { unlabel() }
	}
	start := time.Now()
	m.Running.WithLabelValues(activity).Inc()
	if run != "" {
		m.Round.WithLabelValues(run).Set(float64(round))
	}
	return func(err *error) {
		unlabel()
		m.Running.WithLabelValues(activity).Dec()
		outcome := "ok"
		if *err != nil {
			outcome = "error"
		}
		m.Activities.WithLabelValues(activity, outcome).Inc()
		m.Seconds.WithLabelValues(activity).Observe(time.Since(start).Seconds())
	}
}

// phase relabels the calling goroutine (and the goroutines the model starts from it) with
// the activity's labels plus phase, so that a profile splits one activity's steps
// (Generate's "sample" and "score": go tool pprof -tagfocus phase=score ...).
func phase(ctx context.Context, activity, run string, round int, name string) {
	pprof.SetGoroutineLabels(pprof.WithLabels(ctx, pprof.Labels("activity", activity, "run", run, "round", strconv.Itoa(round), "phase", name)))
}

func (m *Telemetry) step(activity, run string, loss, tokS float64) {
	if m == nil {
		return
	}
	m.TokensPerSec.WithLabelValues(activity).Set(tokS)
	if run != "" && activity != "generate" {
		m.Loss.WithLabelValues(run).Set(loss)
	}
}
