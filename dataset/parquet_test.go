package dataset

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// writeParquet writes rows (structs whose parquet tags name the columns) as a Parquet file.
func writeParquet[T any](t *testing.T, rows []T) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := parquet.Write(&buf, rows); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(buf.Bytes(), []byte("PAR1")) {
		t.Fatal("not a Parquet file")
	}
	return buf.Bytes()
}

type pqPair struct {
	Prompt   string `parquet:"prompt"`
	Response string `parquet:"response"`
}

type pqAlpaca struct {
	Instruction string `parquet:"instruction"`
	Input       string `parquet:"input,optional"`
	Output      string `parquet:"output"`
	ID          int64  `parquet:"id"` // a column of no format: ignored
}

type pqPreference struct {
	Prompt   string `parquet:"prompt"`
	Chosen   string `parquet:"chosen"`
	Rejected string `parquet:"rejected"`
}

type pqText struct {
	Text string `parquet:"text"`
}

type pqMessage struct {
	Role    string `parquet:"role"`
	Content string `parquet:"content"`
}

type pqMessages struct {
	Messages []pqMessage `parquet:"messages,list"`
}

func TestParseParquet(t *testing.T) {
	cases := []struct {
		name string
		file []byte
		want []Pair
	}{
		{"pair", writeParquet(t, []pqPair{{"2+2?", "4"}, {"3+3?", "6"}}),
			[]Pair{{Prompt: "2+2?", Response: "4"}, {Prompt: "3+3?", Response: "6"}}},
		{"alpaca", writeParquet(t, []pqAlpaca{{"Add.", "2+2", "4", 1}, {"3+3?", "", "6", 2}}),
			[]Pair{{Prompt: "Add.\n\n2+2", Response: "4"}, {Prompt: "3+3?", Response: "6"}}},
		{"preference", writeParquet(t, []pqPreference{{"2+2?", "4", "5"}}),
			[]Pair{{Prompt: "2+2?", Response: "4", Rejected: "5"}}},
		{"text", writeParquet(t, []pqText{{"Once upon a time."}, {"The end."}}),
			[]Pair{{Response: "Once upon a time."}, {Response: "The end."}}},
		{"messages", writeParquet(t, []pqMessages{{[]pqMessage{{"user", "2+2?"}, {"assistant", "4"}}}}),
			[]Pair{{Prompt: "2+2?", Response: "4"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Parse(bytes.NewReader(c.file), "d.parquet")
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %+v want %+v", got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Fatalf("row %d: got %+v want %+v", i+1, got[i], c.want[i])
				}
			}
		})
	}
}

func TestParseParquetErrors(t *testing.T) {
	type unknown struct {
		Question string `parquet:"question"`
		Answer   string `parquet:"answer"`
	}
	cases := []struct {
		name    string
		file    []byte
		opt     Options
		row     int
		problem string
	}{
		{"empty-response", writeParquet(t, []pqPair{{"a", "b"}, {"c", ""}}), Options{}, 2, "response is empty"},
		{"duplicate", writeParquet(t, []pqPair{{"a", "b"}, {"c", "d"}, {"a", "b"}}), Options{}, 3, "duplicate of row 1"},
		{"unknown", writeParquet(t, []unknown{{"a", "b"}}), Options{}, 1, "unknown record format with fields [answer question]"},
		{"no-rows", writeParquet(t, []pqPair{}), Options{}, 0, "no records"},
		{"truncated", writeParquet(t, []pqPair{{"a", "b"}})[:20], Options{}, 0, "cannot be read as one"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseWith(bytes.NewReader(c.file), "d.parquet", c.opt)
			var de *Error
			if !errors.As(err, &de) {
				t.Fatalf("want *Error, got %v", err)
			}
			if de.Row != c.row || de.Line != 0 || !strings.Contains(de.Problem, c.problem) || de.Fix == "" {
				t.Fatalf("got row %d problem %q fix %q; want row %d problem containing %q", de.Row, de.Problem, de.Fix, c.row, c.problem)
			}
			if c.row > 0 && !strings.Contains(err.Error(), "d.parquet row ") {
				t.Fatalf("error does not name the file and row: %v", err)
			}
		})
	}
	got, err := ParseWith(bytes.NewReader(writeParquet(t, []pqPair{{"a", "b"}, {"a", "b"}})), "d.parquet", Options{AllowDuplicates: true})
	if err != nil || len(got) != 2 {
		t.Fatalf("allow_duplicates: got %v %v", got, err)
	}
}
