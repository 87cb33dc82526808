// Package pipelinebench measures what the pipeline (Temporal and S3) costs next to the
// model's compute, against the real local stack (bin/temporal, bin/versitygw: make tools):
//
//	go test ./internal/pipelinebench -run '^$' -bench . -benchtime 1x [-tags openblas]
//	make bench-pipeline
//
// BenchmarkCheckpointS3: a trainer checkpoint (d256 L6: weights and both optimizer
// moments, all float32: about 58 MB; 96 MB while the moments were float64) saved to and
// loaded from the S3 gateway: serialization alone, S3 transfer alone, and both (what an
// activity does), in MB/s. save = Trainer.Save + Put;
// load = Get + ResumeTrainer (which also builds the training graph); parse = model.Load
// of the same bytes (read and verify every tensor, no graph).
//
// BenchmarkStreamCheckpoint1GB: a trainer checkpoint of about 1 GB (d768 L12, byte
// vocabulary, 1024 positions: 86M parameters, weights and both float32 moments) streamed to
// the S3 gateway and back as the activities do it: Store.PutStream(Trainer.Save) (multipart
// above the threshold, sha256 computed while streaming) and Store.GetStream(ResumeTrainer)
// (verified while read). MB/s of each, and the Go heap in use after each, in MB: about one
// copy of the state (the trainer), not two. BENCH_STREAM_LAYERS sets the layers (12; fewer
// for a quick check).
//
// BenchmarkPipelineRound: one self-play run (prepare, base model, one SPACE round) with an
// in-process worker. From the workflow's history: its wall time, the time covered by at
// least one running activity (compute plus the activities' own S3 reads and writes), and
// the rest, which is Temporal's share (scheduling, dispatch, workflow tasks). Per activity
// type: count and seconds. S3: the seconds of every get and put the activities made (the
// worker's space_s3_seconds metric, hashing included), as a share of the wall time.
// Benchmarks only: `go test ./...` runs nothing here.
package pipelinebench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/space-sft/space/internal/stack"
	"github.com/space-sft/space/internal/stack/stacktest"
	"github.com/space-sft/space/model"
	"github.com/space-sft/space/storage"
	"github.com/space-sft/space/worker/app"
	"github.com/space-sft/space/workflows"
)

func BenchmarkCheckpointS3(b *testing.B) {
	st := stacktest.StartS3(b)
	ctx := context.Background()
	cfg := st.StorageConfig()
	// BENCH_MULTIPART_MB=16 puts the 58 MB checkpoint above the multipart threshold, to
	// measure PutStream's two-pass multipart path (by default it is sent in one PutObject).
	if v := os.Getenv("BENCH_MULTIPART_MB"); v != "" {
		n, _ := strconv.Atoi(v)
		cfg.MultipartThreshold = int64(n) << 20
	}
	store, err := storage.New(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := store.EnsureBucket(ctx); err != nil {
		b.Fatal(err)
	}
	m, err := model.New(model.Config{Shape: model.Shape{DModel: 256, Layers: 6, Heads: 4, Context: 64}, Seed: 1}, nil)
	if err != nil {
		b.Fatal(err)
	}
	data := []model.Example{{Prompt: []int{model.BOS, 'a', model.SEP}, Real: []int{'b', model.EOS}}}
	tc := model.TrainConfig{Loss: model.LossConfig{Method: model.MethodSFT}, OptimConfig: model.OptimConfig{LR: 1e-4, Epochs: 1, BatchSize: 1}}
	tr, err := model.NewTrainer(m, data, tc)
	if err != nil {
		b.Fatal(err)
	}
	var ser, put, get, load, parse, streamSave, streamLoad time.Duration
	var size int
	for i := range b.N {
		t0 := time.Now()
		var buf bytes.Buffer
		if err := tr.Save(&buf); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		key := fmt.Sprintf("bench/ckpt-%d.safetensors", i)
		obj, err := store.Put(ctx, key, buf.Bytes())
		if err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		got, err := store.Get(ctx, key, obj.SHA256)
		if err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		if _, err := model.ResumeTrainer(bytes.NewReader(got), data, tc); err != nil {
			b.Fatal(err)
		}
		t4 := time.Now()
		if _, err := model.Load(bytes.NewReader(got)); err != nil { // parse + verify only
			b.Fatal(err)
		}
		parse += time.Since(t4)
		ser, put, get, load = ser+t1.Sub(t0), put+t2.Sub(t1), get+t3.Sub(t2), load+t4.Sub(t3)
		size = buf.Len()
		// What the activities do: stream the trainer into S3 and back, no buffer of the file.
		t5 := time.Now()
		sobj, err := store.PutStream(ctx, key+".stream", tr.Save)
		if err != nil || sobj.SHA256 != obj.SHA256 {
			b.Fatalf("PutStream: %v (sha256 %s, buffered %s)", err, sobj.SHA256, obj.SHA256)
		}
		t6 := time.Now()
		if _, err := store.GetStream(ctx, sobj.Key, sobj.SHA256, sobj.Size, func(r io.Reader) error {
			_, err := model.ResumeTrainer(r, data, tc)
			return err
		}); err != nil {
			b.Fatal(err)
		}
		streamSave, streamLoad = streamSave+t6.Sub(t5), streamLoad+time.Since(t6)
	}
	mb := float64(size) * float64(b.N) / 1e6
	rate := func(d time.Duration) float64 { return mb / d.Seconds() }
	b.ReportMetric(float64(size)/1e6, "MB")
	b.ReportMetric(rate(ser+put), "save-MB/s")
	b.ReportMetric(rate(get+load), "load-MB/s")
	b.ReportMetric(rate(ser), "serialize-MB/s")
	b.ReportMetric(rate(load), "resume-MB/s")
	b.ReportMetric(rate(parse), "parse-MB/s")
	b.ReportMetric(rate(put), "s3put-MB/s")
	b.ReportMetric(rate(get), "s3get-MB/s")
	b.ReportMetric(rate(streamSave), "stream-save-MB/s")
	b.ReportMetric(rate(streamLoad), "stream-load-MB/s")
}

func BenchmarkStreamCheckpoint1GB(b *testing.B) {
	layers := 12
	if v := os.Getenv("BENCH_STREAM_LAYERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("BENCH_STREAM_LAYERS=%q: want a positive number of layers", v)
		}
		layers = n
	}
	st := stacktest.StartS3(b)
	ctx := context.Background()
	store, err := storage.New(ctx, st.StorageConfig())
	if err != nil {
		b.Fatal(err)
	}
	if err := store.EnsureBucket(ctx); err != nil {
		b.Fatal(err)
	}
	m, err := model.New(model.Config{Shape: model.Shape{DModel: 768, Layers: layers, Heads: 12, Context: 1024}, Seed: 1}, nil)
	if err != nil {
		b.Fatal(err)
	}
	data := []model.Example{{Prompt: []int{model.BOS, 'a', model.SEP}, Real: []int{'b', model.EOS}}}
	tc := model.TrainConfig{Loss: model.LossConfig{Method: model.MethodSFT}, OptimConfig: model.OptimConfig{LR: 1e-4, Epochs: 2, BatchSize: 1}}
	tr, err := model.NewTrainer(m, data, tc)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := tr.Step(); err != nil { // moments not all zero
		b.Fatal(err)
	}
	heapMB := func() float64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return float64(ms.HeapInuse) / 1e6
	}
	var save, load time.Duration
	var size int64
	var heapSaved, heapLoaded float64
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		obj, err := store.PutStream(ctx, fmt.Sprintf("bench/stream-%d.safetensors", i), tr.Save)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		heapSaved = heapMB()
		var res *model.Trainer
		t2 := time.Now()
		if _, err := store.GetStream(ctx, obj.Key, obj.SHA256, obj.Size, func(r io.Reader) (err error) {
			res, err = model.ResumeTrainer(r, data, tc)
			return err
		}); err != nil {
			b.Fatal(err)
		}
		load += time.Since(t2)
		save += t1.Sub(t0)
		size = obj.Size
		heapLoaded = heapMB() // the trainer and the resumed one
		if res.StepCount() != 1 {
			b.Fatalf("resumed at step %d, want 1", res.StepCount())
		}
		res = nil
	}
	mb := float64(size) * float64(b.N) / 1e6
	b.ReportMetric(float64(size)/1e6, "MB")
	b.ReportMetric(mb/save.Seconds(), "stream-save-MB/s")
	b.ReportMetric(mb/load.Seconds(), "stream-load-MB/s")
	b.ReportMetric(heapSaved, "heap-after-save-MB")
	b.ReportMetric(heapLoaded, "heap-after-load-MB")
}

func BenchmarkPipelineRound(b *testing.B) {
	st := stacktest.Start(b, stack.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := client.Dial(client.Options{HostPort: st.TemporalAddress(), Logger: tlog.NewStructuredLogger(quiet)})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0") // a free port for the worker's /metrics
	if err != nil {
		b.Fatal(err)
	}
	metricsAddr := ln.Addr().String()
	ln.Close()
	wctx, stopWorker := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- app.Run(wctx, app.Options{Client: c, Storage: st.StorageConfig(), Log: quiet, MetricsAddr: metricsAddr})
	}()
	defer func() { stopWorker(); <-done }()

	for i := range b.N {
		// A round of the size issue 5 talks about: d128 L4 on 512 arithmetic pairs.
		spec := workflows.DefaultSpec() // space, rmsprop lr 1e-4, 2 epochs, temperature 1, base lr 3e-3
		spec.Name, spec.Rounds, spec.Task, spec.N, spec.Seed, spec.Shards, spec.MaxEval = fmt.Sprintf("bench-%d", i), 1, "arith", 512, 1, 2, 64
		spec.BatchSize = 16
		spec.Generation.MaxNewTokens = 24
		spec.BaseModel.DModel, spec.BaseModel.Layers, spec.BaseModel.Heads, spec.BaseModel.Epochs = 128, 4, 4, 2
		id := workflows.WorkflowID(spec.Name)
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: app.DefaultTaskQueue}, workflows.SelfPlay, spec, nil)
		if err != nil {
			b.Fatal(err)
		}
		s3Before := s3Seconds(b, metricsAddr)
		var res workflows.RunResult
		if err := run.Get(ctx, &res); err != nil {
			b.Fatalf("run: %v", err)
		}
		var events []*historypb.HistoryEvent
		it := c.GetWorkflowHistory(ctx, id, run.GetRunID(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				b.Fatal(err)
			}
			events = append(events, ev)
		}
		s := summarize(events)
		s3 := s3Seconds(b, metricsAddr)
		for op := range s3 {
			s3[op] -= s3Before[op]
		}
		b.ReportMetric(s.wall, "wall-s")
		b.ReportMetric(s.busy, "activity-s")
		b.ReportMetric(100*(s.wall-s.busy)/s.wall, "temporal-%")
		var names []string
		for n := range s.perType {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			a := s.perType[n]
			b.Logf("%-14s x%-3d %8.2f s (activity start to end; queue wait %.3f s)", n, a.count, a.seconds, a.wait)
		}
		b.Logf("workflow wall %.2f s; some activity running %.2f s; Temporal-only %.2f s (%.2f%%)", s.wall, s.busy, s.wall-s.busy, 100*(s.wall-s.busy)/s.wall)
		b.Logf("round 1 (from TrainBase's end to the run's end): wall %.2f s; some activity running %.2f s; Temporal-only %.2f s (%.2f%%)",
			s.roundWall, s.roundBusy, s.roundWall-s.roundBusy, 100*(s.roundWall-s.roundBusy)/s.roundWall)
		b.ReportMetric(100*(s.roundWall-s.roundBusy)/s.roundWall, "round-temporal-%")
		s3s := s3["get"] + s3["put"]
		b.Logf("S3 (every get and put of the run, hashing included, summed over activities running side by side): "+
			"get %.2f s, put %.2f s; %.2f%% of the wall time; Temporal-only + S3: %.2f%%",
			s3["get"], s3["put"], 100*s3s/s.wall, 100*(s.wall-s.busy+s3s)/s.wall)
		b.ReportMetric(100*s3s/s.wall, "s3-%")
		b.ReportMetric(100*(s.wall-s.busy+s3s)/s.wall, "temporal+s3-%")
		// The metric is the run's total: charging all of it to round 1 bounds the round's share.
		b.Logf("round 1: Temporal-only + S3 at most %.2f%% (all of the run's S3 time charged to the round)",
			100*(s.roundWall-s.roundBusy+s3s)/s.roundWall)
		b.ReportMetric(100*(s.roundWall-s.roundBusy+s3s)/s.roundWall, "round-temporal+s3-%")
	}
}

// s3Seconds scrapes the worker's /metrics for space_s3_seconds_sum by op.
func s3Seconds(b *testing.B, addr string) map[string]float64 {
	b.Helper()
	var body []byte
	for try := 0; ; try++ { // the listener may not be up yet on the first call
		resp, err := http.Get("http://" + addr + "/metrics")
		if err == nil {
			body, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		if err == nil {
			break
		}
		if try == 50 {
			b.Fatalf("worker /metrics: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		for _, op := range []string{"get", "put"} {
			if rest, ok := strings.CutPrefix(line, `space_s3_seconds_sum{op="`+op+`"} `); ok {
				v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
				if err != nil {
					b.Fatalf("parse %q: %v", line, err)
				}
				out[op] = v
			}
		}
	}
	return out
}

type actStats struct {
	count         int
	seconds, wait float64
}

type summary struct {
	wall, busy           float64 // seconds, whole run
	roundWall, roundBusy float64 // seconds, after the base model (TrainBase's end) only
	perType              map[string]*actStats
}

// summarize reads a workflow run's history: wall time from the first to the last event,
// the union of the activities' [started, closed] intervals, and per-type totals.
func summarize(events []*historypb.HistoryEvent) summary {
	s := summary{perType: map[string]*actStats{}}
	if len(events) == 0 {
		return s
	}
	sched := map[int64]*historypb.HistoryEvent{}
	started := map[int64]time.Time{}
	type iv struct{ a, b time.Time }
	var ivs []iv
	var baseEnd time.Time
	for _, ev := range events {
		t := ev.GetEventTime().AsTime()
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			sched[ev.GetEventId()] = ev
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
			started[ev.GetActivityTaskStartedEventAttributes().GetScheduledEventId()] = t
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, enumspb.EVENT_TYPE_ACTIVITY_TASK_FAILED, enumspb.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
			var sid int64
			switch {
			case ev.GetActivityTaskCompletedEventAttributes() != nil:
				sid = ev.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()
			case ev.GetActivityTaskFailedEventAttributes() != nil:
				sid = ev.GetActivityTaskFailedEventAttributes().GetScheduledEventId()
			default:
				sid = ev.GetActivityTaskTimedOutEventAttributes().GetScheduledEventId()
			}
			st, ok := started[sid]
			if !ok || sched[sid] == nil {
				continue
			}
			name := sched[sid].GetActivityTaskScheduledEventAttributes().GetActivityType().GetName()
			a := s.perType[name]
			if a == nil {
				a = &actStats{}
				s.perType[name] = a
			}
			a.count++
			a.seconds += t.Sub(st).Seconds()
			a.wait += st.Sub(sched[sid].GetEventTime().AsTime()).Seconds()
			ivs = append(ivs, iv{st, t})
			if name == "TrainBase" {
				baseEnd = t
			}
		}
	}
	first, last := events[0].GetEventTime().AsTime(), events[len(events)-1].GetEventTime().AsTime()
	s.wall = last.Sub(first).Seconds()
	sort.Slice(ivs, func(i, j int) bool { return ivs[i].a.Before(ivs[j].a) })
	// union of the intervals clipped to [from, last]
	union := func(from time.Time) float64 {
		var busy float64
		end := from
		for _, v := range ivs {
			a, b := v.a, v.b
			if a.Before(end) {
				a = end
			}
			if b.After(a) {
				busy += b.Sub(a).Seconds()
				end = b
			}
		}
		return busy
	}
	s.busy = union(first)
	if !baseEnd.IsZero() {
		s.roundWall, s.roundBusy = last.Sub(baseEnd).Seconds(), union(baseEnd)
	}
	return s
}
