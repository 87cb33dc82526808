// Command demo is `make demo`: it starts the local default stack (Temporal dev server and a
// versitygw S3 gateway, from bin/), a worker in this process, and a small SPACE run on the
// built-in markov task (whose true p_data is known, so the table can show the KL from it) or
// arith; it prints progress and a per-round metrics table, says where the
// artifacts are, stops what it started and exits 0 when the run completed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"

	"github.com/space-sft/space/eval"
	"github.com/space-sft/space/internal/stack"
	"github.com/space-sft/space/model"
	"github.com/space-sft/space/report"
	"github.com/space-sft/space/storage"
	"github.com/space-sft/space/worker/app"
	"github.com/space-sft/space/workflows"
)

func main() {
	dir := flag.String("dir", ".data/demo", "folder for the demo's stack data (wiped at start)")
	task := flag.String("task", "markov", "built-in task: markov (KL to a known p_data) or arith")
	rounds := flag.Int("rounds", 3, "SPACE rounds after the base model")
	n := flag.Int("n", 256, "real train pairs from the task")
	seed := flag.Uint64("seed", 1, "seed of the run")
	keep := flag.Bool("keep", false, "keep the stack running after the run (Ctrl-C stops it)")
	flag.Parse()
	if err := run(*dir, *task, *rounds, *n, *seed, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// Spec is the demo's run: a small byte-level GPT (d64, 2 layers), an SFT base trained on the
// task's real pairs, then SPACE rounds with mu = 1, two generation shards per round.
func Spec(name, task string, rounds, n int, seed uint64) workflows.RunSpec {
	s := workflows.DefaultSpec()
	s.Name, s.Rounds, s.Seed = name, rounds, seed
	s.LossConfig = model.LossConfig{Method: model.MethodSPACE, Mu: 1}
	s.Task, s.N, s.TestFrac, s.MaxEval = task, n, 0.2, 64
	s.OptimConfig = model.OptimConfig{Optimizer: "rmsprop", LR: 3e-4, Epochs: 2, BatchSize: 16, WarmupFrac: 0.1, ClipNorm: 1}
	s.Generation = model.SampleConfig{Temperature: 1, TopP: 1, MaxNewTokens: 28}
	s.Shards = 2
	s.BaseModel = workflows.BaseSpec{Shape: model.Shape{DModel: 64, Layers: 2, Heads: 4, Context: 64}, Tokenizer: model.DefaultTokenizer(), Epochs: 8, LR: 3e-3}
	s.CheckpointEvery = 20
	return s
}

func run(dir, task string, rounds, n int, seed uint64, keep bool) error {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	// A fresh folder each time: the demo's artifacts are the ones of this run only.
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	uiPort := 8233
	if !portFree(uiPort) {
		uiPort = 0 // someone (make up?) has the usual UI port: take any free one
	}
	fmt.Println("starting the local stack (Temporal dev server + versitygw) ...")
	st, err := stack.Start(ctx, stack.Options{Dir: dir, UIPort: uiPort})
	if err != nil {
		return err
	}
	defer func() {
		if err := st.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop stack:", err)
		} else {
			fmt.Println("stopped the local stack")
		}
	}()
	fmt.Printf("  Temporal %s   web UI %s   S3 %s (bucket %q)\n", st.TemporalAddress(), st.UIAddress(), st.S3Endpoint(), st.Bucket())

	// The SDK logs expected shutdown noise ("worker stopping") at warn: keep only errors.
	sdkLog := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	c, err := client.Dial(client.Options{HostPort: st.TemporalAddress(), Logger: log.NewStructuredLogger(sdkLog)})
	if err != nil {
		return err
	}
	defer c.Close()
	wctx, stopWorker := context.WithCancel(ctx)
	workerDone := make(chan error, 1)
	go func() {
		workerDone <- app.Run(wctx, app.Options{Client: c, Storage: st.StorageConfig(), Log: logger})
	}()
	defer func() { stopWorker(); <-workerDone }()

	spec := Spec("demo", task, rounds, n, seed)
	start := time.Now()
	wr, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.WorkflowID(spec.Name), TaskQueue: app.DefaultTaskQueue,
		TypedSearchAttributes: workflows.StartAttributes(spec)}, workflows.SelfPlay, spec, nil) // the stack registers them
	if err != nil {
		return fmt.Errorf("start run: %w", err)
	}
	fmt.Printf("run %q started (workflow %s): %d SPACE rounds on %s, %d real pairs\n", spec.Name, wr.GetID(), rounds, task, n)
	fmt.Printf("  watch it in the web UI: %s/namespaces/default/workflows/%s\n", st.UIAddress(), wr.GetID())

	resCh := make(chan error, 1)
	var res workflows.RunResult
	go func() { resCh <- wr.Get(ctx, &res) }()
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	last := ""
	for done := false; !done; {
		select {
		case err := <-resCh:
			if err != nil {
				return fmt.Errorf("run failed: %w", err)
			}
			done = true
		case err := <-workerDone:
			return fmt.Errorf("worker stopped: %v", err)
		case <-tick.C:
			if line := progressLine(ctx, c, wr.GetID()); line != "" && line != last {
				fmt.Printf("  [%5.0fs] %s\n", time.Since(start).Seconds(), line)
				last = line
			}
		}
	}
	fmt.Printf("\nrun %s %s in %.0fs\n\n", spec.Name, res.Status, time.Since(start).Seconds())
	printTable(res)
	fmt.Printf("\nartifacts: s3://%s/runs/%s/ at %s (on disk: %s)\n", st.Bucket(), spec.Name, st.S3Endpoint(),
		filepath.Join(st.S3Dir(), st.Bucket(), "runs", spec.Name))
	if res.ReportKey != "" {
		fmt.Printf("report:    %s\n", filepath.Join(st.S3Dir(), st.Bucket(), res.ReportKey))
		page, _ := filepath.Abs(filepath.Join(st.S3Dir(), st.Bucket(), storage.ReportKey(spec.Name, "report.html")))
		fmt.Printf("           file://%s (open it in a browser)\n", filepath.ToSlash(page))
	}
	if keep {
		fmt.Printf("\nthe stack stays up (web UI %s); Ctrl-C stops it\n", st.UIAddress())
		<-ctx.Done()
	}
	if res.Status != workflows.StatusCompleted {
		return errors.New("run did not complete: " + res.Status)
	}
	return nil
}

func progressLine(ctx context.Context, c client.Client, id string) string {
	qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	v, err := c.QueryWorkflow(qctx, id, "", workflows.QueryProgress)
	if err != nil {
		return ""
	}
	var p workflows.Progress
	if err := v.Get(&p); err != nil {
		return ""
	}
	s := fmt.Sprintf("round %d/%d  %-8s", p.Round, p.Rounds, p.Phase)
	if p.TotalSteps > 0 {
		s += fmt.Sprintf("  step %d/%d", p.Step, p.TotalSteps)
	}
	return s
}

// printTable prints one row per round (round 0 is the base model) and one column per metric.
func printTable(res workflows.RunResult) {
	// The metrics that say most first, in this order, then the rest alphabetically.
	order := []string{eval.KL, eval.SampleValid, eval.GreedyValid, eval.TaskScore, eval.NLL, eval.RewardReal,
		eval.RewardSynth, eval.Margin, eval.DiscAccuracy, eval.SynthLength}
	all := report.MetricNames(workflows.RoundMetrics(res.Rounds)...)
	var names []string
	for _, k := range order {
		if slices.Contains(all, k) {
			names = append(names, k)
		}
	}
	for _, k := range all {
		if !slices.Contains(order, k) {
			names = append(names, k)
		}
	}
	fmt.Printf("| round | %s | model sha256 |\n", strings.Join(names, " | "))
	fmt.Printf("|---|%s---|\n", strings.Repeat("---|", len(names)))
	for _, r := range res.Rounds {
		label := fmt.Sprintf("iter%d", r.Round)
		if r.Round == 0 {
			label = "base"
		}
		if r.Round == res.BestRound {
			label += " *"
		}
		var cells []string
		for _, k := range names {
			if v, ok := r.Metrics[k]; ok {
				cells = append(cells, fmt.Sprintf("%.4g", v))
			} else {
				cells = append(cells, "")
			}
		}
		sha := r.ModelSHA256
		if len(sha) > 12 {
			sha = sha[:12]
		}
		fmt.Printf("| %s | %s | %s |\n", label, strings.Join(cells, " | "), sha)
	}
	fmt.Println("(* best round)")
}

func portFree(port int) bool {
	ln, err := net.Listen("tcp", fmt.Sprintf("%s:%d", stack.Host, port))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}
