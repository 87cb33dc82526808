package storage

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"strings"
	"time"
)

// PrefixFS returns the objects under prefix as a read-only fs.FS: the key's part after the
// prefix is the file's name (as in Download). It lists the prefix once; a file's bytes are
// fetched only when it is read, each verified against its stored sha256 (Get), so readers
// that need a few files of a large folder (config.json and model.safetensors next to a
// pytorch_model.bin) download only those. Stat answers from the listing. For a folder, end
// the prefix with "/" (else "m/a" also lists "m/ab/..."). A prefix without
// objects is an error naming the prefix, the bucket and the endpoint.
func PrefixFS(ctx context.Context, s *Store, prefix string) (fs.FS, error) {
	objs, err := s.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	p := &prefixFS{ctx: ctx, store: s, objs: map[string]Object{}}
	for _, o := range objs {
		name := strings.TrimPrefix(strings.TrimPrefix(o.Key, prefix), "/")
		if fs.ValidPath(name) && name != "." {
			p.objs[name] = o
		}
	}
	if len(p.objs) == 0 {
		return nil, fmt.Errorf("storage: no objects under prefix %q in bucket %q at %s: upload the files there first "+
			"(the prefix is a key prefix inside the bucket, without the bucket's name), or check S3_ENDPOINT and S3_BUCKET", prefix, s.cfg.Bucket, s.endpointName())
	}
	return p, nil
}

type prefixFS struct {
	ctx   context.Context
	store *Store
	objs  map[string]Object // by name below the prefix
}

func (p *prefixFS) lookup(op, name string) (Object, error) {
	o, ok := p.objs[name]
	if !ok || !fs.ValidPath(name) {
		return Object{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	return o, nil
}

// ReadFile implements fs.ReadFileFS (fs.ReadFile uses it: one copy of the bytes).
func (p *prefixFS) ReadFile(name string) ([]byte, error) {
	o, err := p.lookup("read", name)
	if err != nil {
		return nil, err
	}
	b, err := p.store.Get(p.ctx, o.Key, "")
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	return b, nil
}

// Stat implements fs.StatFS from the listing (no download).
func (p *prefixFS) Stat(name string) (fs.FileInfo, error) {
	o, err := p.lookup("stat", name)
	if err != nil {
		return nil, err
	}
	return objectInfo{name: name, size: o.Size}, nil
}

// Open downloads the object and returns it as an in-memory file.
func (p *prefixFS) Open(name string) (fs.File, error) {
	b, err := p.ReadFile(name)
	if err != nil {
		return nil, err
	}
	return &objectFile{Reader: bytes.NewReader(b), info: objectInfo{name: name, size: int64(len(b))}}, nil
}

type objectFile struct {
	*bytes.Reader
	info objectInfo
}

func (f *objectFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *objectFile) Close() error               { return nil }

type objectInfo struct {
	name string
	size int64
}

func (i objectInfo) Name() string       { return i.name[strings.LastIndex(i.name, "/")+1:] }
func (i objectInfo) Size() int64        { return i.size }
func (i objectInfo) Mode() fs.FileMode  { return 0o444 }
func (i objectInfo) ModTime() time.Time { return time.Time{} }
func (i objectInfo) IsDir() bool        { return false }
func (i objectInfo) Sys() any           { return nil }
