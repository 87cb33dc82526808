// Package compare is the research wing: a comparison of methods on a built-in task, the
// paper's protocol, run as one Temporal workflow over SelfPlay children.
//
//   - spec.go: Spec (the comparison: task, arms and their search grids, seeds, rounds),
//     its per-task defaults, its validation (every child spec is checked with the run
//     spec's Validate) and the presets of `make compare` (Preset, Quick, SFTNormArms).
//   - workflow.go: the Compare workflow: pre-train one base, search each arm's setting on
//     a validation split, run every arm on every seed, report.
//   - activities.go: its two activities, PretrainBase and CompareReport.
//   - report.go: the report's rendering (compare.md tables with mean ± std, the optimizer
//     steps of every arm, and paired differences with their 95% t intervals and verdicts;
//     results.json, the raw numbers; one PNG per metric).
//   - client.go: following a running comparison and fetching its report (the CLI's
//     `space compare`); local/: a comparison on a fresh local stack with an in-process
//     worker (`make compare`).
//
// The product's core (workflows/, activities/) knows nothing of this package; it uses
// them as any client would.
package compare
