package storage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Download copies every object under prefix into dir (the key's part after the prefix is
// the file's path below dir), verifying each object's stored sha256, and returns the files.
func Download(ctx context.Context, s *Store, prefix, dir string) ([]string, error) {
	objs, err := s.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, o := range objs {
		rel := strings.TrimPrefix(o.Key, prefix)
		rel = strings.TrimPrefix(rel, "/")
		if rel == "" || strings.Contains(rel, "..") {
			continue
		}
		data, err := s.Get(ctx, o.Key, "")
		if err != nil {
			return files, err
		}
		path := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return files, err
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return files, fmt.Errorf("write %s: %w", path, err)
		}
		files = append(files, path)
	}
	return files, nil
}
