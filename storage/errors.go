package storage

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	smithy "github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// NotFoundError: the object does not exist. Bucket and Endpoint (when known) say where it
// was looked for.
type NotFoundError struct{ Key, Bucket, Endpoint string }

func (e *NotFoundError) Error() string {
	if e.Bucket == "" {
		return fmt.Sprintf("storage: %s: object not found", e.Key)
	}
	return fmt.Sprintf("storage: %s: object not found in bucket %q at %s: check that S3_ENDPOINT and S3_BUCKET "+
		"name the store the run wrote to, and that the object was not deleted", e.Key, e.Bucket, e.Endpoint)
}

// IntegrityError: the bytes read do not hash to the SHA-256 that was stored with the object
// (Want from its metadata) or that the caller expected (Want from a manifest).
//
// InTransit is set when a second read found the stored object intact (its bytes hash to the
// SHA-256 in its metadata and to what the caller expected): the bytes changed on the way, a
// retry will read them right, and the error is not permanent. Without it the stored object
// itself is wrong (corrupted on disk, or overwritten), which no retry can fix.
type IntegrityError struct {
	Key       string
	Want, Got string // hex SHA-256
	Source    string // "metadata", "caller", "size" or "commit": where Want came from
	InTransit bool
}

func (e *IntegrityError) Error() string {
	src := e.Source
	if src == "" {
		src = "expected"
	}
	if e.InTransit {
		return fmt.Sprintf("storage: %s: integrity check failed in transit: the bytes read hash to %s, %s says %s, "+
			"and a second read found the stored object intact (retry)", e.Key, e.Got, src, e.Want)
	}
	return fmt.Sprintf("storage: %s: integrity check failed: sha256 is %s, %s says %s (object corrupted or overwritten)",
		e.Key, e.Got, src, e.Want)
}

// AuthError: the gateway rejected the credentials (403). The message names the env vars to
// check; it never contains the secret.
type AuthError struct {
	Op, Key string
	Code    string // InvalidAccessKeyId, SignatureDoesNotMatch, AccessDenied, ...
	Err     error
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("storage: %s %s: access denied by S3 (%s): check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "+
		"(for the local stack: `make up` writes them to .data/stack.env)", e.Op, e.Key, e.Code)
}
func (e *AuthError) Unwrap() error { return e.Err }

// BucketError: the bucket does not exist (or its name is invalid).
type BucketError struct {
	Op, Key, Bucket string
	Err             error
}

func (e *BucketError) Error() string {
	return fmt.Sprintf("storage: %s %s: bucket %q does not exist: create it (`make up` does, or start the worker with "+
		"--create-bucket, or `aws s3 mb s3://%s`) or set S3_BUCKET", e.Op, e.Key, e.Bucket, e.Bucket)
}
func (e *BucketError) Unwrap() error { return e.Err }

// UnreachableError: no answer from the endpoint (connection refused, DNS, timeout). Transient.
type UnreachableError struct {
	Op, Key, Endpoint string
	Err               error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("storage: %s %s: cannot reach S3 endpoint %s: is the gateway running? make up (%v)",
		e.Op, e.Key, e.Endpoint, e.Err)
}
func (e *UnreachableError) Unwrap() error { return e.Err }

// FullError: the gateway refused a write because its storage is full (its disk, or a quota),
// and kept refusing it for Waited (Config.FullWait, retried with backoff). No retry of the
// activity can fix it while the disk stays full, so it is permanent for IsPermanent's
// purpose; the workflow pauses the run on it (type StorageFull) instead of failing it.
// Nothing committed is lost: a write either lands whole or not at all.
type FullError struct {
	Op, Key, Bucket, Endpoint string
	Waited                    time.Duration
	Err                       error
}

func (e *FullError) Error() string {
	return fmt.Sprintf("storage: %s %s: S3 storage full at endpoint %s, bucket %q (writes refused for %v): "+
		"free space on the gateway's disk (or raise its quota)", e.Op, e.Key, e.Endpoint, e.Bucket, e.Waited.Round(time.Second))
}
func (e *FullError) Unwrap() error { return e.Err }

// IsFull reports whether err is (or wraps) a *FullError.
func IsFull(err error) bool {
	var fe *FullError
	return errors.As(err, &fe)
}

// isNoSpace reports whether an S3 error says the gateway is out of space: HTTP 507
// (Insufficient Storage: versitygw's InsufficientStorage on ENOSPC, MinIO's
// XMinioStorageFull), versitygw's QuotaExceeded (EDQUOT, a 403), or a message carrying the
// OS error.
func isNoSpace(err error, code string, status int) bool {
	if status == http.StatusInsufficientStorage || code == "XMinioStorageFull" || code == "InsufficientStorage" || code == "QuotaExceeded" {
		return true
	}
	return errors.Is(err, syscall.ENOSPC) || strings.Contains(strings.ToLower(err.Error()), "no space left on device")
}

// TLSError: the HTTPS handshake with the endpoint failed (certificate not trusted, wrong
// host name, or an http:// gateway addressed as https://). A configuration problem.
type TLSError struct {
	Op, Key, Endpoint string
	Err               error
}

func (e *TLSError) Error() string {
	return fmt.Sprintf("storage: %s %s: TLS with %s failed: %v (for a gateway with a private CA set S3_CA_BUNDLE "+
		"to the CA's PEM file; check that S3_ENDPOINT's scheme matches the gateway)", e.Op, e.Key, e.Endpoint, e.Err)
}
func (e *TLSError) Unwrap() error { return e.Err }

func tlsCause(err error) error {
	var (
		ua x509.UnknownAuthorityError
		he x509.HostnameError
		ci x509.CertificateInvalidError
		cv *tls.CertificateVerificationError
		rh tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &cv):
		return cv
	case errors.As(err, &ua):
		return ua
	case errors.As(err, &he):
		return he
	case errors.As(err, &ci):
		return ci
	case errors.As(err, &rh):
		return errors.New("the endpoint does not speak TLS (" + rh.Error() + ")")
	}
	return nil
}

// KeyError: a key or name that is not allowed (see ValidateName and ValidateKey).
type KeyError struct {
	What, Value, Rule string
}

func (e *KeyError) Error() string {
	return fmt.Sprintf("storage: invalid %s %q: %s", e.What, e.Value, e.Rule)
}

// IsPermanent reports whether err is one a retry cannot fix: an integrity failure, a missing
// object, rejected credentials, a missing bucket, an invalid key or name, a TLS failure, a
// store that stayed full for Config.FullWait. Activities mark these non-retryable. An
// unreachable endpoint and other errors are not permanent.
func IsPermanent(err error) bool {
	var (
		ie *IntegrityError
		nf *NotFoundError
		ae *AuthError
		be *BucketError
		ke *KeyError
		te *TLSError
		fe *FullError
	)
	if errors.As(err, &ie) && ie.InTransit {
		return false
	}
	return errors.As(err, &ie) || errors.As(err, &nf) || errors.As(err, &ae) ||
		errors.As(err, &be) || errors.As(err, &ke) || errors.As(err, &te) || errors.As(err, &fe)
}

// IsNotFound reports whether err is (or wraps) a *NotFoundError.
func IsNotFound(err error) bool {
	var nf *NotFoundError
	return errors.As(err, &nf)
}

// classify turns an SDK error into one of the typed errors above, or wraps it with op and key.
func (s *Store) classify(op, key string, err error) error {
	if err == nil {
		return nil
	}
	var apiErr smithy.APIError
	code := ""
	if errors.As(err, &apiErr) {
		code = apiErr.ErrorCode()
	}
	status := 0
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	if isNoSpace(err, code, status) { // before the 403s: versitygw answers a full quota with 403 QuotaExceeded
		return &FullError{Op: op, Key: key, Bucket: s.cfg.Bucket, Endpoint: s.endpointName(), Err: err}
	}
	switch {
	case code == "NoSuchKey" || (status == http.StatusNotFound && code == "NotFound"):
		return &NotFoundError{Key: key, Bucket: s.cfg.Bucket, Endpoint: s.endpointName()}
	case code == "NoSuchBucket" || code == "InvalidBucketName":
		return &BucketError{Op: op, Key: key, Bucket: s.cfg.Bucket, Err: err}
	case code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch" || code == "AccessDenied" ||
		code == "InvalidToken" || code == "ExpiredToken" || code == "XAdminUserNotFound" ||
		status == http.StatusForbidden:
		if code == "" {
			code = "403"
		}
		return &AuthError{Op: op, Key: key, Code: code, Err: err}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("storage: %s %s: %w", op, key, err)
	}

	if tlsErr := tlsCause(err); tlsErr != nil {
		return &TLSError{Op: op, Key: key, Endpoint: s.endpointName(), Err: tlsErr}
	}
	var idle *IdleTimeoutError
	if errors.As(err, &idle) { // the endpoint answered, then stalled: not "is it running?"
		return fmt.Errorf("storage: %s %s at %s: %w", op, key, s.endpointName(), idle)
	}
	if status == 0 && isNetworkError(err) {
		return &UnreachableError{Op: op, Key: key, Endpoint: s.endpointName(), Err: rootCause(err)}
	}
	return fmt.Errorf("storage: %s %s: %w", op, key, err)
}

func isNetworkError(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EHOSTUNREACH) {
		return true
	}
	var ne net.Error
	var se *smithyhttp.RequestSendError
	return errors.As(err, &ne) || errors.As(err, &se)
}

// rootCause returns the innermost net error (e.g. "dial tcp 127.0.0.1:7070: connect:
// connection refused") so the message stays one line instead of the SDK's retry chain.
func rootCause(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		return oe
	}
	return err
}

func (s *Store) endpointName() string {
	if s.cfg.Endpoint == "" {
		return "AWS S3 (" + s.cfg.Region + ")"
	}
	return s.cfg.Endpoint
}
