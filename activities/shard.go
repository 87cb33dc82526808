package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/space-sft/space/storage"

	"github.com/space-sft/space/dataset"
	"github.com/space-sft/space/model"
)

// ShardFile is one Generate activity's output, runs/{run}/rounds/{r}/synthetic/shard-k.json:
// for each of its train prompts, Mu synthetic responses sampled from the opponent, and the
// opponent's log-probs of the real and synthetic responses. The log-probs are computed once
// per round here, because the opponent is fixed for the whole round.
type ShardFile struct {
	Run    string      `json:"run"`
	Round  int         `json:"round"`
	Shard  int         `json:"shard"`
	Shards int         `json:"shards"`
	Mu     int         `json:"mu"`
	Items  []ShardItem `json:"items"`
}

// ShardItem is one train prompt's synthetic data.
type ShardItem struct {
	Index   int       `json:"index"`    // global index of the prompt in train.jsonl
	Gen     [][]int   `json:"gen"`      // Mu responses as token ids (EOS included when sampled)
	Text    []string  `json:"text"`     // the same, decoded, for people reading the shard
	RefReal float64   `json:"ref_real"` // log p_opponent(real response | prompt)
	RefGen  []float64 `json:"ref_gen"`  // log p_opponent(gen[j] | prompt)
}

// loadShards reads the shards of a round and returns the items ordered by prompt index,
// checking that they cover every train prompt exactly once with mu responses each.
func (a *Activities) loadShards(ctx context.Context, shards []storage.Ref, nTrain, mu int) ([]ShardItem, error) {
	var items []ShardItem
	for _, c := range shards {
		var f ShardFile
		data, err := a.read(ctx, c)
		if err == nil {
			err = json.Unmarshal(data, &f)
		}
		if err != nil {
			return nil, fmt.Errorf("load shard %s: %w", c.Key, err)
		}
		items = append(items, f.Items...)
	}
	sort.Slice(items, func(i, j int) bool { return items[i].Index < items[j].Index })
	if len(items) != nTrain {
		return nil, Invalid(fmt.Sprintf("shards hold %d prompts, train.jsonl has %d; the shards belong to another dataset", len(items), nTrain))
	}
	for i, it := range items {
		if it.Index != i || len(it.Gen) != mu || len(it.RefGen) != mu {
			return nil, Invalid(fmt.Sprintf("shard item %d (prompt %d) has %d responses, want %d; regenerate the round", i, it.Index, len(it.Gen), mu))
		}
	}
	return items, nil
}

// examples builds the trainer's input: every real pair, plus, for the self-play methods,
// its synthetic responses and the opponent's log-probs from the shards (items nil for SFT).
func examples(m *model.GPT, pairs []dataset.Pair, items []ShardItem) ([]model.Example, error) {
	seqs, err := encodeAll(m, pairs)
	if err != nil {
		return nil, err
	}
	ex := make([]model.Example, len(pairs))
	for i, s := range seqs {
		ex[i] = model.Example{Prompt: s.Prompt, Real: s.Response}
		if items != nil {
			ex[i].Gen, ex[i].RefReal, ex[i].RefGen = items[i].Gen, items[i].RefReal, items[i].RefGen
		}
	}
	return ex, nil
}
