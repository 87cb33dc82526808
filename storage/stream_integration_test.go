package storage_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/space-sft/space/internal/stack/stacktest"
	"github.com/space-sft/space/storage"
)

// PutStream uploads an encoder's output without buffering it (in parts above the multipart
// threshold) with the same sha256 as Put; GetStream hashes what the consumer reads and the
// rest, and refuses a mismatch after the consumer has run.
func TestIntegrationStreams(t *testing.T) {
	stk := stacktest.StartS3(t)
	cfg := stk.StorageConfig()
	cfg.MultipartThreshold = 6 << 20 // parts (8 MiB) for the 20 MiB object below
	st := newStore(t, cfg)
	ctx := testCtx(t)

	data := make([]byte, 20<<20+12345)
	for i := range data {
		data[i] = byte(i*7 + i>>12)
	}
	writes := 0
	obj, err := st.PutStream(ctx, "streams/big.bin", func(w io.Writer) error {
		writes++
		for off := 0; off < len(data); off += 1 << 20 { // in pieces, as an encoder writes
			if _, err := w.Write(data[off:min(off+1<<20, len(data))]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if writes != 2 || obj.SHA256 != storage.SHA256Hex(data) || obj.Size != int64(len(data)) {
		t.Fatalf("PutStream: %d writes, %+v; want 2 and sha256 %s", writes, obj, storage.SHA256Hex(data))
	}
	got, err := st.Get(ctx, obj.Key, obj.SHA256) // the stored object and its metadata agree
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get after PutStream: %v (equal %v)", err, bytes.Equal(got, data))
	}

	// Up to the threshold: encoded once, kept while hashed, one PutObject.
	writes = 0
	sm, err := st.PutStream(ctx, "streams/small.bin", func(w io.Writer) error {
		writes++
		_, err := w.Write(data[:1<<20])
		return err
	})
	if err != nil || writes != 1 || sm.SHA256 != storage.SHA256Hex(data[:1<<20]) {
		t.Fatalf("PutStream of 1 MiB: %d writes, %+v, %v; want 1 write", writes, sm, err)
	}
	if got, err := st.Get(ctx, sm.Key, sm.SHA256); err != nil || !bytes.Equal(got, data[:1<<20]) {
		t.Fatalf("Get of the small stream: %v", err)
	}

	// A consumer that reads only a prefix: the rest is still hashed and checked.
	var head []byte
	o, err := st.GetStream(ctx, obj.Key, obj.SHA256, obj.Size, func(r io.Reader) error {
		head = make([]byte, 100)
		_, err := io.ReadFull(r, head)
		return err
	})
	if err != nil || o.SHA256 != obj.SHA256 || !bytes.Equal(head, data[:100]) {
		t.Fatalf("GetStream: %+v, %v", o, err)
	}
	var ie *storage.IntegrityError
	if _, err := st.GetStream(ctx, obj.Key, storage.SHA256Hex([]byte("other")), 0, func(r io.Reader) error { return nil }); !errors.As(err, &ie) {
		t.Errorf("GetStream with another sha256: %v, want an IntegrityError", err)
	}
	if _, err := st.GetStream(ctx, obj.Key, "", obj.Size+1, func(r io.Reader) error { return nil }); !errors.As(err, &ie) {
		t.Errorf("GetStream with another size: %v, want an IntegrityError", err)
	}
	decodeErr := errors.New("bad bytes")
	if _, err := st.GetStream(ctx, obj.Key, obj.SHA256, 0, func(r io.Reader) error { return decodeErr }); !errors.Is(err, decodeErr) {
		t.Errorf("GetStream whose consumer fails: %v", err)
	}

	// An encoder that does not write the same bytes twice stores nothing.
	n := 0
	_, err = st.PutStream(ctx, "streams/unstable.bin", func(w io.Writer) error {
		n++
		_, err := w.Write(bytes.Repeat([]byte{byte(n)}, 7<<20))
		return err
	})
	if err == nil {
		t.Fatal("PutStream of an unstable encoder succeeded")
	}
	if ok, _ := st.Exists(ctx, "streams/unstable.bin"); ok {
		t.Error("an unstable encoder's object was left in the bucket")
	}
	// An encoder error is returned as is, nothing stored.
	encErr := errors.New("cannot encode")
	if _, err := st.PutStream(ctx, "streams/fails.bin", func(w io.Writer) error { return encErr }); !errors.Is(err, encErr) {
		t.Errorf("PutStream of a failing encoder: %v", err)
	}
}
