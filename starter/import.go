package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/space-sft/space/model"
	"github.com/space-sft/space/storage"
)

// imported is the --json output of `space import hf`.
type imported struct {
	Source       string       `json:"source"`
	Key          string       `json:"key"`
	SHA256       string       `json:"sha256"`
	Bytes        int64        `json:"bytes"`
	Parameters   int          `json:"parameters"`
	Config       model.Config `json:"config"` // vocab_size, d_model, layers, heads, context, tied_embeddings, dtype
	NPositions   int          `json:"n_positions"`
	Tokenizer    string       `json:"tokenizer"` // kind: "bpe" or "byte"
	Layout       string       `json:"layout"`    // GPT2LMHeadModel or GPT2Model
	SourceDTypes []string     `json:"source_dtypes"`
}

// cmdImport reads a Hugging Face GPT-2 checkpoint (a local folder or an S3 prefix), builds
// its tokenizer from the tokenizer files beside it, and stores it as a space checkpoint
// under --out, which a run then names as its base.
func cmdImport(ctx context.Context, args []string) error {
	flags := flag.NewFlagSet("import", flag.ContinueOnError)
	out := flags.String("out", "", "S3 key to write the checkpoint to (required), e.g. models/gpt2/model.safetensors")
	ctxLen := flags.Int("context", 0, "model context in tokens (default: n_positions of config.json; smaller keeps the first positions)")
	dtype := flags.String("dtype", "float32", "parameter dtype: float32 or float64")
	asJSON := flags.Bool("json", false, "print JSON")
	s3 := s3Flags(flags, "")
	pos, err := parse(flags, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 || pos[0] != "hf" {
		return fmt.Errorf("want `space import hf SRC --out KEY`, got %q (hf, a transformers GPT-2 folder, is the only format)", strings.Join(pos, " "))
	}
	src := pos[1]
	if *out == "" {
		return fmt.Errorf("set --out KEY: the S3 key of the checkpoint to write, e.g. --out models/gpt2/model.safetensors (a run then uses it as \"base\")")
	}
	if err := storage.ValidateKey(*out); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	store, err := storage.New(ctx, *s3)
	if err != nil {
		return err
	}
	if err := store.CheckBucket(ctx); err != nil { // before reading a large model
		return err
	}
	fsys, err := sourceFS(ctx, store, src)
	if err != nil {
		return err
	}
	ck, err := model.ImportHF(fsys, model.HFImportOptions{Context: *ctxLen, DType: *dtype})
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	tok, err := ck.Tokenizer()
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	m, err := ck.Model(tok)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	var buf bytes.Buffer
	if err := m.Save(&buf); err != nil {
		return err
	}
	obj, err := store.Put(ctx, *out, buf.Bytes())
	if err != nil {
		return err
	}
	res := imported{Source: src, Key: obj.Key, SHA256: obj.SHA256, Bytes: obj.Size, Parameters: m.NumParams(), Config: m.Config,
		NPositions: ck.NPositions, Tokenizer: tok.Kind, Layout: ck.Layout, SourceDTypes: ck.SourceDTypes}
	if *asJSON {
		return printJSON(res)
	}
	c := m.Config
	fmt.Fprintf(stdout, "imported %s (%s, %s) to %s\n  sha256 %s, %d bytes\n"+
		"  %d parameters: d_model %d, layers %d, heads %d, context %d (n_positions %d), vocab %d, tied embeddings %v, %s\n"+
		"  tokenizer %s\n  use it as a run's base: \"base\": %q\n",
		src, ck.Layout, strings.Join(ck.SourceDTypes, ","), obj.Key, obj.SHA256, obj.Size,
		res.Parameters, c.DModel, c.Layers, c.Heads, c.Context, ck.NPositions, c.VocabSize, c.TiedEmbeddings, c.DType,
		tok.Kind, obj.Key)
	return nil
}

// sourceFS opens SRC: s3://PREFIX (a folder of objects in the configured bucket) or a local
// folder.
func sourceFS(ctx context.Context, store *storage.Store, src string) (fs.FS, error) {
	if prefix, ok := strings.CutPrefix(src, "s3://"); ok {
		if prefix = strings.Trim(prefix, "/"); prefix == "" {
			return nil, fmt.Errorf("%s: give a prefix, e.g. s3://models/gpt2 (the folder's objects in bucket %q)", src, store.Bucket())
		}
		return storage.PrefixFS(ctx, store, prefix+"/")
	}
	st, err := os.Stat(src)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%s: %w (give a local folder saved by transformers' save_pretrained, or s3://PREFIX)", src, err)
	case !st.IsDir():
		return nil, fmt.Errorf("%s is a file: give the folder that holds config.json and model.safetensors", src)
	}
	return os.DirFS(src), nil
}
