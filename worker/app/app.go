// Package app sets up and runs a space worker: the Temporal client, the S3 store, the
// activities and workflows, the Prometheus endpoint. The worker command is a thin main over
// it, and tests and the demo start the same worker in-process. /metrics serves the worker's
// space_* series, the Temporal SDK's temporal_* (internal/sdkmetrics) and Go's. It registers
// the run's workflows and activities and the compare wing's; it holds no step or workflow
// logic.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	httppprof "net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/space-sft/space/activities"
	"github.com/space-sft/space/compare"
	"github.com/space-sft/space/internal/sdkmetrics"
	"github.com/space-sft/space/internal/temporalclient"
	"github.com/space-sft/space/storage"
	"github.com/space-sft/space/workflows"
)

// DefaultTaskQueue is the queue of workflows and, unless routed elsewhere, all activities.
const DefaultTaskQueue = "space"

// Options configure a worker. The zero value plus Storage is a single worker on the
// default queue of a local Temporal.
type Options struct {
	TemporalAddress string // default Temporal.Address, then 127.0.0.1:7233
	Namespace       string // default Temporal.Namespace, then "default"
	TaskQueue       string // workflows + every activity; "-" = do not poll it
	GenerateQueue   string // extra queue polled for activities only (route Generate/Evaluate here)
	TrainQueue      string // extra queue polled for activities only (route TrainBase/Train here)
	Storage         storage.Config
	// CreateBucket: create Storage.Bucket at start when it is missing. Off by default, so a
	// mistyped S3_BUCKET stops the worker with an error instead of creating a new bucket
	// (the local stack, `make up`, creates its bucket itself).
	CreateBucket bool
	MetricsAddr  string // Prometheus /metrics listen address; "" = off
	// Pprof also serves Go's /debug/pprof/ on MetricsAddr. CPU samples carry the pprof labels
	// activity, run and round (go tool pprof -tagfocus activity=train URL/debug/pprof/profile).
	Pprof bool
	// Temporal is the rest of the connection: TLS, a CA, a client certificate for mTLS, an
	// API key (see internal/temporalclient). Logged redacted.
	Temporal temporalclient.Config
	// MaxActivities bounds concurrent activities per queue (the machine's cores are
	// the real limit: a training activity uses them all). Default 2.
	MaxActivities int
	// HeartbeatThrottle caps how long the SDK holds back a heartbeat (default 1s), so the
	// server, and `space watch`, see each step's progress promptly.
	HeartbeatThrottle time.Duration
	// Identity names this worker in Temporal (ActivityTaskStarted events, pending
	// activities). Default: the SDK's, "pid@host@".
	Identity string
	Log      *slog.Logger
	// Client is optional: an existing client (not closed by Run). The SDK's metrics are on
	// /metrics only for the client Run dials itself (client.Options.MetricsHandler).
	Client client.Client
}

func (o *Options) defaults() {
	if o.TemporalAddress == "" {
		o.TemporalAddress = o.Temporal.Address
	}
	if o.TemporalAddress == "" {
		o.TemporalAddress = "127.0.0.1:7233"
	}
	if o.Namespace == "" {
		o.Namespace = o.Temporal.Namespace
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	o.Temporal.Address, o.Temporal.Namespace = o.TemporalAddress, o.Namespace
	if o.TaskQueue == "" {
		o.TaskQueue = DefaultTaskQueue
	}
	if o.MaxActivities <= 0 {
		o.MaxActivities = 2
	}
	if o.HeartbeatThrottle <= 0 {
		o.HeartbeatThrottle = time.Second
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
}

// Register puts the workflows and activities of space on a worker (or a replayer).
func Register(w worker.Registry, acts *activities.Activities, withWorkflows bool) {
	if withWorkflows {
		w.RegisterWorkflow(workflows.SelfPlay)
		w.RegisterWorkflow(workflows.ScheduledFineTune)
		w.RegisterWorkflow(compare.Compare)
	}
	w.RegisterActivity(acts)
	w.RegisterActivity(&compare.Activities{Run: acts})
}

// Run starts the worker(s) and blocks until ctx is done (or a worker fails), then stops
// them gracefully: running activities get their context cancelled and are retried later.
func Run(ctx context.Context, o Options) error {
	o.defaults()
	store, err := storage.New(ctx, o.Storage)
	if err != nil {
		return err
	}
	if o.CreateBucket {
		err = store.EnsureBucket(ctx)
	} else {
		err = store.CheckBucket(ctx)
	}
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := activities.NewTelemetry(reg)
	sdk := sdkmetrics.New() // the Temporal SDK's own metrics, on the same /metrics
	reg.MustRegister(sdk)
	store.SetObserver(metrics.S3)
	acts := &activities.Activities{Store: store, Log: o.Log, Telemetry: metrics}

	c := o.Client
	if c == nil {
		o.Log.Info("connecting to Temporal", "temporal", o.Temporal)
		c, err = o.Temporal.Dial(client.Options{Identity: o.Identity, Logger: log.NewStructuredLogger(o.Log), MetricsHandler: sdk.Handler()})
		if err != nil {
			return fmt.Errorf("connect to Temporal at %s (set TEMPORAL_ADDRESS or --temporal-address; `make up` starts a local one): %w", o.TemporalAddress, err)
		}
		defer c.Close()
	}

	if o.MetricsAddr != "" {
		ln, err := net.Listen("tcp", o.MetricsAddr)
		if err != nil {
			return fmt.Errorf("metrics listener %s: %w", o.MetricsAddr, err)
		}
		mux := http.NewServeMux()
		// ContinueOnError: a series that fails to collect is logged, the others still served.
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, ErrorLog: slog.NewLogLogger(o.Log.Handler(), slog.LevelWarn)}))
		if o.Pprof {
			mux.HandleFunc("/debug/pprof/", httppprof.Index) // also serves the named profiles
			mux.HandleFunc("/debug/pprof/cmdline", httppprof.Cmdline)
			mux.HandleFunc("/debug/pprof/profile", httppprof.Profile)
			mux.HandleFunc("/debug/pprof/symbol", httppprof.Symbol)
			mux.HandleFunc("/debug/pprof/trace", httppprof.Trace)
		}
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		o.Log.Info("metrics", "url", "http://"+ln.Addr().String()+"/metrics", "pprof", o.Pprof)
	}

	wopts := worker.Options{
		MaxConcurrentActivityExecutionSize: o.MaxActivities,
		MaxHeartbeatThrottleInterval:       o.HeartbeatThrottle,
		DefaultHeartbeatThrottleInterval:   o.HeartbeatThrottle,
		WorkerStopTimeout:                  10 * time.Second,
		Identity:                           o.Identity, // "" = the client's
	}
	var workers []worker.Worker
	queues := map[string]bool{}
	if o.TaskQueue != "-" {
		w := worker.New(c, o.TaskQueue, wopts)
		Register(w, acts, true)
		workers = append(workers, w)
		queues[o.TaskQueue] = true
	}
	for _, q := range []string{o.GenerateQueue, o.TrainQueue} {
		if q == "" || queues[q] {
			continue
		}
		w := worker.New(c, q, wopts)
		Register(w, acts, false)
		workers = append(workers, w)
		queues[q] = true
	}
	if len(workers) == 0 {
		return errors.New("no task queue to poll: set --task-queue, --generate-queue or --train-queue")
	}
	for _, w := range workers {
		if err := w.Start(); err != nil {
			return fmt.Errorf("start worker: %w", err)
		}
		defer w.Stop()
	}
	o.Log.Info("worker started", "temporal", o.TemporalAddress, "namespace", o.Namespace, "tls", o.Temporal.TLSEnabled(), "queues", keys(queues), "s3", o.Storage.String())
	<-ctx.Done()
	o.Log.Info("worker stopping")
	return nil
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
