package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/space-sft/space/model"
	"github.com/space-sft/space/storage"
	"github.com/space-sft/space/workflows"
)

// exported is the --json output of `space export`.
type exported struct {
	Run      string   `json:"run"`
	Round    int      `json:"round"`
	ModelKey string   `json:"model_key"`
	SHA256   string   `json:"sha256"`
	Files    []string `json:"files"`
	Verified bool     `json:"verified"`
	Manifest string   `json:"manifest_key"`
}

// tokenizerFile is tokenizer.json next to an exported checkpoint: enough to encode and
// decode without this repository (the byte-level scheme is in model/doc.go).
type tokenizerFile struct {
	Kind      string `json:"kind"`
	VocabSize int    `json:"vocab_size"`
	BOS       int    `json:"bos"`
	EOS       int    `json:"eos"`
	PAD       int    `json:"pad"`
	SEP       int    `json:"sep"`
	Prompt    string `json:"prompt_format"`
	Response  string `json:"response_format"`
}

// cmdExport downloads a round's model (default: the run's best round) as listed in the
// round's manifest, verifying sha256 and size, and writes it with its tokenizer.
func cmdExport(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	cn := connFlags(fs)
	round := fs.Int("round", -1, "round to export (default: the run's best round)")
	out := fs.String("out", "", "output folder (required)")
	asJSON := fs.Bool("json", false, "print JSON")
	s3 := storage.ConfigFromEnv()
	fs.StringVar(&s3.Endpoint, "s3-endpoint", s3.Endpoint, "S3 endpoint URL (S3_ENDPOINT)")
	fs.StringVar(&s3.Bucket, "s3-bucket", s3.Bucket, "bucket (S3_BUCKET)")
	run, err := oneRun(fs, args)
	if err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("set --out DIR")
	}
	if *round < 0 {
		if *round, err = bestRound(ctx, cn, run); err != nil {
			return err
		}
	}
	store, err := storage.New(ctx, s3)
	if err != nil {
		return err
	}
	mkey := storage.RoundManifestKey(run, *round)
	man, err := storage.ReadManifest(ctx, store, mkey, "")
	if err != nil {
		return fmt.Errorf("round %d of run %s has no manifest (not committed yet?): %w", *round, run, err)
	}
	var modelKey string
	for _, o := range man.Keys {
		if strings.HasSuffix(o.Key, ".safetensors") {
			modelKey = o.Key
		}
	}
	if modelKey == "" {
		return fmt.Errorf("manifest %s lists no model", mkey)
	}
	data, err := store.GetListed(ctx, man, modelKey) // sha256 and size checked against the manifest
	if err != nil {
		return err
	}
	m, err := model.Load(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("decode %s: %w", modelKey, err)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	tok, _ := json.MarshalIndent(tokenizerFile{
		Kind: m.Tok.Kind, VocabSize: m.Tok.VocabSize(), BOS: model.BOS, EOS: model.EOS, PAD: model.PAD, SEP: model.SEP,
		Prompt: "BOS, UTF-8 bytes of the prompt, SEP", Response: "UTF-8 bytes of the response, EOS",
	}, "", "  ")
	manJSON, _ := json.MarshalIndent(man, "", "  ")
	res := exported{Run: run, Round: *round, ModelKey: modelKey, SHA256: storage.SHA256Hex(data), Verified: true, Manifest: mkey}
	for name, b := range map[string][]byte{"model.safetensors": data, "tokenizer.json": tok, "manifest.json": manJSON} {
		p := filepath.Join(*out, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
		res.Files = append(res.Files, p)
	}
	if *asJSON {
		return printJSON(res)
	}
	fmt.Fprintf(stdout, "exported run %s round %d to %s\n  model %s\n  sha256 %s (verified against %s)\n", run, *round, *out, modelKey, res.SHA256, mkey)
	return nil
}

// bestRound asks Temporal for the run's best round: from the result of a finished run,
// from the progress query of a running one.
func bestRound(ctx context.Context, cn *conn, run string) (int, error) {
	c, err := cn.dial()
	if err != nil {
		return 0, fmt.Errorf("%w (or give --round)", err)
	}
	defer c.Close()
	s, err := take(ctx, c, run)
	if err != nil {
		return 0, err
	}
	if s.Status == "Running" && s.Progress != nil {
		return s.Progress.BestRound, nil
	}
	var res workflows.RunResult
	if err := c.GetWorkflow(ctx, workflows.WorkflowID(run), "").Get(ctx, &res); err != nil {
		return 0, fmt.Errorf("run %s has no result (%v); give --round", run, err)
	}
	return res.BestRound, nil
}
