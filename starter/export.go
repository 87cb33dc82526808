package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/space-sft/space/model"
	"github.com/space-sft/space/storage"
	"github.com/space-sft/space/workflows"
)

// exported is the --json output of `space export`. Run, Round and Manifest are absent for
// --model; SHA256 is the stored checkpoint's (verified), whatever the format.
type exported struct {
	Run      string   `json:"run,omitempty"`
	Round    *int     `json:"round,omitempty"`
	ModelKey string   `json:"model_key"`
	SHA256   string   `json:"sha256"`
	Files    []string `json:"files"`
	Verified bool     `json:"verified"`
	Manifest string   `json:"manifest_key,omitempty"`
	Format   string   `json:"format"` // "hf" or "space"
}

// cmdExport downloads a checkpoint, verifying its sha256, and writes it with its tokenizer:
// a round's model (default: the run's best round) as listed in the round's manifest, or any
// checkpoint key (--model, e.g. an imported base) verified against its stored sha256.
func cmdExport(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	cn := connFlags(fs)
	round := fs.Int("round", -1, "round to export (default: the run's best round)")
	modelKey := fs.String("model", "", "export the checkpoint at this S3 key instead of a run's round (e.g. a base written by space import)")
	format := fs.String("format", "hf", "hf: a transformers GPT-2 folder (config.json, generation_config.json, model.safetensors\n"+
		"in GPT-2's names, tokenizer files) that transformers' from_pretrained loads; space: the checkpoint as stored\n"+
		"and the same tokenizer files")
	out := fs.String("out", "", "output folder (required)")
	asJSON := fs.Bool("json", false, "print JSON")
	s3 := s3Flags(fs, "")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	switch {
	case *modelKey == "" && len(pos) != 1:
		return fmt.Errorf("want one run name or --model KEY, got %q (usage: space export RUN --out DIR)", strings.Join(pos, " "))
	case *modelKey != "" && (len(pos) > 0 || *round >= 0):
		return fmt.Errorf("--model exports one checkpoint key: give no run name or --round with it")
	case *out == "":
		return fmt.Errorf("set --out DIR: the local folder to write the files to")
	case *format != "hf" && *format != "space":
		return fmt.Errorf("--format %q: want hf (a transformers folder) or space (the checkpoint as stored)", *format)
	}
	res := exported{ModelKey: *modelKey, Format: *format}
	if *modelKey == "" {
		res.Run = pos[0]
		if *round < 0 {
			if *round, err = bestRound(ctx, cn, res.Run); err != nil {
				return err
			}
		}
		res.Round = round
	}
	store, err := storage.New(ctx, *s3)
	if err != nil {
		return err
	}
	var data, manJSON []byte
	if *modelKey != "" {
		// Get checks the bytes against the sha256 stored with the object; an object without
		// one (uploaded by another tool) is exported unverified.
		obj, err := store.Stat(ctx, *modelKey)
		if err != nil {
			return err
		}
		if data, err = store.Get(ctx, *modelKey, obj.SHA256); err != nil {
			return err
		}
		res.Verified = obj.SHA256 != ""
	} else {
		mkey := storage.RoundManifestKey(res.Run, *round)
		man, err := storage.ReadManifest(ctx, store, mkey, "")
		if err != nil {
			return fmt.Errorf("round %d of run %s has no manifest (not committed yet?): %w", *round, res.Run, err)
		}
		for _, o := range man.Keys {
			if strings.HasSuffix(o.Key, ".safetensors") {
				res.ModelKey = o.Key
			}
		}
		if res.ModelKey == "" {
			return fmt.Errorf("manifest %s lists no model", mkey)
		}
		if data, err = store.GetListed(ctx, man, res.ModelKey); err != nil { // sha256 and size checked against the manifest
			return err
		}
		res.Verified, res.Manifest = true, mkey
		manJSON, _ = json.MarshalIndent(man, "", "  ")
	}
	res.SHA256 = storage.SHA256Hex(data)
	m, err := model.Load(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("decode %s: %w", res.ModelKey, err)
	}
	tokFiles, err := m.Tok.HFFiles(m.Config.Context)
	if err != nil {
		return fmt.Errorf("tokenizer of %s: %w", res.ModelKey, err)
	}
	files := map[string][]byte{}
	if *format == "hf" {
		sp := m.Tok.SpecialIDs()
		opts := model.HFExportOptions{TokenizerFiles: tokFiles}
		if sp.BOS >= 0 {
			opts.BOSTokenID = &sp.BOS
		}
		if sp.EOS >= 0 {
			opts.EOSTokenID = &sp.EOS
		}
		if err := model.ExportHF(m, opts, func(name string, b []byte) error { files[name] = b; return nil }); err != nil {
			return fmt.Errorf("export %s: %w", res.ModelKey, err)
		}
	} else {
		files[model.HFWeightsFile] = data
		for name, b := range tokFiles {
			files[name] = b
		}
	}
	if manJSON != nil {
		files["manifest.json"] = manJSON
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		p := filepath.Join(*out, name)
		if err := os.WriteFile(p, files[name], 0o644); err != nil {
			return err
		}
		res.Files = append(res.Files, p)
	}
	if *asJSON {
		return printJSON(res)
	}
	what := res.ModelKey
	if res.Run != "" {
		what = fmt.Sprintf("run %s round %d (%s)", res.Run, *round, res.ModelKey)
	}
	fmt.Fprintf(stdout, "exported %s to %s as %s: %s\n", what, *out, *format, strings.Join(names, ", "))
	switch {
	case res.Manifest != "":
		fmt.Fprintf(stdout, "  sha256 %s (verified against %s)\n", res.SHA256, res.Manifest)
	case res.Verified:
		fmt.Fprintf(stdout, "  sha256 %s (verified against the object's stored sha256)\n", res.SHA256)
	default:
		fmt.Fprintf(stdout, "  sha256 %s (NOT verified: the object has no stored sha256; was it uploaded by another tool?)\n", res.SHA256)
	}
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
