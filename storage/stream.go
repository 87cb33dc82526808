package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Streams: checkpoints of several GB go to and from S3 without a second copy of them in
// memory. PutStream encodes twice instead of buffering (once to learn the SHA-256 that is
// stored with the object, once to upload it in parts), and GetStream hashes the bytes as the
// consumer decodes them.

// countingHash counts and hashes what is written to it.
type countingHash struct {
	n int64
	h interface {
		io.Writer
		Sum([]byte) []byte
	}
}

func newCountingHash() *countingHash { return &countingHash{h: sha256.New()} }

func (c *countingHash) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.h.Write(p)
}

func (c *countingHash) hex() string { return hex.EncodeToString(c.h.Sum(nil)) }

// PutStream stores what write writes under key, with its SHA-256 in the object's metadata as
// Put does, without holding more than Config.MultipartThreshold bytes of it in memory. write
// is called once for an object up to the threshold (its bytes are kept while hashed, then
// sent with one PutObject) and twice for a larger one: first into a hash (the SHA-256 and
// size are needed before the upload starts), then into a multipart upload from a pipe, a
// part buffer at a time. write must write the same
// bytes both times, as an encoder of a fixed state does (model.GPT.Save, Trainer.Save);
// if the second pass hashes differently the object is deleted and an error returned.
func (s *Store) PutStream(ctx context.Context, key string, write func(io.Writer) error) (Object, error) {
	if err := ValidateKey(key); err != nil {
		return Object{}, err
	}
	start := time.Now()
	// Pass 1: the hash, and the bytes themselves as long as they fit under the threshold.
	first := newCountingHash()
	small := &cappedBuffer{max: s.cfg.MultipartThreshold, hash: first}
	if err := write(small); err != nil {
		return Object{}, fmt.Errorf("encode %s: %w", key, err)
	}
	obj := Object{Key: key, SHA256: first.hex(), Size: first.n}
	contentType := "application/octet-stream"
	if !small.over {
		// One PutObject of what pass 1 kept (at most the threshold): no second encoding.
		return s.putHashed(ctx, obj, small.buf.Bytes(), contentType)
	}

	// Pass 2, above the threshold: encode again into a multipart upload, part by part (and
	// again for each retry while the store is full).
	err := s.whileFull(ctx, func() error { return s.putPass2(ctx, obj, contentType, write) })
	if err != nil {
		return Object{}, err
	}
	if s.observe != nil {
		s.observe("put", obj.Size, time.Since(start))
	}
	return obj, nil
}

// putPass2 uploads what write writes as obj (its SHA-256 and size known from pass 1) in
// parts, and checks that write wrote the same bytes.
func (s *Store) putPass2(ctx context.Context, obj Object, contentType string, write func(io.Writer) error) error {
	key := obj.Key
	pr, pw := io.Pipe()
	second := newCountingHash()
	wrote := make(chan error, 1)
	go func() {
		err := write(io.MultiWriter(pw, second))
		pw.CloseWithError(err)
		wrote <- err
	}()
	_, err := s.tm.UploadObject(ctx, &transfermanager.UploadObjectInput{
		Bucket:        &s.cfg.Bucket,
		Key:           &key,
		Body:          pr,
		ContentLength: aws.Int64(obj.Size),
		ContentType:   &contentType,
		Metadata:      map[string]string{metaSHA: obj.SHA256},
	})
	pr.CloseWithError(io.ErrClosedPipe) // the upload stopped reading: unblock the writer
	werr := <-wrote
	if err != nil {
		if werr != nil && werr != io.ErrClosedPipe {
			return fmt.Errorf("encode %s: %w", key, werr)
		}
		return s.classify("put", key, err)
	}
	if werr != nil {
		return fmt.Errorf("encode %s: %w", key, werr)
	}
	if got := second.hex(); got != obj.SHA256 || second.n != obj.Size {
		_ = s.Delete(ctx, key)
		return fmt.Errorf("storage: %s: the encoder wrote %d bytes (sha256 %s) on its second pass and %d (%s) on its first; nothing stored", key, second.n, got, obj.Size, obj.SHA256)
	}
	return nil
}

// GetStream streams the object at key into read (e.g. model.Load) while hashing it, then
// checks the SHA-256 of all its bytes against the object's metadata and against wantSHA (when
// not empty), and its size against wantSize (when > 0). A mismatch is an *IntegrityError and
// whatever read built must be discarded; the object is then read again (hashed only), and
// when the stored bytes are right the error is marked InTransit (retry: not permanent). The bytes read lives only in what read keeps.
func (s *Store) GetStream(ctx context.Context, key, wantSHA string, wantSize int64, read func(io.Reader) error) (Object, error) {
	if err := ValidateKey(key); err != nil {
		return Object{}, err
	}
	start := time.Now()
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.cfg.Bucket, Key: &key})
	if err != nil {
		return Object{}, s.classify("get", key, err)
	}
	defer out.Body.Close()
	ch := newCountingHash()
	body := &bodyReader{r: io.TeeReader(out.Body, ch)}
	rerr := read(body)
	if body.err != nil { // the connection failed under the decoder: a retry may fix it
		return Object{}, s.classify("get", key, body.err)
	}
	if _, err := io.Copy(io.Discard, body); err != nil { // the rest, so that all bytes are hashed
		return Object{}, s.classify("get", key, err)
	}
	obj := Object{Key: key, SHA256: ch.hex(), Size: ch.n}
	meta := strings.ToLower(out.Metadata[metaSHA])
	if meta != "" && meta != obj.SHA256 {
		_, err := s.recheck(ctx, &IntegrityError{Key: key, Want: meta, Got: obj.SHA256, Source: "metadata"}, meta, wantSHA, false)
		return Object{}, err
	}
	if want := strings.ToLower(wantSHA); want != "" && want != obj.SHA256 {
		ie := &IntegrityError{Key: key, Want: want, Got: obj.SHA256, Source: "caller"}
		if meta != "" { // the bytes arrived as stored: the store holds another object than expected
			return Object{}, ie
		}
		_, err := s.recheck(ctx, ie, meta, wantSHA, false)
		return Object{}, err
	}
	if wantSize > 0 && wantSize != obj.Size {
		return Object{}, &IntegrityError{Key: key, Want: wantSHA, Got: obj.SHA256, Source: "size"}
	}
	if rerr != nil {
		return Object{}, rerr
	}
	if s.observe != nil {
		s.observe("get", obj.Size, time.Since(start))
	}
	return obj, nil
}

// bodyReader remembers the first error of the object's body (other than EOF), so that a
// network failure is told apart from a decoder's complaint about the bytes.
type bodyReader struct {
	r   io.Reader
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

// cappedBuffer hashes what is written to it and keeps it until more than max bytes were
// written; then it drops them and only hashes (over). Grow (which encoders such as
// model.GPT.Save call with the total size) sizes the buffer once.
type cappedBuffer struct {
	max  int64
	hash *countingHash
	buf  bytes.Buffer
	over bool
}

func (c *cappedBuffer) Grow(n int) {
	if int64(c.buf.Len()+n) > c.max {
		c.drop()
		return
	}
	c.buf.Grow(n)
}

func (c *cappedBuffer) drop() {
	c.over = true
	c.buf = bytes.Buffer{} // release it: the object goes up in parts
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if !c.over {
		if int64(c.buf.Len()+len(p)) > c.max {
			c.drop()
		} else {
			c.buf.Write(p)
		}
	}
	return c.hash.Write(p)
}
