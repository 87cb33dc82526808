package harness

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// S3Faults is an HTTP reverse proxy in front of the S3 gateway that answers like a failing
// S3: every request with an error status and S3's XML error body (503 SlowDown, 500
// InternalError), or the first GET of each object with one byte of its body changed (bytes
// corrupted on the way while the stored object stays intact). The request is passed on
// untouched otherwise: its Host header, which the worker signed, is kept. It listens on
// 127.0.0.1 only.
type S3Faults struct {
	srv *httptest.Server

	mu        sync.Mutex
	status    int    // answer every request with this status (0: pass on)
	code      string // S3 error code of that answer
	corrupt   bool   // change a byte of the first GET body of each object
	corrupted map[string]bool
	count     int // requests answered with an error or corrupted since the last Heal
}

// NewS3Faults starts the proxy to endpoint (an http:// URL); it stops when the test ends.
func NewS3Faults(t testing.TB, endpoint string) *S3Faults {
	t.Helper()
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	f := &S3Faults{corrupted: map[string]bool{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = f.modify
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		status, code := f.status, f.code
		if status != 0 {
			f.count++
		}
		f.mu.Unlock()
		if status == 0 {
			rp.ServeHTTP(w, r)
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>injected by the e2e harness</Message><Resource>%s</Resource><RequestId>fault</RequestId></Error>`, code, r.URL.Path)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// URL is the proxy's address (an upstream for a NetProxy, or S3_ENDPOINT itself).
func (f *S3Faults) URL() string { return f.srv.URL }

// Fail answers every request with status and the S3 error code (503 "SlowDown", 500
// "InternalError") until Heal.
func (f *S3Faults) Fail(status int, code string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status, f.code = status, code
}

// Corrupt changes one byte in the body of the first successful GET of each object until
// Heal; later reads of the same object pass untouched.
func (f *S3Faults) Corrupt() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.corrupt = true
}

// Heal passes every request on again, and returns how many were answered with an error or
// corrupted since the fault began.
func (f *S3Faults) Heal() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.count
	f.status, f.code, f.corrupt, f.count = 0, "", false, 0
	return n
}

func (f *S3Faults) modify(r *http.Response) error {
	if r.Request.Method != http.MethodGet || r.StatusCode != http.StatusOK || r.Request.URL.Query().Has("list-type") {
		return nil
	}
	f.mu.Lock()
	key := r.Request.URL.Path
	hit := f.corrupt && !f.corrupted[key] && !strings.HasSuffix(key, "/")
	if hit {
		f.corrupted[key] = true
		f.count++
	}
	f.mu.Unlock()
	if !hit {
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
