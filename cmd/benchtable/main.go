// Command benchtable merges the model benchmark outputs of the two BLAS backends (the
// backend is a build tag, so `make bench` runs the benchmarks twice) into one table:
//
//	go run ./cmd/benchtable out/bench/gonum.txt out/bench/openblas.txt [out/bench/llmc.txt]
//
// Each argument is the output of `go test ./model -bench ...` for one backend, named by
// its file name (gonum.txt -> gonum). A missing file is skipped. When a benchmark appears
// several times (-count), the median is used. A file named llmc.txt holds the RESULT lines
// of llm.c's train_gpt2.c at GPT-2 shape (make bench-llmc), printed as their own table.
package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// result is one benchmark's metrics by unit ("tok/s", "GFLOP/s", "B/op", ...).
type result map[string][]float64

type backend struct {
	name, detail, cpu string
	res               map[string]result // benchmark name without the -N suffix
}

var procSuffix = regexp.MustCompile(`-\d+$`)

func parse(path string) (*backend, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := &backend{name: strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)), res: map[string]result{}}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "cpu:"):
			b.cpu = strings.TrimSpace(strings.TrimPrefix(line, "cpu:"))
		case strings.Contains(line, "backend: "):
			b.detail = strings.TrimSpace(line[strings.Index(line, "backend: ")+len("backend: "):])
		case strings.HasPrefix(line, "Benchmark"):
			fs := strings.Fields(line)
			if len(fs) < 4 {
				continue
			}
			name := procSuffix.ReplaceAllString(strings.TrimPrefix(fs[0], "Benchmark"), "")
			r := b.res[name]
			if r == nil {
				r = result{}
				b.res[name] = r
			}
			for i := 2; i+1 < len(fs); i += 2 {
				v, err := strconv.ParseFloat(fs[i], 64)
				if err != nil {
					continue
				}
				r[fs[i+1]] = append(r[fs[i+1]], v)
			}
		}
	}
	return b, sc.Err()
}

// get returns the median of a metric, or NaN.
func (b *backend) get(name, unit string) float64 {
	vs := append([]float64(nil), b.res[name][unit]...)
	if len(vs) == 0 {
		return nan
	}
	sort.Float64s(vs)
	if len(vs)%2 == 1 {
		return vs[len(vs)/2]
	}
	return (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2
}

var nan = func() float64 { z := 0.0; return z / z }()

func num(v float64, prec int) string {
	if v != v {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', prec, 64)
}

func main() {
	var bs []*backend
	var llmc []llmcRow
	for _, p := range os.Args[1:] {
		if filepath.Base(p) == "llmc.txt" {
			rows, err := parseLLMC(p)
			if err != nil {
				fmt.Fprintln(os.Stderr, "benchtable:", err)
				os.Exit(1)
			}
			llmc = append(llmc, rows...)
			continue
		}
		b, err := parse(p)
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			fmt.Fprintln(os.Stderr, "benchtable:", err)
			os.Exit(1)
		}
		bs = append(bs, b)
	}
	if len(bs) == 0 {
		fmt.Fprintln(os.Stderr, "usage: benchtable gonum.txt [openblas.txt]")
		os.Exit(2)
	}
	// Shapes in the order they first appear.
	var shapes []string
	seen := map[string]bool{}
	for _, b := range bs {
		var names []string
		for n := range b.res {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if s, ok := strings.CutPrefix(n, "TrainStep/"); ok {
				s = strings.Split(s, "/")[0]
				if !seen[s] {
					seen[s] = true
					shapes = append(shapes, s)
				}
			}
		}
	}
	sort.SliceStable(shapes, func(i, j int) bool { return shapeSize(shapes[i]) < shapeSize(shapes[j]) })

	fmt.Println("Model throughput: batch 16, byte vocabulary (260), float32; tok/s counts every token")
	fmt.Println("of every sequence (space: 16 real + 16 synthetic). GFLOP/s: 6*params + 12*L*T*D per")
	fmt.Println("token (sft step, space step). % sgemm: of the sgemm 1024^3 ceiling on both cores (2 row halves")
	fmt.Println("side by side, as the model's fused ops run), measured in the same run and backend.")
	for _, b := range bs {
		fmt.Printf("  %-9s %s; cpu %s; sgemm 1024^3: %s GFLOP/s one call, %s GFLOP/s 2 halves side by side\n",
			b.name, b.detail, b.cpu, num(b.get("Sgemm/1024/1part", "GFLOP/s"), 1), num(b.get("Sgemm/1024/2part", "GFLOP/s"), 1))
	}
	fmt.Println()
	fmt.Println("| shape     | backend  | train sft tok/s | train space tok/s | space tok/cpu-s | GFLOP/s sft, space | % sgemm sft, space | MB alloc/step | allocs/step | gen tok/s | gen tok/cpu-s | logprob tok/s |")
	fmt.Println("|-----------|----------|-----------------|-------------------|-----------------|--------------------|--------------------|---------------|-------------|-----------|---------------|---------------|")
	for _, s := range shapes {
		for _, b := range bs {
			sp, sf := "TrainStep/"+s+"/space", "TrainStep/"+s+"/sft"
			gf, gfSFT := b.get(sp, "GFLOP/s"), b.get(sf, "GFLOP/s")
			ceil := b.get("Sgemm/1024/2part", "GFLOP/s")
			fmt.Printf("| %-9s | %-8s | %15s | %17s | %15s | %18s | %18s | %13s | %11s | %9s | %13s | %13s |\n", s, b.name,
				num(b.get(sf, "tok/s"), 0), num(b.get(sp, "tok/s"), 0), num(b.get(sp, "tok/cpu-s"), 0),
				num(gfSFT, 1)+", "+num(gf, 1), num(100*gfSFT/ceil, 0)+", "+num(100*gf/ceil, 0),
				num(b.get(sp, "B/op")/1e6, 1), num(b.get(sp, "allocs/op"), 0),
				num(b.get("Generate/"+s, "tok/s"), 0), num(b.get("Generate/"+s, "tok/cpu-s"), 0), num(b.get("LogProbs/"+s, "tok/s"), 0))
		}
	}
	gpt2Table(bs)
	llmcTable(llmc, bs)
	fmt.Println()
	fmt.Println("tok/cpu-s: tokens per second of the process's CPU time (all threads): steadier than tok/s")
	fmt.Println("on a shared machine; 2x tok/cpu-s bounds what both cores of an idle machine would give.")
	fmt.Println("MB alloc/step and allocs/step: the space step's B/op and allocs/op (after a warm-up step).")
}

// shapeSize orders "d128L4T64" by d_model, then layers.
func shapeSize(s string) int {
	var d, l, t int
	fmt.Sscanf(s, "d%dL%dT%d", &d, &l, &t)
	return d*1000 + l
}

// gpt2Table prints BenchmarkGPT2Small's rows (one per backend and context length), when the
// run has them.
func gpt2Table(bs []*backend) {
	have := false
	for _, b := range bs {
		have = have || len(b.res["GPT2Small/T256/TrainStep/sft"]) > 0
	}
	if !have {
		return
	}
	fmt.Println()
	fmt.Println("GPT-2 small shape (d768, 12 layers, 12 heads, 1024 positions, vocabulary 50257, tied; 124.4M")
	fmt.Println("parameters): a training step at batch 4 of T-token sequences (space: + 4 synthetic; T 1024")
	fmt.Println("in micro-batches of one example); peak RSS of each benchmark alone (Linux VmHWM reset before")
	fmt.Println("it; B/param: over the parameter count); log-probs: 4 x T tokens; generation: 16 prompts x 64")
	fmt.Println("new tokens with the KV cache.")
	fmt.Println()
	fmt.Println("| backend  | T    | train sft tok/s | train space tok/s | tok/cpu-s sft, space | GFLOP/s sft, space | % sgemm sft, space | peak RSS MB sft, space | B/param sft, space | logprob tok/s |")
	fmt.Println("|----------|------|-----------------|-------------------|----------------------|--------------------|--------------------|------------------------|--------------------|---------------|")
	for _, b := range bs {
		ceil := b.get("Sgemm/1024/2part", "GFLOP/s")
		for _, T := range []string{"T256", "T1024"} {
			sf, sp := "GPT2Small/"+T+"/TrainStep/sft", "GPT2Small/"+T+"/TrainStep/space"
			fmt.Printf("| %-8s | %-4s | %15s | %17s | %20s | %18s | %18s | %22s | %18s | %13s |\n", b.name, T[1:],
				num(b.get(sf, "tok/s"), 0), num(b.get(sp, "tok/s"), 0),
				num(b.get(sf, "tok/cpu-s"), 0)+", "+num(b.get(sp, "tok/cpu-s"), 0),
				num(b.get(sf, "GFLOP/s"), 1)+", "+num(b.get(sp, "GFLOP/s"), 1),
				num(100*b.get(sf, "GFLOP/s")/ceil, 0)+", "+num(100*b.get(sp, "GFLOP/s")/ceil, 0),
				num(b.get(sf, "peak-RSS-MB"), 0)+", "+num(b.get(sp, "peak-RSS-MB"), 0),
				num(b.get(sf, "B/param"), 1)+", "+num(b.get(sp, "B/param"), 1),
				num(b.get("GPT2Small/"+T+"/LogProbs", "tok/s"), 0))
		}
	}
	fmt.Println()
	for _, b := range bs {
		fmt.Printf("  %-8s KV-cache generation, batch 16: %s tok/s\n", b.name, num(b.get("GPT2Small/Generate", "tok/s"), 1))
		// The 1024^3 ceiling is below what GPT-2's larger products reach on some hosts: the
		// same run's product of GPT-2's own MLP shape, when measured, is the stricter one.
		if g := b.get("Sgemm/gpt2fc/2part", "GFLOP/s"); g > 0 {
			fmt.Printf("  %-8s against a GPT-2-shaped product (1024 x 768 x 3072 in 2 halves, %s GFLOP/s): sft %s %% (T 256), %s %% (T 1024)\n",
				b.name, num(g, 1), num(100*b.get("GPT2Small/T256/TrainStep/sft", "GFLOP/s")/g, 0), num(100*b.get("GPT2Small/T1024/TrainStep/sft", "GFLOP/s")/g, 0))
		}
	}
}

// llmcRow is one RESULT line of llm.c's train_gpt2.c timed by the README's bench_gpt2.c.
type llmcRow struct {
	B, T, threads                    int
	msStep, tokS, gflops, rssMB, bpp float64
}

// parseLLMC reads the RESULT lines of an llm.c run (make bench-llmc); a missing file gives none.
func parseLLMC(path string) ([]llmcRow, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rows []llmcRow
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r llmcRow
		if _, err := fmt.Sscanf(strings.TrimSpace(sc.Text()), "RESULT B=%d T=%d threads=%d: %f ms/step, %f tok/s, %f GFLOP/s, peak RSS %f MB (%f B/param)",
			&r.B, &r.T, &r.threads, &r.msStep, &r.tokS, &r.gflops, &r.rssMB, &r.bpp); err == nil {
			rows = append(rows, r)
		}
	}
	return rows, sc.Err()
}

// llmcTable prints llm.c's rows of the same session, when make bench-llmc ran, and each
// backend's GPT-2 SFT step (the same work: next-token training at batch 4) over llm.c's best
// at the same length.
func llmcTable(rows []llmcRow, bs []*backend) {
	if len(rows) == 0 {
		return
	}
	fmt.Println()
	fmt.Println("llm.c train_gpt2.c (commit db2454f, AdamW step, built and run as the README describes) at the")
	fmt.Println("same shape (vocabulary padded to 50304), random weights, same session:")
	fmt.Println()
	fmt.Println("| B | T    | OMP threads | ms/step | tok/s | GFLOP/s | peak RSS MB | B/param |")
	fmt.Println("|---|------|-------------|---------|-------|---------|-------------|---------|")
	for _, r := range rows {
		fmt.Printf("| %d | %-4d | %11d | %7.0f | %5.0f | %7.1f | %11.0f | %7.1f |\n", r.B, r.T, r.threads, r.msStep, r.tokS, r.gflops, r.rssMB, r.bpp)
	}
	fmt.Println()
	for _, T := range []int{256, 1024} {
		best := nan
		for _, r := range rows {
			if r.B == 4 && r.T == T && (best != best || r.tokS > best) {
				best = r.tokS
			}
		}
		for _, b := range bs {
			ours := b.get(fmt.Sprintf("GPT2Small/T%d/TrainStep/sft", T), "tok/s")
			fmt.Printf("  T %-4d %-8s SFT step / llm.c's best (batch 4): %sx\n", T, b.name, num(ours/best, 2))
		}
	}
}
