package harness

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestS3Faults: requests pass untouched; Fail answers with the status and S3's error code;
// Corrupt changes the first GET of each object only; Heal counts what was hit.
func TestS3Faults(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "object "+r.URL.Path+" host "+r.Host)
	}))
	defer backend.Close()
	f := NewS3Faults(t, backend.URL)
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(f.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	want := "object /b/k host " + strings.TrimPrefix(f.URL(), "http://") // the signed Host is kept
	if code, body := get("/b/k"); code != 200 || body != want {
		t.Fatalf("pass-through: %d %q, want %q", code, body, want)
	}
	f.Fail(503, "SlowDown")
	if code, body := get("/b/k"); code != 503 || !strings.Contains(body, "<Code>SlowDown</Code>") {
		t.Errorf("Fail(503): %d %q", code, body)
	}
	if n := f.Heal(); n != 1 {
		t.Errorf("Heal after one failed request: %d", n)
	}
	f.Corrupt()
	if _, body := get("/b/k"); body == want || len(body) != len(want) {
		t.Errorf("first read while corrupting: %q, want one byte changed", body)
	}
	if _, body := get("/b/k"); body != want {
		t.Errorf("second read of the same object: %q, want it intact", body)
	}
	if n := f.Heal(); n != 1 {
		t.Errorf("Heal after one corrupted read: %d", n)
	}
}
