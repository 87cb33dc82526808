package dataset

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestParseFormats(t *testing.T) {
	cases := []struct {
		name, in string
		want     Pair
	}{
		{"pair", `{"prompt":"2+2?","response":"4"}`, Pair{"2+2?", "4"}},
		{"completion", `{"prompt":"2+2?","completion":"4"}`, Pair{"2+2?", "4"}},
		{"completion-chat", `{"prompt":[{"role":"user","content":"2+2?"}],"completion":[{"role":"assistant","content":"4"}]}`, Pair{"2+2?", "4"}},
		{"messages", `{"messages":[{"role":"user","content":"2+2?"},{"role":"assistant","content":"4"}]}`, Pair{"2+2?", "4"}},
		{"messages-multi", `{"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"2+2?"},{"role":"assistant","content":"4"}]}`, Pair{"system: be brief\nuser: 2+2?", "4"}},
		{"spin", `{"real":[{"role":"user","content":"2+2?"},{"role":"assistant","content":"4"}],"generated":[{"role":"user","content":"2+2?"},{"role":"assistant","content":"5"}]}`, Pair{"2+2?", "4"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(c.in+"\n"), "x.jsonl")
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0] != c.want {
				t.Fatalf("got %+v want %+v", got, c.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	long := `{"prompt":"` + strings.Repeat("a", 200) + `","response":"b"}`
	cases := []struct {
		name, in string
		line     int
		problem  string
	}{
		{"empty", "", 0, "no records"},
		{"blank-only", "\n  \n", 0, "no records"},
		{"not-json", `{"prompt":"a","response":"b"}` + "\nnot json\n", 2, "not a JSON object"},
		{"missing-response", `{"prompt":"a"}`, 1, "neither"},
		{"empty-prompt", `{"prompt":" ","response":"b"}`, 1, "prompt is empty"},
		{"empty-response", `{"prompt":"a","response":""}`, 1, "response is empty"},
		{"non-string", `{"prompt":1,"response":"b"}`, 1, "not a string"},
		{"invalid-utf8", "{\"prompt\":\"a\xff\",\"response\":\"b\"}", 1, "UTF-8"},
		{"unknown", `{"question":"a","answer":"b"}`, 1, "unknown record format"},
		{"mixed", `{"prompt":"a","response":"b"}` + "\n" + `{"prompt":"a","completion":"c"}`, 2, "differs"},
		{"duplicate", `{"prompt":"a","response":"b"}` + "\n" + `{"prompt":"a","response":"b"}`, 2, "duplicate of line 1"},
		{"no-assistant", `{"messages":[{"role":"user","content":"a"}]}`, 1, "no assistant"},
		{"too-long", `{"prompt":"a","response":"b"}` + "\n" + long + "\n" + `{"prompt":"c","response":"d"}`, 2, "longer than"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseWith(strings.NewReader(c.in), "data.jsonl", Options{MaxLineBytes: 100})
			var de *Error
			if !errors.As(err, &de) {
				t.Fatalf("want *Error, got %v", err)
			}
			if de.Line != c.line || !strings.Contains(de.Problem, c.problem) || de.Fix == "" {
				t.Fatalf("got line %d problem %q fix %q; want line %d problem containing %q", de.Line, de.Problem, de.Fix, c.line, c.problem)
			}
			if !strings.Contains(err.Error(), "data.jsonl") {
				t.Fatalf("error does not name the input: %v", err)
			}
		})
	}
}

func TestAllowDuplicates(t *testing.T) {
	in := `{"prompt":"a","response":"b"}` + "\n" + `{"prompt":"a","response":"b"}`
	got, err := ParseWith(strings.NewReader(in), "d", Options{AllowDuplicates: true})
	if err != nil || len(got) != 2 {
		t.Fatalf("got %v %v", got, err)
	}
}

func TestHugeLineIsRejectedWithoutReadingItWhole(t *testing.T) {
	// A 100 MB line: rejected with the line number; memory stays bounded by the line limit.
	var b bytes.Buffer
	b.WriteString(`{"prompt":"a","response":"b"}` + "\n" + `{"prompt":"`)
	b.Write(bytes.Repeat([]byte("x"), 100<<20))
	b.WriteString(`","response":"b"}` + "\n")
	_, err := Parse(&b, "big.jsonl")
	var de *Error
	if !errors.As(err, &de) || de.Line != 2 {
		t.Fatalf("want line-2 error, got %v", err)
	}
}

func TestRoundTripAndSplit(t *testing.T) {
	var pairs []Pair
	for i := 0; i < 50; i++ {
		pairs = append(pairs, Pair{Prompt: "p<" + string(rune('a'+i%26)) + strings.Repeat("é", i%3) + ">" + string(rune('0'+i/26)), Response: "r\n\"" + string(rune('A'+i%26))})
	}
	var buf bytes.Buffer
	if err := WriteJSONL(&buf, pairs); err != nil {
		t.Fatal(err)
	}
	back, err := Parse(&buf, "rt")
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != len(pairs) {
		t.Fatalf("len %d", len(back))
	}
	for i := range pairs {
		if back[i] != pairs[i] {
			t.Fatalf("pair %d: %+v != %+v", i, back[i], pairs[i])
		}
	}
	tr, te := Split(pairs, 0.2, 7)
	tr2, te2 := Split(pairs, 0.2, 7)
	if len(te) != 10 || len(tr) != 40 {
		t.Fatalf("split sizes %d/%d", len(tr), len(te))
	}
	for i := range te {
		if te[i] != te2[i] {
			t.Fatal("split not deterministic")
		}
	}
	_, te3 := Split(pairs, 0.2, 8)
	same := true
	for i := range te {
		same = same && te[i] == te3[i]
	}
	if same {
		t.Fatal("different seeds gave the same split")
	}
	_ = tr2
}
