// Command space is the CLI of space: it starts self-play fine-tuning runs and talks to them
// through Temporal, and exports their checkpoints from S3.
//
//	space run      --spec FILE | flags  [--wait] [--json]   start a run (workflow "space-run-NAME")
//	space watch    RUN [--json]                           live progress until the run ends
//	space status   RUN [--json]                           progress or result, once
//	space list     [--json]                               runs known to Temporal
//	space pause|resume|stop RUN                           signals (between activities / after the round)
//	space schedule create|list|delete|trigger ...         periodic fine-tuning on new data
//	space data     put FILE [KEY] | ls [PREFIX] | get KEY FILE  datasets in the bucket (put checks FILE first)
//	space export   RUN [--round N] | --model KEY  --out DIR [--format hf|space] [--json]   checkpoint + tokenizer, sha256 verified
//	space report   RUN [--out DIR] [--json]                 the run's report.html (open in a browser), report.md and plots
//	space import   hf SRC --out KEY [--context N] [--json]  a transformers GPT-2 (folder or s3://PREFIX) as a space checkpoint
//	space compare  --task markov|arith [--quick] [--out DIR] SFT vs SPIN vs SPACE, report to DIR
//	space generate --run RUN [--round N] | --model KEY | --hf DIR | --checkpoint F  [--prompt P] [--json]  stream completions
//	space setup                                           register the search attributes on a namespace
//	space --version                                       module version and commit
//
// `space CMD -h` prints the command's usage, an example and its flags, its own apart from
// the connection's (help.go), and exits 0.
//
// Connection flags (every command but import): --temporal-address (TEMPORAL_ADDRESS, default
// 127.0.0.1:7233), --namespace (TEMPORAL_NAMESPACE, default "default"), --task-queue
// (SPACE_TASK_QUEUE, default "space"), and for TLS or Temporal Cloud --tls, --tls-ca,
// --tls-cert, --tls-key, --tls-server-name, --api-key, --profile, --config-file (the Temporal
// CLI's variables and config-file profiles; see internal/temporalclient). export and import
// read S3 from S3_ENDPOINT, S3_BUCKET, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (and
// --s3-endpoint, --s3-bucket).
// See README.md in this folder for the --json shapes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"

	"github.com/space-sft/space/internal/temporalclient"
	"github.com/space-sft/space/storage"
)

// command is one subcommand: it parses its own flags from args.
type command struct {
	summary string
	run     func(ctx context.Context, args []string) error
}

var commands = map[string]command{
	"run":      {"start a run", cmdRun},
	"watch":    {"show a run's live progress until it ends", cmdWatch},
	"status":   {"show a run's progress or result", cmdStatus},
	"list":     {"list runs", cmdList},
	"pause":    {"pause a run between activities", signalCmd("pause")},
	"resume":   {"resume a paused run", signalCmd("resume")},
	"stop":     {"stop a run after its current round (then report)", signalCmd("stop")},
	"schedule": {"create|list|delete|trigger periodic fine-tuning", cmdSchedule},
	"export":   {"download a run's checkpoint and tokenizer", cmdExport},
	"import":   {"store a transformers GPT-2 checkpoint as a space checkpoint (a run's base)", cmdImport},
	"compare":  {"compare SFT, SPIN and SPACE on a task (report to a local folder)", cmdCompare},
	"data":     {"put FILE [KEY] | ls [PREFIX] | get KEY FILE: datasets in S3", cmdData},
	"generate": {"sample completions from a run's round, an S3 key or a local model", cmdGenerate},
	"setup":    {"register space's search attributes on a Temporal namespace (once per server)", cmdSetup},
	"report":   {"download a run's report (report.html to open in a browser, report.md, plots)", cmdReport},
}

// stdout is where results go; tests swap it.
var stdout io.Writer = os.Stdout

func main() { os.Exit(space(os.Args[1:])) }

// space runs the CLI and returns its exit status: 0, 1 for a failed command, 2 for a
// command line that cannot be run (-h and --version are not errors).
func space(args []string) int {
	if len(args) == 0 {
		usage(os.Stderr)
		return 2
	}
	switch args[0] {
	case "help":
		if len(args) > 1 { // `space help run` is `space run -h`
			return space([]string{args[1], "-h"})
		}
		usage(stdout)
		return 0
	case "-h", "-help", "--help":
		usage(stdout)
		return 0
	case "--version", "-version", "version":
		fmt.Fprintln(stdout, version())
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "space: unknown command %q\n\n", args[0])
		usage(os.Stderr)
		return 2
	}
	if rest := args[1:]; helps[args[0]].sub && (len(rest) == 0 || wantsHelp(rest[:1])) {
		// `space data -h`: the command's help; `space data put -h` adds the flags.
		if len(rest) == 0 {
			printCommandHelp(os.Stderr, args[0])
			return 2
		}
		printCommandHelp(stdout, args[0])
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := cmd.run(ctx, args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			if wantsHelp(args[1:]) {
				return 0 // the usage is printed, and asking for it is no error
			}
			return 2
		}
		fmt.Fprintln(os.Stderr, "space "+args[0]+":", err)
		return 1
	}
	return 0
}

// conn holds the connection flags every command has.
type conn struct {
	temporal *temporalclient.Config // --temporal-address, --namespace, --tls*, --api-key
	queue    string
}

func connFlags(fs *flag.FlagSet) *conn {
	c := &conn{temporal: temporalclient.Flags(fs)}
	fs.StringVar(&c.queue, "task-queue", env("SPACE_TASK_QUEUE", "space"), "task queue of the workers")
	return c
}

func (c *conn) dial() (client.Client, error) {
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cl, err := c.temporal.Dial(client.Options{Logger: log.NewStructuredLogger(quiet)})
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s (is it running? `make up` starts a local one; or set TEMPORAL_ADDRESS): %w", c.temporal.Address, err)
	}
	return cl, nil
}

// s3Flags declares --s3-endpoint and --s3-bucket over the environment's S3 settings
// (storage.ConfigFromEnv); note ends their usage text (e.g. ", for --run and --model").
func s3Flags(fs *flag.FlagSet, note string) *storage.Config {
	s3 := storage.ConfigFromEnv()
	fs.StringVar(&s3.Endpoint, "s3-endpoint", s3.Endpoint, "S3 endpoint URL (S3_ENDPOINT)"+note)
	fs.StringVar(&s3.Bucket, "s3-bucket", s3.Bucket, "bucket (S3_BUCKET)"+note)
	return &s3
}

// parse parses flags and returns the positional arguments, allowing flags after them
// (`space watch r1 --json`), which the flag package alone does not.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	setUsage(fs, args)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// oneRun expects exactly one positional argument, the run name.
func oneRun(fs *flag.FlagSet, args []string) (string, error) {
	pos, err := parse(fs, args)
	if err != nil {
		return "", err
	}
	if len(pos) != 1 {
		return "", fmt.Errorf("want one run name, got %q (usage: space %s RUN)", strings.Join(pos, " "), fs.Name())
	}
	return pos[0], nil
}

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
