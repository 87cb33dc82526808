// Command gpt2small is `make gpt2-small`: a GPT-2-small-shaped checkpoint (d768, 12 layers,
// 12 heads, 1024 positions, GPT-2's vocabulary and tokenizer; 124M parameters) taken through
// the whole product on the local stack, with the CLI and worker binaries a user runs:
//
//  1. space import hf DIR --out bases/gpt2-small.safetensors
//  2. space data put starter/examples/capitals.jsonl
//  3. space run --spec starter/examples/gpt2-small.json (one SPACE round), while
//     space watch follows it; the worker is killed with SIGKILL as soon as the round has a
//     trainer checkpoint, and a new worker resumes it
//  4. the same spec again under another name, undisturbed: every round's sha256 must equal
//  5. space export RUN --format hf, then space import hf of the exported folder: the
//     weights must come back bit for bit
//  6. space generate --run RUN
//
// It prints each command's output, wall time and peak RSS (of that process: the CLI's or
// the worker's) and the sizes of the checkpoints, and writes the table to DIR/results.md.
// DIR's HF folder is made by cmd/hfinit (random weights; the Hub is out of reach here) unless
// --hf names a real one (e.g. openai-community/gpt2 saved by transformers).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/space-sft/space/internal/stack"
	"github.com/space-sft/space/model"
	"github.com/space-sft/space/storage"
	"github.com/space-sft/space/workflows"
)

func main() {
	dir := flag.String("dir", ".data/gpt2small", "work folder (stack data, exports, results.md); wiped at start except hf/")
	hf := flag.String("hf", "", "Hugging Face GPT-2 folder to import (default DIR/hf, made by cmd/hfinit when missing)")
	bin := flag.String("bin", "bin", "folder with space, space-worker, temporal and versitygw")
	specFile := flag.String("spec", "starter/examples/gpt2-small.json", "run spec (its base and data keys are the ones written here)")
	data := flag.String("data", "starter/examples/capitals.jsonl", "real pairs")
	flag.Parse()
	if *hf == "" {
		*hf = filepath.Join(*dir, "hf")
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if err := run(ctx, *dir, *hf, *bin, *specFile, *data); err != nil {
		fmt.Fprintln(os.Stderr, "gpt2small:", err)
		os.Exit(1)
	}
}

// row is one line of the results table.
type row struct {
	what    string
	seconds float64
	rssMB   float64 // peak resident set of the process, 0 if not measured
	note    string
}

type runner struct {
	bin  string
	env  []string
	rows []row
	log  io.Writer
}

// cli runs a CLI command to the end, echoing its output, and records a row.
func (r *runner) cli(ctx context.Context, what string, args ...string) (string, error) {
	fmt.Fprintf(r.log, "\n$ space %s\n", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, filepath.Join(r.bin, "space"), args...)
	cmd.Env = r.env
	var out bytes.Buffer
	cmd.Stdout = io.MultiWriter(&out, r.log)
	cmd.Stderr = io.MultiWriter(&out, r.log)
	t0 := time.Now()
	err := cmd.Run()
	r.rows = append(r.rows, row{what: what + ": `space " + strings.Join(args, " ") + "`", seconds: time.Since(t0).Seconds(), rssMB: maxRSS(cmd.ProcessState)})
	if err != nil {
		return out.String(), fmt.Errorf("space %s: %w", args[0], err)
	}
	return out.String(), nil
}

// maxRSS is a finished process's peak resident set in MiB (Linux reports KiB).
func maxRSS(ps *os.ProcessState) float64 {
	if ps == nil {
		return 0
	}
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return float64(ru.Maxrss) / 1024
	}
	return 0
}

// worker is a space-worker process writing to a log file.
type worker struct {
	cmd   *exec.Cmd
	start time.Time
	done  chan struct{}
}

func (r *runner) startWorker(logPath string) (*worker, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(r.bin, "space-worker"), "--metrics-addr", "")
	cmd.Env, cmd.Stdout, cmd.Stderr = r.env, f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	w := &worker{cmd: cmd, start: time.Now(), done: make(chan struct{})}
	go func() { _ = cmd.Wait(); f.Close(); close(w.done) }()
	return w, nil
}

func (w *worker) stop(sig syscall.Signal) float64 {
	_ = w.cmd.Process.Signal(sig)
	select {
	case <-w.done:
	case <-time.After(30 * time.Second):
		_ = w.cmd.Process.Kill()
		<-w.done
	}
	return maxRSS(w.cmd.ProcessState)
}

func run(ctx context.Context, dir, hfDir, bin, specFile, dataFile string) error {
	for _, b := range []string{"space", "space-worker"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			return fmt.Errorf("%w: run `make space` first", err)
		}
	}
	if _, err := os.Stat(filepath.Join(hfDir, "config.json")); err != nil {
		return fmt.Errorf("%s: %w (make one with `go run ./cmd/hfinit --out %s`)", hfDir, err, hfDir)
	}
	specJSON, err := os.ReadFile(specFile)
	if err != nil {
		return err
	}
	spec, err := workflows.ParseSpec(specJSON)
	if err != nil {
		return err
	}
	for _, sub := range []string{"stack", "export"} {
		if err := os.RemoveAll(filepath.Join(dir, sub)); err != nil {
			return err
		}
	}
	fmt.Println("starting the local stack (Temporal dev server + versitygw) ...")
	st, err := stack.Start(ctx, stack.Options{Dir: filepath.Join(dir, "stack"), Headless: true})
	if err != nil {
		return err
	}
	defer st.Stop()
	store, err := storage.New(ctx, st.StorageConfig())
	if err != nil {
		return err
	}
	r := &runner{bin: bin, env: append(os.Environ(), st.Env()...), log: os.Stdout}
	wall := time.Now()

	if _, err := r.cli(ctx, "import", "import", "hf", hfDir, "--out", spec.Base); err != nil {
		return err
	}
	if _, err := r.cli(ctx, "upload data", "data", "put", dataFile, spec.Data); err != nil {
		return err
	}

	// The run, a kill -9 of its worker once round 1 has a trainer checkpoint, and a new worker.
	logs := filepath.Join(dir, "stack")
	w1, err := r.startWorker(filepath.Join(logs, "worker-1.log"))
	if err != nil {
		return err
	}
	crash := spec.Name
	t0 := time.Now()
	if _, err := r.cli(ctx, "start run", "run", "--spec", specFile); err != nil {
		return err
	}
	var watched bytes.Buffer
	watch := exec.CommandContext(ctx, filepath.Join(bin, "space"), "watch", crash)
	watch.Env, watch.Stdout, watch.Stderr = r.env, io.MultiWriter(&watched, os.Stdout), os.Stderr
	fmt.Printf("\n$ space watch %s   (in the background)\n", crash)
	if err := watch.Start(); err != nil {
		return err
	}
	step, err := waitTrainerCheckpoint(ctx, store, crash, 1, w1)
	if err != nil {
		return err
	}
	killedAt := time.Now()
	rss1 := w1.stop(syscall.SIGKILL)
	fmt.Printf("\n*** kill -9 worker 1 (round 1 has a trainer checkpoint at step %d) ***\n", step)
	r.rows = append(r.rows, row{what: "worker 1: base, round 1 until killed (kill -9)", seconds: killedAt.Sub(w1.start).Seconds(), rssMB: rss1,
		note: fmt.Sprintf("killed after the trainer checkpoint of step %d", step)})
	w2, err := r.startWorker(filepath.Join(logs, "worker-2.log"))
	if err != nil {
		return err
	}
	if err := watch.Wait(); err != nil {
		return fmt.Errorf("space watch: %w", err)
	}
	crashSec := time.Since(t0).Seconds()
	resumed := grepLog(filepath.Join(logs, "worker-2.log"), "resuming round")
	if _, err := r.cli(ctx, "result", "status", crash); err != nil {
		return err
	}

	// The same spec, undisturbed.
	ref := spec
	ref.Name = crash + "-ref"
	refFile := filepath.Join(dir, "ref-spec.json")
	if err := writeSpec(refFile, specJSON, ref.Name); err != nil {
		return err
	}
	t1 := time.Now()
	refOut, err := r.cli(ctx, "reference run", "run", "--spec", refFile, "--wait", "--json")
	if err != nil {
		return err
	}
	refSec := time.Since(t1).Seconds()
	rss2 := w2.stop(syscall.SIGTERM)
	r.rows = append(r.rows, row{what: "worker 2: resumed round 1, then the whole reference run", seconds: time.Since(w2.start).Seconds(), rssMB: rss2, note: resumed})
	same, shaNote, err := compareRuns(ctx, store, crash, refOut)
	if err != nil {
		return err
	}

	// Out in the field's format, and back in.
	exportDir := filepath.Join(dir, "export")
	if _, err := r.cli(ctx, "export", "export", crash, "--round", "1", "--format", "hf", "--out", exportDir); err != nil {
		return err
	}
	back := "bases/" + crash + "-roundtrip.safetensors"
	if _, err := r.cli(ctx, "re-import the export", "import", "hf", exportDir, "--out", back); err != nil {
		return err
	}
	bitEqual, err := sameWeights(ctx, store, storage.RoundModelKey(crash, 1), back)
	if err != nil {
		return err
	}
	genOut, err := r.cli(ctx, "generate", "generate", "--run", crash, "--round", "1", "--prompt", "What is the capital of Peru?",
		"--max-new-tokens", "24", "--seed", "1", "--json")
	if err != nil {
		return err
	}
	var g struct {
		CompletionTokens int `json:"completion_tokens"`
	}
	_ = json.Unmarshal([]byte(strings.TrimSpace(genOut[strings.Index(genOut, "{"):])), &g)

	sizes, err := checkpointSizes(ctx, store, crash)
	if err != nil {
		return err
	}
	var md strings.Builder
	fmt.Fprintf(&md, "# GPT-2 small through space (`make gpt2-small`, %s)\n\n", time.Now().UTC().Format("2006-01-02"))
	fmt.Fprintf(&md, "Model: %s (`%s`). Spec: `%s`. Data: `%s`.\n\n", hfDir, describe(hfDir), specFile, dataFile)
	fmt.Fprintf(&md, "| step | wall s | peak RSS MiB | note |\n|---|---:|---:|---|\n")
	for _, x := range r.rows {
		rss := "-"
		if x.rssMB > 0 {
			rss = fmt.Sprintf("%.0f", x.rssMB)
		}
		fmt.Fprintf(&md, "| %s | %.1f | %s | %s |\n", x.what, x.seconds, rss, x.note)
	}
	fmt.Fprintf(&md, "\n- run with a kill -9: %.0f s from start to end; the undisturbed run: %.0f s\n", crashSec, refSec)
	fmt.Fprintf(&md, "- every round's model sha256 equal to the undisturbed run's: **%v** (%s)\n", same, shaNote)
	fmt.Fprintf(&md, "- export to the Hugging Face layout and import back: weights bit-identical: **%v**\n", bitEqual)
	fmt.Fprintf(&md, "- generate: %d tokens sampled (time and RSS above include loading the checkpoint)\n", g.CompletionTokens)
	fmt.Fprintf(&md, "- checkpoint sizes: %s\n", sizes)
	fmt.Fprintf(&md, "- total wall time %.0f s\n", time.Since(wall).Seconds())
	fmt.Println("\n" + md.String())
	if err := os.WriteFile(filepath.Join(dir, "results.md"), []byte(md.String()), 0o644); err != nil {
		return err
	}
	fmt.Printf("table written to %s\n", filepath.Join(dir, "results.md"))
	if !same || !bitEqual {
		return fmt.Errorf("a check failed (see above)")
	}
	return nil
}

// waitTrainerCheckpoint waits until round's trainer manifest lists a checkpoint (what a
// resume can use) and returns its step.
func waitTrainerCheckpoint(ctx context.Context, store *storage.Store, run string, round int, w *worker) (int, error) {
	for {
		m, err := storage.ReadManifest(ctx, store, storage.TrainManifestKey(run, round), "")
		if err == nil && len(m.Keys) > 0 {
			var step int
			_, _ = fmt.Sscanf(filepath.Base(m.Keys[len(m.Keys)-1].Key), "step-%d.safetensors", &step)
			return step, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-w.done:
			return 0, fmt.Errorf("worker 1 exited before round %d had a trainer checkpoint", round)
		case <-time.After(time.Second):
		}
	}
}

func grepLog(path, what string) string {
	b, _ := os.ReadFile(path)
	for _, line := range strings.Split(string(b), "\n") {
		if i := strings.Index(line, what); i >= 0 {
			line = line[i:]
			if j := strings.Index(line, `"`); j >= 0 {
				line = line[:j]
			}
			return "worker 2 log: " + line
		}
	}
	return "worker 2 did not resume from a trainer checkpoint"
}

// writeSpec writes the spec file again with another name.
func writeSpec(path string, specJSON []byte, name string) error {
	var m map[string]any
	if err := json.Unmarshal(specJSON, &m); err != nil {
		return err
	}
	m["name"] = name
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// compareRuns compares every round's model sha256 of the crashed run (from its round
// manifests) with the reference run's result (`space run --wait --json`).
func compareRuns(ctx context.Context, store *storage.Store, crash, refJSON string) (bool, string, error) {
	var ref workflows.RunResult
	if err := json.Unmarshal([]byte(refJSON[strings.Index(refJSON, "{"):]), &ref); err != nil {
		return false, "", fmt.Errorf("reference result: %w", err)
	}
	same := len(ref.Rounds) > 1
	var notes []string
	for _, rr := range ref.Rounds {
		if rr.Round == 0 {
			continue // the base itself
		}
		obj, err := store.Stat(ctx, storage.RoundModelKey(crash, rr.Round))
		if err != nil {
			return false, "", err
		}
		ok := obj.SHA256 == rr.ModelSHA256
		same = same && ok
		notes = append(notes, fmt.Sprintf("round %d %s vs %s", rr.Round, obj.SHA256[:12], rr.ModelSHA256[:12]))
	}
	return same, strings.Join(notes, "; "), nil
}

// sameWeights loads two checkpoints and compares their parameters bit for bit.
func sameWeights(ctx context.Context, store *storage.Store, a, b string) (bool, error) {
	load := func(key string) (*model.GPT, error) {
		var m *model.GPT
		_, err := store.GetStream(ctx, key, "", 0, func(r io.Reader) (err error) { m, err = model.Load(r); return err })
		return m, err
	}
	ma, err := load(a)
	if err != nil {
		return false, err
	}
	mb, err := load(b)
	if err != nil {
		return false, err
	}
	if len(ma.Params) != len(mb.Params) {
		return false, nil
	}
	for i, p := range ma.Params {
		x, ok1 := p.Value.Data().([]float32)
		y, ok2 := mb.Params[i].Value.Data().([]float32)
		if !ok1 || !ok2 || p.Name != mb.Params[i].Name || len(x) != len(y) {
			return false, nil
		}
		for j := range x {
			if math.Float32bits(x[j]) != math.Float32bits(y[j]) {
				return false, nil
			}
		}
	}
	return true, nil
}

// checkpointSizes lists the run's model and trainer checkpoints with their sizes.
func checkpointSizes(ctx context.Context, store *storage.Store, run string) (string, error) {
	objs, err := store.List(ctx, storage.RunPrefix(run))
	if err != nil {
		return "", err
	}
	var parts []string
	for _, o := range objs {
		if strings.HasSuffix(o.Key, ".safetensors") {
			parts = append(parts, fmt.Sprintf("`%s` %.0f MB", strings.TrimPrefix(o.Key, storage.RunPrefix(run)), float64(o.Size)/1e6))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ", "), nil
}

// describe summarises an HF folder's config.json.
func describe(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return "?"
	}
	var c struct {
		NEmbd      int `json:"n_embd"`
		NLayer     int `json:"n_layer"`
		NHead      int `json:"n_head"`
		NPositions int `json:"n_positions"`
		VocabSize  int `json:"vocab_size"`
	}
	_ = json.Unmarshal(b, &c)
	return fmt.Sprintf("n_embd %d, n_layer %d, n_head %d, n_positions %d, vocab_size %d", c.NEmbd, c.NLayer, c.NHead, c.NPositions, c.VocabSize)
}
