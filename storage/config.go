package storage

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Defaults used by ConfigFromEnv.
const (
	DefaultRegion = "us-east-1"
	DefaultBucket = "space"

	// DefaultReadTimeout is how long a connection to S3 may stay silent (no byte of a reply)
	// before the request fails and the SDK retries it on a new connection. Without one, a
	// reply that stalls without closing (a dead peer behind a NAT, a half-open connection)
	// blocks the activity until its start-to-close timeout, heartbeating all the while.
	// A minute is far longer than any pause of a working gateway.
	DefaultReadTimeout = time.Minute

	// DefaultFullWait is how long a write refused because the gateway's disk is full is
	// retried (backoff from 1 s, doubling, at most 30 s apart) before it fails with a
	// *FullError: long enough for a cleanup job or a growing volume, short enough that a
	// run does not sit silently on a full disk.
	DefaultFullWait = 2 * time.Minute
)

// Config says where the bucket is and how to reach it. The zero value plus Bucket talks to
// AWS S3 with the default credential chain.
type Config struct {
	Endpoint string // e.g. http://127.0.0.1:7070; empty = AWS S3
	Region   string // default us-east-1
	Bucket   string // default "space"

	// Static credentials. When AccessKey is empty the SDK's default credential chain is used
	// (env, shared config/credentials files, SSO, IMDS).
	AccessKey    string
	SecretKey    string
	SessionToken string

	PathStyle bool   // http://host/bucket/key instead of http://bucket.host/key; gateways need it
	CABundle  string // PEM file of extra root CAs for HTTPS to a gateway with a private CA

	// MaxAttempts bounds the SDK's own retries of one request (0 = SDK default, 3).
	// Activities have Temporal's retries on top, so tests set 1 to fail fast.
	MaxAttempts int

	// ReadTimeout: a request whose connection carries no byte, either way, for this long
	// fails with an *IdleTimeoutError and is retried (0 = DefaultReadTimeout, negative =
	// none). It resets on every byte, so a slow transfer that progresses is not cut.
	ReadTimeout time.Duration

	// MultipartThreshold: objects larger than this many bytes are uploaded in parts
	// (0 = DefaultMultipartThreshold).
	MultipartThreshold int64

	// FullWait: a write that the gateway refuses for lack of space is retried with backoff
	// for this long, then fails with a *FullError (0 = DefaultFullWait, negative = no
	// retry).
	FullWait time.Duration
}

// fullWait is FullWait with its default applied (0: fail at once).
func (c Config) fullWait() time.Duration { return withDefault(c.FullWait, DefaultFullWait) }

// readTimeout is ReadTimeout with its default applied (0: none).
func (c Config) readTimeout() time.Duration { return withDefault(c.ReadTimeout, DefaultReadTimeout) }

// withDefault reads a duration setting: 0 is def, negative is off (0).
func withDefault(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	}
	return d
}

// UnsignedPayload reports whether uploads are sent with the SigV4 payload hash
// "UNSIGNED-PAYLOAD" instead of the body's SHA-256: over HTTPS (AWS S3 when Endpoint is
// empty) and to a gateway on the loopback interface. The body's integrity does not rest on
// that hash: every Put stores the SHA-256 in x-amz-meta-sha256 (a signed header) and every
// Get verifies the bytes against it. Signing the payload costs one more SHA-256 pass on each
// side; against the local versitygw (MD5 ETags) a 98 MB checkpoint uploaded at about
// 410 MB/s unsigned and 265 MB/s signed. Over plain HTTP to another host the payload stays signed, as the AWS
// SDKs do, so nothing on the path can swap the body unnoticed by the gateway.
func (c Config) UnsignedPayload() bool {
	if c.Endpoint == "" {
		return true
	}
	u, err := url.Parse(c.Endpoint)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Scheme, "https") {
		return true
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ConfigFromEnv reads the configuration from the environment:
//
//	S3_ENDPOINT                       endpoint URL (empty: AWS S3)
//	S3_REGION, else AWS_REGION        region (default us-east-1)
//	S3_BUCKET                         bucket (default "space")
//	AWS_ACCESS_KEY_ID                 access key (empty: the SDK's default credential chain)
//	AWS_SECRET_ACCESS_KEY             secret key
//	AWS_SESSION_TOKEN                 optional session token
//	S3_PATH_STYLE                     true/false (default true when S3_ENDPOINT is set)
//	S3_CA_BUNDLE, else AWS_CA_BUNDLE  PEM file of extra root CAs
//	S3_READ_TIMEOUT                   Go duration, e.g. 30s (default DefaultReadTimeout)
//	S3_FULL_WAIT                      Go duration, e.g. 5m (default DefaultFullWait)
func ConfigFromEnv() Config {
	c := Config{
		Endpoint:     strings.TrimSpace(os.Getenv("S3_ENDPOINT")),
		Region:       firstNonEmpty(os.Getenv("S3_REGION"), os.Getenv("AWS_REGION"), DefaultRegion),
		Bucket:       firstNonEmpty(os.Getenv("S3_BUCKET"), DefaultBucket),
		AccessKey:    os.Getenv("AWS_ACCESS_KEY_ID"),
		SecretKey:    os.Getenv("AWS_SECRET_ACCESS_KEY"),
		SessionToken: os.Getenv("AWS_SESSION_TOKEN"),
		CABundle:     firstNonEmpty(os.Getenv("S3_CA_BUNDLE"), os.Getenv("AWS_CA_BUNDLE")),
	}
	c.PathStyle = c.Endpoint != ""
	if v := os.Getenv("S3_PATH_STYLE"); v != "" {
		if b, err := strconv.ParseBool(v); err == nil {
			c.PathStyle = b
		}
	}
	envDuration("S3_READ_TIMEOUT", &c.ReadTimeout)
	envDuration("S3_FULL_WAIT", &c.FullWait)
	return c
}

// envDuration sets *dst from the environment variable name when it holds a Go duration
// ("2m", "30s"); unset or unparsable leaves *dst alone.
func envDuration(name string, dst *time.Duration) {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil {
		*dst = d
	}
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// String describes the configuration with the secret key and session token redacted and the
// access key masked to its last 4 characters, so a Config can be logged or printed safely.
func (c Config) String() string {
	endpoint := c.Endpoint
	if endpoint == "" {
		endpoint = "aws"
	}
	return fmt.Sprintf("s3{endpoint=%s region=%s bucket=%s access_key=%s secret_key=%s path_style=%t ca_bundle=%q}",
		endpoint, c.Region, c.Bucket, maskKey(c.AccessKey), redact(c.SecretKey), c.PathStyle, c.CABundle)
}

// GoString redacts like String, for %#v.
func (c Config) GoString() string { return "storage.Config" + strings.TrimPrefix(c.String(), "s3") }

// LogValue redacts like String, for log/slog.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("endpoint", c.Endpoint),
		slog.String("region", c.Region),
		slog.String("bucket", c.Bucket),
		slog.String("access_key", maskKey(c.AccessKey)),
		slog.String("secret_key", redact(c.SecretKey)),
		slog.Bool("path_style", c.PathStyle),
	)
}

// maskKey shows only the last 4 characters of an access key id (as the AWS console does):
// enough to tell which key a worker uses, not enough to hand it out with the logs.
func maskKey(s string) string {
	if len(s) <= 8 {
		return redact(s)
	}
	return "..." + s[len(s)-4:]
}

func redact(s string) string {
	if s == "" {
		return "<unset>"
	}
	return "<redacted>"
}
