package storage

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// ManifestVersion is the current Manifest format.
const ManifestVersion = 1

// Manifest lists the objects a step produced, with their sizes and SHA-256s. It is written
// last, so its presence means the step completed; readers fetch only listed objects, each
// verified against the listed SHA-256 (GetListed).
type Manifest struct {
	Version   int       `json:"version"`
	CreatedBy string    `json:"created_by"` // e.g. "activity Train run=r1 round=2 attempt=1"
	CreatedAt time.Time `json:"created_at"`
	Keys      []Object  `json:"keys"` // sorted by Key
	// Meta holds small free-form facts (round, seed, counts) for humans and reports.
	Meta map[string]string `json:"meta,omitempty"`
}

// Add lists obj (as returned by Put) in the manifest, replacing an entry with the same key.
func (m *Manifest) Add(obj Object) {
	for i := range m.Keys {
		if m.Keys[i].Key == obj.Key {
			m.Keys[i] = obj
			return
		}
	}
	m.Keys = append(m.Keys, obj)
}

// Lookup returns the listed object for key.
func (m *Manifest) Lookup(key string) (Object, bool) {
	for _, o := range m.Keys {
		if o.Key == key {
			return o, true
		}
	}
	return Object{}, false
}

// WriteManifest validates m (every entry has a key and a SHA-256), sorts its entries, fills
// Version and CreatedAt if unset, and stores it as JSON under key.
func WriteManifest(ctx context.Context, s *Store, key string, m *Manifest) (Object, error) {
	for _, o := range m.Keys {
		if err := ValidateKey(o.Key); err != nil {
			return Object{}, fmt.Errorf("storage: manifest %s: %w", key, err)
		}
		if len(o.SHA256) != 64 {
			return Object{}, fmt.Errorf("storage: manifest %s: entry %s has no sha256", key, o.Key)
		}
	}
	if m.Version == 0 {
		m.Version = ManifestVersion
	}
	if m.CreatedAt.IsZero() {
		m.CreatedAt = time.Now().UTC()
	}
	sort.Slice(m.Keys, func(i, j int) bool { return m.Keys[i].Key < m.Keys[j].Key })
	return s.PutJSON(ctx, key, m)
}

// ReadManifest fetches and decodes the manifest under key (verified against wantSHA if set).
func ReadManifest(ctx context.Context, s *Store, key string, wantSHA string) (*Manifest, error) {
	var m Manifest
	if err := s.GetJSON(ctx, key, wantSHA, &m); err != nil {
		return nil, err
	}
	if m.Version < 1 || m.Version > ManifestVersion {
		return nil, &KeyError{What: "manifest version in " + key, Value: fmt.Sprint(m.Version),
			Rule: fmt.Sprintf("this build reads versions 1..%d", ManifestVersion)}
	}
	return &m, nil
}

// GetListed fetches key only if m lists it, verified against the listed SHA-256 and size.
// A key the manifest does not list is a *NotFoundError: leftovers of failed attempts are
// never read.
func (s *Store) GetListed(ctx context.Context, m *Manifest, key string) ([]byte, error) {
	obj, ok := m.Lookup(key)
	if !ok {
		return nil, fmt.Errorf("storage: %s is not listed in the manifest: %w", key, &NotFoundError{Key: key})
	}
	data, err := s.Get(ctx, key, obj.SHA256)
	if err != nil {
		return nil, err
	}
	if int64(len(data)) != obj.Size {
		return nil, &IntegrityError{Key: key, Want: obj.SHA256, Got: SHA256Hex(data), Source: "manifest size"}
	}
	return data, nil
}
