package main

import (
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"sort"
	"strings"
)

// help is a command's -h text beyond its one-line summary (the commands map): its usage
// line, a longer description when one is needed, and examples.
type help struct {
	usage    string
	about    string
	examples []string
	// sub: the command takes a subcommand first (data, schedule, import); `space CMD -h`
	// prints this text, `space CMD SUB -h` the subcommand's flags as well.
	sub bool
}

var helps = map[string]help{
	"run": {usage: "space run --spec FILE | --name NAME [run settings] [--wait] [--json]",
		about: "Starts a SelfPlay workflow (ID space-run-NAME) from a RunSpec file and/or flags; flags override the file.",
		examples: []string{"space run --name r1 --task arith --rounds 3 --wait",
			"space run --spec my-run.json --method spin --json",
			"space run --name wn1 --task wordnet --n 128 --context 128 --rounds 2 --wait",
			"space run --name r2 --task markov --rounds 1 --train-workers 2 --local-steps 8 --wait"}},
	"watch": {usage: "space watch RUN [--json]",
		about:    "Shows the run's progress until it ends: one status block redrawn in place on a terminal, a line per change otherwise.",
		examples: []string{"space watch r1"}},
	"status":   {usage: "space status RUN [--json]", examples: []string{"space status r1 --json"}},
	"list":     {usage: "space list [--method M] [--task T] [--status S] [--query Q] [--json]", examples: []string{"space list --method space --status completed", `space list --query "SpaceBestMetric < 1.5"`}},
	"pause":    {usage: "space pause RUN", examples: []string{"space pause r1"}},
	"resume":   {usage: "space resume RUN", examples: []string{"space resume r1"}},
	"stop":     {usage: "space stop RUN", examples: []string{"space stop r1"}},
	"setup":    {usage: "space setup", about: "Needed once per namespace on a Temporal server other than the local stack (which registers them itself).", examples: []string{"space setup --temporal-address temporal.internal:7233 --namespace ml"}},
	"schedule": {usage: "space schedule create NAME --prefix P --spec FILE --every D | list | delete NAME | trigger NAME", sub: true, examples: []string{"space schedule create nightly --prefix data/incoming/ --spec template.json --every 24h", "space schedule create -h"}},
	"data":     {usage: "space data put FILE [KEY] | ls [PREFIX] | get KEY FILE", sub: true, about: "put checks FILE as a dataset first and uploads it with its sha256 (KEY defaults to data/<file name>).", examples: []string{"space data put my-pairs.jsonl", "space data ls", "space data get data/my-pairs.jsonl copy.jsonl"}},
	"export":   {usage: "space export RUN [--round N] | --model KEY  --out DIR [--format hf|space] [--json]", examples: []string{"space export r1 --out ./r1-model"}},
	"import": {usage: "space import hf SRC --out KEY [--context N] [--dtype float32] [--json]", sub: true,
		about:    "SRC is a folder written by transformers' save_pretrained (config.json, model.safetensors or its shards, tokenizer files) or s3://PREFIX, a prefix in the bucket holding those files.",
		examples: []string{"space import hf ./gpt2 --out bases/gpt2-small.safetensors", "space import hf -h"}},
	"compare": {usage: "space compare --task markov|arith|wordnet [--quick] [--arms sft-norm] [--out DIR] [--json]",
		about:    "wordnet: the workers read the full data from $SPACE_WORDNET_DATA or .data/wordnet (make wordnet-data), else the committed sample; the runs' inputs manifests name which.",
		examples: []string{"space compare --task markov --quick", "space compare --task markov --arms sft-norm", "space compare --task wordnet --quick"}},
	"report": {usage: "space report RUN [--out DIR] [--json]",
		about:    "Copies the run's report from S3 (report.html, one self-contained page to open in a browser; report.md; plots), sha256 verified.",
		examples: []string{"space report r1 --out ./r1-report"}},
	"generate": {usage: "space generate --run RUN [--round N] | --model KEY | --hf DIR | --checkpoint F  [--prompt P] [--json]", examples: []string{`space generate --run r1 --prompt "12+7="`}},
}

// summaryOf is a command's one-line summary from the commands map (set in init: the map
// refers, through the commands and parse, to this file).
var summaryOf func(string) string

func init() { summaryOf = func(name string) string { return commands[name].summary } }

// connectionFlags are the flags of where to connect (Temporal, S3), listed apart from a
// command's own.
var connectionFlags = map[string]bool{
	"temporal-address": true, "address": true, "namespace": true, "task-queue": true, "api-key": true,
	"profile": true, "config-file": true, "s3-endpoint": true, "s3-bucket": true,
}

func isConnectionFlag(name string) bool {
	return connectionFlags[name] || strings.HasPrefix(name, "tls")
}

// wantsHelp reports whether args ask for help.
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "-h", "-help", "--help", "--h":
			return true
		case "--":
			return false
		}
	}
	return false
}

// printCommandHelp writes a command's summary, usage, description and examples.
func printCommandHelp(w io.Writer, name string) {
	top, _, _ := strings.Cut(name, " ")
	h := helps[top]
	fmt.Fprintf(w, "space %s: %s\n\n", name, summaryOf(top))
	if h.usage != "" {
		fmt.Fprintf(w, "usage: %s\n", h.usage)
	}
	if h.about != "" {
		fmt.Fprintf(w, "\n%s\n", wrap(h.about, 92))
	}
	if len(h.examples) > 0 {
		fmt.Fprintln(w, "\nexamples:")
		for _, e := range h.examples {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
}

// setUsage makes -h print the command's help and its flags in two groups: the command's
// own (run settings for `space run`) and the connection's (Temporal, S3). parse calls it.
func setUsage(fs *flag.FlagSet, args []string) {
	if wantsHelp(args) {
		fs.SetOutput(stdout)
	}
	fs.Usage = func() {
		w := fs.Output()
		printCommandHelp(w, fs.Name())
		var own, conn []*flag.Flag
		fs.VisitAll(func(f *flag.Flag) {
			if isConnectionFlag(f.Name) {
				conn = append(conn, f)
			} else {
				own = append(own, f)
			}
		})
		title := "flags"
		if fs.Name() == "run" {
			title = "run settings (override --spec)"
		}
		printFlags(w, title, own)
		printFlags(w, "connection (flags > environment > the Temporal CLI's config-file profile)", conn)
	}
}

func printFlags(w io.Writer, title string, fl []*flag.Flag) {
	if len(fl) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s:\n", title)
	var aliases []string
	for _, f := range fl {
		if strings.HasPrefix(f.Usage, "the same as --") { // the Temporal CLI's names
			aliases = append(aliases, "--"+f.Name)
			continue
		}
		arg, usage := flag.UnquoteUsage(f)
		name := "--" + f.Name
		if arg != "" {
			name += " " + strings.ToUpper(arg)
		}
		if d := f.DefValue; d != "" && d != "false" && d != "0" && d != "[]" {
			usage += fmt.Sprintf(" (default %s)", d)
		}
		if len(name) <= 24 {
			fmt.Fprintf(w, "  %-24s %s\n", name, usage)
		} else {
			fmt.Fprintf(w, "  %s\n  %-24s %s\n", name, "", usage)
		}
	}
	if len(aliases) > 0 {
		fmt.Fprintf(w, "  (the Temporal CLI's names work too: %s)\n", strings.Join(aliases, ", "))
	}
}

// usage is `space -h`: every command, then how to get more.
func usage(w io.Writer) {
	fmt.Fprintln(w, "space fine-tunes language models by self-play (SPACE) as Temporal workflows, data in S3.")
	fmt.Fprintln(w, "\nusage: space COMMAND [flags] [args]\n\ncommands:")
	var names []string
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nexample:\n  space run --name r1 --task arith --rounds 3 --wait")
	fmt.Fprintln(w, "\n`space COMMAND -h` shows a command's usage and flags; `space --version` the build.")
}

// commit is set by the Makefile (-ldflags "-X main.commit=..."), for builds without VCS
// information.
var commit string

// version is `space --version`: the module's version and the VCS commit it was built from,
// as far as the build recorded them (go build -buildvcs=false records no commit).
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "space (no build information)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(unknown)"
	}
	s := fmt.Sprintf("space %s %s", bi.Main.Path, v)
	settings := map[string]string{}
	for _, kv := range bi.Settings {
		settings[kv.Key] = kv.Value
	}
	if settings["vcs.revision"] == "" && commit != "" {
		settings["vcs.revision"] = commit
	}
	if rev := settings["vcs.revision"]; rev != "" {
		s += " commit " + rev
		if settings["vcs.modified"] == "true" {
			s += " (modified)"
		}
		if t := settings["vcs.time"]; t != "" {
			s += " " + t
		}
	} else {
		s += " commit unknown (built with -buildvcs=false or outside a git checkout)"
	}
	return s + " " + bi.GoVersion
}

// wrap breaks s into lines of at most width characters.
func wrap(s string, width int) string {
	var b strings.Builder
	n := 0
	for _, w := range strings.Fields(s) {
		if n > 0 && n+1+len(w) > width {
			b.WriteByte('\n')
			n = 0
		} else if n > 0 {
			b.WriteByte(' ')
			n++
		}
		b.WriteString(w)
		n += len(w)
	}
	return b.String()
}
