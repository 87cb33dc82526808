package activities

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/space-sft/space/storage"

	"github.com/space-sft/space/dataset"
	"github.com/space-sft/space/model"
)

// read fetches an object of a run by the key and sha256 that a manifest or the workflow
// (an activity's output) listed for it, and logs the read at debug level: the chaos test
// checks from these lines that no object is read without a listed sha256.
func (a *Activities) read(ctx context.Context, c storage.Ref) ([]byte, error) {
	a.log().Debug("s3 read", "key", c.Key, "sha256", c.SHA256)
	return a.Store.Get(ctx, c.Key, c.SHA256)
}

// loadModel streams a checkpoint from S3 into a model, verifying its sha256 (the object's
// and the caller's) and every tensor's; the file's bytes are never held beside the weights.
func (a *Activities) loadModel(ctx context.Context, c storage.Ref) (*model.GPT, error) {
	a.log().Debug("s3 read", "key", c.Key, "sha256", c.SHA256)
	var m *model.GPT
	_, err := a.Store.GetStream(ctx, c.Key, c.SHA256, 0, func(r io.Reader) (err error) {
		m, err = model.Load(r)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("load checkpoint %s: %w", c.Key, err)
	}
	return m, nil
}

// saveModel streams a model checkpoint to S3 and returns its key and sha256.
func (a *Activities) saveModel(ctx context.Context, key string, m *model.GPT) (storage.Ref, error) {
	obj, err := a.Store.PutStream(ctx, key, m.Save)
	if err != nil {
		return storage.Ref{}, fmt.Errorf("save checkpoint %s: %w", key, err)
	}
	return obj.Ref(), nil
}

// put stores data under key (its sha256 in the object's metadata) and returns its reference.
func (a *Activities) put(ctx context.Context, key string, data []byte) (storage.Ref, error) {
	obj, err := a.Store.Put(ctx, key, data)
	if err != nil {
		return storage.Ref{}, fmt.Errorf("put %s: %w", key, err)
	}
	return obj.Ref(), nil
}

// putTyped is put with a content type (report pages and images open in a browser).
func (a *Activities) putTyped(ctx context.Context, key string, data []byte, contentType string) (storage.Ref, error) {
	obj, err := a.Store.PutTyped(ctx, key, data, contentType)
	if err != nil {
		return storage.Ref{}, fmt.Errorf("put %s: %w", key, err)
	}
	return obj.Ref(), nil
}

// putJSON stores v as JSON under key and returns its reference.
func (a *Activities) putJSON(ctx context.Context, key string, v any) (storage.Ref, error) {
	obj, err := a.Store.PutJSON(ctx, key, v)
	if err != nil {
		return storage.Ref{}, fmt.Errorf("put %s: %w", key, err)
	}
	return obj.Ref(), nil
}

// loadPairs reads a JSONL file of pairs written by Prepare. A user's dataset was checked
// strictly there; a task's samples may repeat (a stochastic task such as markov draws the
// same short response twice), and each repeat is a sample of p_data, so duplicates stay.
func (a *Activities) loadPairs(ctx context.Context, c storage.Ref) ([]dataset.Pair, error) {
	data, err := a.read(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("load pairs %s: %w", c.Key, err)
	}
	pairs, err := dataset.ParseWith(bytes.NewReader(data), c.Key, dataset.Options{AllowDuplicates: true})
	if err != nil {
		return nil, fmt.Errorf("parse pairs %s: %w", c.Key, err)
	}
	return pairs, nil
}

// encodeAll tokenizes pairs for m; Prepare has checked them, so an error here means the
// model's context differs from the one the inputs were checked against.
func encodeAll(m *model.GPT, pairs []dataset.Pair) ([]model.Sequence, error) {
	seqs := make([]model.Sequence, len(pairs))
	for i, p := range pairs {
		s, err := m.Encode(p.Prompt, p.Response)
		if err != nil {
			return nil, fmt.Errorf("pair %d: %w", i, err)
		}
		seqs[i] = s
	}
	return seqs, nil
}
