package temporalclient_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/space-sft/space/internal/stack"
	"github.com/space-sft/space/internal/stack/stacktest"
	"github.com/space-sft/space/internal/temporalclient"
	"github.com/space-sft/space/internal/temporalclient/tlstest"
)

const apiKey = "tmprl-api-key-do-not-log-0123456789"

func clearEnv(t *testing.T) {
	for _, k := range []string{"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_TLS", "TEMPORAL_TLS_CA",
		"TEMPORAL_TLS_CERT", "TEMPORAL_TLS_KEY", "TEMPORAL_TLS_SERVER_NAME", "TEMPORAL_API_KEY",
		"TEMPORAL_TLS_CLIENT_CERT_PATH", "TEMPORAL_TLS_CLIENT_KEY_PATH", "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
		"TEMPORAL_TLS_CLIENT_CERT_DATA", "TEMPORAL_TLS_CLIENT_KEY_DATA", "TEMPORAL_TLS_SERVER_CA_CERT_DATA",
		"TEMPORAL_TLS_DISABLE_HOST_VERIFICATION", "TEMPORAL_PROFILE"} {
		t.Setenv(k, "")
	}
	// No profile file of the machine's user: an empty one.
	empty := filepath.Join(t.TempDir(), "none.toml")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEMPORAL_CONFIG_FILE", empty)
}

func parse(t *testing.T, args ...string) (*temporalclient.Config, string) {
	t.Helper()
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	var usage bytes.Buffer
	fs.SetOutput(&usage)
	c := temporalclient.Flags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	fs.PrintDefaults()
	return c, usage.String()
}

func TestFlagsAndEnv(t *testing.T) {
	clearEnv(t)
	c, _ := parse(t)
	if c.Address != "127.0.0.1:7233" || c.Namespace != "default" || c.TLSEnabled() {
		t.Fatalf("defaults: %v", c)
	}
	o, err := c.Options()
	if err != nil || o.ConnectionOptions.TLS != nil || o.Credentials != nil {
		t.Fatalf("plaintext options: %+v %v", o.ConnectionOptions, err)
	}

	pki := tlstest.NewPKI(t)
	t.Setenv("TEMPORAL_ADDRESS", "ns.tmprl.cloud:7233")
	t.Setenv("TEMPORAL_NAMESPACE", "ns.acct")
	t.Setenv("TEMPORAL_TLS_CA", pki.CAFile)
	t.Setenv("TEMPORAL_API_KEY", apiKey)
	c, usage := parse(t, "--tls-cert", pki.ClientCertFile, "--tls-key", pki.ClientKey, "--tls-server-name", "ns.tmprl.cloud")
	if !c.TLSEnabled() || c.CAFile != pki.CAFile || c.APIKey != apiKey || c.Address != "ns.tmprl.cloud:7233" {
		t.Fatalf("from env and flags: %v", c)
	}
	if strings.Contains(usage, apiKey) || !strings.Contains(usage, "TEMPORAL_API_KEY") || !strings.Contains(usage, "-tls-ca") {
		t.Fatalf("-h shows the API key or misses a flag:\n%s", usage)
	}
	o, err = c.Options()
	if err != nil {
		t.Fatal(err)
	}
	tc := o.ConnectionOptions.TLS
	if tc == nil || tc.RootCAs == nil || len(tc.Certificates) != 1 || tc.ServerName != "ns.tmprl.cloud" || o.Credentials == nil {
		t.Fatalf("options: %+v", o)
	}

	// Every way of printing the config shows paths, never the key's contents or the API key.
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "temporal", *c)
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", "temporal", c)
	for _, s := range []string{c.String(), fmt.Sprintf("%v %+v %#v %s", *c, *c, *c, c), logged.String()} {
		if strings.Contains(s, apiKey) || strings.Contains(s, "PRIVATE KEY") || !strings.Contains(s, pki.ClientKey) {
			t.Fatalf("leak or missing path: %s", s)
		}
	}

	// --tls=false is honoured, and contradicts TLS files.
	c, _ = parse(t, "--tls=false")
	if c.TLSEnabled() {
		t.Fatal("--tls=false ignored")
	}
	if _, err := c.Options(); err == nil || !strings.Contains(err.Error(), "--tls=false") {
		t.Fatalf("--tls=false with --tls-ca: %v", err)
	}
	clearEnv(t)
	t.Setenv("TEMPORAL_TLS", "yes please")
	if _, err := temporalclient.FromEnv().Options(); err == nil || !strings.Contains(err.Error(), "TEMPORAL_TLS") {
		t.Fatalf("bad TEMPORAL_TLS: %v", err)
	}
	t.Setenv("TEMPORAL_TLS", "1")
	if c := temporalclient.FromEnv(); !c.TLSEnabled() {
		t.Fatal("TEMPORAL_TLS=1 ignored")
	}
}

// TestErrors: each bad setting names its flag, its variable and the file, never a key.
func TestErrors(t *testing.T) {
	clearEnv(t)
	pki := tlstest.NewPKI(t)
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("-----BEGIN PRIVATE KEY-----\nc2VjcmV0IGtleSBieXRlcw==\n-----END PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	for _, tc := range []struct {
		name string
		c    temporalclient.Config
		want []string
	}{
		{"missing CA", temporalclient.Config{CAFile: missing}, []string{"--tls-ca", "TEMPORAL_TLS_CA", missing, "no such file"}},
		{"CA not PEM", temporalclient.Config{CAFile: pki.ClientKey}, []string{"--tls-ca", "TEMPORAL_TLS_CA", pki.ClientKey, "no PEM certificate"}},
		{"key without cert", temporalclient.Config{KeyFile: pki.ClientKey}, []string{"--tls-key", "TEMPORAL_TLS_KEY", "--tls-cert", "TEMPORAL_TLS_CERT", pki.ClientKey}},
		{"cert without key", temporalclient.Config{CertFile: pki.ClientCertFile}, []string{"--tls-cert", "--tls-key", pki.ClientCertFile}},
		{"missing key", temporalclient.Config{CertFile: pki.ClientCertFile, KeyFile: missing}, []string{"--tls-key", "TEMPORAL_TLS_KEY", missing}},
		{"bad key", temporalclient.Config{CertFile: pki.ClientCertFile, KeyFile: junk, APIKey: apiKey}, []string{"--tls-cert", "--tls-key", junk, pki.ClientCertFile}},
		{"key of another cert", temporalclient.Config{CertFile: pki.ServerCertFile, KeyFile: pki.ClientKey}, []string{"--tls-key", pki.ClientKey, "does not match"}},
	} {
		_, err := tc.c.Options()
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		msg := err.Error()
		for _, w := range tc.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: %q does not mention %q", tc.name, msg, w)
			}
		}
		if strings.Contains(msg, "c2VjcmV0") || strings.Contains(msg, apiKey) || bytes.Contains([]byte(msg), pki.ClientKeyPEM[30:60]) {
			t.Errorf("%s: error leaks a secret: %s", tc.name, msg)
		}
	}
}

// TestIntegrationMTLS: a Temporal dev server behind a TLS proxy that requires a client
// certificate of a private CA, as Temporal Cloud does: the right CA and certificate connect;
// no certificate, or the wrong CA, fail with an error that names the setting to fix.
func TestIntegrationMTLS(t *testing.T) {
	clearEnv(t)
	st := stacktest.Start(t, stack.Options{})
	pki := tlstest.NewPKI(t)
	addr := pki.Proxy(t, st.TemporalAddress(), true)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	good := temporalclient.Config{Address: addr, CAFile: pki.CAFile, CertFile: pki.ClientCertFile, KeyFile: pki.ClientKey, APIKey: apiKey}
	begin := time.Now()
	c, err := good.Dial(client.Options{Logger: quiet{}})
	if err != nil {
		t.Fatalf("mTLS: %v", err)
	}
	defer c.Close()
	if _, err := c.CheckHealth(ctx, nil); err != nil {
		t.Fatal(err)
	}
	ns, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "default"})
	if err != nil || ns.NamespaceInfo.GetName() != "default" {
		t.Fatalf("DescribeNamespace: %v %v", ns, err)
	}
	t.Logf("mTLS connect + health + namespace in %v", time.Since(begin))

	// The same through a profile of the Temporal CLI's config file, the PEM given inline.
	caPEM, _ := os.ReadFile(pki.CAFile)
	certPEM, _ := os.ReadFile(pki.ClientCertFile)
	toml := fmt.Sprintf("[profile.proxy]\naddress = %q\n[profile.proxy.tls]\nserver_ca_cert_data = %q\nclient_cert_data = %q\nclient_key_data = %q\n",
		addr, caPEM, certPEM, pki.ClientKeyPEM)
	cfgFile := filepath.Join(t.TempDir(), "temporal.toml")
	if err := os.WriteFile(cfgFile, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEMPORAL_CONFIG_FILE", cfgFile)
	t.Setenv("TEMPORAL_PROFILE", "proxy")
	prof := temporalclient.FromEnv()
	if strings.Contains(prof.String(), "PRIVATE KEY") || strings.Contains(fmt.Sprintf("%#v", prof), "PRIVATE KEY") {
		t.Fatalf("key data printed: %s", prof)
	}
	if pc, err := prof.Dial(client.Options{Logger: quiet{}}); err != nil {
		t.Errorf("profile with inline PEM: %v", err)
	} else {
		pc.Close()
	}
	clearEnv(t)

	// A name the certificate does not carry fails, unless host verification is off (the
	// chain is still checked against the CA).
	wrongName := good
	wrongName.ServerName = "not-the-server.example"
	if c, err := wrongName.Dial(client.Options{Logger: quiet{}}); err == nil {
		c.Close()
		t.Error("wrong server name: connected")
	}
	wrongName.DisableHostVerification = true
	if c, err := wrongName.Dial(client.Options{Logger: quiet{}}); err != nil {
		t.Errorf("--tls-disable-host-verification: %v", err)
	} else {
		c.Close()
	}
	otherCA := wrongName
	otherCA.CAFile = pki.OtherCAFile
	if c, err := otherCA.Dial(client.Options{Logger: quiet{}}); err == nil {
		c.Close()
		t.Error("host verification off, another CA: connected")
	}

	for _, tc := range []struct {
		name string
		c    temporalclient.Config
		want string
	}{
		{"no client certificate", temporalclient.Config{Address: addr, CAFile: pki.CAFile}, "--tls-cert"},
		{"wrong CA", temporalclient.Config{Address: addr, CAFile: pki.OtherCAFile, CertFile: pki.ClientCertFile, KeyFile: pki.ClientKey}, "--tls-ca (TEMPORAL_TLS_SERVER_CA_CERT_PATH or TEMPORAL_TLS_CA)"},
		{"system roots", temporalclient.Config{Address: addr, TLS: true}, "TEMPORAL_TLS_CA"},
		{"plaintext", temporalclient.Config{Address: addr}, "--tls"},
	} {
		begin := time.Now()
		c, err := tc.c.Dial(client.Options{Logger: quiet{}})
		if err == nil {
			c.Close()
			t.Errorf("%s: connected", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error does not mention %s: %v", tc.name, tc.want, err)
		}
		t.Logf("%s (%v): %v", tc.name, time.Since(begin).Round(time.Millisecond), err)
	}
}

type quiet struct{}

func (quiet) Debug(string, ...interface{}) {}
func (quiet) Info(string, ...interface{})  {}
func (quiet) Warn(string, ...interface{})  {}
func (quiet) Error(string, ...interface{}) {}
