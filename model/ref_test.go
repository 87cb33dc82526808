package model

import "math"

// refLogProb is a plain-Go float64 forward of the same weights: the straightforward
// reference for LogProbs and the graph (one sequence, no padding, no batching).
func refLogProb(m *GPT, s Sequence) float64 {
	c := m.Config
	D, H := c.DModel, c.Heads
	hd := D / H
	cache := map[string][]float64{}
	P := func(name string) []float64 {
		if v, ok := cache[name]; ok {
			return v
		}
		cache[name] = floats(m.Param(name).Value)
		return cache[name]
	}
	seq := append(append([]int{}, s.Prompt...), s.Response...)
	T := len(seq) - 1
	x := make([][]float64, T)
	wte, wpe := P("wte"), P("wpe")
	for t := 0; t < T; t++ {
		x[t] = make([]float64, D)
		for i := range x[t] {
			x[t][i] = wte[seq[t]*D+i] + wpe[t*D+i]
		}
	}
	ln := func(v []float64, g, b []float64) []float64 {
		var mean, vr float64
		for _, a := range v {
			mean += a
		}
		mean /= float64(len(v))
		for _, a := range v {
			vr += (a - mean) * (a - mean)
		}
		vr /= float64(len(v))
		o := make([]float64, len(v))
		for i, a := range v {
			o[i] = (a-mean)/math.Sqrt(vr+1e-5)*g[i] + b[i]
		}
		return o
	}
	lin := func(v, w, b []float64) []float64 {
		out := len(b)
		o := append([]float64{}, b...)
		for i, a := range v {
			for j := 0; j < out; j++ {
				o[j] += a * w[i*out+j]
			}
		}
		return o
	}
	for l := 0; l < c.Layers; l++ {
		p := "h" + string(rune('0'+l)) + "."
		qkv := make([][]float64, T)
		for t := range x {
			qkv[t] = lin(ln(x[t], P(p+"ln1.g"), P(p+"ln1.b")), P(p+"attn.wqkv"), P(p+"attn.bqkv"))
		}
		for t := range x {
			a := make([]float64, D)
			for h := 0; h < H; h++ {
				sc := make([]float64, t+1)
				mx := math.Inf(-1)
				for j := 0; j <= t; j++ {
					for k := 0; k < hd; k++ {
						sc[j] += qkv[t][h*hd+k] * qkv[j][D+h*hd+k]
					}
					sc[j] /= math.Sqrt(float64(hd))
					mx = math.Max(mx, sc[j])
				}
				var z float64
				for j := range sc {
					sc[j] = math.Exp(sc[j] - mx)
					z += sc[j]
				}
				for j := range sc {
					for k := 0; k < hd; k++ {
						a[h*hd+k] += sc[j] / z * qkv[j][2*D+h*hd+k]
					}
				}
			}
			o := lin(a, P(p+"attn.wo"), P(p+"attn.bo"))
			for i := range o {
				x[t][i] += o[i]
			}
		}
		for t := range x {
			f := lin(ln(x[t], P(p+"ln2.g"), P(p+"ln2.b")), P(p+"mlp.wfc"), P(p+"mlp.bfc"))
			for i, v := range f {
				f[i] = 0.5 * v * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(v+0.044715*v*v*v)))
			}
			o := lin(f, P(p+"mlp.wproj"), P(p+"mlp.bproj"))
			for i := range o {
				x[t][i] += o[i]
			}
		}
	}
	V := c.VocabSize
	var total float64
	for t := len(s.Prompt) - 1; t < T; t++ {
		h := ln(x[t], P("lnf.g"), P("lnf.b"))
		logits := make([]float64, V)
		for v := 0; v < V; v++ {
			for i := 0; i < D; i++ {
				if c.TiedEmbeddings {
					logits[v] += h[i] * wte[v*D+i]
				} else {
					logits[v] += h[i] * P("lm_head")[i*V+v]
				}
			}
		}
		mx := math.Inf(-1)
		for _, v := range logits {
			mx = math.Max(mx, v)
		}
		var z float64
		for _, v := range logits {
			z += math.Exp(v - mx)
		}
		total += logits[seq[t+1]] - mx - math.Log(z)
	}
	return total
}
