package main

// space generate: sample completions from a model for prompts given on the command line, in
// a file or on stdin.
//
// The model comes from exactly one of: a run's round (--run, --round; the manifest's
// sha256 is checked), an S3 key (--model; checked against the object's stored sha256 or
// --sha256), a Hugging Face GPT-2 folder (--hf) or a local space checkpoint (--checkpoint,
// a file or a folder written by `space export`). Sampling is model.GPT.GenerateStream with a
// model.SampleConfig built from the flags (defaults: model.DefaultSampling).
//
// Seeds: prompt i (0-based, in input order) is sampled with seed --seed + i, from its own
// generator (see model.GPT.Generate), so its completion does not depend on the other
// prompts, and `space generate --prompt P --seed S` with the same model and sampling flags
// reproduces a line whose prompt is P and seed S.
//
// Order: plain output decodes one prompt at a time and prints its text as tokens come;
// --json decodes --batch prompts together and prints their lines, in input order, when the
// batch is done. Both give the same completions (a prompt's sample depends only on its
// prompt, its seed, the model and the sampling flags).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/space-sft/space/model"
	"github.com/space-sft/space/storage"
)

// stdin is where prompts are read from without --prompt or --prompts; tests swap it.
var stdin io.Reader = os.Stdin

// stderr gets generate's notes (which model is used); tests swap it.
var stderr io.Writer = os.Stderr

// generated is one line of `space generate --json`.
type generated struct {
	Index            int    `json:"index"`             // the prompt's position in the input
	Prompt           string `json:"prompt"`            // as given
	Completion       string `json:"completion"`        // the decoded response (EOS and special tokens dropped)
	PromptTokens     int    `json:"prompt_tokens"`     // framed prompt (BOS ... SEP)
	CompletionTokens int    `json:"completion_tokens"` // sampled tokens, EOS included
	FinishReason     string `json:"finish_reason"`     // "eos", "length" (--max-new-tokens) or "context"
	Seed             uint64 `json:"seed"`              // --seed + index
}

// modelSource is the model flags of generate: exactly one of Run, Key, HF, Checkpoint.
type modelSource struct {
	Run        string // --run
	Round      int    // --round, -1: the run's best round
	Key        string // --model
	SHA256     string // --sha256, for --model
	HF         string // --hf
	Checkpoint string // --checkpoint
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ", ") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// cmdGenerate samples a completion of each prompt from a model (see the top of this file).
func cmdGenerate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	cn := connFlags(fs)
	var src modelSource
	fs.StringVar(&src.Run, "run", "", "sample from this run's model (with --round; default its best round)")
	fs.IntVar(&src.Round, "round", -1, "round of --run (default: the run's best round, asked from Temporal)")
	fs.StringVar(&src.Key, "model", "", "S3 key of a space checkpoint (.safetensors)")
	fs.StringVar(&src.SHA256, "sha256", "", "expected SHA-256 of --model (default: the one stored with the object)")
	fs.StringVar(&src.HF, "hf", "", "local Hugging Face GPT-2 folder (config.json, model.safetensors, tokenizer files)")
	fs.StringVar(&src.Checkpoint, "checkpoint", "", "local space checkpoint: a .safetensors file, or a folder written by `space export`")
	var prompts stringList
	fs.Var(&prompts, "prompt", "a prompt (repeatable)")
	promptsFile := fs.String("prompts", "", `file of prompts, one per line, or JSON Lines with a "prompt" field ("-": stdin)`)
	sc := model.DefaultSampling()
	fs.Float64Var(&sc.Temperature, "temperature", sc.Temperature, "sampling temperature (0 = greedy)")
	fs.IntVar(&sc.TopK, "top-k", sc.TopK, "keep the K most likely tokens (0 = off)")
	fs.Float64Var(&sc.TopP, "top-p", sc.TopP, "nucleus sampling: keep the most likely tokens up to this probability (0 or 1 = off)")
	fs.IntVar(&sc.MaxNewTokens, "max-new-tokens", sc.MaxNewTokens, "longest completion, EOS included")
	fs.IntVar(&sc.Batch, "batch", sc.Batch, fmt.Sprintf("with --json, prompts decoded together (0 = %d); speed only, never the output", model.DefaultSampleBatch))
	seed := fs.Uint64("seed", 0, "seed of prompt 0; prompt i uses seed+i")
	asJSON := fs.Bool("json", false, "print one JSON object per prompt (JSON Lines; see starter/README.md)")
	s3 := s3Flags(fs, ", for --run and --model")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("unexpected arguments %q: give prompts with --prompt TEXT, --prompts FILE or on stdin", strings.Join(pos, " "))
	}
	if err := sc.Validate(); err != nil {
		var ie *model.InputError
		if errors.As(err, &ie) { // name the flag, not the field
			return fmt.Errorf("--%s: %s (fix: %s)", strings.ReplaceAll(ie.Field, "_", "-"), ie.Problem, ie.Fix)
		}
		return err
	}
	if err := src.check(); err != nil {
		return err
	}
	texts, err := readPrompts(prompts, *promptsFile)
	if err != nil {
		return err
	}
	m, desc, err := src.load(ctx, cn, *s3)
	if err != nil {
		return err
	}
	c := m.Config
	fmt.Fprintf(stderr, "model: %s\n  layers %d, d_model %d, heads %d, context %d, %s tokenizer (%d ids)\n",
		desc, c.Layers, c.DModel, c.Heads, c.Context, m.Tok.Kind, m.Tok.VocabSize())

	ids, err := encodePrompts(m, texts)
	if err != nil {
		return err
	}
	seeds := make([]uint64, len(texts))
	for i := range seeds {
		seeds[i] = *seed + uint64(i)
	}

	enc := json.NewEncoder(stdout)
	batch := 1 // plain output streams one prompt at a time
	if *asJSON {
		batch = sc.Batch
		if batch == 0 {
			batch = model.DefaultSampleBatch
		}
	}
	for lo := 0; lo < len(ids); lo += batch {
		hi := min(lo+batch, len(ids))
		var text *textStream
		if !*asJSON {
			fmt.Fprintf(stdout, "=== prompt %d (seed %d)\n%s\n--- completion\n", lo, seeds[lo], texts[lo])
			text = &textStream{tok: m.Tok}
		}
		resp, err := m.GenerateStream(ids[lo:hi], seeds[lo:hi], sc, func(_, _, id int) error {
			if err := ctx.Err(); err != nil { // Ctrl-C
				return err
			}
			if text != nil {
				io.WriteString(stdout, text.add(id))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for j, r := range resp {
			i := lo + j
			finish := finishReason(r, sc, m.Tok)
			if text != nil {
				fmt.Fprintf(stdout, "%s\n--- %s, %d tokens\n\n", text.rest(), finish, len(r))
				continue
			}
			if err := enc.Encode(generated{Index: i, Prompt: texts[i], Completion: m.Tok.Decode(r), PromptTokens: len(ids[i]),
				CompletionTokens: len(r), FinishReason: finish, Seed: seeds[i]}); err != nil {
				return err
			}
		}
	}
	return nil
}

// encodePrompts frames each prompt as in training (Tokenizer.EncodePrompt) and checks that
// it leaves room in the context for at least one new token.
func encodePrompts(m *model.GPT, texts []string) ([][]int, error) {
	ids := make([][]int, len(texts))
	for i, s := range texts {
		p, err := m.Tok.EncodePrompt(s)
		if err != nil {
			return nil, fmt.Errorf("prompt %d: %w", i, err)
		}
		switch ctx := m.Config.Context; {
		case len(p) == 0:
			return nil, fmt.Errorf("prompt %d is empty and the tokenizer has no BOS or SEP to frame it: give some text", i)
		case len(p) >= ctx:
			return nil, fmt.Errorf("prompt %d is %d tokens long, but the model's context is %d tokens and at least one must remain for the completion: shorten it", i, len(p), ctx)
		}
		ids[i] = p
	}
	return ids, nil
}

// finishReason says why a response of GenerateStream ended: "eos" (the model ended it),
// "length" (--max-new-tokens reached) or "context" (no position left in the context).
func finishReason(resp []int, sc model.SampleConfig, tok *model.Tokenizer) string {
	if n := len(resp); n > 0 && resp[n-1] == tok.SpecialIDs().EOS {
		return "eos"
	}
	if len(resp) >= sc.MaxNewTokens {
		return "length"
	}
	return "context"
}

// textStream turns tokens into text as they come. A BPE token (or a byte token) may end
// inside a UTF-8 character, so add returns the text only up to the last complete character:
// it decodes all the ids so far and returns what was not returned before. Decode of a
// longer id list extends that of a shorter one (it concatenates the tokens' bytes, dropping
// specials, up to EOS), so the pieces add up to Decode of the whole response; rest returns
// what is left at the end (an unfinished character, as Decode has it).
type textStream struct {
	tok  *model.Tokenizer
	ids  []int
	done int // bytes of the decoded text already returned
}

func (s *textStream) add(id int) string {
	s.ids = append(s.ids, id)
	text := s.tok.Decode(s.ids)
	end := len(text)
	// Back off over the start of a character whose bytes have not all come yet. An invalid
	// byte counts as complete (FullRuneInString), so garbage is printed, not held back.
	for i := len(text) - 1; i >= s.done && i >= len(text)-utf8.UTFMax; i-- {
		if utf8.RuneStart(text[i]) {
			if !utf8.FullRuneInString(text[i:]) {
				end = i
			}
			break
		}
	}
	out := text[s.done:end]
	s.done = end
	return out
}

func (s *textStream) rest() string {
	text := s.tok.Decode(s.ids)
	out := text[s.done:]
	s.done = len(text)
	return out
}

// readPrompts returns the --prompt values, then the prompts of --prompts FILE; stdin is
// read when FILE is "-", or when neither flag is given.
func readPrompts(flags []string, file string) ([]string, error) {
	texts := append([]string(nil), flags...)
	if file != "" || len(flags) == 0 {
		r, name := stdin, "stdin"
		if file != "" && file != "-" {
			f, err := os.Open(file)
			if err != nil {
				return nil, fmt.Errorf("--prompts: %w", err)
			}
			defer f.Close()
			r, name = f, file
		} else if f, ok := r.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				fmt.Fprintln(stderr, "reading prompts from the terminal, one per line; end with Ctrl-D")
			}
		}
		more, err := promptLines(r, name)
		if err != nil {
			return nil, err
		}
		texts = append(texts, more...)
	}
	if len(texts) == 0 {
		return nil, fmt.Errorf("no prompts: give --prompt TEXT, --prompts FILE, or prompts on stdin (one per line)")
	}
	return texts, nil
}

// promptLines reads one prompt per line (a trailing CR is dropped; blank lines are skipped),
// or, when the first non-blank line starts with '{', JSON Lines whose objects each have a
// "prompt" string (other fields are ignored, so a dataset file works as it is).
func promptLines(r io.Reader, name string) ([]string, error) {
	br := bufio.NewReader(r)
	var texts []string
	jsonl := false
	for n := 1; ; n++ {
		line, err := br.ReadString('\n')
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		if trimmed := strings.TrimSpace(line); trimmed != "" {
			if len(texts) == 0 && !jsonl && strings.HasPrefix(trimmed, "{") {
				jsonl = true
			}
			if jsonl {
				var rec struct {
					Prompt *string `json:"prompt"`
				}
				if jerr := json.Unmarshal([]byte(trimmed), &rec); jerr != nil {
					return nil, fmt.Errorf("%s line %d: not a JSON object (the first line made this JSON Lines): %v", name, n, jerr)
				}
				if rec.Prompt == nil {
					return nil, fmt.Errorf(`%s line %d: no "prompt" string field`, name, n)
				}
				line = *rec.Prompt
			}
			texts = append(texts, line)
		}
		if err == io.EOF {
			return texts, nil
		}
	}
}

// check requires exactly one model source.
func (s modelSource) check() error {
	var set []string
	for _, f := range []struct{ name, v string }{{"--run", s.Run}, {"--model", s.Key}, {"--hf", s.HF}, {"--checkpoint", s.Checkpoint}} {
		if f.v != "" {
			set = append(set, f.name)
		}
	}
	switch {
	case len(set) == 0:
		return fmt.Errorf("no model: give one of --run RUN [--round N], --model S3KEY, --hf DIR or --checkpoint FILE")
	case len(set) > 1:
		return fmt.Errorf("%s: give only one model source", strings.Join(set, " and "))
	case s.Round >= 0 && s.Run == "":
		return fmt.Errorf("--round needs --run")
	case s.SHA256 != "" && s.Key == "":
		return fmt.Errorf("--sha256 needs --model")
	}
	return nil
}

// load reads the model and says where it came from.
func (s modelSource) load(ctx context.Context, cn *conn, s3 storage.Config) (*model.GPT, string, error) {
	switch {
	case s.HF != "":
		return loadHF(s.HF)
	case s.Checkpoint != "":
		return loadCheckpoint(s.Checkpoint)
	}
	if s.Run != "" {
		if err := storage.ValidateName(s.Run); err != nil {
			return nil, "", fmt.Errorf("--run: %w", err)
		}
		if s.Round < 0 {
			var err error
			if s.Round, err = bestRound(ctx, cn, s.Run); err != nil {
				return nil, "", err
			}
		}
	}
	store, err := storage.New(ctx, s3)
	if err != nil {
		return nil, "", err
	}
	var data []byte
	var key, desc string
	if s.Run != "" {
		var mkey string
		if key, mkey, data, err = roundModel(ctx, store, s.Run, s.Round); err != nil {
			return nil, "", err
		}
		desc = fmt.Sprintf("run %s round %d: %s (sha256 %s, verified against %s)", s.Run, s.Round, key, storage.SHA256Hex(data), mkey)
	} else {
		key = s.Key
		want, how := s.SHA256, "--sha256"
		if want == "" {
			obj, err := store.Stat(ctx, key)
			if err != nil {
				return nil, "", err
			}
			if obj.SHA256 == "" {
				return nil, "", fmt.Errorf("%s has no sha256 stored with it (not uploaded by space), so it cannot be verified: pass --sha256 HEX (sha256sum of the file)", key)
			}
			want, how = obj.SHA256, "the object's stored sha256"
		}
		if data, err = store.Get(ctx, key, want); err != nil {
			return nil, "", err
		}
		desc = fmt.Sprintf("%s (sha256 %s, verified against %s)", key, storage.SHA256Hex(data), how)
	}
	m, err := model.Load(bytes.NewReader(data))
	if err != nil {
		return nil, "", fmt.Errorf("decode %s (a space checkpoint): %w", key, err)
	}
	return m, desc, nil
}

// roundModel fetches the model that the manifest of a run's round lists, verified against
// the manifest's sha256 and size. (export.go does the same lookup.)
func roundModel(ctx context.Context, store *storage.Store, run string, round int) (key, manifestKey string, data []byte, err error) {
	manifestKey = storage.RoundManifestKey(run, round)
	man, err := storage.ReadManifest(ctx, store, manifestKey, "")
	if err != nil {
		return "", "", nil, fmt.Errorf("round %d of run %s has no manifest (no such run or round, or the round is not committed yet): %w", round, run, err)
	}
	for _, o := range man.Keys {
		if strings.HasSuffix(o.Key, ".safetensors") {
			key = o.Key
		}
	}
	if key == "" {
		return "", "", nil, fmt.Errorf("manifest %s lists no model", manifestKey)
	}
	data, err = store.GetListed(ctx, man, key)
	return key, manifestKey, data, err
}

// loadCheckpoint reads a space checkpoint file, or DIR/model.safetensors of a folder written
// by `space export`, checked against the folder's manifest.json when it has one.
func loadCheckpoint(path string) (*model.GPT, string, error) {
	dir := ""
	if st, err := os.Stat(path); err != nil {
		return nil, "", fmt.Errorf("--checkpoint: %w", err)
	} else if st.IsDir() {
		dir, path = path, filepath.Join(path, "model.safetensors")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if dir != "" && errors.Is(err, os.ErrNotExist) {
			if _, cerr := os.Stat(filepath.Join(dir, model.HFConfigFile)); cerr == nil {
				return nil, "", fmt.Errorf("--checkpoint %s: no model.safetensors; it has a config.json: for a Hugging Face folder use --hf", dir)
			}
		}
		return nil, "", fmt.Errorf("--checkpoint: %w", err)
	}
	sum := storage.SHA256Hex(data)
	desc := fmt.Sprintf("%s (sha256 %s)", path, sum)
	if dir != "" {
		if b, err := os.ReadFile(filepath.Join(dir, "manifest.json")); err == nil {
			var man storage.Manifest
			if err := json.Unmarshal(b, &man); err != nil {
				return nil, "", fmt.Errorf("%s: %w", filepath.Join(dir, "manifest.json"), err)
			}
			for _, o := range man.Keys {
				if strings.HasSuffix(o.Key, ".safetensors") {
					if o.SHA256 != sum {
						return nil, "", fmt.Errorf("%s has sha256 %s, but manifest.json lists %s for %s: the file was changed or damaged", path, sum, o.SHA256, o.Key)
					}
					desc = fmt.Sprintf("%s (sha256 %s, verified against manifest.json: %s)", path, sum, o.Key)
				}
			}
		}
	}
	m, err := model.Load(bytes.NewReader(data))
	if err != nil {
		return nil, "", fmt.Errorf("decode %s (a space checkpoint; for a Hugging Face folder use --hf): %w", path, err)
	}
	return m, desc, nil
}

// loadHF reads a Hugging Face GPT-2 folder and pairs it with its tokenizer (hfTokenizer).
func loadHF(dir string) (*model.GPT, string, error) {
	ck, err := model.ImportHFDir(dir, model.HFImportOptions{})
	if err != nil {
		if _, cerr := os.Stat(filepath.Join(dir, model.HFConfigFile)); errors.Is(cerr, os.ErrNotExist) {
			if _, merr := os.Stat(filepath.Join(dir, "model.safetensors")); merr == nil {
				return nil, "", fmt.Errorf("--hf %s: no config.json, so not a Hugging Face folder; a folder written by `space export` is read with --checkpoint", dir)
			}
		}
		return nil, "", fmt.Errorf("--hf %s: %w", dir, err)
	}
	tok, err := hfTokenizer(dir, ck)
	if err != nil {
		return nil, "", fmt.Errorf("--hf %s: %w", dir, err)
	}
	m, err := ck.Model(tok)
	if err != nil {
		return nil, "", fmt.Errorf("--hf %s: %w", dir, err)
	}
	return m, fmt.Sprintf("%s (Hugging Face %s)", dir, ck.Layout), nil
}

// hfTokenizer is the tokenizer of a Hugging Face folder:
//   - a tokenizer.json written by space (it has a "kind" field, as `space export` writes
//     it): that tokenizer;
//   - Hugging Face tokenizer files (tokenizer.json, or vocab.json and merges.txt):
//     model.LoadHFTokenizer;
//   - none, and vocab_size 260: the byte tokenizer (model.ExportHF writes no tokenizer files
//     for a byte-level model).
func hfTokenizer(dir string, ck *model.HFCheckpoint) (*model.Tokenizer, error) {
	if b, ok := ck.TokenizerFiles["tokenizer.json"]; ok {
		var probe struct {
			Kind string `json:"kind"`
		}
		if json.Unmarshal(b, &probe) == nil && probe.Kind != "" {
			var tok model.Tokenizer
			if err := json.Unmarshal(b, &tok); err != nil {
				return nil, fmt.Errorf("tokenizer.json (space format, kind %q): %w", probe.Kind, err)
			}
			return &tok, nil
		}
	}
	_, hasJSON := ck.TokenizerFiles["tokenizer.json"]
	_, hasVocab := ck.TokenizerFiles["vocab.json"]
	switch {
	case hasJSON || hasVocab:
		tok, err := model.LoadHFTokenizer(dir)
		if err != nil {
			return nil, fmt.Errorf("tokenizer: %w", err)
		}
		return tok, nil
	case ck.Config.VocabSize == model.ByteVocab:
		return model.NewByteTokenizer(), nil
	}
	return nil, fmt.Errorf("no tokenizer files (tokenizer.json, or vocab.json and merges.txt), and vocab_size %d is not the byte tokenizer's %d: add the tokenizer files of the model",
		ck.Config.VocabSize, model.ByteVocab)
}
