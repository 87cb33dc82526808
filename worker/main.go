// Command worker runs a space worker: it polls Temporal for SelfPlay workflows and their
// activities, reads and writes S3, and serves Prometheus metrics.
//
//	worker [--temporal-address ADDR] [--namespace NS] [--task-queue Q]
//	       [--tls] [--tls-ca FILE] [--tls-cert FILE --tls-key FILE] [--tls-server-name NAME]
//	       [--generate-queue Q] [--train-queue Q] [--metrics-addr ADDR] [--s3-endpoint URL] ...
//
// Every flag defaults to an environment variable (the Temporal CLI's TEMPORAL_ADDRESS,
// TEMPORAL_NAMESPACE, TEMPORAL_TLS, TEMPORAL_TLS_SERVER_CA_CERT_PATH,
// TEMPORAL_TLS_CLIENT_CERT_PATH, TEMPORAL_TLS_CLIENT_KEY_PATH, TEMPORAL_API_KEY, and a profile
// of its config file: TEMPORAL_PROFILE, TEMPORAL_CONFIG_FILE; SPACE_TASK_QUEUE, S3_ENDPOINT,
// S3_BUCKET, AWS_ACCESS_KEY_ID, ...; see internal/temporalclient). TLS to Temporal is on
// when any --tls-* setting or an API key is given; mTLS (Temporal Cloud) takes --tls-cert and
// --tls-key. Keys are read from files or the environment and never logged (-h shows more).
// SIGINT or SIGTERM stops it gracefully; a killed worker's activities are retried by another
// one after their heartbeat timeout and resume from their last checkpoint in S3.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/space-sft/space/internal/temporalclient"
	"github.com/space-sft/space/storage"
	"github.com/space-sft/space/worker/app"
)

func main() {
	s3 := storage.ConfigFromEnv()
	o := app.Options{Storage: s3}
	tc := temporalclient.Flags(flag.CommandLine) // --temporal-address, --namespace, --tls*, --api-key
	flag.StringVar(&o.TaskQueue, "task-queue", env("SPACE_TASK_QUEUE", app.DefaultTaskQueue), `queue of workflows and all activities ("-" = do not poll it)`)
	flag.StringVar(&o.GenerateQueue, "generate-queue", os.Getenv("SPACE_GENERATE_QUEUE"), "also poll this queue for activities (spec task_queues.generate)")
	flag.StringVar(&o.TrainQueue, "train-queue", os.Getenv("SPACE_TRAIN_QUEUE"), "also poll this queue for activities (spec task_queues.train)")
	flag.StringVar(&o.MetricsAddr, "metrics-addr", env("SPACE_METRICS_ADDR", "127.0.0.1:9464"), `Prometheus /metrics address ("" = off)`)
	flag.BoolVar(&o.Pprof, "pprof", envBool("SPACE_PPROF"), "also serve /debug/pprof/ on --metrics-addr (SPACE_PPROF); CPU samples are labelled by activity, run and round")
	flag.StringVar(&o.Identity, "identity", os.Getenv("SPACE_WORKER_IDENTITY"), `worker identity shown in Temporal ("" = the SDK's default, pid@host@)`)
	flag.IntVar(&o.MaxActivities, "max-activities", 2, "concurrent activities per queue")
	flag.DurationVar(&o.HeartbeatThrottle, "heartbeat-throttle", 0, "longest delay of a heartbeat (default 1s)")
	flag.StringVar(&o.Storage.Endpoint, "s3-endpoint", s3.Endpoint, "S3 endpoint URL (S3_ENDPOINT; empty = AWS)")
	flag.StringVar(&o.Storage.Bucket, "s3-bucket", s3.Bucket, "bucket (S3_BUCKET)")
	flag.StringVar(&o.Storage.Region, "s3-region", s3.Region, "region (S3_REGION)")
	flag.BoolVar(&o.Storage.PathStyle, "s3-path-style", s3.PathStyle, "path-style addressing (S3_PATH_STYLE)")
	flag.DurationVar(&o.Storage.ReadTimeout, "s3-read-timeout", s3.ReadTimeout, "fail and retry an S3 request whose connection is silent this long (S3_READ_TIMEOUT; 0 = 1m, negative = never)")
	flag.DurationVar(&o.Storage.FullWait, "s3-full-wait", s3.FullWait, "retry a write that S3 refuses for lack of space this long, then pause the run (S3_FULL_WAIT; 0 = 2m, negative = no retry)")
	flag.BoolVar(&o.CreateBucket, "create-bucket", envBool("SPACE_CREATE_BUCKET"), "create the bucket if it is missing (SPACE_CREATE_BUCKET; default: stop with an error)")
	level := flag.String("log-level", env("SPACE_LOG_LEVEL", "info"), "debug, info, warn or error")
	flag.Usage = func() {
		fmt.Fprint(flag.CommandLine.Output(), `usage: worker [flags]

Polls Temporal for space's workflows and activities. Most flags default to the variable
named in its help. TLS to Temporal is on with --tls or any --tls-* flag or an API key:
  private CA:            --tls-ca ca.pem [--tls-server-name NAME]
  mTLS (Temporal Cloud): --temporal-address NS.ACCT.tmprl.cloud:7233 --namespace NS.ACCT
                         --tls-cert client.pem --tls-key client.key
  API key:               TEMPORAL_API_KEY=... with the Cloud address and namespace
  a Temporal CLI profile: --profile NAME (TEMPORAL_PROFILE; file: TEMPORAL_CONFIG_FILE)
Key files and the API key are never logged (paths are). /metrics serves the worker's
space_* series and the Temporal SDK's temporal_* ones.

flags:
`)
		flag.PrintDefaults()
	}
	flag.Parse()
	o.Temporal = *tc

	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintln(os.Stderr, "worker: --log-level:", err)
		os.Exit(2)
	}
	o.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lv}))
	slog.SetDefault(o.Log)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app.Run(ctx, o); err != nil {
		o.Log.Error("worker failed", "err", err)
		os.Exit(1)
	}
}

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// envBool reads a true/false variable (strconv.ParseBool); unset is false. Any other value
// stops the worker with a message naming the variable, rather than being taken as false.
func envBool(key string) bool {
	v := os.Getenv(key)
	if v == "" {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		fmt.Fprintf(os.Stderr, "worker: %s=%q: want true or false\n", key, v)
		os.Exit(2)
	}
	return b
}
