package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/space-sft/space/internal/stack"
	"github.com/space-sft/space/internal/stack/stacktest"
	"github.com/space-sft/space/internal/temporalclient/tlstest"
)

// TestCLIOverMTLS: `space list` through a proxy that requires a client certificate, with the
// settings from flags and from the environment; a key without its certificate is refused
// before connecting, and no certificate fails with a hint.
func TestCLIOverMTLS(t *testing.T) {
	st := stacktest.Start(t, stack.Options{})
	pki := tlstest.NewPKI(t)
	addr := pki.Proxy(t, st.TemporalAddress(), true)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	stdout = &out
	defer func() { stdout = os.Stdout }()

	if err := cmdList(ctx, []string{"--temporal-address", addr, "--tls-ca", pki.CAFile,
		"--tls-cert", pki.ClientCertFile, "--tls-key", pki.ClientKey, "--json"}); err != nil {
		t.Fatalf("flags: %v", err)
	}
	t.Setenv("TEMPORAL_ADDRESS", addr)
	t.Setenv("TEMPORAL_TLS_CA", pki.CAFile)
	t.Setenv("TEMPORAL_TLS_CERT", pki.ClientCertFile)
	t.Setenv("TEMPORAL_TLS_KEY", pki.ClientKey)
	if err := cmdList(ctx, []string{"--json"}); err != nil {
		t.Fatalf("environment (older names): %v", err)
	}
	// The Temporal CLI's names.
	for old, name := range map[string]string{"TEMPORAL_TLS_CA": "TEMPORAL_TLS_SERVER_CA_CERT_PATH", "TEMPORAL_TLS_CERT": "TEMPORAL_TLS_CLIENT_CERT_PATH", "TEMPORAL_TLS_KEY": "TEMPORAL_TLS_CLIENT_KEY_PATH"} {
		t.Setenv(name, os.Getenv(old))
		t.Setenv(old, "")
	}
	if err := cmdList(ctx, []string{"--json"}); err != nil {
		t.Fatalf("environment (the Temporal CLI's names): %v", err)
	}
	t.Setenv("TEMPORAL_TLS_CLIENT_CERT_PATH", "")
	err := cmdList(ctx, nil)
	if err == nil || !strings.Contains(err.Error(), "--tls-cert (TEMPORAL_TLS_CLIENT_CERT_PATH or TEMPORAL_TLS_CERT)") || !strings.Contains(err.Error(), pki.ClientKey) {
		t.Fatalf("key without certificate: %v", err)
	}
	t.Setenv("TEMPORAL_TLS_CLIENT_KEY_PATH", "")
	if err := cmdList(ctx, nil); err == nil || !strings.Contains(err.Error(), "client certificate") {
		t.Fatalf("no client certificate: %v", err)
	}
}
