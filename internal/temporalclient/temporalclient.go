// Package temporalclient builds the Temporal client options of the worker and the CLI from
// flags with environment defaults: the frontend address, the namespace, TLS with a private
// CA or the system roots, a client certificate for mTLS (as Temporal Cloud uses), and an API
// key.
//
//	--temporal-address  TEMPORAL_ADDRESS          host:port (default 127.0.0.1:7233)
//	--namespace         TEMPORAL_NAMESPACE        (default "default")
//	--tls               TEMPORAL_TLS              TLS to the frontend; on when any other TLS setting
//	                                              or an API key is given (--tls=false forces it off)
//	--tls-ca            TEMPORAL_TLS_CA           PEM file of the server's CA (default: system roots)
//	--tls-cert          TEMPORAL_TLS_CERT         PEM client certificate (mTLS), with --tls-key
//	--tls-key           TEMPORAL_TLS_KEY          PEM private key of the client certificate
//	--tls-server-name   TEMPORAL_TLS_SERVER_NAME  name to verify the server's certificate against
//	--api-key           TEMPORAL_API_KEY          API key (Temporal Cloud), sent as a bearer token
//
// Secrets stay out of logs and errors: String, GoString and LogValue show file paths and
// whether an API key is set, never a key; errors name the flag, its variable and the file.
package temporalclient

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"go.temporal.io/sdk/client"
)

// DefaultAddress and DefaultNamespace are a local dev server's.
const (
	DefaultAddress   = "127.0.0.1:7233"
	DefaultNamespace = "default"
)

// Config is a Temporal connection. The zero value is a plaintext connection to
// DefaultAddress, namespace DefaultNamespace.
type Config struct {
	Address   string
	Namespace string
	// TLS turns TLS on. It is also on when CAFile, CertFile, KeyFile, ServerName or APIKey
	// is set, unless turned off explicitly with --tls=false or TEMPORAL_TLS=false.
	TLS        bool
	CAFile     string // PEM CA bundle that signed the server's certificate; "" = system roots
	CertFile   string // PEM client certificate for mTLS
	KeyFile    string // PEM private key of CertFile
	ServerName string // overrides the host name verified in the server's certificate
	APIKey     string // secret: never logged

	tlsOff bool  // --tls=false or TEMPORAL_TLS=false given explicitly
	envErr error // a TEMPORAL_TLS that is not a boolean
}

// FromEnv reads the TEMPORAL_* variables listed in the package doc.
func FromEnv() Config {
	c := Config{
		Address:    os.Getenv("TEMPORAL_ADDRESS"),
		Namespace:  os.Getenv("TEMPORAL_NAMESPACE"),
		CAFile:     os.Getenv("TEMPORAL_TLS_CA"),
		CertFile:   os.Getenv("TEMPORAL_TLS_CERT"),
		KeyFile:    os.Getenv("TEMPORAL_TLS_KEY"),
		ServerName: os.Getenv("TEMPORAL_TLS_SERVER_NAME"),
		APIKey:     os.Getenv("TEMPORAL_API_KEY"),
	}
	if c.Address == "" {
		c.Address = DefaultAddress
	}
	if c.Namespace == "" {
		c.Namespace = DefaultNamespace
	}
	if v := os.Getenv("TEMPORAL_TLS"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			c.envErr = fmt.Errorf("TEMPORAL_TLS=%q: want true or false", v)
		}
		c.TLS, c.tlsOff = b, err == nil && !b
	}
	return c
}

// Flags registers the flags of the package doc on fs, with defaults from FromEnv, and
// returns the Config they fill in when fs is parsed.
func Flags(fs *flag.FlagSet) *Config {
	c := FromEnv()
	p := &c
	fs.StringVar(&p.Address, "temporal-address", c.Address, "Temporal frontend host:port (TEMPORAL_ADDRESS)")
	fs.StringVar(&p.Namespace, "namespace", c.Namespace, "Temporal namespace (TEMPORAL_NAMESPACE)")
	fs.Var(tlsFlag{p}, "tls", "TLS to Temporal (TEMPORAL_TLS); on when any --tls-* flag or an API key is given")
	fs.StringVar(&p.CAFile, "tls-ca", c.CAFile, "PEM file of the CA of Temporal's server certificate (TEMPORAL_TLS_CA; default: system roots)")
	fs.StringVar(&p.CertFile, "tls-cert", c.CertFile, "PEM client certificate for mTLS, e.g. Temporal Cloud (TEMPORAL_TLS_CERT)")
	fs.StringVar(&p.KeyFile, "tls-key", c.KeyFile, "PEM private key of --tls-cert (TEMPORAL_TLS_KEY)")
	fs.StringVar(&p.ServerName, "tls-server-name", c.ServerName, "server name to verify in Temporal's certificate (TEMPORAL_TLS_SERVER_NAME)")
	fs.Var(secretFlag{&p.APIKey}, "api-key", "Temporal Cloud API `key` (TEMPORAL_API_KEY; prefer the variable, as flags show in ps; never logged)")
	return p
}

// tlsFlag is --tls: a boolean flag that remembers an explicit false.
type tlsFlag struct{ c *Config }

func (f tlsFlag) String() string {
	if f.c == nil || !f.c.TLS {
		return "false"
	}
	return "true"
}

func (f tlsFlag) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return errors.New("want true or false")
	}
	f.c.TLS, f.c.tlsOff, f.c.envErr = b, !b, nil
	return nil
}

func (tlsFlag) IsBoolFlag() bool { return true }

// secretFlag is a string flag whose value -h never prints.
type secretFlag struct{ p *string }

func (secretFlag) String() string { return "" }

func (f secretFlag) Set(s string) error { *f.p = s; return nil }

// TLSEnabled reports whether the connection uses TLS.
func (c Config) TLSEnabled() bool {
	if c.tlsOff {
		return false
	}
	return c.TLS || c.CAFile != "" || c.CertFile != "" || c.KeyFile != "" || c.ServerName != "" || c.APIKey != ""
}

// Options returns the client options of c (HostPort, Namespace, TLS, credentials); the
// caller adds Logger, Identity and the like. Errors name the flag, its variable and the
// file, never a file's contents.
func (c Config) Options() (client.Options, error) {
	o := client.Options{HostPort: c.Address, Namespace: c.Namespace}
	if o.HostPort == "" {
		o.HostPort = DefaultAddress
	}
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if c.envErr != nil {
		return o, c.envErr
	}
	if c.tlsOff && (c.CAFile != "" || c.CertFile != "" || c.KeyFile != "" || c.ServerName != "") {
		return o, errors.New("--tls=false (TEMPORAL_TLS) contradicts --tls-ca, --tls-cert, --tls-key or --tls-server-name: unset those or turn TLS on")
	}
	tc, err := c.tlsConfig()
	if err != nil {
		return o, err
	}
	o.ConnectionOptions.TLS = tc
	o.ConnectionOptions.TLSDisabled = c.tlsOff
	if c.APIKey != "" {
		o.Credentials = client.NewAPIKeyStaticCredentials(c.APIKey)
	}
	return o, nil
}

func (c Config) tlsConfig() (*tls.Config, error) {
	if !c.TLSEnabled() {
		return nil, nil
	}
	tc := &tls.Config{ServerName: c.ServerName, MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		b, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca (TEMPORAL_TLS_CA): %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("--tls-ca (TEMPORAL_TLS_CA) %s: no PEM certificate in the file", c.CAFile)
		}
		tc.RootCAs = pool
	}
	switch {
	case c.CertFile == "" && c.KeyFile == "":
	case c.CertFile == "":
		return nil, fmt.Errorf("--tls-key (TEMPORAL_TLS_KEY) %s is set but --tls-cert (TEMPORAL_TLS_CERT) is not: mTLS needs both", c.KeyFile)
	case c.KeyFile == "":
		return nil, fmt.Errorf("--tls-cert (TEMPORAL_TLS_CERT) %s is set but --tls-key (TEMPORAL_TLS_KEY) is not: mTLS needs both", c.CertFile)
	default:
		certPEM, err := os.ReadFile(c.CertFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert (TEMPORAL_TLS_CERT): %w", err)
		}
		keyPEM, err := os.ReadFile(c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-key (TEMPORAL_TLS_KEY): %w", err)
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			// crypto/tls's messages describe the problem, not the bytes.
			return nil, fmt.Errorf("--tls-cert (TEMPORAL_TLS_CERT) %s with --tls-key (TEMPORAL_TLS_KEY) %s: %v", c.CertFile, c.KeyFile, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// String shows the settings with the API key redacted; file paths are shown, never contents.
func (c Config) String() string {
	return fmt.Sprintf("temporal{address=%s namespace=%s tls=%t ca=%q cert=%q key=%q server_name=%q api_key=%s}",
		c.Address, c.Namespace, c.TLSEnabled(), c.CAFile, c.CertFile, c.KeyFile, c.ServerName, redact(c.APIKey))
}

// GoString redacts like String, for %#v.
func (c Config) GoString() string { return "temporalclient.Config" + c.String()[len("temporal"):] }

// LogValue redacts like String, for log/slog.
func (c Config) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("address", c.Address), slog.String("namespace", c.Namespace), slog.Bool("tls", c.TLSEnabled()),
	}
	for _, a := range [][2]string{{"ca", c.CAFile}, {"cert", c.CertFile}, {"key", c.KeyFile}, {"server_name", c.ServerName}} {
		if a[1] != "" {
			attrs = append(attrs, slog.String(a[0], a[1]))
		}
	}
	if c.APIKey != "" {
		attrs = append(attrs, slog.String("api_key", redact(c.APIKey)))
	}
	return slog.GroupValue(attrs...)
}

func redact(s string) string {
	if s == "" {
		return `""`
	}
	return "[redacted]"
}

// Dial connects with base's Logger, Identity and the like, and c's address, namespace, TLS
// and credentials. A TLS error says which setting to look at.
func (c Config) Dial(base client.Options) (client.Client, error) {
	o, err := c.Options()
	if err != nil {
		return nil, err
	}
	base.HostPort, base.Namespace, base.Credentials = o.HostPort, o.Namespace, o.Credentials
	base.ConnectionOptions.TLS, base.ConnectionOptions.TLSDisabled = o.ConnectionOptions.TLS, o.ConnectionOptions.TLSDisabled
	cl, err := client.Dial(base)
	if err != nil {
		if hint := c.hint(err); hint != "" {
			return nil, fmt.Errorf("%w (%s)", err, hint)
		}
		return nil, err
	}
	return cl, nil
}

// hint explains a failed connection in terms of the settings.
func (c Config) hint(err error) string {
	msg := err.Error()
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(msg, s) {
				return true
			}
		}
		return false
	}
	ca := "the system roots"
	if c.CAFile != "" {
		ca = c.CAFile
	}
	switch {
	case !c.TLSEnabled() && has("http2: frame too large", "first record does not look like a TLS handshake", "connection reset", "EOF"):
		return "if the server wants TLS, set --tls (TEMPORAL_TLS) and, for a private CA, --tls-ca (TEMPORAL_TLS_CA)"
	case !c.TLSEnabled():
		return ""
	case has("unknown authority", "certificate is not trusted", "failed to verify certificate"):
		if has("certificate is valid for", "doesn't contain any IP SANs", "not valid for any names") {
			return fmt.Sprintf("the server's certificate does not name %s: set --tls-server-name (TEMPORAL_TLS_SERVER_NAME)", c.Address)
		}
		return fmt.Sprintf("the server's certificate is not signed by a CA in --tls-ca (TEMPORAL_TLS_CA), now %s", ca)
	case has("certificate is valid for", "doesn't contain any IP SANs", "not valid for any names"):
		return fmt.Sprintf("the server's certificate does not name %s: set --tls-server-name (TEMPORAL_TLS_SERVER_NAME)", c.Address)
	case has("certificate required", "bad certificate", "unknown certificate authority", "handshake failure", "connection reset", "broken pipe", "EOF"):
		if c.CertFile == "" {
			return "the server may want a client certificate: set --tls-cert and --tls-key (TEMPORAL_TLS_CERT, TEMPORAL_TLS_KEY)"
		}
		return fmt.Sprintf("the server may not accept the client certificate --tls-cert (TEMPORAL_TLS_CERT) %s", c.CertFile)
	case has("first record does not look like a TLS handshake", "http2: frame too large", "tls: "):
		return "the server may not speak TLS: check --temporal-address, or --tls=false (TEMPORAL_TLS=false)"
	}
	return ""
}
