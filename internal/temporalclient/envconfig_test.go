package temporalclient_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/space-sft/space/internal/temporalclient"
)

// Each of the Temporal CLI's variables lands in its setting.
func TestTemporalCLIVariables(t *testing.T) {
	for _, tc := range []struct {
		env  string
		val  string
		want func(temporalclient.Config) string
	}{
		{"TEMPORAL_ADDRESS", "h:1", func(c temporalclient.Config) string { return c.Address }},
		{"TEMPORAL_NAMESPACE", "ns1", func(c temporalclient.Config) string { return c.Namespace }},
		{"TEMPORAL_API_KEY", apiKey, func(c temporalclient.Config) string { return c.APIKey }},
		{"TEMPORAL_TLS_CLIENT_CERT_PATH", "c.pem", func(c temporalclient.Config) string { return c.CertFile }},
		{"TEMPORAL_TLS_CLIENT_KEY_PATH", "k.pem", func(c temporalclient.Config) string { return c.KeyFile }},
		{"TEMPORAL_TLS_SERVER_CA_CERT_PATH", "ca.pem", func(c temporalclient.Config) string { return c.CAFile }},
		{"TEMPORAL_TLS_SERVER_NAME", "sni", func(c temporalclient.Config) string { return c.ServerName }},
		{"TEMPORAL_TLS_CLIENT_CERT_DATA", "CERT", func(c temporalclient.Config) string { return string(c.CertData) }},
		{"TEMPORAL_TLS_CLIENT_KEY_DATA", "KEY", func(c temporalclient.Config) string { return string(c.KeyData) }},
		{"TEMPORAL_TLS_SERVER_CA_CERT_DATA", "CA", func(c temporalclient.Config) string { return string(c.CAData) }},
		// The names space used first are still read.
		{"TEMPORAL_TLS_CERT", "old-c.pem", func(c temporalclient.Config) string { return c.CertFile }},
		{"TEMPORAL_TLS_KEY", "old-k.pem", func(c temporalclient.Config) string { return c.KeyFile }},
		{"TEMPORAL_TLS_CA", "old-ca.pem", func(c temporalclient.Config) string { return c.CAFile }},
	} {
		clearEnv(t)
		t.Setenv(tc.env, tc.val)
		c := temporalclient.FromEnv()
		if got := tc.want(c); got != tc.val {
			t.Errorf("%s=%s: setting is %q", tc.env, tc.val, got)
		}
		if tc.env != "TEMPORAL_ADDRESS" && tc.env != "TEMPORAL_NAMESPACE" && !c.TLSEnabled() {
			t.Errorf("%s: TLS not on", tc.env)
		}
	}
	clearEnv(t)
	t.Setenv("TEMPORAL_TLS_DISABLE_HOST_VERIFICATION", "true")
	if c := temporalclient.FromEnv(); !c.DisableHostVerification {
		t.Error("TEMPORAL_TLS_DISABLE_HOST_VERIFICATION ignored")
	}
	t.Setenv("TEMPORAL_TLS", "false")
	if c := temporalclient.FromEnv(); c.TLSEnabled() {
		t.Error("TEMPORAL_TLS=false ignored")
	}

	// The older name wins over the new one, as in the Temporal CLI.
	clearEnv(t)
	t.Setenv("TEMPORAL_TLS_CLIENT_CERT_PATH", "new.pem")
	t.Setenv("TEMPORAL_TLS_CERT", "old.pem")
	if c := temporalclient.FromEnv(); c.CertFile != "old.pem" {
		t.Errorf("cert %q, want the older name's", c.CertFile)
	}
}

const profiles = `
[profile.default]
address = "default-host:7233"

[profile.prod]
address = "prod.tmprl.cloud:7233"
namespace = "prod.acct"
api_key = "profile-key"
[profile.prod.tls]
client_cert_path = "prod.pem"
client_key_path = "prod.key"
server_name = "prod-sni"

[profile.plain]
address = "plain:7233"
[profile.plain.tls]
disabled = true
`

// Profiles of the Temporal CLI's config file: chosen by TEMPORAL_PROFILE or --profile, the
// file by TEMPORAL_CONFIG_FILE or --config-file; a variable beats the profile and a flag
// beats both, whatever the order of the flags.
func TestProfiles(t *testing.T) {
	clearEnv(t)
	file := filepath.Join(t.TempDir(), "temporal.toml")
	if err := os.WriteFile(file, []byte(profiles), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEMPORAL_CONFIG_FILE", file)
	if c := temporalclient.FromEnv(); c.Address != "default-host:7233" || c.Namespace != "default" || c.TLSEnabled() {
		t.Errorf("profile default: %v", c)
	}
	t.Setenv("TEMPORAL_PROFILE", "prod")
	c := temporalclient.FromEnv()
	if c.Address != "prod.tmprl.cloud:7233" || c.Namespace != "prod.acct" || c.APIKey != "profile-key" ||
		c.CertFile != "prod.pem" || c.KeyFile != "prod.key" || c.ServerName != "prod-sni" || !c.TLSEnabled() {
		t.Errorf("profile prod: %v", c)
	}
	t.Setenv("TEMPORAL_NAMESPACE", "from-env")
	if c := temporalclient.FromEnv(); c.Namespace != "from-env" || c.Address != "prod.tmprl.cloud:7233" {
		t.Errorf("variable over profile: %v", c)
	}
	t.Setenv("TEMPORAL_NAMESPACE", "")

	// --profile after or before another flag: the flag's value stays.
	for _, args := range [][]string{
		{"--namespace", "flagged", "--profile", "plain"},
		{"--profile", "plain", "--namespace", "flagged"},
		{"--config-file", file, "--profile", "plain", "--namespace", "flagged"},
	} {
		c, _ := parse(t, args...)
		if c.Address != "plain:7233" || c.Namespace != "flagged" || c.TLSEnabled() || c.Profile != "plain" {
			t.Errorf("%v: %v", args, c)
		}
	}
	// The Temporal CLI's flag names.
	cp, _ := parse(t, "--address", "a:1", "--tls-cert-path", "x.pem", "--tls-key-path", "x.key", "--tls-ca-path", "ca.pem")
	if c := *cp; c.Address != "a:1" || c.CertFile != "x.pem" || c.KeyFile != "x.key" || c.CAFile != "ca.pem" {
		t.Errorf("Temporal CLI flag names: %v", *cp)
	}

	// A profile that is not in the file is an error naming it and the file.
	t.Setenv("TEMPORAL_PROFILE", "nope")
	_, err := temporalclient.FromEnv().Options()
	if err == nil || !strings.Contains(err.Error(), `"nope"`) || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), "TEMPORAL_PROFILE") {
		t.Errorf("missing profile: %v", err)
	}
}
