// Package dataset reads and writes the real prompt/response pairs that a SPACE run learns from.
//
// Parse accepts JSON Lines in the formats people already have on disk, detected from the
// first non-blank line and then required of every line (fields not listed are ignored):
//
//	{"prompt": "...", "response": "..."}                         plain pairs ("rejected" optional)
//	{"prompt": "...", "completion": "..."}                       TRL prompt/completion
//	{"messages": [{"role": "user", "content": "..."}, ...]}      TRL/chat conversational
//	{"real": [msgs...], "generated": [msgs...]}                 SPIN (uclaml/SPIN) files
//	{"instruction": "...", "input": "...", "output": "..."}      Alpaca ("input" optional)
//	{"prompt": "...", "chosen": "...", "rejected": "..."}        preference data (DPO/TRL)
//	{"text": "..."}                                              a corpus of plain texts
//
// and Parquet files (detected by their magic bytes "PAR1", as the Hugging Face Hub serves
// datasets) whose columns carry the same names: each row is read as the JSON object of its
// columns and goes through the same detection and checks, errors naming the row.
//
// How each format becomes a Pair:
//   - message lists: the response is the content of the last assistant message and the
//     prompt is everything before it (one user message: its content; several: "role:
//     content" lines). SPIN's "generated" side is ignored: a SPACE run samples its own
//     synthetic responses.
//   - Alpaca: the prompt is the instruction, followed by a blank line ("\n\n") and the input
//     when the input is not empty (blank counts as empty); the response is the output.
//   - preference data: the chosen response is the real one, and the rejected one is kept in
//     Pair.Rejected for SPIN's original setting (where the rejected response is the
//     synthetic side); training does not use it yet. "chosen" and "rejected" may be strings
//     or message lists (the last assistant message is the response); without a "prompt"
//     field the prompt is the messages of "chosen" before its last assistant message.
//   - text: a Pair with an empty prompt and the text as its response: the model learns the
//     texts themselves (pre-training a base on a corpus). Such a file is usable as a run's
//     data (and test_data): the base trained from scratch learns the texts, the synthetic
//     responses of a round are unconditional samples, and evaluation compares greedy
//     continuations of the empty prompt with the held-out texts. An empty prompt is allowed
//     in this format only.
//
// Every problem is reported as an *Error naming the file, the line (or Parquet row) and the
// fix, and nothing is silently dropped: empty files, lines that are not JSON, missing or
// empty fields, invalid UTF-8, over-long lines, mixed or unknown formats and duplicate
// pairs are all errors (duplicates are kept when Options.AllowDuplicates is set, the run
// spec's allow_duplicates).
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
	"sort"
	"strings"
	"unicode/utf8"
)

// Pair is one real example: a prompt and a human-written response. Rejected is the
// rejected response of a preference record (prompt/chosen/rejected), kept for SPIN's
// original setting; nothing trains on it yet, and it is empty for every other format.
type Pair struct {
	Prompt   string `json:"prompt"`
	Response string `json:"response"`
	Rejected string `json:"rejected,omitempty"`
}

// Format names a supported record layout.
type Format string

const (
	FormatPair       Format = "prompt/response"
	FormatCompletion Format = "prompt/completion"
	FormatMessages   Format = "messages"
	FormatSPIN       Format = "spin"
	FormatAlpaca     Format = "alpaca"
	FormatPreference Format = "prompt/chosen/rejected"
	FormatText       Format = "text"
)

// formatsHint lists the record layouts for an error's fix.
const formatsHint = "use one of the formats: {prompt,response}, {prompt,completion}, {messages}, {real,generated}, " +
	"{instruction,input,output} (Alpaca), {prompt,chosen,rejected}, {text}"

// DefaultMaxLineBytes bounds one JSONL line. A line past it is almost always a broken file
// (a missing newline, a binary blob); reading it whole would cost memory for nothing.
const DefaultMaxLineBytes = 4 << 20

// Error is a dataset problem a retry cannot fix. Line is the 1-based JSONL line, Row the
// 1-based Parquet row; both 0 means the whole file.
type Error struct {
	Name    string // file or object name as the user gave it
	Line    int
	Problem string
	Fix     string
	Row     int
}

func (e *Error) Error() string {
	where := e.Name
	switch {
	case e.Line > 0:
		where = fmt.Sprintf("%s line %d", e.Name, e.Line)
	case e.Row > 0:
		where = fmt.Sprintf("%s row %d", e.Name, e.Row)
	}
	return fmt.Sprintf("dataset %s: %s (fix: %s)", where, e.Problem, e.Fix)
}

// Options tunes Parse. The zero value is the strict default. The run spec embeds it (its
// JSON fields inline), so allow_duplicates is written in a spec as is.
type Options struct {
	// AllowDuplicates keeps exact duplicate pairs (the same prompt and response) instead of
	// failing: each copy is then weighted once more in training.
	AllowDuplicates bool `json:"allow_duplicates,omitempty"`
	// MaxLineBytes bounds a JSONL line; 0 = DefaultMaxLineBytes. Not a spec setting.
	MaxLineBytes int `json:"-"`
}

// Parse reads a whole dataset with the default options.
func Parse(r io.Reader, name string) ([]Pair, error) {
	return ParseWith(r, name, Options{})
}

// parquetMagic starts (and ends) every Parquet file.
var parquetMagic = []byte("PAR1")

// ParseWith reads a whole dataset: a Parquet file when it starts with "PAR1", else JSONL.
func ParseWith(r io.Reader, name string, opt Options) ([]Pair, error) {
	maxLine := opt.MaxLineBytes
	if maxLine <= 0 {
		maxLine = DefaultMaxLineBytes
	}
	br := bufio.NewReaderSize(r, 64<<10)
	if head, _ := br.Peek(len(parquetMagic)); bytes.Equal(head, parquetMagic) {
		return parseParquet(br, name, opt)
	}
	rs := records{name: name, opt: opt, seen: map[[2]string]int{}}
	lineNo := 0
	for {
		line, err := readLine(br, maxLine)
		if err == io.EOF {
			break
		}
		lineNo++
		if errors.Is(err, errLineTooLong) {
			return nil, &Error{Name: name, Line: lineNo, Problem: fmt.Sprintf("line is longer than %d bytes", maxLine),
				Fix: "put one JSON object per line; split or shorten very long records"}
		}
		if err != nil {
			return nil, fmt.Errorf("read dataset %s line %d: %w", name, lineNo, err)
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if !utf8.Valid(line) {
			return nil, &Error{Name: name, Line: lineNo, Problem: "line is not valid UTF-8", Fix: "re-encode the file as UTF-8"}
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(line, &raw); err != nil {
			return nil, &Error{Name: name, Line: lineNo, Problem: "line is not a JSON object: " + err.Error(),
				Fix: "write one JSON object per line (JSON Lines)"}
		}
		if err := rs.add(raw, lineNo); err != nil {
			err.Line = lineNo
			return nil, err
		}
	}
	return rs.done()
}

// records turns decoded records (JSONL lines or Parquet rows) into pairs, holding the
// file's format and the pairs seen so far.
type records struct {
	name    string
	opt     Options
	format  Format
	seen    map[[2]string]int // prompt, response -> the position that first had it
	pairs   []Pair
	parquet bool // positions are Parquet rows, not lines
}

// add checks one record at position pos (its line or row); the caller sets Line or Row
// in the returned error.
func (rs *records) add(raw map[string]json.RawMessage, pos int) *Error {
	e := func(problem, fix string) *Error { return &Error{Name: rs.name, Problem: problem, Fix: fix} }
	f, err := detect(raw)
	if err != nil {
		return e(err.Error(), formatsHint)
	}
	if rs.format == "" {
		rs.format = f
	} else if f != rs.format {
		return e(fmt.Sprintf("format %q differs from the file's first record (%q)", f, rs.format), "use one format for the whole file")
	}
	p, err := decode(f, raw)
	if err != nil {
		return e(err.Error(), fixFor(f))
	}
	if f != FormatText && strings.TrimSpace(p.Prompt) == "" {
		return e(promptField(f)+" is empty", "remove the record or give it a prompt")
	}
	if strings.TrimSpace(p.Response) == "" {
		return e(responseField(f)+" is empty", "remove the record or give it a response")
	}
	k := [2]string{p.Prompt, p.Response}
	if first, dup := rs.seen[k]; dup && !rs.opt.AllowDuplicates {
		return e(fmt.Sprintf("duplicate of %s %d (the same prompt and response)", rs.unit(), first),
			`remove duplicate pairs (they would be weighted twice), or keep them with "allow_duplicates": true in the run spec`)
	} else if !dup {
		rs.seen[k] = pos
	}
	rs.pairs = append(rs.pairs, p)
	return nil
}

func (rs *records) unit() string {
	if rs.parquet {
		return "row"
	}
	return "line"
}

func (rs *records) done() ([]Pair, error) {
	if len(rs.pairs) == 0 {
		return nil, &Error{Name: rs.name, Problem: "file has no records", Fix: "give a JSONL or Parquet file with at least one prompt/response pair"}
	}
	return rs.pairs, nil
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
	case has("chosen"):
		return FormatPreference, nil
	case has("instruction") && has("output"):
		return FormatAlpaca, nil
	case has("instruction"):
		return "", errors.New(`record has "instruction" but no "output" (Alpaca: instruction, optional input, output)`)
	case has("prompt") && has("completion"):
		return FormatCompletion, nil
	case has("prompt") && has("response"):
		return FormatPair, nil
	case has("rejected"):
		return "", errors.New(`record has "rejected" but no "chosen" (preference data: prompt, chosen, rejected)`)
	case has("prompt"):
		return "", errors.New(`record has "prompt" but neither "response" nor "completion" (nor "chosen")`)
	case has("text"):
		return FormatText, nil
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return "", fmt.Errorf("unknown record format with fields %v", keys)
}

func fixFor(f Format) string {
	switch f {
	case FormatMessages, FormatSPIN:
		return `give each conversation a user message and a final {"role":"assistant","content":"..."} message`
	case FormatCompletion:
		return `give "prompt" and "completion" as strings (or message lists)`
	case FormatAlpaca:
		return `give "instruction" and "output" as non-empty strings ("input" is optional: a string, possibly empty)`
	case FormatPreference:
		return `give "prompt" as a string and "chosen" and "rejected" as strings or message lists ending with the assistant's answer`
	case FormatText:
		return `give "text" as a non-empty string`
	}
	return `give "prompt" and "response" as non-empty strings`
}

// promptField and responseField name, in an error, the field a format takes the prompt
// and the response from.
func promptField(f Format) string {
	switch f {
	case FormatAlpaca:
		return "instruction"
	case FormatMessages, FormatSPIN:
		return "prompt (the messages before the last assistant message)"
	}
	return "prompt"
}

func responseField(f Format) string {
	switch f {
	case FormatCompletion:
		return "completion"
	case FormatAlpaca:
		return "output"
	case FormatPreference:
		return "chosen"
	case FormatText:
		return "text"
	case FormatMessages, FormatSPIN:
		return "response (the last assistant message)"
	}
	return "response"
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
		if err != nil {
			return Pair{}, err
		}
		// Optional: WriteJSONL keeps a preference record's rejected response here.
		rej, err := optStr(raw, "rejected")
		return Pair{Prompt: p, Response: r, Rejected: rej}, err
	case FormatCompletion:
		// TRL allows both plain strings and conversational lists for prompt and completion.
		p, err := strOrMessages(raw, "prompt")
		if err != nil {
			return Pair{}, err
		}
		r, err := strOrMessages(raw, "completion")
		return Pair{Prompt: p, Response: r}, err
	case FormatMessages:
		return fromMessages(raw["messages"], "messages")
	case FormatSPIN:
		return fromMessages(raw["real"], "real")
	case FormatAlpaca:
		ins, err := str(raw, "instruction")
		if err != nil {
			return Pair{}, err
		}
		input, err := optStr(raw, "input")
		if err != nil {
			return Pair{}, err
		}
		out, err := str(raw, "output")
		if err != nil {
			return Pair{}, err
		}
		if strings.TrimSpace(ins) == "" { // else the input alone would pass for a prompt
			return Pair{}, errors.New("instruction is empty")
		}
		if strings.TrimSpace(input) != "" {
			ins += "\n\n" + input
		}
		return Pair{Prompt: ins, Response: out}, nil
	case FormatPreference:
		return preference(raw)
	case FormatText:
		t, err := str(raw, "text")
		return Pair{Response: t}, err
	}
	return Pair{}, fmt.Errorf("unsupported format %q", f)
}

// preference decodes prompt/chosen/rejected. chosen and rejected are strings or message
// lists (TRL's conversational preference format: the last assistant message is the
// answer); without "prompt" (TRL's implicit prompt) the prompt is chosen's messages before
// its answer.
func preference(raw map[string]json.RawMessage) (Pair, error) {
	if _, ok := raw["prompt"]; !ok {
		p, err := fromMessages(raw["chosen"], "chosen")
		if err != nil {
			return Pair{}, fmt.Errorf(`record has no "prompt" and %w`, err)
		}
		rej, err := answer(raw, "rejected")
		p.Rejected = rej
		return p, err
	}
	p, err := strOrMessages(raw, "prompt")
	if err != nil {
		return Pair{}, err
	}
	c, err := answer(raw, "chosen")
	if err != nil {
		return Pair{}, err
	}
	rej, err := answer(raw, "rejected")
	return Pair{Prompt: p, Response: c, Rejected: rej}, err
}

// answer is a preference record's response field k: a string, or the content of the last
// assistant message of a message list; an absent k is "" (rejected is optional).
func answer(raw map[string]json.RawMessage, k string) (string, error) {
	js, ok := raw[k]
	if !ok || string(js) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(js, &s); err == nil {
		return s, nil
	}
	var msgs []message
	if err := json.Unmarshal(js, &msgs); err != nil {
		return "", fmt.Errorf("field %q is neither a string nor a list of messages", k)
	}
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == "assistant" {
			return msgs[i].Content, nil
		}
	}
	return "", fmt.Errorf("field %q has no assistant message", k)
}

// optStr is an optional string field: absent or null is "".
func optStr(raw map[string]json.RawMessage, k string) (string, error) {
	if js, ok := raw[k]; !ok || string(js) == "null" {
		return "", nil
	}
	return str(raw, k)
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

// WriteJSONL writes pairs in the plain {prompt, response} format ("rejected" too when a
// pair has one), or as {text} when every pair has an empty prompt (a text corpus), so that
// Parse reads back what a Parse returned.
func WriteJSONL(w io.Writer, pairs []Pair) error {
	text := len(pairs) > 0
	for _, p := range pairs {
		text = text && p.Prompt == "" && p.Rejected == ""
	}
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for _, p := range pairs {
		var v any = p
		if text {
			v = struct {
				Text string `json:"text"`
			}{p.Response}
		}
		if err := enc.Encode(v); err != nil {
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
