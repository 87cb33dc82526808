// Package temporalclient builds the Temporal client options of the worker and the CLI from
// flags, the Temporal CLI's environment variables and its config-file profiles: the frontend
// address, the namespace, TLS with a private CA or the system roots, a client certificate for
// mTLS (as Temporal Cloud uses), and an API key.
//
//	flag                 variable (the Temporal CLI's; older names still read)      profile (TOML)
//	--temporal-address   TEMPORAL_ADDRESS                                          address
//	--namespace          TEMPORAL_NAMESPACE                                        namespace
//	--api-key            TEMPORAL_API_KEY                                          api_key
//	--tls                TEMPORAL_TLS                                              tls.disabled (a [tls] table turns TLS on)
//	--tls-ca             TEMPORAL_TLS_SERVER_CA_CERT_PATH (TEMPORAL_TLS_CA)        tls.server_ca_cert_path
//	--tls-cert           TEMPORAL_TLS_CLIENT_CERT_PATH (TEMPORAL_TLS_CERT)         tls.client_cert_path
//	--tls-key            TEMPORAL_TLS_CLIENT_KEY_PATH (TEMPORAL_TLS_KEY)           tls.client_key_path
//	--tls-server-name    TEMPORAL_TLS_SERVER_NAME                                  tls.server_name
//	--tls-disable-host-verification  TEMPORAL_TLS_DISABLE_HOST_VERIFICATION         tls.disable_host_verification
//	                     TEMPORAL_TLS_SERVER_CA_CERT_DATA, _CLIENT_CERT_DATA,       tls.*_data (PEM text)
//	                     _CLIENT_KEY_DATA
//	--profile            TEMPORAL_PROFILE                                          (default "default")
//	--config-file        TEMPORAL_CONFIG_FILE                      (default os.UserConfigDir()/temporalio/temporal.toml)
//
// The Temporal CLI's flag names are accepted too (--address, --tls-ca-path, --tls-cert-path,
// --tls-key-path). A flag beats a variable, which beats the profile; an older variable name
// beats the new one, as in the Temporal CLI. The profile file is the one `temporal config
// set` writes, read with go.temporal.io/sdk/contrib/envconfig:
//
//	[profile.prod]
//	address = "myns.acct.tmprl.cloud:7233"
//	namespace = "myns.acct"
//	[profile.prod.tls]
//	client_cert_path = "client.pem"
//	client_key_path = "client.key"
//
// TLS is on when any TLS setting or an API key is given, unless turned off explicitly
// (--tls=false, TEMPORAL_TLS=false, tls.disabled = true).
//
// Secrets stay out of logs and errors: String, GoString and LogValue show file paths and
// whether an API key or key data is set, never a key; errors name the flag, its variables and
// the file.
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
	"go.temporal.io/sdk/contrib/envconfig"
)

// DefaultAddress and DefaultNamespace are a local dev server's.
const DefaultAddress = "127.0.0.1:7233"

// DefaultNamespace is the namespace when none is set.
const DefaultNamespace = "default"

// Where a setting comes from, for error messages.
const (
	srcCA   = "--tls-ca (TEMPORAL_TLS_SERVER_CA_CERT_PATH or TEMPORAL_TLS_CA)"
	srcCert = "--tls-cert (TEMPORAL_TLS_CLIENT_CERT_PATH or TEMPORAL_TLS_CERT)"
	srcKey  = "--tls-key (TEMPORAL_TLS_CLIENT_KEY_PATH or TEMPORAL_TLS_KEY)"
	srcName = "--tls-server-name (TEMPORAL_TLS_SERVER_NAME)"
)

// Config is a Temporal connection. The zero value is a plaintext connection to
// DefaultAddress, namespace DefaultNamespace.
type Config struct {
	Address   string
	Namespace string
	// TLS turns TLS on. It is also on when CAFile, CertFile, KeyFile, ServerName, their
	// PEM data or APIKey is set, unless turned off explicitly with --tls=false or
	// TEMPORAL_TLS=false.
	TLS        bool
	CAFile     string // PEM CA bundle that signed the server's certificate; "" = system roots
	CertFile   string // PEM client certificate for mTLS
	KeyFile    string // PEM private key of CertFile
	ServerName string // overrides the host name verified in the server's certificate
	APIKey     string // secret: never logged
	// PEM text instead of files, from a profile's tls.*_data or TEMPORAL_TLS_*_DATA
	// (KeyData is a secret: never logged).
	CAData, CertData, KeyData []byte
	// DisableHostVerification accepts any server certificate signed by the CA, whatever
	// name it carries (TEMPORAL_TLS_DISABLE_HOST_VERIFICATION).
	DisableHostVerification bool
	// Profile and ConfigFile are where the profile came from ("" = TEMPORAL_PROFILE or
	// "default", TEMPORAL_CONFIG_FILE or the Temporal CLI's default path).
	Profile, ConfigFile string

	tlsOff  bool            // --tls=false, TEMPORAL_TLS=false or tls.disabled given explicitly
	envErr  error           // a TEMPORAL_TLS that is not a boolean, a profile that cannot be read
	flagged map[string]bool // settings given as flags: kept when --profile reloads the rest
}

// env reads variables, an empty value counting as unset (as for every variable of space).
type env struct{}

func (env) Environ() []string { return os.Environ() }

func (env) LookupEnv(k string) (string, bool) {
	v := os.Getenv(k)
	return v, v != ""
}

// FromEnv reads the TEMPORAL_* variables and the profile they name (see the package doc).
func FromEnv() Config { return load("", "") }

// load reads the profile (file and profile "" = from the environment or the defaults), then
// the variables over it.
func load(file, profile string) Config {
	var e env
	c := Config{ConfigFile: file, Profile: profile}
	if c.ConfigFile == "" {
		c.ConfigFile, _ = e.LookupEnv("TEMPORAL_CONFIG_FILE")
	}
	if c.Profile == "" {
		c.Profile, _ = e.LookupEnv("TEMPORAL_PROFILE")
	}
	prof, err := envconfig.LoadClientConfigProfile(envconfig.LoadClientConfigProfileOptions{
		ConfigFilePath: c.ConfigFile, ConfigFileProfile: c.Profile, DisableEnv: true, EnvLookup: e,
	})
	if err != nil {
		where := c.ConfigFile
		if where == "" {
			where, _ = envconfig.DefaultConfigFilePath()
		}
		c.envErr = fmt.Errorf("Temporal config file %s (--config-file, TEMPORAL_CONFIG_FILE), profile %q (--profile, TEMPORAL_PROFILE): %w", where, c.Profile, err)
	}
	if prof.TLS != nil { // a [tls] table in the profile turns TLS on
		t := *prof.TLS
		prof.TLS = &t
		c.TLS = !t.Disabled
	}
	_ = prof.ApplyEnvVars(e) // the Temporal CLI's variable names; it returns no error
	c.Address, c.Namespace, c.APIKey = prof.Address, prof.Namespace, prof.APIKey
	if t := prof.TLS; t != nil {
		c.CAFile, c.CertFile, c.KeyFile, c.ServerName = t.ServerCACertPath, t.ClientCertPath, t.ClientKeyPath, t.ServerName
		c.CAData, c.CertData, c.KeyData = t.ServerCACertData, t.ClientCertData, t.ClientKeyData
		c.DisableHostVerification = t.DisableHostVerification
		if t.Disabled {
			c.TLS, c.tlsOff = false, true
		}
	}
	// envconfig skips a TEMPORAL_TLS that is not a boolean: say so instead.
	if v, ok := e.LookupEnv("TEMPORAL_TLS"); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			c.envErr = fmt.Errorf("TEMPORAL_TLS=%q: want true or false", v)
		}
		c.TLS, c.tlsOff = b, err == nil && !b
	}
	// The names space read before it followed the Temporal CLI: kept, and they win, as the
	// Temporal CLI's own older names do there.
	for name, dst := range map[string]*string{"TEMPORAL_TLS_CA": &c.CAFile, "TEMPORAL_TLS_CERT": &c.CertFile, "TEMPORAL_TLS_KEY": &c.KeyFile} {
		if v, ok := e.LookupEnv(name); ok {
			*dst = v
		}
	}
	if c.Address == "" {
		c.Address = DefaultAddress
	}
	if c.Namespace == "" {
		c.Namespace = DefaultNamespace
	}
	return c
}

// Flags registers the flags of the package doc on fs, with defaults from FromEnv, and
// returns the Config they fill in when fs is parsed. --profile and --config-file reload
// the profile, keeping whatever other flags set.
func Flags(fs *flag.FlagSet) *Config {
	c := FromEnv()
	p := &c
	p.flagged = map[string]bool{}
	str := func(field string, dst *string, names []string, usage string) {
		for i, n := range names {
			u := usage
			if i > 0 {
				u = "the same as --" + names[0] + " (the Temporal CLI's name)"
			}
			fs.Var(strFlag{p, field, dst, false}, n, u)
		}
	}
	str("address", &p.Address, []string{"temporal-address", "address"}, "Temporal frontend `host:port` (TEMPORAL_ADDRESS)")
	str("namespace", &p.Namespace, []string{"namespace"}, "Temporal `namespace` (TEMPORAL_NAMESPACE)")
	fs.Var(tlsFlag{p}, "tls", "TLS to Temporal (TEMPORAL_TLS); on when any --tls-* setting or an API key is given")
	str("ca", &p.CAFile, []string{"tls-ca", "tls-ca-path"}, "PEM `file` of the CA of Temporal's server certificate (TEMPORAL_TLS_SERVER_CA_CERT_PATH; default: system roots)")
	str("cert", &p.CertFile, []string{"tls-cert", "tls-cert-path"}, "PEM client certificate `file` for mTLS, e.g. Temporal Cloud (TEMPORAL_TLS_CLIENT_CERT_PATH)")
	str("key", &p.KeyFile, []string{"tls-key", "tls-key-path"}, "PEM private key `file` of --tls-cert (TEMPORAL_TLS_CLIENT_KEY_PATH)")
	str("server-name", &p.ServerName, []string{"tls-server-name"}, "server `name` to verify in Temporal's certificate (TEMPORAL_TLS_SERVER_NAME)")
	fs.Var(boolFlag{p, "disable-host-verification", &p.DisableHostVerification}, "tls-disable-host-verification",
		"accept a server certificate of the CA whatever name it carries (TEMPORAL_TLS_DISABLE_HOST_VERIFICATION)")
	fs.Var(strFlag{p, "api-key", &p.APIKey, true}, "api-key", "Temporal Cloud API `key` (TEMPORAL_API_KEY; prefer the variable, as flags show in ps; never logged)")
	fs.Var(reloadFlag{p, &p.Profile, "profile"}, "profile", "`profile` of the Temporal CLI's config file (TEMPORAL_PROFILE; default \"default\")")
	fs.Var(reloadFlag{p, &p.ConfigFile, "config-file"}, "config-file", "the Temporal CLI's config `file`, TOML (TEMPORAL_CONFIG_FILE; default ~/.config/temporalio/temporal.toml)")
	return p
}

// reload reads the profile again (--profile or --config-file was given), keeping the
// settings given as flags.
func (c *Config) reload() {
	keep := *c
	file, profile := "", ""
	if keep.flagged["config-file"] {
		file = keep.ConfigFile
	}
	if keep.flagged["profile"] {
		profile = keep.Profile
	}
	*c = load(file, profile)
	c.flagged = keep.flagged
	for field, ptrs := range map[string][2]*string{
		"address": {&c.Address, &keep.Address}, "namespace": {&c.Namespace, &keep.Namespace},
		"ca": {&c.CAFile, &keep.CAFile}, "cert": {&c.CertFile, &keep.CertFile}, "key": {&c.KeyFile, &keep.KeyFile},
		"server-name": {&c.ServerName, &keep.ServerName}, "api-key": {&c.APIKey, &keep.APIKey},
	} {
		if keep.flagged[field] {
			*ptrs[0] = *ptrs[1]
		}
	}
	if keep.flagged["tls"] {
		c.TLS, c.tlsOff = keep.TLS, keep.tlsOff
	}
	if keep.flagged["disable-host-verification"] {
		c.DisableHostVerification = keep.DisableHostVerification
	}
}

// strFlag is a string flag that records that it was given (secret: -h never shows it).
type strFlag struct {
	c      *Config
	field  string
	p      *string
	secret bool
}

func (f strFlag) String() string {
	if f.p == nil || f.secret {
		return ""
	}
	return *f.p
}

func (f strFlag) Set(s string) error {
	*f.p = s
	f.c.flagged[f.field] = true
	return nil
}

// boolFlag is a boolean flag that records that it was given.
type boolFlag struct {
	c     *Config
	field string
	p     *bool
}

func (f boolFlag) String() string { return strconv.FormatBool(f.p != nil && *f.p) }

func (f boolFlag) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return errors.New("want true or false")
	}
	*f.p = b
	f.c.flagged[f.field] = true
	return nil
}

func (boolFlag) IsBoolFlag() bool { return true }

// reloadFlag is --profile or --config-file: setting it reads the profile again.
type reloadFlag struct {
	c     *Config
	p     *string
	field string
}

func (f reloadFlag) String() string {
	if f.p == nil {
		return ""
	}
	return *f.p
}

func (f reloadFlag) Set(s string) error {
	*f.p = s
	f.c.flagged[f.field] = true
	f.c.reload()
	return f.c.envErr
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
	if f.c.flagged != nil {
		f.c.flagged["tls"] = true
	}
	return nil
}

func (tlsFlag) IsBoolFlag() bool { return true }

// TLSEnabled reports whether the connection uses TLS.
func (c Config) TLSEnabled() bool {
	if c.tlsOff {
		return false
	}
	return c.TLS || c.CAFile != "" || c.CertFile != "" || c.KeyFile != "" || c.ServerName != "" || c.APIKey != "" ||
		len(c.CAData) > 0 || len(c.CertData) > 0 || len(c.KeyData) > 0 || c.DisableHostVerification
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
	if c.tlsOff && (c.CAFile != "" || c.CertFile != "" || c.KeyFile != "" || c.ServerName != "" ||
		len(c.CAData) > 0 || len(c.CertData) > 0 || len(c.KeyData) > 0) {
		return o, errors.New("--tls=false (TEMPORAL_TLS, or the profile's tls.disabled) contradicts --tls-ca, --tls-cert, --tls-key or --tls-server-name (or their variables and profile settings): unset those or turn TLS on")
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

// pem returns a file's contents, or the PEM data given instead of a file.
func pem(file string, data []byte, src string) ([]byte, error) {
	if file != "" && len(data) > 0 {
		return nil, fmt.Errorf("%s: both a file (%s) and PEM data are set; keep one", src, file)
	}
	if file == "" {
		return data, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	return b, nil
}

func (c Config) tlsConfig() (*tls.Config, error) {
	if !c.TLSEnabled() {
		return nil, nil
	}
	tc := &tls.Config{ServerName: c.ServerName, MinVersion: tls.VersionTLS12}
	caPEM, err := pem(c.CAFile, c.CAData, srcCA)
	if err != nil {
		return nil, err
	}
	if len(caPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, fmt.Errorf("%s %s: no PEM certificate in the file", srcCA, c.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.DisableHostVerification {
		// Verify the chain against the roots, not the name (what the Temporal CLI's
		// disable_host_verification means); a chain of another CA is still refused.
		roots := tc.RootCAs
		tc.InsecureSkipVerify = true
		tc.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			certs := make([]*x509.Certificate, len(raw))
			for i, r := range raw {
				cert, err := x509.ParseCertificate(r)
				if err != nil {
					return err
				}
				certs[i] = cert
			}
			if len(certs) == 0 {
				return errors.New("no server certificate")
			}
			inter := x509.NewCertPool()
			for _, ic := range certs[1:] {
				inter.AddCert(ic)
			}
			_, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
			return err
		}
	}
	hasCert, hasKey := c.CertFile != "" || len(c.CertData) > 0, c.KeyFile != "" || len(c.KeyData) > 0
	switch {
	case !hasCert && !hasKey:
	case !hasCert:
		return nil, fmt.Errorf("%s %s is set but %s is not: mTLS needs both", srcKey, c.KeyFile, srcCert)
	case !hasKey:
		return nil, fmt.Errorf("%s %s is set but %s is not: mTLS needs both", srcCert, c.CertFile, srcKey)
	default:
		certPEM, err := pem(c.CertFile, c.CertData, srcCert)
		if err != nil {
			return nil, err
		}
		keyPEM, err := pem(c.KeyFile, c.KeyData, srcKey)
		if err != nil {
			return nil, err
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			// crypto/tls's messages describe the problem, not the bytes.
			return nil, fmt.Errorf("%s %s with %s %s: %v", srcCert, c.CertFile, srcKey, c.KeyFile, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// String shows the settings with the API key redacted; file paths are shown, never contents.
func (c Config) String() string {
	return fmt.Sprintf("temporal{address=%s namespace=%s tls=%t ca=%q cert=%q key=%q server_name=%q api_key=%s key_data=%s profile=%q}",
		c.Address, c.Namespace, c.TLSEnabled(), c.CAFile, c.CertFile, c.KeyFile, c.ServerName, redact(c.APIKey), redact(string(c.KeyData)), c.Profile)
}

// GoString redacts like String, for %#v.
func (c Config) GoString() string { return "temporalclient.Config" + c.String()[len("temporal"):] }

// LogValue redacts like String, for log/slog.
func (c Config) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("address", c.Address), slog.String("namespace", c.Namespace), slog.Bool("tls", c.TLSEnabled()),
	}
	for _, a := range [][2]string{{"ca", c.CAFile}, {"cert", c.CertFile}, {"key", c.KeyFile}, {"server_name", c.ServerName}, {"profile", c.Profile}} {
		if a[1] != "" {
			attrs = append(attrs, slog.String(a[0], a[1]))
		}
	}
	if c.APIKey != "" {
		attrs = append(attrs, slog.String("api_key", redact(c.APIKey)))
	}
	if len(c.KeyData) > 0 {
		attrs = append(attrs, slog.String("key_data", redact(string(c.KeyData))))
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
		return "if the server wants TLS, set --tls (TEMPORAL_TLS) and, for a private CA, " + srcCA
	case !c.TLSEnabled():
		return ""
	case has("unknown authority", "certificate is not trusted", "failed to verify certificate"):
		if has("certificate is valid for", "doesn't contain any IP SANs", "not valid for any names") {
			return fmt.Sprintf("the server's certificate does not name %s: set %s", c.Address, srcName)
		}
		return fmt.Sprintf("the server's certificate is not signed by a CA in %s, now %s", srcCA, ca)
	case has("certificate is valid for", "doesn't contain any IP SANs", "not valid for any names"):
		return fmt.Sprintf("the server's certificate does not name %s: set %s", c.Address, srcName)
	case has("certificate required", "bad certificate", "unknown certificate authority", "handshake failure", "connection reset", "broken pipe", "EOF"):
		if c.CertFile == "" && len(c.CertData) == 0 {
			return "the server may want a client certificate: set " + srcCert + " and " + srcKey
		}
		return fmt.Sprintf("the server may not accept the client certificate %s %s", srcCert, c.CertFile)
	case has("first record does not look like a TLS handshake", "http2: frame too large", "tls: "):
		return "the server may not speak TLS: check --temporal-address, or --tls=false (TEMPORAL_TLS=false)"
	}
	return ""
}
