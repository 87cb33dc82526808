package dataset

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseFormats(t *testing.T) {
	cases := []struct {
		name, in string
		want     Pair
	}{
		{"pair", `{"prompt":"2+2?","response":"4"}`, Pair{Prompt: "2+2?", Response: "4"}},
		{"completion", `{"prompt":"2+2?","completion":"4"}`, Pair{Prompt: "2+2?", Response: "4"}},
		{"completion-chat", `{"prompt":[{"role":"user","content":"2+2?"}],"completion":[{"role":"assistant","content":"4"}]}`, Pair{Prompt: "2+2?", Response: "4"}},
		{"messages", `{"messages":[{"role":"user","content":"2+2?"},{"role":"assistant","content":"4"}]}`, Pair{Prompt: "2+2?", Response: "4"}},
		{"messages-multi", `{"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"2+2?"},{"role":"assistant","content":"4"}]}`, Pair{Prompt: "system: be brief\nuser: 2+2?", Response: "4"}},
		{"alpaca", `{"instruction":"Add the numbers.","input":"2+2","output":"4"}`, Pair{Prompt: "Add the numbers.\n\n2+2", Response: "4"}},
		{"alpaca-no-input", `{"instruction":"2+2?","output":"4"}`, Pair{Prompt: "2+2?", Response: "4"}},
		{"alpaca-empty-input", `{"instruction":"2+2?","input":"","output":"4"}`, Pair{Prompt: "2+2?", Response: "4"}},
		{"preference", `{"prompt":"2+2?","chosen":"4","rejected":"5"}`, Pair{Prompt: "2+2?", Response: "4", Rejected: "5"}},
		{"preference-chat", `{"prompt":[{"role":"user","content":"2+2?"}],"chosen":[{"role":"assistant","content":"4"}],"rejected":[{"role":"assistant","content":"5"}]}`, Pair{Prompt: "2+2?", Response: "4", Rejected: "5"}},
		{"preference-implicit-prompt", `{"chosen":[{"role":"user","content":"2+2?"},{"role":"assistant","content":"4"}],"rejected":[{"role":"user","content":"2+2?"},{"role":"assistant","content":"5"}]}`, Pair{Prompt: "2+2?", Response: "4", Rejected: "5"}},
		{"pair-with-rejected", `{"prompt":"2+2?","response":"4","rejected":"5"}`, Pair{Prompt: "2+2?", Response: "4", Rejected: "5"}},
		{"text", `{"text":"Once upon a time."}`, Pair{Response: "Once upon a time."}},
		{"text-extra-fields", `{"text":"Once upon a time.","id":7,"meta":{"source":"x"}}`, Pair{Response: "Once upon a time."}},
		{"spin", `{"real":[{"role":"user","content":"2+2?"},{"role":"assistant","content":"4"}],"generated":[{"role":"user","content":"2+2?"},{"role":"assistant","content":"5"}]}`, Pair{Prompt: "2+2?", Response: "4"}},
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
		{"alpaca-no-output", `{"instruction":"a","input":"b"}`, 1, `"instruction" but no "output"`},
		{"alpaca-empty-output", `{"instruction":"a","output":" "}`, 1, "output is empty"},
		{"alpaca-empty-instruction", `{"instruction":"","input":"b","output":"c"}`, 1, "instruction is empty"},
		{"alpaca-input-not-string", `{"instruction":"a","input":3,"output":"c"}`, 1, `"input" is not a string`},
		{"preference-no-chosen", `{"prompt":"a","rejected":"b"}`, 1, `"rejected" but no "chosen"`},
		{"preference-empty-chosen", `{"prompt":"a","chosen":"","rejected":"b"}`, 1, "chosen is empty"},
		{"preference-no-prompt", `{"chosen":"a","rejected":"b"}`, 1, `no "prompt"`},
		{"preference-duplicate", `{"prompt":"a","chosen":"b","rejected":"c"}` + "\n" + `{"prompt":"a","chosen":"b","rejected":"d"}`, 2, "duplicate of line 1"},
		{"text-empty", `{"text":"a"}` + "\n" + `{"text":""}`, 2, "text is empty"},
		{"text-not-string", `{"text":["a"]}`, 1, `"text" is not a string`},
		{"text-then-pair", `{"text":"a"}` + "\n" + `{"prompt":"a","response":"b"}`, 2, "differs"},
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

// The messages name the file, the line, the problem and the fix, in the user's words.
func TestErrorMessages(t *testing.T) {
	cases := []struct{ in, want string }{
		{`{"prompt":"a","response":"b"}` + "\n" + `{"prompt":"a","response":"b"}`,
			`dataset d.jsonl line 2: duplicate of line 1 (the same prompt and response) (fix: remove duplicate pairs (they would be weighted twice), or keep them with "allow_duplicates": true in the run spec)`},
		{`{"question":"a","answer":"b"}`,
			`dataset d.jsonl line 1: unknown record format with fields [answer question] (fix: use one of the formats: {prompt,response}, {prompt,completion}, {messages}, {real,generated}, {instruction,input,output} (Alpaca), {prompt,chosen,rejected}, {text})`},
		{`{"instruction":"a","output":""}`,
			`dataset d.jsonl line 1: output is empty (fix: remove the record or give it a response)`},
	}
	for _, c := range cases {
		_, err := Parse(strings.NewReader(c.in), "d.jsonl")
		if err == nil || err.Error() != c.want {
			t.Errorf("got  %v\nwant %s", err, c.want)
		}
	}
}

func TestAllowDuplicates(t *testing.T) {
	in := `{"prompt":"a","response":"b"}` + "\n" + `{"prompt":"a","response":"b"}`
	got, err := ParseWith(strings.NewReader(in), "d", Options{AllowDuplicates: true})
	if err != nil || len(got) != 2 {
		t.Fatalf("got %v %v", got, err)
	}
	if _, err := ParseWith(strings.NewReader(in), "d", Options{}); err == nil || !strings.Contains(err.Error(), "allow_duplicates") {
		t.Fatalf("off: want a duplicate error naming allow_duplicates, got %v", err)
	}
	// The spec's field: Options is embedded in the run spec with its JSON inline.
	var o Options
	if err := json.Unmarshal([]byte(`{"allow_duplicates":true}`), &o); err != nil || !o.AllowDuplicates {
		t.Fatalf("allow_duplicates did not decode: %+v %v", o, err)
	}
}

// Text corpora and preference pairs survive WriteJSONL and Parse (Prepare writes the
// run's train and test sets that way and the activities read them back).
func TestRoundTripTextAndRejected(t *testing.T) {
	for _, pairs := range [][]Pair{
		{{Response: "one text"}, {Response: "another"}},
		{{Prompt: "q", Response: "good", Rejected: "bad"}, {Prompt: "r", Response: "fine"}},
	} {
		var buf bytes.Buffer
		if err := WriteJSONL(&buf, pairs); err != nil {
			t.Fatal(err)
		}
		back, err := Parse(&buf, "rt")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(back, pairs) {
			t.Fatalf("got %+v want %+v", back, pairs)
		}
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
