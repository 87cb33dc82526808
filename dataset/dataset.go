// Package dataset reads and writes the real prompt/response pairs that a SPACE run learns from.
//
// Parse accepts JSON Lines in the formats people already have on disk, detected from the
// first non-blank line and then required of every line:
//
//	{"prompt": "...", "response": "..."}                         plain pairs
//	{"prompt": "...", "completion": "..."}                       TRL prompt/completion
//	{"messages": [{"role": "user", "content": "..."}, ...]}      TRL/chat conversational
//	{"real": [msgs...], "generated": [msgs...]}                 SPIN (uclaml/SPIN) files
//
// For message lists the response is the content of the last assistant message and the prompt
// is everything before it (one user message: its content; several: "role: content" lines).
// SPIN's "generated" side is ignored: a SPACE run samples its own synthetic responses.
//
// Every problem is reported as an *Error naming the file, the line and the fix, and nothing is
// silently dropped: empty files, lines that are not JSON, missing or empty fields, invalid
// UTF-8, over-long lines, mixed or unknown formats and duplicate pairs are all errors.
//
// It knows nothing of the model, Temporal or S3: it turns bytes into pairs and back.
package dataset

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"unicode/utf8"
)

// Pair is one real example: a prompt and a human-written response.
type Pair struct {
	Prompt   string `json:"prompt"`
	Response string `json:"response"`
}

// Format names a supported JSONL layout.
type Format string

const (
	FormatPair       Format = "prompt/response"
	FormatCompletion Format = "prompt/completion"
	FormatMessages   Format = "messages"
	FormatSPIN       Format = "spin"
)

// DefaultMaxLineBytes bounds one JSONL line. A line past it is almost always a broken file
// (a missing newline, a binary blob); reading it whole would cost memory for nothing.
const DefaultMaxLineBytes = 4 << 20

// Error is a dataset problem a retry cannot fix. Line is 1-based; 0 means the whole file.
type Error struct {
	Name    string // file or object name as the user gave it
	Line    int
	Problem string
	Fix     string
}

func (e *Error) Error() string {
	where := e.Name
	if e.Line > 0 {
		where = fmt.Sprintf("%s line %d", e.Name, e.Line)
	}
	return fmt.Sprintf("dataset %s: %s (fix: %s)", where, e.Problem, e.Fix)
}

// Options tunes Parse. The zero value is the strict default.
type Options struct {
	MaxLineBytes    int  // 0 = DefaultMaxLineBytes
	AllowDuplicates bool // keep exact duplicate pairs instead of failing
}

// Parse reads a whole JSONL dataset with the default options.
func Parse(r io.Reader, name string) ([]Pair, error) {
	return ParseWith(r, name, Options{})
}

// ParseWith reads a whole JSONL dataset.
func ParseWith(r io.Reader, name string, opt Options) ([]Pair, error) {
	maxLine := opt.MaxLineBytes
	if maxLine <= 0 {
		maxLine = DefaultMaxLineBytes
	}
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		pairs  []Pair
		format Format
		seen   = map[Pair]int{}
		lineNo int
	)
	for {
		line, err := readLine(br, maxLine)
		if err == io.EOF {
			break
		}
		lineNo++
		if errors.Is(err, errLineTooLong) {
			return nil, &Error{name, lineNo, fmt.Sprintf("line is longer than %d bytes", maxLine),
				"put one JSON object per line; split or shorten very long records"}
		}
		if err != nil {
			return nil, fmt.Errorf("read dataset %s line %d: %w", name, lineNo, err)
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if !utf8.Valid(line) {
			return nil, &Error{name, lineNo, "line is not valid UTF-8", "re-encode the file as UTF-8"}
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(line, &raw); err != nil {
			return nil, &Error{name, lineNo, "line is not a JSON object: " + err.Error(),
				"write one JSON object per line (JSON Lines)"}
		}
		f, err := detect(raw)
		if err != nil {
			return nil, &Error{name, lineNo, err.Error(), "use one of the formats: {prompt,response}, {prompt,completion}, {messages}, {real,generated}"}
		}
		if format == "" {
			format = f
		} else if f != format {
			return nil, &Error{name, lineNo, fmt.Sprintf("format %q differs from the file's first record (%q)", f, format),
				"use one format for the whole file"}
		}
		p, err := decode(f, raw)
		if err != nil {
			return nil, &Error{name, lineNo, err.Error(), fixFor(f)}
		}
		if strings.TrimSpace(p.Prompt) == "" {
			return nil, &Error{name, lineNo, "prompt is empty", "remove the record or give it a prompt"}
		}
		if strings.TrimSpace(p.Response) == "" {
			return nil, &Error{name, lineNo, "response is empty", "remove the record or give it a response"}
		}
		if first, dup := seen[p]; dup && !opt.AllowDuplicates {
			return nil, &Error{name, lineNo, fmt.Sprintf("duplicate of line %d", first),
				"remove duplicate pairs (they would be weighted twice), or allow duplicates explicitly"}
		}
		seen[p] = lineNo
		pairs = append(pairs, p)
	}
	if len(pairs) == 0 {
		return nil, &Error{Name: name, Problem: "file has no records", Fix: "give a JSONL file with at least one prompt/response pair"}
	}
	return pairs, nil
}

var errLineTooLong = errors.New("line too long")

// readLine returns the next line without its newline; it never holds more than max bytes.
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(buf)+len(chunk) > max+1 { // +1: the newline itself
			// Drain the rest of the line so the caller's error names the right line.
			for err == bufio.ErrBufferFull {
				_, err = br.ReadSlice('\n')
			}
			return nil, errLineTooLong
		}
		buf = append(buf, chunk...)
		switch err {
		case nil:
			return bytes.TrimSuffix(buf, []byte("\n")), nil
		case bufio.ErrBufferFull:
			continue
		case io.EOF:
			if len(buf) == 0 {
				return nil, io.EOF
			}
			return buf, nil
		default:
			return nil, err
		}
	}
}

func detect(raw map[string]json.RawMessage) (Format, error) {
	has := func(k string) bool { _, ok := raw[k]; return ok }
	switch {
	case has("real"):
		return FormatSPIN, nil
	case has("messages"):
		return FormatMessages, nil
	case has("prompt") && has("completion"):
		return FormatCompletion, nil
	case has("prompt") && has("response"):
		return FormatPair, nil
	case has("prompt"):
		return "", errors.New(`record has "prompt" but neither "response" nor "completion"`)
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	return "", fmt.Errorf("unknown record format with fields %v", keys)
}

func fixFor(f Format) string {
	switch f {
	case FormatMessages, FormatSPIN:
		return `give each conversation a user message and a final {"role":"assistant","content":"..."} message`
	case FormatCompletion:
		return `give "prompt" and "completion" as strings (or message lists)`
	}
	return `give "prompt" and "response" as non-empty strings`
}

type message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

func decode(f Format, raw map[string]json.RawMessage) (Pair, error) {
	switch f {
	case FormatPair:
		p, err := str(raw, "prompt")
		if err != nil {
			return Pair{}, err
		}
		r, err := str(raw, "response")
		return Pair{p, r}, err
	case FormatCompletion:
		// TRL allows both plain strings and conversational lists for prompt and completion.
		p, err := strOrMessages(raw, "prompt")
		if err != nil {
			return Pair{}, err
		}
		r, err := strOrMessages(raw, "completion")
		return Pair{p, r}, err
	case FormatMessages:
		return fromMessages(raw["messages"], "messages")
	case FormatSPIN:
		return fromMessages(raw["real"], "real")
	}
	return Pair{}, fmt.Errorf("unsupported format %q", f)
}

func str(raw map[string]json.RawMessage, k string) (string, error) {
	var s string
	if err := json.Unmarshal(raw[k], &s); err != nil {
		return "", fmt.Errorf("field %q is not a string", k)
	}
	return s, nil
}

func strOrMessages(raw map[string]json.RawMessage, k string) (string, error) {
	var s string
	if err := json.Unmarshal(raw[k], &s); err == nil {
		return s, nil
	}
	var msgs []message
	if err := json.Unmarshal(raw[k], &msgs); err != nil {
		return "", fmt.Errorf("field %q is neither a string nor a list of messages", k)
	}
	return render(msgs), nil
}

func fromMessages(js json.RawMessage, field string) (Pair, error) {
	var msgs []message
	if err := json.Unmarshal(js, &msgs); err != nil {
		return Pair{}, fmt.Errorf("field %q is not a list of {role, content} messages", field)
	}
	last := -1
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == "assistant" {
			last = i
			break
		}
	}
	if last < 0 {
		return Pair{}, fmt.Errorf("field %q has no assistant message", field)
	}
	if last == 0 {
		return Pair{}, fmt.Errorf("field %q has no message before the assistant's", field)
	}
	return Pair{Prompt: render(msgs[:last]), Response: msgs[last].Content}, nil
}

// render turns a message list into prompt text: a lone message is its content; several are
// "role: content" lines, so multi-turn context survives in a byte-level model's input.
func render(msgs []message) string {
	if len(msgs) == 1 {
		return msgs[0].Content
	}
	var b strings.Builder
	for i, m := range msgs {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(m.Role)
		b.WriteString(": ")
		b.WriteString(m.Content)
	}
	return b.String()
}

// WriteJSONL writes pairs in the plain {prompt, response} format.
func WriteJSONL(w io.Writer, pairs []Pair) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for _, p := range pairs {
		if err := enc.Encode(p); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// Split shuffles pairs deterministically by seed and holds out round(testFrac*n) of them
// (at least one when testFrac > 0 and n > 1). The input slice is not modified.
func Split(pairs []Pair, testFrac float64, seed uint64) (train, test []Pair) {
	idx := make([]int, len(pairs))
	for i := range idx {
		idx[i] = i
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed5917))
	rng.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
	nTest := int(testFrac*float64(len(pairs)) + 0.5)
	if testFrac > 0 && nTest == 0 && len(pairs) > 1 {
		nTest = 1
	}
	if nTest >= len(pairs) {
		nTest = len(pairs) - 1
	}
	for k, i := range idx {
		if k < nTest {
			test = append(test, pairs[i])
		} else {
			train = append(train, pairs[i])
		}
	}
	return train, test
}
