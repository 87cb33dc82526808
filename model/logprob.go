package model

import "fmt"

// maxCachedGraphs bounds the forward graphs a model keeps (one per (batch, length) shape);
// when full the cache is dropped and graphs are rebuilt (cheap: well under a second).
const maxCachedGraphs = 8

// LogProbs returns log p(response | prompt) for each sequence: the sum of the log-probs of
// the response tokens (incl. EOS), in float64. It runs a forward-only graph over chunks of
// `batch` sequences (the last chunk padded with empty rows), never the training graph.
// Graphs are built once per (batch, padded length) and cached on the model. Sequences are
// checked first (*InputError for empty or over-long ones); results do not depend on the
// batching or on the padding beyond a sequence (causal attention, row-wise ops).
func (m *GPT) LogProbs(seqs []Sequence, batch int) ([]float64, error) {
	if batch <= 0 {
		return nil, &InputError{Field: "batch", Problem: fmt.Sprintf("is %d", batch), Fix: "use a positive batch size"}
	}
	if len(seqs) == 0 {
		return nil, nil
	}
	maxLen := 0
	for i, s := range seqs {
		if err := m.CheckSequence(s); err != nil {
			if ie, ok := err.(*InputError); ok {
				ie.Field = fmt.Sprintf("sequence %d: %s", i, ie.Field)
			}
			return nil, err
		}
		maxLen = max(maxLen, s.Len())
	}
	if batch > len(seqs) {
		batch = len(seqs)
	}
	T := padT(maxLen, m.Config.Context)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.graphs == nil {
		m.graphs = map[graphKey]*net{}
	}
	n := m.graphs[graphKey{batch, T}]
	if n == nil {
		if len(m.graphs) >= maxCachedGraphs {
			clear(m.graphs) // bound the memory held by cached graphs
		}
		var err error
		if n, err = m.build(batch, T, nil); err != nil {
			return nil, err
		}
		m.graphs[graphKey{batch, T}] = n
	}
	res := make([]float64, 0, len(seqs))
	for lo := 0; lo < len(seqs); lo += batch {
		hi := min(lo+batch, len(seqs))
		n.st.fill(seqs[lo:hi])
		if err := n.run(m); err != nil {
			return nil, fmt.Errorf("model: log-prob forward: %w", err)
		}
		res = append(res, n.logps()[:hi-lo]...)
	}
	return res, nil
}
