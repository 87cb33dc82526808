package dataset

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go"
)

// parseParquet reads a Parquet file whose columns are named as the JSONL fields of one of
// the formats (prompt/response, instruction/input/output, prompt/chosen/rejected, text,
// messages, ...). Each row becomes the JSON object of its columns and is checked as a JSONL
// line would be; errors name the 1-based row. Columns of no format are ignored, as
// unknown JSONL fields are.
func parseParquet(r io.Reader, name string, opt Options) ([]Pair, error) {
	b, err := io.ReadAll(r) // a footer-indexed format: the reader needs random access
	if err != nil {
		return nil, fmt.Errorf("read dataset %s: %w", name, err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, &Error{Name: name, Problem: "starts like a Parquet file (PAR1) but cannot be read as one: " + err.Error(),
			Fix: "write the file again with a Parquet writer (pandas.to_parquet, datasets' to_parquet), or convert it to JSONL"}
	}
	rs := records{name: name, opt: opt, seen: map[[2]string]int{}, parquet: true}
	pr := parquet.NewReader(f)
	defer pr.Close()
	for row := 1; ; row++ {
		rec := map[string]any{}
		err := pr.Read(&rec)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, &Error{Name: name, Row: row, Problem: "row cannot be read: " + err.Error(),
				Fix: "write the file again with a Parquet writer, or convert it to JSONL"}
		}
		raw := make(map[string]json.RawMessage, len(rec))
		for k, v := range rec {
			js, err := json.Marshal(textValues(v))
			if err != nil {
				return nil, &Error{Name: name, Row: row, Problem: fmt.Sprintf("column %q: %v", k, err),
					Fix: "use string columns (or lists of {role, content} structs for messages)"}
			}
			raw[k] = js
		}
		if err := rs.add(raw, row); err != nil {
			err.Row = row
			return nil, err
		}
	}
	return rs.done()
}

// textValues turns the byte arrays of a row (Parquet strings without the STRING annotation
// come back as []byte) into strings, so that they encode as JSON strings, not base64.
// Bytes that are not UTF-8 stay bytes, and the record check then says the field is not a
// string.
func textValues(v any) any {
	switch v := v.(type) {
	case []byte:
		if utf8.Valid(v) {
			return string(v)
		}
	case map[string]any:
		for k, x := range v {
			v[k] = textValues(x)
		}
	case []any:
		for i, x := range v {
			v[i] = textValues(x)
		}
	}
	return v
}
