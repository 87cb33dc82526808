package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/space-sft/space/report"
	"github.com/space-sft/space/workflows"
)

// printRounds prints one row per round and one column per metric.
func printRounds(rounds []workflows.RoundResult, best int) {
	names := report.MetricNames(workflows.RoundMetrics(rounds)...)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "round\t"+strings.Join(names, "\t"))
	for _, r := range rounds {
		mark := ""
		if r.Round == best {
			mark = "*"
		}
		row := []string{fmt.Sprintf("%d%s", r.Round, mark)}
		for _, n := range names {
			if v, ok := r.Metrics[n]; ok {
				row = append(row, fmt.Sprintf("%.4g", v))
			} else {
				row = append(row, "-")
			}
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	tw.Flush()
}

// bar draws a text progress bar of width w.
func bar(done, total, w int) string {
	if total <= 0 {
		return "[" + strings.Repeat(" ", w) + "]"
	}
	n := min(w, done*w/total)
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", w-n) + "]"
}
