package model

import (
	"fmt"

	G "gorgonia.org/gorgonia"
)

// graphKey identifies a graph shape: B rows of T positions.
type graphKey struct{ B, T int }

// net is one built gorgonia graph of the model for a fixed (B, T): built once, then reused
// for every batch of that shape (inputs refilled through st, weights bound with G.Let).
type net struct {
	g      *G.ExprGraph
	st     *batchState
	params []*G.Node // in m.Params order
	logp   *G.Node   // [B] log p(response | prompt) per row
	loss   *G.Node   // scalar, training graphs only
	ls     *lossState
	grads  G.Nodes // d loss / d params, training graphs only (tied wte: see addEmbedGrad)
	tied   bool    // training graph of tied embeddings: wte's gradient lacks the embedding's rows
	vm     G.VM
}

// padT is the number of positions a graph needs for sequences of at most maxLen tokens:
// maxLen-1 inputs (the last token is only a target), rounded up to a multiple of 8 so that
// batches of similar lengths share a graph, and at most Context.
func padT(maxLen, context int) int {
	t := (maxLen - 1 + 7) / 8 * 8
	if t < 1 {
		t = 1
	}
	if t > context {
		t = context
	}
	return t
}

// build constructs the forward graph (x -> per-row log-probs). With loss != nil it adds the
// loss over the rows and the symbolic gradients of all parameters.
func (m *GPT) build(B, T int, ls *lossState) (*net, error) {
	c := m.Config
	if T > c.Context {
		return nil, fmt.Errorf("model: graph length %d exceeds context %d", T, c.Context)
	}
	g := G.NewGraph()
	st := newBatchState(B, T)
	st.pad = m.Tok.padFill()
	if st.pad >= m.Config.VocabSize { // a tokenizer that does not match the model (tests of raw checkpoints)
		st.pad = 0
	}
	n := &net{g: g, st: st, ls: ls}
	dt := c.dtype()
	byName := map[string]*G.Node{}
	for _, p := range m.Params {
		var node *G.Node
		if p.Value.Dims() == 1 {
			node = G.NewVector(g, dt, G.WithShape(p.Value.Shape()...), G.WithName(p.Name), G.WithValue(p.Value))
		} else {
			node = G.NewMatrix(g, dt, G.WithShape(p.Value.Shape()...), G.WithName(p.Name), G.WithValue(p.Value))
		}
		n.params = append(n.params, node)
		byName[p.Name] = node
	}
	P := func(name string) *G.Node { return byName[name] }
	var err error
	must := func(x *G.Node, e error) *G.Node {
		if e != nil && err == nil {
			err = e
		}
		return x
	}
	linear := func(x *G.Node, w, b string) *G.Node {
		return must(G.ApplyOp(newLinearOp(false, true), x, P(w), P(b)))
	}
	ln := func(x *G.Node, pre string) *G.Node {
		return must(G.ApplyOp(newLayerNormOp(), x, P(pre+".g"), P(pre+".b")))
	}

	// x = wte[tokens] + wpe[positions]   [B*T, D]
	x := must(G.ApplyOp(newEmbedOp(st, 0, c.TiedEmbeddings && ls != nil), P("wte"), P("wpe")))
	for l := 0; l < c.Layers; l++ {
		h := fmt.Sprintf("h%d.", l)
		// x = x + attn(ln1(x))
		qkv := linear(ln(x, h+"ln1"), h+"attn.wqkv", h+"attn.bqkv")
		a := must(G.ApplyOp(newAttnOp(st, c.Heads), qkv))
		x = must(G.ApplyOp(newAddOp(), x, linear(a, h+"attn.wo", h+"attn.bo")))
		// x = x + mlp(ln2(x))
		f := must(G.ApplyOp(newGeluOp(), linear(ln(x, h+"ln2"), h+"mlp.wfc", h+"mlp.bfc")))
		x = must(G.ApplyOp(newAddOp(), x, linear(f, h+"mlp.wproj", h+"mlp.bproj")))
	}
	x = ln(x, "lnf")
	var logits *G.Node
	if c.TiedEmbeddings {
		logits = must(G.ApplyOp(newLinearOp(true, false), x, P("wte")))
	} else {
		logits = must(G.ApplyOp(newLinearOp(false, false), x, P("lm_head")))
	}
	n.logp = must(G.ApplyOp(newTokLogpOp(st), logits))
	if err != nil {
		return nil, fmt.Errorf("model: building graph: %w", err)
	}
	if ls == nil {
		n.vm = G.NewTapeMachine(g)
		return n, nil
	}
	n.tied = c.TiedEmbeddings
	perEx := must(G.ApplyOp(newLossOp(ls), n.logp))
	n.loss = must(G.Sum(perEx))
	if err != nil {
		return nil, fmt.Errorf("model: building loss: %w", err)
	}
	if n.grads, err = G.Grad(n.loss, n.params...); err != nil {
		return nil, fmt.Errorf("model: gradients: %w", err)
	}
	n.vm = G.NewTapeMachine(g)
	return n, nil
}

// run binds the current weights and runs the graph once.
func (n *net) run(m *GPT) error {
	for i, p := range m.Params {
		if err := G.Let(n.params[i], p.Value); err != nil {
			return err
		}
	}
	defer n.vm.Reset()
	return n.vm.RunAll()
}

// logps returns the per-row log-probs of the last run, as summed in float64 (for float32
// models this is more precise than the graph's float32 output).
func (n *net) logps() []float64 {
	return append([]float64(nil), n.st.seqLogp...)
}

// addEmbedGrad adds the embedding's contribution to a tied wte's gradient: row n of the
// last backward's embedding-output gradient to row tokens[n] of acc (wte's gradient, the
// logits' part already in it). Untied graphs have it in their own gradient: nothing to do.
func addEmbedGrad[S fnum](n *net, acc []S, D int) {
	if !n.tied {
		return
	}
	switch g := n.st.dEmbed.Data().(type) {
	case []float32:
		embedScatterAdd(acc, g, n.st.tokens, D)
	case []float64:
		embedScatterAdd(acc, g, n.st.tokens, D)
	}
}
