package eval

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	got := Normalize("  The Capital, of PERU is: \"Lima\"!\n")
	if want := []string{"the", "capital", "of", "peru", "is", "lima"}; !slices.Equal(got, want) {
		t.Fatalf("got %q want %q", got, want)
	}
}

// Values computed by hand.
func TestExactMatchAndF1(t *testing.T) {
	cases := []struct {
		out, ref string
		em, f1   float64
	}{
		{"Lima.", "lima", 1, 1},
		{"It is Lima", "Lima", 0, 0.5},                          // P = 1/3, R = 1: 2(1/3)/(4/3) = 0.5
		{"the cat sat", "the cat sat down", 0, 2 * 0.75 / 1.75}, // P = 1, R = 3/4: 6/7
		{"a a b", "a b b", 0, 2.0 / 3},                          // common a,b = 2: P = R = 2/3
		{"Paris", "Lima", 0, 0},                                 // nothing shared
		{"", "Lima", 0, 0},                                      // empty output
		{"!!", "...", 1, 1},                                     // both empty once normalized
		{"4", "4", 1, 1},                                        //
		{"sat the cat", "the cat sat", 0, 1},                    // same bag of tokens, other order
		{"Ab, cd ef gh", "ab CD xy", 0, 2 * (2.0 / 4) * (2.0 / 3) / (2.0/4 + 2.0/3)}, // P = 1/2, R = 2/3: 4/7
	}
	for _, c := range cases {
		if em := ExactMatchScore(c.out, c.ref); em != c.em {
			t.Errorf("exact match %q vs %q: %v, want %v", c.out, c.ref, em, c.em)
		}
		if f1 := TokenF1(c.out, c.ref); math.Abs(f1-c.f1) > 1e-12 {
			t.Errorf("F1 %q vs %q: %v, want %v", c.out, c.ref, f1, c.f1)
		}
	}
	if f := TokenF1("the cat sat", "the cat sat down"); math.Abs(f-6.0/7) > 1e-12 {
		t.Fatalf("F1 %v, want 6/7", f)
	}
}

func TestScorer(t *testing.T) {
	if !(Scorer{}).IsZero() || (Scorer{Contains: "x"}).IsZero() {
		t.Fatal("IsZero")
	}
	for _, c := range []struct {
		s         Scorer
		out, ref  string
		pass, bad bool
	}{
		{Scorer{Regex: `^[0-9]+$`}, "42", "", true, false},
		{Scorer{Regex: `^[0-9]+$`}, "42 apples", "", false, false},
		{Scorer{Regex: `\d+`}, "42 apples", "", true, false},
		{Scorer{Contains: "Lima"}, "It is Lima.", "", true, false},
		{Scorer{Contains: "Lima"}, "It is lima.", "", false, false},
		{Scorer{ContainsReference: true}, "It is Lima.", "Lima", true, false},
		{Scorer{ContainsReference: true}, "It is Paris.", "Lima", false, false},
	} {
		if err := c.s.Validate(); err != nil {
			t.Fatalf("%+v: %v", c.s, err)
		}
		if got := c.s.Compile()(c.out, c.ref); got != c.pass {
			t.Errorf("%+v on %q: %v, want %v", c.s, c.out, got, c.pass)
		}
	}
	for _, c := range []struct {
		s    Scorer
		want string
	}{
		{Scorer{Regex: `([0-9]+`}, "regex"},
		{Scorer{Regex: `x`, Contains: "y"}, "one rule"},
	} {
		err := c.s.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want an error mentioning %q", c.s, err, c.want)
		}
	}
}
