package model

import (
	"math"
	"testing"
)

func tinyConfig(dtype string, tied bool) Config {
	return Config{VocabSize: ByteVocab, Shape: Shape{DModel: 16, Layers: 2, Heads: 2, Context: 24}, TiedEmbeddings: tied, Seed: 7, DType: dtype}
}

func mustSeq(t testing.TB, m *GPT, p, r string) Sequence {
	t.Helper()
	s, err := m.Encode(p, r)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testSeqs(t testing.TB, m *GPT) []Sequence {
	return []Sequence{mustSeq(t, m, "1+2=", "3"), mustSeq(t, m, "hello", "world!"), mustSeq(t, m, "", "x"), mustSeq(t, m, "abc", "héllo wörld")}
}

// randomize perturbs every parameter (incl. LayerNorm gains and biases) so that tests
// exercise all of them, not the init's special values.
func randomize(m *GPT, seed uint64) {
	m2, _ := New(Config{VocabSize: m.Config.VocabSize, Shape: Shape{DModel: m.Config.DModel, Layers: m.Config.Layers, Heads: m.Config.Heads, Context: m.Config.Context}, TiedEmbeddings: m.Config.TiedEmbeddings, Seed: seed, DType: "float64"}, m.Tok)
	for i, p := range m.Params {
		r := floats(m2.Params[i].Value)
		v := floats(p.Value)
		for j := range v {
			v[j] += 5 * r[(j*7+3)%len(r)]
		}
		p.Value = newDense(p.Value.Dtype(), p.Value.Shape(), v)
	}
}

func TestLogProbsMatchesReference(t *testing.T) {
	for _, tc := range []struct {
		dtype string
		tied  bool
		tol   float64
	}{{"float64", true, 1e-9}, {"float64", false, 1e-9}, {"float32", true, 1e-3}} {
		m, err := New(tinyConfig(tc.dtype, tc.tied), NewByteTokenizer())
		if err != nil {
			t.Fatal(err)
		}
		randomize(m, 11)
		seqs := testSeqs(t, m)
		for _, batch := range []int{1, 3, 4} {
			got, err := m.LogProbs(seqs, batch)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range seqs {
				want := refLogProb(m, s)
				if math.Abs(got[i]-want) > tc.tol*math.Max(1, math.Abs(want)) {
					t.Errorf("%s tied=%v batch %d seq %d: LogProbs %v, reference %v", tc.dtype, tc.tied, batch, i, got[i], want)
				}
			}
		}
	}
}

// TestLogProbsBatchingAndPadding: a sequence's log-prob does not depend on the batch size,
// on its neighbours, or on the padded length of the graph (float32, the default).
func TestLogProbsBatchingAndPadding(t *testing.T) {
	m, err := New(tinyConfig("", true), nil)
	if err != nil {
		t.Fatal(err)
	}
	randomize(m, 3)
	short := mustSeq(t, m, "ab", "c")
	long := mustSeq(t, m, "a long one", "reply!")
	alone, err := m.LogProbs([]Sequence{short}, 1) // padded to 8 positions
	if err != nil {
		t.Fatal(err)
	}
	mixed, err := m.LogProbs([]Sequence{long, short, short}, 2) // padded to 24 positions
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range mixed[1:] {
		if math.Abs(v-alone[0]) > 1e-5*math.Abs(alone[0]) {
			t.Fatalf("log-prob alone %v, in a padded batch %v", alone[0], v)
		}
	}
	if mixed[1] != mixed[2] {
		t.Fatalf("same sequence, different rows: %v vs %v", mixed[1], mixed[2])
	}
	if len(m.graphs) != 2 {
		t.Fatalf("%d graphs cached, want 2 (one per shape)", len(m.graphs))
	}
	if alone[0] >= 0 || mixed[0] >= mixed[1] {
		t.Fatalf("implausible log-probs %v %v", alone, mixed)
	}
}
