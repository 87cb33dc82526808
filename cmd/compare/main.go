// Command compare is `make compare` / `make compare-quick`: a comparison of SFT (n, 4n),
// SPIN and SPACE (mu 1, 3) from one pre-trained base on a fresh local stack, with the report
// written to a local folder (see package compare).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/space-sft/space/compare"
	"github.com/space-sft/space/compare/local"
)

func main() {
	task := flag.String("task", "markov", "built-in task: markov or arith")
	quick := flag.Bool("quick", false, "one seed, two rounds, no search, tiny model (a few minutes)")
	name := flag.String("name", "", "comparison name (default cmp-TASK or quick-TASK)")
	out := flag.String("out", "out/compare", "local folder; the report goes to OUT/NAME/")
	dir := flag.String("dir", ".data/compare", "folder for the stack's data (wiped at start)")
	seeds := flag.Int("seeds", 0, "number of final seeds (default 3, markov 5; quick 1)")
	rounds := flag.Int("rounds", 0, "rounds after the base (default 5; quick 2)")
	n := flag.Int("n", 0, "real train pairs of the 1x arms (default 128; quick 64)")
	specFile := flag.String("spec", "", "CompareSpec JSON file (compare/spec.go); replaces --task/--quick/--name/--seeds/--rounds/--n")
	render := flag.String("render", "", "re-render DIR/compare.md and the PNGs from DIR/results.json, run nothing")
	flag.Parse()
	if *render != "" {
		if err := compare.Render(*render); err != nil {
			fmt.Fprintln(os.Stderr, "compare:", err)
			os.Exit(1)
		}
		return
	}
	spec := compare.Preset(*task, *quick, *name, *seeds, *rounds, *n)
	if *specFile != "" {
		data, err := os.ReadFile(*specFile)
		if err == nil {
			spec = compare.Spec{}
			err = json.Unmarshal(data, &spec)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "compare: --spec:", err)
			os.Exit(1)
		}
	}
	if err := local.Run(context.Background(), *dir, *out, spec, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}
