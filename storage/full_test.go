package storage

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fullGateway answers every PUT with 507 InsufficientStorage (versitygw's answer on ENOSPC)
// while full is set, and 200 otherwise; it counts the PUTs.
func fullGateway(t *testing.T, full *atomic.Bool, puts *atomic.Int32) *Store {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.Method != http.MethodPut {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		puts.Add(1)
		if full.Load() {
			w.WriteHeader(http.StatusInsufficientStorage)
			_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>InsufficientStorage</Code><Message>No space left on device.</Message></Error>`))
			return
		}
		w.Header().Set("ETag", `"x"`)
	}))
	t.Cleanup(srv.Close)
	s, err := New(context.Background(), Config{Endpoint: srv.URL, Bucket: "bk", AccessKey: "a", SecretKey: "b",
		PathStyle: true, MaxAttempts: 1, FullWait: 2500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestFullWaitThenError: a store that stays full is retried with backoff (1 s, then 2 s would
// pass FullWait 2.5 s: two tries) and reported once as a permanent FullError naming the
// endpoint and bucket, with the time waited.
func TestFullWaitThenError(t *testing.T) {
	var full atomic.Bool
	var puts atomic.Int32
	full.Store(true)
	s := fullGateway(t, &full, &puts)
	start := time.Now()
	_, err := s.Put(context.Background(), "runs/r/x.bin", []byte("hello"))
	var fe *FullError
	if !errors.As(err, &fe) || !IsPermanent(err) || !IsFull(err) {
		t.Fatalf("got %T %v, want a permanent *FullError", err, err)
	}
	if n := puts.Load(); n != 2 {
		t.Errorf("%d PUTs, want 2 (at 0 s and 1 s)", n)
	}
	if d := time.Since(start); d < time.Second || fe.Waited < time.Second {
		t.Errorf("failed after %v (waited %v), want the 1 s backoff", d, fe.Waited)
	}
	for _, m := range []string{"runs/r/x.bin", "S3 storage full at endpoint " + s.cfg.Endpoint, `bucket "bk"`, "free space"} {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("%q lacks %q", err, m)
		}
	}
}

// TestFullThenSpace: space that comes back within FullWait costs a pause, not an error, on
// both write paths (Put, and PutStream's multipart pass, which encodes again).
func TestFullThenSpace(t *testing.T) {
	var full atomic.Bool
	var puts atomic.Int32
	s := fullGateway(t, &full, &puts)
	s.cfg.MultipartThreshold = 1 << 10
	for _, stream := range []bool{false, true} {
		full.Store(true)
		puts.Store(0)
		time.AfterFunc(500*time.Millisecond, func() { full.Store(false) })
		var err error
		if stream {
			data := bytes.Repeat([]byte("z"), 4<<10)
			_, err = s.PutStream(context.Background(), "runs/r/big.bin", func(w io.Writer) error { _, err := w.Write(data); return err })
		} else {
			_, err = s.Put(context.Background(), "runs/r/x.bin", []byte("hello"))
		}
		if err != nil {
			t.Fatalf("stream %v: %v", stream, err)
		}
		if puts.Load() < 2 {
			t.Errorf("stream %v: %d PUTs, want a refused one and a retry", stream, puts.Load())
		}
	}
}
