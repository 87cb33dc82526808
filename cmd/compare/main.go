// Command compare is `make compare` / `make compare-quick` / `make compare-sftnorm`: a
// comparison of SFT (n, 4n), SPIN and SPACE (mu 1, 3), or with --arms sft-norm of the two
// SFT losses, from one pre-trained base on a fresh local stack, with the report written to
// a local folder (see package compare).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/space-sft/space/compare"
	"github.com/space-sft/space/compare/local"
)

func main() {
	chosen := compare.SpecFlags(flag.CommandLine)
	out := flag.String("out", "out/compare", "local folder; the report goes to OUT/NAME/")
	dir := flag.String("dir", ".data/compare", "folder for the stack's data (wiped at start)")
	render := flag.String("render", "", "re-render DIR/compare.md and the PNGs from DIR/results.json, run nothing")
	flag.Parse()
	if *render != "" {
		if err := compare.Render(*render); err != nil {
			fmt.Fprintln(os.Stderr, "compare:", err)
			os.Exit(1)
		}
		return
	}
	spec, err := chosen()
	if err != nil {
		fmt.Fprintln(os.Stderr, "compare: --spec:", err)
		os.Exit(1)
	}
	if err := local.Run(context.Background(), *dir, *out, spec, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}
