package storage_test

// Integration tests against a real versitygw started by internal/stack. They are skipped only
// with -short; a missing bin/versitygw fails them with "run `make tools`".

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/space-sft/space/internal/stack"
	"github.com/space-sft/space/internal/stack/stacktest"
	"github.com/space-sft/space/storage"
)

func newStore(t *testing.T, cfg storage.Config) *storage.Store {
	t.Helper()
	cfg.MaxAttempts = 1
	st, err := storage.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestIntegrationRoundTrip(t *testing.T) {
	stk := stacktest.StartS3(t)
	st := newStore(t, stk.StorageConfig())
	ctx := testCtx(t)
	if err := st.EnsureBucket(ctx); err != nil { // already there: no error
		t.Fatal(err)
	}
	run := "rt"
	data := []byte("hello, space\n")
	obj, err := st.Put(ctx, storage.SpecKey(run), data)
	if err != nil {
		t.Fatal(err)
	}
	if obj.SHA256 != storage.SHA256Hex(data) || obj.Size != int64(len(data)) || obj.Key != storage.SpecKey(run) {
		t.Fatalf("Put returned %+v", obj)
	}
	got, err := st.Get(ctx, obj.Key, obj.SHA256)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get = %q, %v", got, err)
	}
	stat, err := st.Stat(ctx, obj.Key)
	if err != nil || stat != obj {
		t.Fatalf("Stat = %+v, %v; want %+v", stat, err, obj)
	}

	type metrics struct {
		Round int     `json:"round"`
		Acc   float64 `json:"acc"`
	}
	jobj, err := st.PutJSON(ctx, storage.MetricsKey(run, 1), metrics{1, 0.5})
	if err != nil {
		t.Fatal(err)
	}
	var m metrics
	if err := st.GetJSON(ctx, jobj.Key, jobj.SHA256, &m); err != nil || m != (metrics{1, 0.5}) {
		t.Fatalf("GetJSON = %+v, %v", m, err)
	}
	if _, err := st.Put(ctx, storage.ShardKey(run, 1, 0), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	list, err := st.List(ctx, storage.RoundPrefix(run, 1))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range list {
		keys = append(keys, o.Key)
	}
	want := []string{storage.MetricsKey(run, 1), storage.ShardKey(run, 1, 0)}
	if strings.Join(keys, ",") != strings.Join(want, ",") {
		t.Errorf("List = %v, want %v", keys, want)
	}

	if ok, err := st.Exists(ctx, obj.Key); !ok || err != nil {
		t.Errorf("Exists = %v, %v", ok, err)
	}
	if err := st.Delete(ctx, obj.Key); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, obj.Key); err != nil {
		t.Errorf("second Delete: %v", err)
	}
	if ok, err := st.Exists(ctx, obj.Key); ok || err != nil {
		t.Errorf("Exists after Delete = %v, %v", ok, err)
	}
	_, err = st.Get(ctx, obj.Key, "")
	var nf *storage.NotFoundError
	if !errors.As(err, &nf) || nf.Key != obj.Key || !storage.IsPermanent(err) {
		t.Errorf("Get after Delete: %T %v", err, err)
	}
	if _, err := st.Put(ctx, storage.SpecKey("../escape"), data); err == nil {
		t.Error("Put accepted a key with ..")
	}
}

// A 40 MiB object goes up in one PutObject below the multipart threshold (default 256 MiB)
// and in 8 MiB parts above it (threshold lowered to 16 MiB); both read back verified.
// PutTyped stores the content type with the object (a report page opens in a browser).
func TestIntegrationPutTyped(t *testing.T) {
	stk := stacktest.StartS3(t)
	st := newStore(t, stk.StorageConfig())
	ctx := testCtx(t)
	key := storage.ReportKey("ct", "report.html")
	if _, err := st.PutTyped(ctx, key, []byte("<!DOCTYPE html><p>hi</p>"), "text/html; charset=utf-8"); err != nil {
		t.Fatal(err)
	}
	head, err := st.Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(st.Bucket()), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	if ct := aws.ToString(head.ContentType); ct != "text/html; charset=utf-8" {
		t.Errorf("content type %q", ct)
	}
}

func TestIntegrationPut40MB(t *testing.T) {
	stk := stacktest.StartS3(t)
	data := make([]byte, 40<<20)
	_, _ = rand.Read(data)
	for _, c := range []struct {
		name      string
		threshold int64 // 0: the default
		parts     int32 // HEAD of part 1 reports a multipart object's part count, else 0
	}{{"single", 0, 0}, {"multipart", 16 << 20, 5}} {
		t.Run(c.name, func(t *testing.T) {
			cfg := stk.StorageConfig()
			cfg.MultipartThreshold = c.threshold
			st := newStore(t, cfg)
			ctx := testCtx(t)
			key := storage.RoundModelKey(c.name, 0)
			obj, err := st.Put(ctx, key, data)
			if err != nil {
				t.Fatal(err)
			}
			head, err := st.Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(st.Bucket()), Key: &key, PartNumber: aws.Int32(1)})
			if err != nil {
				t.Fatal(err)
			}
			if n := aws.ToInt32(head.PartsCount); n != c.parts {
				t.Errorf("parts count %d, want %d", n, c.parts)
			}
			got, err := st.Get(ctx, key, obj.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Fatal("40 MB round trip: bytes differ")
			}
		})
	}
}

func TestIntegrationIntegrity(t *testing.T) {
	stk := stacktest.StartS3(t)
	st := newStore(t, stk.StorageConfig())
	ctx := testCtx(t)
	key := storage.TrainCkptKey("integ", 0, 10)
	data := []byte("weights weights weights")
	obj, err := st.Put(ctx, key, data)
	if err != nil {
		t.Fatal(err)
	}

	// 1. The caller expects another SHA-256 (e.g. a manifest of another attempt).
	_, err = st.Get(ctx, key, storage.SHA256Hex([]byte("other")))
	var ie *storage.IntegrityError
	if !errors.As(err, &ie) || ie.Source != "caller" || ie.Got != obj.SHA256 || !storage.IsPermanent(err) {
		t.Errorf("wrong wantSHA: %T %v", err, err)
	}

	// 2. Bit rot: corrupt the file in the gateway's folder; its sha256 metadata stays.
	path := filepath.Join(stk.S3Dir(), stk.Bucket(), filepath.FromSlash(key))
	corrupt := bytes.Clone(data)
	corrupt[3] ^= 0xff
	if err := os.WriteFile(path, corrupt, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = st.Get(ctx, key, "")
	if !errors.As(err, &ie) || ie.Source != "metadata" || ie.Want != obj.SHA256 || ie.Key != key {
		t.Errorf("corrupted file: %T %v", err, err)
	} else if !strings.Contains(err.Error(), key) {
		t.Errorf("error does not name the key: %v", err)
	}

	// 3. Out-of-band overwrite without our metadata: caught by the expected SHA-256.
	_, err = st.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(st.Bucket()), Key: &key,
		Body: bytes.NewReader([]byte("replaced"))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err = st.Get(ctx, key, obj.SHA256); !errors.As(err, &ie) || ie.Source != "caller" {
		t.Errorf("overwritten object: %T %v", err, err)
	}
	if got, err := st.Get(ctx, key, ""); err != nil || string(got) != "replaced" {
		t.Errorf("object without sha256 metadata and no expectation: %q %v", got, err)
	}
}

func TestIntegrationManifest(t *testing.T) {
	stk := stacktest.StartS3(t)
	st := newStore(t, stk.StorageConfig())
	ctx := testCtx(t)
	run := "man"
	m := &storage.Manifest{CreatedBy: "test", Meta: map[string]string{"round": "1"}}
	for _, k := range []string{storage.RoundModelKey(run, 1), storage.MetricsKey(run, 1)} {
		obj, err := st.Put(ctx, k, []byte("content of "+k))
		if err != nil {
			t.Fatal(err)
		}
		m.Add(obj)
	}
	leftover := storage.TrainCkptKey(run, 1, 5)
	if _, err := st.Put(ctx, leftover, []byte("crashed attempt")); err != nil {
		t.Fatal(err)
	}
	mobj, err := storage.WriteManifest(ctx, st, storage.RoundManifestKey(run, 1), m)
	if err != nil {
		t.Fatal(err)
	}
	rm, err := storage.ReadManifest(ctx, st, mobj.Key, mobj.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if len(rm.Keys) != 2 || rm.Keys[0].Key != storage.MetricsKey(run, 1) || rm.CreatedBy != "test" || rm.Version != 1 {
		t.Fatalf("ReadManifest = %+v", rm)
	}
	got, err := st.GetListed(ctx, rm, storage.RoundModelKey(run, 1))
	if err != nil || string(got) != "content of "+storage.RoundModelKey(run, 1) {
		t.Errorf("GetListed = %q, %v", got, err)
	}
	if _, err := st.GetListed(ctx, rm, leftover); !storage.IsNotFound(err) {
		t.Errorf("GetListed of an unlisted key: %v", err)
	}
}

func TestIntegrationWrongCredentials(t *testing.T) {
	stk := stacktest.StartS3(t)
	ctx := testCtx(t)
	const badSecret = "definitely-not-the-secret"
	for _, c := range []struct{ access, secret, code string }{
		{"nobody", badSecret, "XAdminUserNotFound"}, // versitygw's code for an unknown access key (AWS: InvalidAccessKeyId)
		{stack.DevAccessKey, badSecret, "SignatureDoesNotMatch"},
	} {
		cfg := stk.StorageConfig()
		cfg.AccessKey, cfg.SecretKey = c.access, c.secret
		st := newStore(t, cfg)
		_, err := st.Put(ctx, "runs/x/spec.json", []byte("x"))
		var ae *storage.AuthError
		if !errors.As(err, &ae) {
			t.Fatalf("%s: got %T %v", c.code, err, err)
		}
		msg := err.Error()
		if ae.Code != c.code || !strings.Contains(msg, "AWS_ACCESS_KEY_ID") || !strings.Contains(msg, "AWS_SECRET_ACCESS_KEY") ||
			!strings.Contains(msg, "runs/x/spec.json") || !storage.IsPermanent(err) {
			t.Errorf("%s: %v (code %s)", c.code, msg, ae.Code)
		}
		if strings.Contains(msg, badSecret) || strings.Contains(msg, stack.DevSecretKey) {
			t.Errorf("secret in error: %s", msg)
		}
		if _, err := st.Exists(ctx, "runs/x/spec.json"); !errors.As(err, &ae) {
			t.Errorf("Exists with %s: %T %v", c.code, err, err)
		}
		if err := st.EnsureBucket(ctx); !errors.As(err, &ae) {
			t.Errorf("EnsureBucket with %s: %v", c.code, err)
		}
	}
}

func TestIntegrationMissingBucket(t *testing.T) {
	stk := stacktest.StartS3(t)
	ctx := testCtx(t)
	cfg := stk.StorageConfig()
	cfg.Bucket = "no-such-bucket"
	st := newStore(t, cfg)
	check := func(op string, err error) {
		t.Helper()
		var be *storage.BucketError
		if !errors.As(err, &be) || !storage.IsPermanent(err) {
			t.Fatalf("%s: got %T %v", op, err, err)
		}
		if msg := err.Error(); !strings.Contains(msg, `"no-such-bucket"`) || !strings.Contains(msg, "--create-bucket") {
			t.Errorf("%s: %s", op, msg)
		}
	}
	_, err := st.Get(ctx, "runs/x/spec.json", "")
	check("Get", err)
	_, err = st.Put(ctx, "runs/x/spec.json", []byte("x"))
	check("Put", err)
	_, err = st.Exists(ctx, "runs/x/spec.json")
	check("Exists", err)
	_, err = st.List(ctx, "runs/")
	check("List", err)
	check("CheckBucket", st.CheckBucket(ctx))
	if err := st.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(ctx, "runs/x/spec.json", []byte("x")); err != nil {
		t.Errorf("Put after EnsureBucket: %v", err)
	}
	if err := st.CheckBucket(ctx); err != nil {
		t.Errorf("CheckBucket after EnsureBucket: %v", err)
	}
}

func TestIntegrationGatewayDown(t *testing.T) {
	stk := stacktest.StartS3(t)
	ctx := testCtx(t)
	st := newStore(t, stk.StorageConfig())
	key := storage.SpecKey("down")
	if _, err := st.Put(ctx, key, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := stk.StopS3(); err != nil {
		t.Fatal(err)
	}
	_, err := st.Get(ctx, key, "")
	var ue *storage.UnreachableError
	if !errors.As(err, &ue) || storage.IsPermanent(err) {
		t.Fatalf("got %T %v", err, err)
	}
	if msg := err.Error(); !strings.Contains(msg, stk.S3Endpoint()) || !strings.Contains(msg, "make up") || !strings.Contains(msg, key) {
		t.Errorf("message: %s", msg)
	}
	// The objects survive a gateway restart.
	if err := stk.StartS3(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := st.Get(ctx, key, ""); err != nil || string(got) != "x" {
		t.Errorf("after restart: %q %v", got, err)
	}
}

// corruptingProxy is a reverse proxy to the gateway that flips one byte in the body of the
// next n GET replies: bytes changed on the way, while the stored object stays intact.
func corruptingProxy(t *testing.T, endpoint string, n *atomic.Int32) string {
	t.Helper()
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(r *http.Response) error {
		if r.Request.Method != http.MethodGet || r.StatusCode != http.StatusOK || r.Request.URL.RawQuery == "list-type=2" || n.Add(-1) < 0 {
			return nil
		}
		body, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return err
		}
		if len(body) > 0 {
			body[len(body)/2] ^= 0x55
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		return nil
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestIntegrationIntegrityInTransit: a read whose bytes change on the way is caught by the
// sha256 check and read again; Get returns the right bytes, GetStream an IntegrityError
// marked InTransit (not permanent: the activity is retried). An object corrupt in the store
// stays a permanent IntegrityError (TestIntegrationIntegrity).
func TestIntegrationIntegrityInTransit(t *testing.T) {
	stk := stacktest.StartS3(t)
	direct := newStore(t, stk.StorageConfig())
	ctx := testCtx(t)
	key := storage.TrainCkptKey("transit", 0, 2)
	data := bytes.Repeat([]byte("weights "), 4096)
	obj, err := direct.Put(ctx, key, data)
	if err != nil {
		t.Fatal(err)
	}
	var corrupt atomic.Int32
	cfg := stk.StorageConfig()
	cfg.Endpoint = corruptingProxy(t, cfg.Endpoint, &corrupt)
	st := newStore(t, cfg)

	// Get: the first reply is corrupted, the second read is right and returned.
	for _, want := range []string{"", obj.SHA256} {
		corrupt.Store(1)
		got, err := st.Get(ctx, key, want)
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("Get(want %q) through one corrupted reply: %d bytes, %v", want, len(got), err)
		}
	}
	// GetStream: the reader has consumed the bad bytes; the error says to retry.
	corrupt.Store(1)
	_, err = st.GetStream(ctx, key, obj.SHA256, obj.Size, func(r io.Reader) error { _, err := io.Copy(io.Discard, r); return err })
	var ie *storage.IntegrityError
	if !errors.As(err, &ie) || !ie.InTransit || storage.IsPermanent(err) || !strings.Contains(err.Error(), "in transit") {
		t.Errorf("GetStream through a corrupted reply: %T %v (want a retryable IntegrityError in transit)", err, err)
	}
	if _, err := st.GetStream(ctx, key, obj.SHA256, obj.Size, func(r io.Reader) error { _, err := io.Copy(io.Discard, r); return err }); err != nil {
		t.Errorf("GetStream retried: %v", err)
	}
	// Every reply corrupted: the second read is wrong too; nothing says the stored object is
	// intact, so the error stays permanent.
	corrupt.Store(1000)
	if _, err := st.Get(ctx, key, ""); !errors.As(err, &ie) || ie.InTransit || !storage.IsPermanent(err) {
		t.Errorf("Get with every reply corrupted: %T %v (want a permanent IntegrityError)", err, err)
	}

	// Corrupt in the store (its sha256 metadata intact): permanent, also after the re-read.
	corrupt.Store(0)
	path := filepath.Join(stk.S3Dir(), stk.Bucket(), filepath.FromSlash(key))
	bad := bytes.Clone(data)
	bad[7] ^= 0xff
	if err := os.WriteFile(path, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, key, ""); !errors.As(err, &ie) || ie.InTransit || !storage.IsPermanent(err) {
		t.Errorf("object corrupt in the store: %T %v (want a permanent IntegrityError)", err, err)
	}
	_, err = st.GetStream(ctx, key, obj.SHA256, obj.Size, func(r io.Reader) error { _, err := io.Copy(io.Discard, r); return err })
	if !errors.As(err, &ie) || ie.InTransit || !storage.IsPermanent(err) {
		t.Errorf("GetStream of an object corrupt in the store: %T %v (want a permanent IntegrityError)", err, err)
	}
}
