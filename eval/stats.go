package eval

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// Paired is the summary of paired differences (one per seed): their mean and the two-sided
// 95% confidence interval from the t distribution with N-1 degrees of freedom. A difference
// counts as a win or a loss only when the interval excludes 0 (Verdict).
type Paired struct {
	N      int     `json:"n"`
	Mean   float64 `json:"mean"`
	Lo     float64 `json:"lo"`
	Hi     float64 `json:"hi"`
	StdErr float64 `json:"stderr"`
}

// PairedCI95 summarises the differences d (x_i - y_i, one per seed). With fewer than 2
// differences the interval is infinite (nothing can be concluded).
func PairedCI95(d []float64) Paired { return PairedCI(d, 0.95) }

// PairedCI is PairedCI95 at another confidence level (0 < level < 1).
func PairedCI(d []float64, level float64) Paired {
	p := Paired{N: len(d), Lo: math.Inf(-1), Hi: math.Inf(1)}
	if len(d) == 0 {
		p.Mean = math.NaN()
		return p
	}
	for _, v := range d {
		p.Mean += v
	}
	p.Mean /= float64(len(d))
	if len(d) < 2 {
		p.StdErr = math.Inf(1)
		return p
	}
	var ss float64
	for _, v := range d {
		ss += (v - p.Mean) * (v - p.Mean)
	}
	p.StdErr = math.Sqrt(ss / float64(len(d)-1) / float64(len(d)))
	t := TQuantile(1-(1-level)/2, len(d)-1)
	p.Lo, p.Hi = p.Mean-t*p.StdErr, p.Mean+t*p.StdErr
	return p
}

// Verdict reads the interval for a metric where lower is better when lowerBetter is set:
// "win" when the whole interval is on the better side of 0, "loss" when it is on the worse
// side, "identical" when every difference is exactly 0 (the same model, e.g. two arms at
// round 0, or a metric that is constant), "within noise" otherwise.
func (p Paired) Verdict(lowerBetter bool) string {
	switch {
	case p.N < 2 || math.IsNaN(p.Mean):
		return "too few seeds"
	case p.Mean == 0 && p.StdErr == 0:
		return "identical"
	case p.Hi < 0:
		if lowerBetter {
			return "win"
		}
		return "loss"
	case p.Lo > 0:
		if lowerBetter {
			return "loss"
		}
		return "win"
	}
	return "within noise"
}

// String is "mean [lo, hi]" with 3 significant decimals.
func (p Paired) String() string {
	if p.N < 2 {
		return fmt.Sprintf("%+.3f (n=%d)", p.Mean, p.N)
	}
	return fmt.Sprintf("%+.3f [%+.3f, %+.3f]", p.Mean, p.Lo, p.Hi)
}

// TQuantile is the p-quantile of Student's t distribution with df degrees of freedom
// (df >= 1, 0 < p < 1); NaN outside that range.
func TQuantile(p float64, df int) float64 {
	if df < 1 || !(p > 0 && p < 1) {
		return math.NaN()
	}
	return distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(df)}.Quantile(p)
}
