package model

// The optimizer is our own, over the parameter tensors, so that its whole state (moments
// and step count) is plain slices that checkpoints store exactly: float32 for float32
// models (the moments, like the gradients, take 4 bytes a parameter), float64 for float64
// ones. Each element's update is computed in float64 and rounded once into the state. gorgonia's solvers
// are not used: their state cannot be saved.
//
//	RMSProp (PyTorch's defaults; the paper's optimizer): v = a v + (1-a) g^2,
//	        p -= lr g / (sqrt(v) + eps),  a = 0.99, eps = 1e-8
//	        with bias_correction: p -= lr g / (sqrt(v / (1-a^t)) + eps), as Adam corrects
//	        its v: without it the first steps of a run are up to 1/sqrt(1-a^t) too long
//	        (10x at t = 1, 2.6x at t = 16, under 2.6 % from t = 298)
//	Adam (Kingma & Ba): m = b1 m + (1-b1) g, v = b2 v + (1-b2) g^2,
//	        p -= lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps),  b1 0.9, b2 0.999, eps 1e-8
//
// No weight decay. The learning rate follows Schedule.

import (
	"fmt"
	"math"

	"github.com/space-sft/space/model/internal/vec"
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
	// BiasCorrection divides RMSProp's second moment by 1-a^t as Adam does (Adam always
	// corrects; the setting is for rmsprop), so the first steps of a run are not too long.
	// Off by default: PyTorch's RMSProp, and every run recorded before the setting.
	BiasCorrection bool `json:"bias_correction,omitempty"`
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

// vecs is one float slice per parameter tensor, all float32 or all float64 (f64): a step's
// gradients and the optimizer's moments. A float32 model keeps them in float32 (4 bytes a
// parameter each, checkpoints of half the size), a float64 model in float64.
type vecs struct {
	f32 [][]float32
	f64 [][]float64
}

func newVecs(m *GPT, f64 bool) vecs {
	var v vecs
	for _, p := range m.Params {
		n := p.Value.Shape().TotalSize()
		if f64 {
			v.f64 = append(v.f64, make([]float64, n))
		} else {
			v.f32 = append(v.f32, make([]float32, n))
		}
	}
	return v
}

func (v vecs) isF64() bool { return v.f64 != nil }

// floats returns tensor i as float64 (a copy).
func (v vecs) floats(i int) []float64 {
	if v.isF64() {
		return append([]float64(nil), v.f64[i]...)
	}
	out := make([]float64, len(v.f32[i]))
	for j, x := range v.f32[i] {
		out[j] = float64(x)
	}
	return out
}

// scale multiplies every element by f (element-wise, split over goroutines: same bits).
func (v vecs) scale(f float64) {
	for i := range v.f32 {
		scaleVec(v.f32[i], f)
	}
	for i := range v.f64 {
		scaleVec(v.f64[i], f)
	}
}

func scaleVec[S fnum](a []S, f float64) {
	parallelChunks(len(a), func(lo, hi int) {
		for j := lo; j < hi; j++ {
			a[j] = S(float64(a[j]) * f)
		}
	})
}

type optimizer struct {
	kind string // "rmsprop" or "adam"
	bc   bool   // rmsprop with bias correction (OptimConfig.BiasCorrection)
	t    int    // updates done (the bias corrections)
	m, v vecs   // per parameter; m unused by rmsprop (kept zero)
}

// newOptimizer makes zero moments, in float64 when f64 (float64 models) else float32.
func newOptimizer(o OptimConfig, m *GPT, f64 bool) *optimizer {
	return &optimizer{kind: o.Optimizer, bc: o.BiasCorrection && o.Optimizer == "rmsprop", m: newVecs(m, f64), v: newVecs(m, f64)}
}

// update applies one step with gradient g (per parameter, the moments' dtype) and learning
// rate lr. Each element's update is computed in float64 from the stored moments and
// gradient; the new moments are stored in their dtype, the weight in the model's.
func (o *optimizer) update(m *GPT, g vecs, lr float64) {
	o.t++
	bc1 := 1 - math.Pow(adamBeta1, float64(o.t))
	bc2 := 1 - math.Pow(adamBeta2, float64(o.t))
	adam := o.kind == "adam"
	if !adam {
		// RMSProp: bc2 divides v only with bias correction (1 leaves it as it is).
		bc2 = 1
		if o.bc {
			bc2 = 1 - math.Pow(rmspropAlpha, float64(o.t))
		}
	}
	for i, p := range m.Params {
		switch d := p.Value.Data().(type) {
		case []float32:
			if o.m.isF64() {
				updateTensor(d, o.m.f64[i], o.v.f64[i], g.f64[i], adam, lr, bc1, bc2)
			} else {
				updateTensor(d, o.m.f32[i], o.v.f32[i], g.f32[i], adam, lr, bc1, bc2)
			}
		case []float64:
			if o.m.isF64() {
				updateTensor(d, o.m.f64[i], o.v.f64[i], g.f64[i], adam, lr, bc1, bc2)
			} else {
				updateTensor(d, o.m.f32[i], o.v.f32[i], g.f32[i], adam, lr, bc1, bc2)
			}
		default:
			panic(fmt.Sprintf("model: unsupported dtype %v", p.Value.Dtype()))
		}
	}
}

// updateTensor is one parameter tensor's update. Element-wise: split over goroutines, same
// bits whatever the split. Float32 weights with float32 moments (a float32 model's state)
// go through the AVX2 kernels where the CPU has them (optimAVX2), the same operations in the
// same order as updateRange, 4 elements at a time: the same bits.
func updateTensor[P, S fnum](d []P, mi, vi, gi []S, adam bool, lr, bc1, bc2 float64) {
	if d32, ok := any(d).([]float32); ok && optimAVX2 {
		if v32, ok := any(vi).([]float32); ok {
			m32, g32 := any(mi).([]float32), any(gi).([]float32)
			parallelChunks(len(d), func(lo, hi int) {
				n := (hi - lo) &^ 3
				if n > 0 {
					if adam {
						vec.AdamF32AVX2(&d32[lo], &m32[lo], &v32[lo], &g32[lo], n,
							adamBeta1, 1-adamBeta1, adamBeta2, 1-adamBeta2, lr, bc1, bc2, optEps)
					} else {
						vec.RMSPropF32AVX2(&d32[lo], &v32[lo], &g32[lo], n, rmspropAlpha, 1-rmspropAlpha, lr, bc2, optEps)
					}
				}
				updateRange(d32, m32, v32, g32, adam, lr, bc1, bc2, lo+n, hi)
			})
			return
		}
	}
	parallelChunks(len(d), func(lo, hi int) { updateRange(d, mi, vi, gi, adam, lr, bc1, bc2, lo, hi) })
}

// optimAVX2: updateTensor uses the AVX2 kernels (tests turn it off to compare).
var optimAVX2 = vec.HaveAVX2

// updateRange updates elements lo..hi-1 (rmsprop when !adam: bc2 is 1 without its bias
// correction, and v/1 = v exactly).
func updateRange[P, S fnum](d []P, mi, vi, gi []S, adam bool, lr, bc1, bc2 float64, lo, hi int) {
	for j := lo; j < hi; j++ {
		g := float64(gi[j])
		var delta float64
		if adam {
			mi[j] = S(adamBeta1*float64(mi[j]) + (1-adamBeta1)*g)
			vi[j] = S(adamBeta2*float64(vi[j]) + (1-adamBeta2)*g*g)
			delta = lr * (float64(mi[j]) / bc1) / (math.Sqrt(float64(vi[j])/bc2) + optEps)
		} else {
			vi[j] = S(rmspropAlpha*float64(vi[j]) + (1-rmspropAlpha)*g*g)
			delta = lr * g / (math.Sqrt(float64(vi[j])/bc2) + optEps)
		}
		d[j] = P(float64(d[j]) - delta)
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
// The sum of squares is taken per tensor in float64 (tensors in parallel, each summed in
// order), then over the tensors in order: the same bits on any number of cores.
func clipGlobalNorm(g vecs, maxNorm float64) float64 {
	n := max(len(g.f32), len(g.f64))
	sq := make([]float64, n)
	parallelFor(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if g.isF64() {
				sq[i] = sumSquares(g.f64[i])
			} else {
				sq[i] = sumSquares(g.f32[i])
			}
		}
	})
	var s float64
	for _, v := range sq {
		s += v
	}
	norm := math.Sqrt(s)
	if maxNorm > 0 && norm > maxNorm {
		g.scale(maxNorm / norm)
	}
	return norm
}

func sumSquares[S fnum](a []S) float64 {
	var s float64
	for _, v := range a {
		s += float64(v) * float64(v)
	}
	return s
}
