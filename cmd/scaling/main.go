// Command scaling is `make scaling`: a round's training on one worker against the same
// round trained over K workers (data-parallel, DiLoCo: train_workers K), on the local stack,
// with K space-worker processes each pinned to one core (`taskset -c`).
//
// For every seed it runs the same one-round spec twice, train_workers 1 and train_workers K
// (equal total compute: each of the K workers takes the run's epochs over its 1/K of the
// examples), on the same K workers (so generation and evaluation spread alike; only the
// training differs), and reads from each run:
//
//   - the round's wall time (TrainBase's end to the run's end) and the training phase's
//     (the first Train or TrainWorker scheduled to the last Train or CombineOuter closed),
//     from the workflow's history;
//   - per outer step: wall time, the time no training activity was running (Temporal's
//     share: scheduling, dispatch, workflow tasks), and the seconds of S3 gets and puts of
//     all workers during the training phase (their space_s3_seconds metric, scraped when the
//     progress query shows the phase start and end, polled every 100 ms; summed over
//     workers running side by side);
//   - the quality: held-out NLL per token and, for markov, KL(p_data || p_theta) of the
//     round's model.
//
// The table (markdown, also written to DIR/results.md) gives the means, the speed-up
// (K=1 time / K time) and the paired differences K - 1 with 95% t intervals over the seeds
// (eval.PairedCI95).
//
//	go run -tags openblas ./cmd/scaling -dir .data/scaling              # 5 seeds, markov
//	go run -tags openblas ./cmd/scaling -dir .data/scaling-quick -quick  # 2 seeds, tiny: checks the command
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/space-sft/space/eval"
	"github.com/space-sft/space/internal/stack"
	"github.com/space-sft/space/worker/app"
	"github.com/space-sft/space/workflows"
)

type options struct {
	dir, bin, task          string
	seeds, n, k, localSteps int
	epochs, batch, dModel   int
	layers, maxEval         int
	quick                   bool
}

func main() {
	var o options
	flag.StringVar(&o.dir, "dir", ".data/scaling", "work folder (stack data, worker logs, results.md); its stack/ is wiped at start")
	flag.StringVar(&o.bin, "bin", "bin", "folder with space-worker, temporal and versitygw (make tools space)")
	flag.StringVar(&o.task, "task", "markov", "built-in task (markov reports KL to p_data too)")
	flag.IntVar(&o.seeds, "seeds", 5, "seeds 1..N, each run with train_workers 1 and K")
	flag.IntVar(&o.n, "n", 256, "train pairs")
	flag.IntVar(&o.k, "workers", 2, "K: worker processes (pinned to cores 0..K-1) and train_workers of the data-parallel arm")
	flag.IntVar(&o.localSteps, "local-steps", 8, "H: inner steps per worker per outer step")
	flag.IntVar(&o.epochs, "epochs", 4, "epochs of a round (each worker's over its shard with K workers)")
	flag.IntVar(&o.batch, "batch-size", 8, "examples per inner step")
	flag.IntVar(&o.dModel, "d-model", 32, "base model width")
	flag.IntVar(&o.layers, "layers", 2, "base model layers")
	flag.IntVar(&o.maxEval, "max-eval", 128, "held-out prompts decoded per evaluation")
	flag.BoolVar(&o.quick, "quick", false, "a tiny setting (2 seeds, 32 pairs, d16 L1, 2 epochs): checks the command, its numbers mean little")
	flag.Parse()
	if o.quick {
		o.seeds, o.n, o.dModel, o.layers, o.epochs, o.batch, o.localSteps, o.maxEval = 2, 32, 16, 1, 2, 4, 2, 8
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "scaling:", err)
		os.Exit(1)
	}
}

// measured is what one run gives.
type measured struct {
	roundWall, trainWall, trainIdle float64 // seconds
	outerSteps                      int
	s3                              float64 // seconds of S3 gets and puts during training, all workers
	metrics                         map[string]float64
}

func run(ctx context.Context, o options) error {
	if o.k < 2 {
		return fmt.Errorf("-workers is %d: use 2 or more (the data-parallel arm)", o.k)
	}
	if _, err := os.Stat(filepath.Join(o.bin, "space-worker")); err != nil {
		return fmt.Errorf("%w: run `make space` first", err)
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return fmt.Errorf("taskset not found (util-linux): the workers are pinned to one core each: %w", err)
	}
	if err := os.RemoveAll(filepath.Join(o.dir, "stack")); err != nil {
		return err
	}
	fmt.Println("starting the local stack (Temporal dev server + versitygw) ...")
	st, err := stack.Start(ctx, stack.Options{Dir: filepath.Join(o.dir, "stack"), Headless: true})
	if err != nil {
		return err
	}
	defer st.Stop()
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := client.Dial(client.Options{HostPort: st.TemporalAddress(), Logger: tlog.NewStructuredLogger(quiet)})
	if err != nil {
		return err
	}
	defer c.Close()

	var addrs []string
	for k := 0; k < o.k; k++ {
		addr, err := freeAddr()
		if err != nil {
			return err
		}
		stop, err := startWorker(o, st.Env(), k, addr)
		if err != nil {
			return err
		}
		defer stop()
		addrs = append(addrs, addr)
	}

	results := map[int][]measured{}
	arms := []int{1, o.k}
	for seed := 1; seed <= o.seeds; seed++ {
		for _, k := range arms {
			spec := o.spec(uint64(seed), k)
			fmt.Printf("run %s (seed %d, train_workers %d) ...\n", spec.Name, seed, k)
			m, err := measure(ctx, c, spec, addrs)
			if err != nil {
				return fmt.Errorf("run %s: %w", spec.Name, err)
			}
			fmt.Printf("  round %.1fs, training %.1fs in %d outer step(s), S3 %.2fs; %s\n", m.roundWall, m.trainWall, m.outerSteps, m.s3, fmtMetrics(m.metrics))
			results[k] = append(results[k], m)
		}
	}
	table := render(o, results)
	fmt.Println()
	fmt.Print(table)
	return os.WriteFile(filepath.Join(o.dir, "results.md"), []byte(table), 0o644)
}

// spec is the one-round run of a seed and a number of training workers.
func (o options) spec(seed uint64, k int) workflows.RunSpec {
	s := workflows.DefaultSpec()
	s.Name = fmt.Sprintf("scale-%s-s%d-k%d", o.task, seed, k)
	s.Rounds, s.Task, s.N, s.Seed, s.Shards, s.MaxEval = 1, o.task, o.n, seed, o.k, o.maxEval
	s.Epochs, s.BatchSize = o.epochs, o.batch
	s.TrainWorkers, s.LocalSteps = k, o.localSteps
	s.Generation.MaxNewTokens = 20
	s.BaseModel.DModel, s.BaseModel.Layers, s.BaseModel.Heads = o.dModel, o.layers, 4
	if o.dModel < 32 {
		s.BaseModel.Heads = 2
	}
	return s
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startWorker starts space-worker k pinned to core k, one activity at a time, its
// /metrics on addr and its log in DIR/worker-k.log.
func startWorker(o options, env []string, k int, addr string) (func(), error) {
	f, err := os.Create(filepath.Join(o.dir, fmt.Sprintf("worker-%d.log", k)))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("taskset", "-c", strconv.Itoa(k), filepath.Join(o.bin, "space-worker"),
		"--identity", fmt.Sprintf("w%d", k), "--max-activities", "1", "--metrics-addr", addr)
	cmd.Env = append(append(os.Environ(), env...), "OPENBLAS_NUM_THREADS=1")
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); f.Close(); close(done) }()
	return func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}, nil
}

// measure runs spec to its end and reads its times, S3 seconds and metrics.
func measure(ctx context.Context, c client.Client, spec workflows.RunSpec, addrs []string) (measured, error) {
	id := workflows.WorkflowID(spec.Name)
	wr, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: app.DefaultTaskQueue}, workflows.SelfPlay, spec, nil)
	if err != nil {
		return measured{}, err
	}
	// S3 seconds of all workers when the training phase starts and ends (progress query).
	var s3Start, s3End float64
	polled := make(chan error, 1)
	go func() {
		inTrain := false
		for {
			resp, err := c.QueryWorkflow(ctx, id, "", workflows.QueryProgress)
			var p workflows.Progress
			if err == nil && resp.Get(&p) == nil {
				switch {
				case !inTrain && p.Phase == workflows.PhaseTrain && p.Round == 1:
					if s3Start, err = s3Seconds(addrs); err != nil {
						polled <- err
						return
					}
					inTrain = true
				case inTrain && p.Phase != workflows.PhaseTrain:
					s3End, err = s3Seconds(addrs)
					polled <- err
					return
				}
			}
			select {
			case <-ctx.Done():
				polled <- ctx.Err()
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	var res workflows.RunResult
	if err := wr.Get(ctx, &res); err != nil {
		return measured{}, err
	}
	select {
	case err := <-polled:
		if err != nil {
			return measured{}, err
		}
	case <-time.After(5 * time.Second):
		return measured{}, fmt.Errorf("the progress query never showed round 1's training phase end")
	}
	if len(res.Rounds) < 2 {
		return measured{}, fmt.Errorf("run has %d rounds, want the base and round 1", len(res.Rounds))
	}
	var events []*historypb.HistoryEvent
	it := c.GetWorkflowHistory(ctx, id, wr.GetRunID(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return measured{}, err
		}
		events = append(events, ev)
	}
	m := fromHistory(events)
	m.s3 = s3End - s3Start
	m.metrics = res.Rounds[1].Metrics
	return m, nil
}

// fromHistory reads the round's and the training phase's times from a run's events.
func fromHistory(events []*historypb.HistoryEvent) measured {
	var m measured
	training := map[string]bool{"Train": true, "TrainWorker": true, "CombineOuter": true}
	kind := map[int64]string{} // scheduled event id -> activity type
	started := map[int64]time.Time{}
	var baseEnd, first, last time.Time
	type span struct{ a, b time.Time }
	var spans []span
	for _, ev := range events {
		t := ev.GetEventTime().AsTime()
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
			kind[ev.GetEventId()] = a.GetActivityType().GetName()
			if training[kind[ev.GetEventId()]] && first.IsZero() {
				first = t
			}
			continue
		}
		if a := ev.GetActivityTaskStartedEventAttributes(); a != nil {
			started[a.GetScheduledEventId()] = t
			continue
		}
		var sid int64
		switch {
		case ev.GetActivityTaskCompletedEventAttributes() != nil:
			sid = ev.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()
		case ev.GetActivityTaskFailedEventAttributes() != nil:
			sid = ev.GetActivityTaskFailedEventAttributes().GetScheduledEventId()
		case ev.GetActivityTaskTimedOutEventAttributes() != nil:
			sid = ev.GetActivityTaskTimedOutEventAttributes().GetScheduledEventId()
		default:
			continue
		}
		switch kind[sid] {
		case "TrainBase":
			baseEnd = t
		case "CombineOuter":
			m.outerSteps++
		case "Train":
			m.outerSteps = 1
		}
		if training[kind[sid]] {
			spans = append(spans, span{started[sid], t})
			last = t
		}
	}
	m.roundWall = events[len(events)-1].GetEventTime().AsTime().Sub(baseEnd).Seconds()
	m.trainWall = last.Sub(first).Seconds()
	// The training phase's time with no training activity running: Temporal's share.
	sort.Slice(spans, func(i, j int) bool { return spans[i].a.Before(spans[j].a) })
	busy, end := 0.0, first
	for _, s := range spans {
		a := s.a
		if a.Before(end) {
			a = end
		}
		if s.b.After(a) {
			busy += s.b.Sub(a).Seconds()
			end = s.b
		}
	}
	m.trainIdle = m.trainWall - busy
	return m
}

// s3Seconds sums space_s3_seconds_sum (gets and puts) over the workers' /metrics.
func s3Seconds(addrs []string) (float64, error) {
	var total float64
	for _, addr := range addrs {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return 0, fmt.Errorf("worker metrics %s: %w", addr, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return 0, err
		}
		for _, line := range strings.Split(string(body), "\n") {
			if rest, ok := strings.CutPrefix(line, "space_s3_seconds_sum{"); ok {
				if _, v, ok := strings.Cut(rest, "} "); ok {
					x, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
					if err != nil {
						return 0, fmt.Errorf("parse %q: %w", line, err)
					}
					total += x
				}
			}
		}
	}
	return total, nil
}

func fmtMetrics(m map[string]float64) string {
	var parts []string
	for _, k := range []string{eval.KL, eval.NLL} {
		if v, ok := m[k]; ok {
			parts = append(parts, fmt.Sprintf("%s %.4f", k, v))
		}
	}
	return strings.Join(parts, ", ")
}

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// render writes the tables: times and speed-up, the cost of an outer step, the quality.
func render(o options, r map[int][]measured) string {
	var b strings.Builder
	one, many := r[1], r[o.k]
	get := func(ms []measured, f func(measured) float64) []float64 {
		out := make([]float64, len(ms))
		for i, m := range ms {
			out[i] = f(m)
		}
		return out
	}
	fmt.Fprintf(&b, "Task %s, %d train pairs, d%d L%d, %d epochs of batch %d, H = %d local steps; %d workers pinned to one core each (taskset -c 0..%d); %d seeds.\n\n",
		o.task, o.n, o.dModel, o.layers, o.epochs, o.batch, o.localSteps, o.k, o.k-1, len(one))
	fmt.Fprintf(&b, "| train_workers | round wall (s) | training phase (s) | outer steps | per outer step (s) | Temporal per outer step (s) | S3 per outer step (s) |\n|---|---|---|---|---|---|---|\n")
	for _, k := range []int{1, o.k} {
		ms := r[k]
		steps := mean(get(ms, func(m measured) float64 { return float64(m.outerSteps) }))
		fmt.Fprintf(&b, "| %d | %.2f | %.2f | %.0f | %.3f | %.3f | %.3f |\n", k,
			mean(get(ms, func(m measured) float64 { return m.roundWall })),
			mean(get(ms, func(m measured) float64 { return m.trainWall })), steps,
			mean(get(ms, func(m measured) float64 { return m.trainWall / float64(m.outerSteps) })),
			mean(get(ms, func(m measured) float64 { return m.trainIdle / float64(m.outerSteps) })),
			mean(get(ms, func(m measured) float64 { return m.s3 / float64(m.outerSteps) })))
	}
	ratio := func(f func(measured) float64) []float64 {
		out := make([]float64, len(one))
		for i := range one {
			out[i] = f(one[i]) / f(many[i])
		}
		return out
	}
	fmt.Fprintf(&b, "\nSpeed-up with %d workers (1-worker time / %d-worker time, mean over seeds): training phase %.2fx, round %.2fx.\n",
		o.k, o.k, mean(ratio(func(m measured) float64 { return m.trainWall })), mean(ratio(func(m measured) float64 { return m.roundWall })))
	fmt.Fprintf(&b, "\nQuality at equal total compute (round 1's model; difference = %d workers - 1 worker, paired by seed, 95%% t interval):\n\n", o.k)
	fmt.Fprintf(&b, "| metric | 1 worker | %d workers | difference [95%% CI] | verdict (lower is better) |\n|---|---|---|---|---|\n", o.k)
	for _, name := range []string{eval.KL, eval.NLL} {
		if _, ok := one[0].metrics[name]; !ok {
			continue
		}
		x := get(many, func(m measured) float64 { return m.metrics[name] })
		y := get(one, func(m measured) float64 { return m.metrics[name] })
		d := make([]float64, len(x))
		for i := range x {
			d[i] = x[i] - y[i]
		}
		p := eval.PairedCI95(d)
		fmt.Fprintf(&b, "| %s | %.4f | %.4f | %+.4f [%+.4f, %+.4f] | %s |\n", name, mean(y), mean(x), p.Mean, p.Lo, p.Hi, p.Verdict(true))
	}
	return b.String()
}
