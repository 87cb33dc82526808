package activities

import (
	"context"
	"fmt"
	"strconv"

	"github.com/space-sft/space/storage"
)

// CommitRound writes the round's manifest, last: it lists the model, metrics, shards and
// training log
// with their sizes and sha256s, after checking that each stored object still has the sha256
// the workflow was given. A manifest's existence therefore means a complete round.
func (a *Activities) CommitRound(ctx context.Context, in CommitInput) (out storage.Ref, err error) {
	defer a.track(ctx, "commit", in.Run, in.Round)(&err)
	out, err = a.commit(ctx, in)
	return out, Classify(err)
}

func (a *Activities) commit(ctx context.Context, in CommitInput) (storage.Ref, error) {
	m := storage.Manifest{
		CreatedBy: fmt.Sprintf("activity CommitRound run=%s round=%d", in.Run, in.Round),
		Meta: map[string]string{
			"round": strconv.Itoa(in.Round), "method": in.Method,
			"opponent": in.Opponent.Key, "opponent_sha256": in.Opponent.SHA256,
		},
	}
	for k, v := range in.Values {
		m.Meta["metric."+k] = strconv.FormatFloat(v, 'g', -1, 64)
	}
	refs := append([]storage.Ref{in.Model, in.Metrics}, in.Shards...)
	if in.TrainLog.Key != "" {
		refs = append(refs, in.TrainLog)
	}
	for _, c := range refs {
		obj, err := a.Store.Stat(ctx, c.Key)
		if err != nil {
			return storage.Ref{}, fmt.Errorf("commit round %d: %w", in.Round, err)
		}
		if obj.SHA256 != c.SHA256 {
			return storage.Ref{}, &storage.IntegrityError{Key: c.Key, Want: c.SHA256, Got: obj.SHA256, Source: "commit"}
		}
		m.Add(obj)
	}
	obj, err := storage.WriteManifest(ctx, a.Store, storage.RoundManifestKey(in.Run, in.Round), &m)
	if err != nil {
		return storage.Ref{}, err
	}
	return obj.Ref(), nil
}
