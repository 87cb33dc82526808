package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
)

// These tests run under every BLAS backend (`go test ./model` and
// `go test -tags openblas ./model`): they compare what the current backend computes
// against fullForwardRef, the plain float64 forward in sample_test.go that uses no BLAS.

// TestBackendSelected: Backend() names the BLAS that gorgonia actually uses.
func TestBackendSelected(t *testing.T) {
	impl := fmt.Sprintf("%T", G.WhichBLAS())
	want := map[string]string{"gonum": "gonum.Implementation", "openblas": "netlib.Implementation"}[Backend()]
	if want == "" || impl != want {
		t.Fatalf("Backend() = %q but gorgonia uses %s", Backend(), impl)
	}
	t.Logf("backend: %s", BackendDetail())
}

// TestBackendLogProbsMatchReference: LogProbs (gorgonia graph, current BLAS) equals the
// BLAS-free reference within 1e-4 relative in float32 and 1e-9 in float64, at a shape
// large enough for the BLAS to use its blocked kernels.
func TestBackendLogProbsMatchReference(t *testing.T) {
	for _, tc := range []struct {
		dtype string
		tol   float64
	}{{"float32", 1e-4}, {"float64", 1e-9}} {
		m, err := New(Config{DModel: 64, Layers: 2, Heads: 4, Context: 32, Seed: 3, DType: tc.dtype}, NewByteTokenizer())
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		var seqs []Sequence
		for i := range 6 {
			p := strings.Repeat("ab", 1+i)
			r := make([]byte, 1+rng.IntN(32-len(p)-3))
			for j := range r {
				r[j] = byte('a' + rng.IntN(26))
			}
			s, err := m.Encode(p, string(r))
			if err != nil {
				t.Fatal(err)
			}
			seqs = append(seqs, s)
		}
		got, err := m.LogProbs(seqs, 4)
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range seqs {
			full := append(append([]int{}, s.Prompt...), s.Response...)
			lg := fullForwardRef(m, full)
			var want float64
			for k, id := range s.Response {
				row := lg[len(s.Prompt)-1+k]
				mx := math.Inf(-1)
				for _, v := range row {
					mx = math.Max(mx, v)
				}
				var z float64
				for _, v := range row {
					z += math.Exp(v - mx)
				}
				want += row[id] - mx - math.Log(z)
			}
			if math.Abs(got[i]-want) > tc.tol*math.Max(1, math.Abs(want)) {
				t.Errorf("%s %s seq %d: LogProbs %.9g, reference %.9g", Backend(), tc.dtype, i, got[i], want)
			}
		}
	}
}
