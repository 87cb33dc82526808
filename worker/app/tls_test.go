package app_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/space-sft/space/internal/stack"
	"github.com/space-sft/space/internal/stack/stacktest"
	"github.com/space-sft/space/internal/temporalclient"
	"github.com/space-sft/space/internal/temporalclient/tlstest"
	"github.com/space-sft/space/worker/app"
	"github.com/space-sft/space/workflows"
)

// syncBuffer is a log sink the worker's goroutines can share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// secretsIn lists the secrets found in s: the API key, the client key file's contents (any of
// its base64 lines, or the raw key bytes in base64) or its PEM header.
func secretsIn(s, apiKey string, keyPEM []byte) []string {
	var found []string
	if strings.Contains(s, apiKey) {
		found = append(found, "API key")
	}
	if strings.Contains(s, "PRIVATE KEY") {
		found = append(found, "PEM header")
	}
	for _, line := range strings.Split(string(keyPEM), "\n") {
		if len(line) > 16 && !strings.HasPrefix(line, "-----") && strings.Contains(s, line) {
			found = append(found, "key line "+line[:8]+"…")
		}
	}
	if i := bytes.IndexByte(keyPEM, '\n'); i > 0 {
		body := strings.ReplaceAll(string(keyPEM[i+1:]), "\n", "")
		if raw, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(body, "-----END PRIVATE KEY-----")); err == nil && len(raw) > 16 && strings.Contains(s, string(raw[len(raw)-16:])) {
			found = append(found, "raw key bytes")
		}
	}
	return found
}

// TestWorkerOverMTLS runs the worker in-process against Temporal behind a proxy that
// requires a client certificate (as Temporal Cloud does), with an API key as well, runs a tiny
// SelfPlay through it, and checks that neither the API key nor the client key's contents
// appear in the worker's log (debug level, the SDK's included), the workflow history, or the
// error of a worker given a bad key.
func TestWorkerOverMTLS(t *testing.T) {
	st := stacktest.Start(t, stack.Options{})
	pki := tlstest.NewPKI(t)
	const apiKey = "tmprl-test-api-key-must-not-leak-5f3a9c"
	tc := temporalclient.Config{Address: pki.Proxy(t, st.TemporalAddress(), true), CAFile: pki.CAFile,
		CertFile: pki.ClientCertFile, KeyFile: pki.ClientKey, APIKey: apiKey}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	var logs syncBuffer
	wlog := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	wctx, stopWorker := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- app.Run(wctx, app.Options{Temporal: tc, Storage: st.StorageConfig(), Identity: "mtls", Log: wlog})
	}()
	defer func() { stopWorker(); <-done }()

	c, err := tc.Dial(client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	spec := tinySpec("mtls")
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.WorkflowID(spec.Name), TaskQueue: app.DefaultTaskQueue}, workflows.SelfPlay, spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	var res workflows.RunResult
	if err := run.Get(ctx, &res); err != nil || res.Status != workflows.StatusCompleted {
		t.Fatalf("run over mTLS: %v %+v", err, res)
	}
	out := logs.String()
	for _, want := range []string{"worker started", "tls=true", pki.ClientKey, "api_key=[redacted]"} {
		if !strings.Contains(out, want) {
			t.Errorf("worker log lacks %q", want)
		}
	}
	if found := secretsIn(out, apiKey, pki.ClientKeyPEM); len(found) > 0 {
		t.Errorf("worker log leaks %v:\n%s", found, out)
	}

	var hist strings.Builder
	it := c.GetWorkflowHistory(ctx, run.GetID(), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		hist.WriteString(protojson.Format(ev))
	}
	if found := secretsIn(hist.String(), apiKey, pki.ClientKeyPEM); len(found) > 0 || hist.Len() == 0 {
		t.Errorf("history (%d bytes) leaks %v", hist.Len(), found)
	}

	// A worker whose key file is not a key fails at start-up naming the files, and neither
	// its log nor its error shows what the file holds.
	bad := filepath.Join(t.TempDir(), "bad-key.pem")
	junk := strings.Replace(string(pki.ClientKeyPEM), "M", "!", 3) // broken base64, still secret
	if err := os.WriteFile(bad, []byte(junk), 0o600); err != nil {
		t.Fatal(err)
	}
	var badLogs syncBuffer
	tc.KeyFile = bad
	err = app.Run(ctx, app.Options{Temporal: tc, Storage: st.StorageConfig(), MetricsAddr: "",
		Log: slog.New(slog.NewTextHandler(&badLogs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "--tls-key") {
		t.Fatalf("bad key: %v", err)
	}
	if found := secretsIn(err.Error()+badLogs.String(), apiKey, []byte(junk)); len(found) > 0 {
		t.Errorf("bad key leaks %v: %v\n%s", found, err, badLogs.String())
	}
	t.Logf("bad key: %v", err)
}
