package e2e

import (
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/space-sft/space/e2e/harness"
	"github.com/space-sft/space/internal/stack/stacktest"
	"github.com/space-sft/space/storage"
)

// bigSize is the checkpoint-sized object of TestBigTransferResets: above the multipart
// threshold (storage.DefaultMultipartThreshold, 256 MiB), so PutStream uploads it in parts.
const bigSize = 300 << 20

// TestBigTransferResets cuts S3 connections in the middle of a 300 MiB transfer, the size of
// a large checkpoint, through toxiproxy against the real gateway: storage.PutStream's
// multipart path (the encoder runs twice: hash, then upload in 8 MiB parts) and GetStream
// (the bytes hashed as they are decoded). The object is seeded random bytes written as an
// encoder writes a checkpoint. When 40% of it has gone through, one fault is injected on both
// directions of the link for 1 s: reset_peer (every connection reset as soon as it carries
// data) or limit_data (every connection closed after 1 MiB more). What happens next is the
// product's: the SDK retries the failed parts or requests; when the call still fails, the
// test calls it again after 1 s, 2 s ... as Temporal retries the activity that made it (at
// most 5 calls). Every upload is read back with its sha256 checked, every download is
// checked against the sha256 (GetStream fails on a mismatch), and the time lost is the
// transfer's time beyond the undisturbed one's. Run by make chaos-net (-args -e2e.net).
func TestBigTransferResets(t *testing.T) {
	if !*netE2E {
		t.Skip("the big-transfer faults run with make chaos-net (-args -e2e.net)")
	}
	st := stacktest.StartS3(t)
	harness.WatchLocal(t, harness.StackProcesses(st), st.Dir())
	proxy := harness.NewNetProxy(t, "s3-big", st.S3Endpoint())
	cfg := st.StorageConfig()
	cfg.Endpoint = proxy.URL()
	ctx, cancel := timeout(t, 15*time.Minute)
	defer cancel()
	store, err := storage.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}

	// Undisturbed: one upload and one download, timed.
	const key = "runs/big/rounds/001/train/step-0000001.safetensors"
	start := time.Now()
	obj, err := store.PutStream(ctx, key, bigWriter(nil))
	if err != nil {
		t.Fatal(err)
	}
	putBase := time.Since(start)
	start = time.Now()
	if _, err := store.GetStream(ctx, key, obj.SHA256, obj.Size, bigReader(nil)); err != nil {
		t.Fatal(err)
	}
	getBase := time.Since(start)
	t.Logf("undisturbed: %d MiB up in %.1fs, down in %.1fs (sha256 %s)", obj.Size>>20, putBase.Seconds(), getBase.Seconds(), short(obj.SHA256))

	faults := []struct {
		name, toxic string
		attrs       map[string]any
		upload      bool
	}{
		{"connections reset (RST) mid-upload", "reset_peer", map[string]any{"timeout": 0}, true},
		{"connections closed 1 MiB later (limit_data) mid-upload", "limit_data", map[string]any{"bytes": 1 << 20}, true},
		{"connections reset (RST) mid-download", "reset_peer", map[string]any{"timeout": 0}, false},
		{"connections closed 1 MiB later (limit_data) mid-download", "limit_data", map[string]any{"bytes": 1 << 20}, false},
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Big transfers (TestBigTransferResets): a %d MiB object through toxiproxy to the gateway, multipart upload (PutStream) and streamed download (GetStream); undisturbed %.1f s up, %.1f s down. Each fault is held 1 s from the moment 40%% of the bytes went through.\n\n", obj.Size>>20, putBase.Seconds(), getBase.Seconds())
	b.WriteString("| # | fault | calls | failures of the call | transfer took (s) | seconds lost | sha256 read back | recovered |\n|---|---|---|---|---|---|---|---|\n")
	for i, f := range faults {
		var once sync.Once
		inject := func() {
			once.Do(func() {
				if err := proxy.Both(f.toxic, f.attrs); err != nil {
					t.Error(err)
				}
				time.AfterFunc(time.Second, proxy.Clear)
			})
		}
		trip := &tripwire{at: bigSize * 4 / 10, fire: inject}
		var failures []string
		calls := 0
		start := time.Now()
		var got storage.Object
		var err error
		for calls < 5 {
			calls++
			if f.upload {
				got, err = store.PutStream(ctx, key, bigWriter(trip))
			} else {
				got, err = store.GetStream(ctx, key, obj.SHA256, obj.Size, bigReader(trip))
			}
			if err == nil || storage.IsPermanent(err) {
				break
			}
			failures = append(failures, shortFailure(err.Error()))
			time.Sleep(backoff(int32(calls + 1)))
		}
		took := time.Since(start)
		base := putBase
		if !f.upload {
			base = getBase
		}
		readBack := "-"
		ok := err == nil && got.SHA256 == obj.SHA256 && trip.fired.Load()
		if err == nil && f.upload { // what is stored reads back whole, with the sha256 of what was written
			rb, rerr := store.GetStream(ctx, key, obj.SHA256, obj.Size, bigReader(nil))
			readBack = short(rb.SHA256)
			if rerr != nil {
				t.Errorf("%s: read back: %v", f.name, rerr)
				ok = false
			}
		} else if err == nil {
			readBack = short(got.SHA256)
		}
		if err != nil {
			t.Errorf("%s: not recovered after %d calls: %v", f.name, calls, err)
		}
		if !trip.fired.Load() {
			t.Errorf("%s: the fault was never injected", f.name)
		}
		if got.SHA256 != obj.SHA256 && err == nil {
			t.Errorf("%s: sha256 %s, want %s", f.name, got.SHA256, obj.SHA256)
		}
		fail := "none (the SDK retried what failed)"
		if len(failures) > 0 {
			fail = strings.Join(failures, "; ")
		}
		t.Logf("fault %d: %s: %d calls, %.1fs (undisturbed %.1fs); failures: %s", i+1, f.name, calls, took.Seconds(), base.Seconds(), fail)
		fmt.Fprintf(&b, "| %d | %s | %d | %s | %.1f | %.1f | %s | %v |\n", i+1, f.name, calls, strings.ReplaceAll(fail, "|", "/"), took.Seconds(), (took - base).Seconds(), readBack, ok)
		proxy.Clear()
	}
	t.Logf("big-transfer table:\n%s", b.String())
	appendNetTable(t, b.String())
}

// tripwire calls fire once when at bytes have passed (counted across the calls that share
// it, from the pass that uploads or the read).
type tripwire struct {
	at    int64
	n     atomic.Int64
	fired atomic.Bool
	fire  func()
}

func (w *tripwire) add(k int) {
	if w == nil {
		return
	}
	if w.n.Add(int64(k)) >= w.at && !w.fired.Swap(true) {
		go w.fire()
	}
}

// bigWriter writes bigSize seeded random bytes, as an encoder writes a checkpoint (the same
// bytes every time it is called). The tripwire counts only the pass that uploads (PutStream's
// second), so the fault lands in the middle of the transfer, not of the hashing.
func bigWriter(trip *tripwire) func(io.Writer) error {
	pass := 0
	return func(w io.Writer) error {
		pass++
		rng := rand.NewChaCha8([32]byte{7})
		buf := make([]byte, 1<<20)
		for done := 0; done < bigSize; done += len(buf) {
			_, _ = rng.Read(buf)
			if _, err := w.Write(buf); err != nil {
				return err
			}
			if pass%2 == 0 {
				trip.add(len(buf))
			}
		}
		return nil
	}
}

// bigReader reads everything, as a decoder does, counting for the tripwire.
func bigReader(trip *tripwire) func(io.Reader) error {
	return func(r io.Reader) error {
		buf := make([]byte, 256<<10)
		for {
			k, err := r.Read(buf)
			trip.add(k)
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
		}
	}
}
