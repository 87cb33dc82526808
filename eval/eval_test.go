package eval

import (
	"math"
	"testing"
)

func TestDistinctBigrams(t *testing.T) {
	if got := DistinctBigrams([][]int{{1, 2, 1, 2}, {1, 2}}); got != 2.0/4 {
		t.Errorf("DistinctBigrams = %v, want 0.5", got)
	}
	if got := DistinctBigrams([][]int{{1}}); got != 0 {
		t.Errorf("no bigrams: got %v, want 0", got)
	}
}

// TestRewards checks the reward metrics on numbers worked out by hand: mu = 2, so
// ln mu = 0.693; real rewards 1 and -1, synthetic rewards -1, 2, 0.5 and -3.
func TestRewards(t *testing.T) {
	ex := []SelfPlayExample{
		{LogpReal: -1, RefReal: -2, Gen: [][]int{{1, 2}, {3}}, LogpGen: []float64{-3, -1}, RefGen: []float64{-2, -3}},
		{LogpReal: -3, RefReal: -2, Gen: [][]int{{4, 5, 6}, {7}}, LogpGen: []float64{-1.5, -5}, RefGen: []float64{-2, -2}},
	}
	v := map[string]float64{}
	Rewards(ex, 2, v)
	want := map[string]float64{
		RewardReal:   0, // (1 - 1) / 2
		RewardSynth:  (-1 + 2 + 0.5 - 3) / 4,
		Margin:       0.375,
		DiscAccuracy: 4.0 / 6, // real: 1 > ln 2; synthetic: -1, 0.5 and -3 < ln 2
		SynthLength:  7.0 / 4,
		SynthDist2:   1, // bigrams (1,2), (4,5), (5,6): all distinct
	}
	for k, w := range want {
		if math.Abs(v[k]-w) > 1e-12 {
			t.Errorf("%s = %v, want %v", k, v[k], w)
		}
	}
}

func TestKLFrom(t *testing.T) {
	if got := KLFrom([]float64{-1, -2}, []float64{-1.5, -2.5}); got != 0.5 {
		t.Errorf("KLFrom = %v, want 0.5", got)
	}
}

// MeanChars counts characters, not bytes: "héllo" is 5.
func TestMeanChars(t *testing.T) {
	if got := MeanChars([]string{"ab", "héllo"}); got != 3.5 {
		t.Errorf("MeanChars = %v, want 3.5", got)
	}
}
