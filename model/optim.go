package model

// The optimizer is our own, over the parameter tensors, so that its whole state (moments
// and step count) is plain float64 slices that checkpoints store exactly. gorgonia's solvers
// are not used: their state cannot be saved.
//
//	RMSProp (PyTorch's defaults; the paper's optimizer): v = a v + (1-a) g^2,
//	        p -= lr g / (sqrt(v) + eps),  a = 0.99, eps = 1e-8
//	Adam (Kingma & Ba): m = b1 m + (1-b1) g, v = b2 v + (1-b2) g^2,
//	        p -= lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps),  b1 0.9, b2 0.999, eps 1e-8
//
// No weight decay. The learning rate follows Schedule.

import (
	"fmt"
	"math"
)

const (
	rmspropAlpha = 0.99
	adamBeta1    = 0.9
	adamBeta2    = 0.999
	optEps       = 1e-8
)

// OptimConfig is how a Trainer moves the weights: the optimizer, the learning-rate
// schedule, the batch and the number of epochs. It is the one type for these settings: a
// run spec embeds it (its JSON fields inline) for the rounds, and Validate is their check.
type OptimConfig struct {
	Optimizer  string  `json:"optimizer"`   // "rmsprop" (the paper's) or "adam"; "" means DefaultOptimizer
	LR         float64 `json:"lr"`          // peak learning rate
	WarmupFrac float64 `json:"warmup_frac"` // linear warm-up fraction of the steps, then linear decay to 0
	Epochs     int     `json:"epochs"`      // passes over the examples
	BatchSize  int     `json:"batch_size"`  // examples per optimizer step
	MicroBatch int     `json:"micro_batch"` // examples per forward/backward; 0 = BatchSize (same result, less memory)
	ClipNorm   float64 `json:"clip_norm"`   // global-norm clipping; 0 = off
}

// DefaultOptimizer is the paper's optimizer.
const DefaultOptimizer = "rmsprop"

// DefaultOptim is the paper's round setting at this project's scale: RMSProp, learning rate
// 1e-4 with 10 % warm-up, 2 epochs, batches of 8.
func DefaultOptim() OptimConfig {
	return OptimConfig{Optimizer: DefaultOptimizer, LR: 1e-4, WarmupFrac: 0.1, Epochs: 2, BatchSize: 8}
}

func (o OptimConfig) normalized() OptimConfig {
	if o.Optimizer == "" {
		o.Optimizer = DefaultOptimizer
	}
	if o.MicroBatch <= 0 || o.MicroBatch > o.BatchSize {
		o.MicroBatch = o.BatchSize
	}
	return o
}

// Validate reports the first problem as an *InputError.
func (o OptimConfig) Validate() error {
	bad := func(field, problem, fix string) error {
		return &InputError{Field: field, Problem: problem, Fix: fix}
	}
	switch {
	case o.Optimizer != "" && o.Optimizer != "rmsprop" && o.Optimizer != "adam":
		return bad("optimizer", fmt.Sprintf("%q is not supported", o.Optimizer), `use "rmsprop" or "adam"`)
	case !(o.LR > 0) || math.IsInf(o.LR, 0):
		return bad("lr", fmt.Sprintf("is %v", o.LR), "use a finite positive learning rate, e.g. 1e-4")
	case !(o.WarmupFrac >= 0 && o.WarmupFrac < 1):
		return bad("warmup_frac", fmt.Sprintf("is %v", o.WarmupFrac), "use a fraction in [0, 1), e.g. 0.1 (0: no warm-up)")
	case o.Epochs < 1:
		return bad("epochs", fmt.Sprintf("is %d", o.Epochs), "use at least 1 epoch")
	case o.BatchSize < 1:
		return bad("batch_size", fmt.Sprintf("is %d", o.BatchSize), "use at least 1 example per step")
	case o.MicroBatch < 0:
		return bad("micro_batch", fmt.Sprintf("is %d", o.MicroBatch), "use 0 (= batch size) or a positive number")
	case !(o.ClipNorm >= 0) || math.IsInf(o.ClipNorm, 0):
		return bad("clip_norm", fmt.Sprintf("is %v", o.ClipNorm), "use 0 (off) or a positive norm, e.g. 1")
	}
	return nil
}

type optimizer struct {
	kind string      // "rmsprop" or "adam"
	t    int         // updates done (Adam's bias correction)
	m, v [][]float64 // per parameter; m unused by rmsprop (kept zero)
}

func newOptimizer(kind string, m *GPT) *optimizer {
	o := &optimizer{kind: kind}
	for _, p := range m.Params {
		n := p.Value.Shape().TotalSize()
		o.m = append(o.m, make([]float64, n))
		o.v = append(o.v, make([]float64, n))
	}
	return o
}

// update applies one step with gradient g (per parameter, float64) and learning rate lr.
func (o *optimizer) update(m *GPT, g [][]float64, lr float64) {
	o.t++
	bc1 := 1 - math.Pow(adamBeta1, float64(o.t))
	bc2 := 1 - math.Pow(adamBeta2, float64(o.t))
	for i, p := range m.Params {
		mi, vi, gi := o.m[i], o.v[i], g[i]
		delta := func(j int) float64 {
			if o.kind == "adam" {
				mi[j] = adamBeta1*mi[j] + (1-adamBeta1)*gi[j]
				vi[j] = adamBeta2*vi[j] + (1-adamBeta2)*gi[j]*gi[j]
				return lr * (mi[j] / bc1) / (math.Sqrt(vi[j]/bc2) + optEps)
			}
			vi[j] = rmspropAlpha*vi[j] + (1-rmspropAlpha)*gi[j]*gi[j]
			return lr * gi[j] / (math.Sqrt(vi[j]) + optEps)
		}
		// Element-wise: split over goroutines, same bits whatever the split.
		switch d := p.Value.Data().(type) {
		case []float32:
			parallelChunks(len(d), func(lo, hi int) {
				for j := lo; j < hi; j++ {
					d[j] = float32(float64(d[j]) - delta(j))
				}
			})
		case []float64:
			parallelChunks(len(d), func(lo, hi int) {
				for j := lo; j < hi; j++ {
					d[j] -= delta(j)
				}
			})
		default:
			panic(fmt.Sprintf("model: unsupported dtype %v", p.Value.Dtype()))
		}
	}
}

// parallelChunks is parallelFor for element-wise loops, serial below 64k elements (where
// starting goroutines costs more than it saves).
func parallelChunks(n int, f func(lo, hi int)) {
	if n < 1<<16 {
		f(0, n)
		return
	}
	parallelFor(n, f)
}

// Schedule is the learning rate of step s (0-based) of total: linear warm-up over the first
// ceil(warmupFrac*total) steps (lr*(s+1)/W), then linear decay towards 0
// (lr*(total-s)/(total-W)), as transformers' get_linear_schedule_with_warmup but never 0
// at a step that is taken.
func Schedule(lr, warmupFrac float64, s, total int) float64 {
	w := int(math.Ceil(warmupFrac * float64(total)))
	if s < w {
		return lr * float64(s+1) / float64(w)
	}
	return lr * float64(total-s) / float64(total-w)
}

// clipGlobalNorm scales g so that its global L2 norm is at most maxNorm (when maxNorm > 0)
// and returns the norm before clipping.
//
// The sum of squares is taken per tensor (tensors in parallel, each summed in order), then
// over the tensors in order: the same bits on any number of cores.
func clipGlobalNorm(g [][]float64, maxNorm float64) float64 {
	sq := make([]float64, len(g))
	parallelFor(len(g), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			var s float64
			for _, v := range g[i] {
				s += v * v
			}
			sq[i] = s
		}
	})
	var s float64
	for _, v := range sq {
		s += v
	}
	norm := math.Sqrt(s)
	if maxNorm > 0 && norm > maxNorm {
		f := maxNorm / norm
		for _, gi := range g {
			parallelChunks(len(gi), func(lo, hi int) {
				for j := lo; j < hi; j++ {
					gi[j] *= f
				}
			})
		}
	}
	return norm
}
