package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// DefaultMultipartThreshold: objects larger than this are uploaded in parts (of 8 MiB)
// through transfermanager; smaller ones with one PutObject (Config.MultipartThreshold
// overrides it). It is high because one PutObject is the faster path for the objects this
// project writes: the gateway stores a multipart upload's parts and then joins them. A
// 98 MB checkpoint uploaded at about 410 MB/s in one request against 250-370 MB/s in 8 to
// 32 MiB parts (local versitygw with MD5 ETags, unsigned payload, 2 cores; with
// --data-integrity-etag, as the local stack runs it, about 920 MB/s against 490 in 8 MiB
// parts). S3 accepts up to 5 GiB in one PutObject.
const DefaultMultipartThreshold = 256 << 20

// metaSHA is the user metadata key holding the hex SHA-256 of the object's bytes
// (sent as x-amz-meta-sha256; the SDK returns metadata keys lower-cased).
const metaSHA = "sha256"

// Object describes a stored object. SHA256 is the hex SHA-256 of its bytes; List leaves it
// empty (it would cost one HEAD per object): use Stat, or a Manifest, for it.
type Object struct {
	Key    string `json:"key"`
	SHA256 string `json:"sha256,omitempty"`
	Size   int64  `json:"size"`
}

// Ref names one immutable object: its key and the SHA-256 a reader must verify. Workflows
// pass Refs (never the data) between activities: models, datasets, synthetic shards,
// metrics, manifests and reports alike.
type Ref struct {
	Key    string `json:"key"`
	SHA256 string `json:"sha256"`
}

// Ref is the object's reference.
func (o Object) Ref() Ref { return Ref{Key: o.Key, SHA256: o.SHA256} }

// Store reads and writes objects of one bucket. It is safe for concurrent use.
type Store struct {
	cfg     Config
	client  *s3.Client
	tm      *transfermanager.Client
	observe func(op string, bytes int64, d time.Duration)
}

// SetObserver registers f, called after every Get and Put that succeeds (also those made by
// GetJSON, PutJSON and GetListed) with the operation ("get" or "put"), the object's size
// and the time the call took, hashing included. The worker feeds it to Prometheus. Call it
// before the Store is shared.
func (s *Store) SetObserver(f func(op string, bytes int64, d time.Duration)) { s.observe = f }

// New builds a Store. It does not contact the endpoint: call EnsureBucket (or any operation)
// to find out whether it answers.
func New(ctx context.Context, c Config) (*Store, error) {
	if c.Region == "" {
		c.Region = DefaultRegion
	}
	if c.Bucket == "" {
		return nil, &KeyError{What: "bucket", Value: "", Rule: "set S3_BUCKET (default \"space\")"}
	}
	opts := []func(*config.LoadOptions) error{
		config.WithRegion(c.Region),
		// A custom http.Client breaks AWS_CA_BUNDLE ("unable to add custom RootCAs"):
		// the buildable client is the one the SDK can add CAs to.
		// The idle timeout (idle.go) turns a reply that stalls without closing into an error
		// the SDK retries, instead of an activity blocked for good; the SDK's own read
		// timeout is off (0), since it would cut long uploads.
		config.WithHTTPClient(awshttp.NewBuildableClient().WithReadTimeout(0).
			WithTransportOptions(withIdleTimeout(c.readTimeout()))),
		// We verify our own SHA-256 on read; the SDK's optional CRC checksums are only
		// requested where S3 requires them, which keeps older gateways happy.
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	}
	if c.AccessKey != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(c.AccessKey, c.SecretKey, c.SessionToken)))
	}
	if c.CABundle != "" {
		f, err := os.Open(c.CABundle)
		if err != nil {
			return nil, fmt.Errorf("storage: CA bundle (S3_CA_BUNDLE/AWS_CA_BUNDLE): %w", err)
		}
		defer f.Close()
		opts = append(opts, config.WithCustomCABundle(f))
	}
	if c.MaxAttempts > 0 {
		opts = append(opts, config.WithRetryMaxAttempts(c.MaxAttempts))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("storage: load AWS config for %s: %w", c, err)
	}
	if c.MultipartThreshold <= 0 {
		c.MultipartThreshold = DefaultMultipartThreshold
	}
	clientOpts := func(o *s3.Options) {
		o.UsePathStyle = c.PathStyle
		if c.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.Endpoint)
		}
	}
	client := s3.NewFromConfig(awsCfg, clientOpts, func(o *s3.Options) {
		if c.UnsignedPayload() { // every call; only puts and part uploads have a body to hash
			o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
		}
	})
	tm := transfermanager.New(client, func(o *transfermanager.Options) {
		o.MultipartUploadThreshold = c.MultipartThreshold
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
	})
	return &Store{cfg: c, client: client, tm: tm}, nil
}

// Config returns the configuration the Store was built with.
func (s *Store) Config() Config { return s.cfg }

// Bucket returns the bucket name.
func (s *Store) Bucket() string { return s.cfg.Bucket }

// Client returns the underlying S3 client, for tests and tools.
func (s *Store) Client() *s3.Client { return s.client }

// EnsureBucket creates the bucket if it does not exist. It is the first call a program makes,
// so its errors are the ones that say "wrong credentials" or "gateway not running".
func (s *Store) EnsureBucket(ctx context.Context) error {
	err := s.checkBucket(ctx, s.cfg.Bucket)
	var be *BucketError
	if !errors.As(err, &be) {
		return err // nil: the bucket exists
	}
	in := &s3.CreateBucketInput{Bucket: &s.cfg.Bucket}
	if s.cfg.Region != "" && s.cfg.Region != "us-east-1" {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{
			LocationConstraint: types.BucketLocationConstraint(s.cfg.Region),
		}
	}
	_, err = s.client.CreateBucket(ctx, in)
	var owned *types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		return s.classify("create-bucket", s.cfg.Bucket, err)
	}
	return nil
}

// CheckBucket returns nil when the bucket exists and a *BucketError (or the error that
// says why the store cannot be reached) when it does not. It creates nothing.
func (s *Store) CheckBucket(ctx context.Context) error {
	return s.checkBucket(ctx, s.cfg.Bucket)
}

// SHA256Hex returns the hex SHA-256 of data, as stored in x-amz-meta-sha256.
func SHA256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// Put stores data under key with its SHA-256 as metadata, replacing any object there.
// Above the multipart threshold (Config.MultipartThreshold) it uploads in parts.
func (s *Store) Put(ctx context.Context, key string, data []byte) (Object, error) {
	return s.put(ctx, key, data, "application/octet-stream")
}

// PutTyped is Put with a content type (e.g. "text/html; charset=utf-8"), so that a page or
// an image served from the bucket opens in a browser rather than downloads.
func (s *Store) PutTyped(ctx context.Context, key string, data []byte, contentType string) (Object, error) {
	return s.put(ctx, key, data, contentType)
}

func (s *Store) put(ctx context.Context, key string, data []byte, contentType string) (Object, error) {
	if err := ValidateKey(key); err != nil {
		return Object{}, err
	}
	return s.putHashed(ctx, Object{Key: key, SHA256: SHA256Hex(data), Size: int64(len(data))}, data, contentType)
}

// putHashed uploads data as obj, whose SHA-256 and size the caller computed from data.
func (s *Store) putHashed(ctx context.Context, obj Object, data []byte, contentType string) (Object, error) {
	key := obj.Key
	start := time.Now()
	meta := map[string]string{metaSHA: obj.SHA256}
	err := s.whileFull(ctx, func() error {
		var err error
		if int64(len(data)) > s.cfg.MultipartThreshold {
			_, err = s.tm.UploadObject(ctx, &transfermanager.UploadObjectInput{
				Bucket:        &s.cfg.Bucket,
				Key:           &key,
				Body:          bytes.NewReader(data),
				ContentLength: aws.Int64(obj.Size),
				ContentType:   &contentType,
				Metadata:      meta,
			})
		} else {
			_, err = s.client.PutObject(ctx, &s3.PutObjectInput{
				Bucket:        &s.cfg.Bucket,
				Key:           &key,
				Body:          bytes.NewReader(data),
				ContentLength: aws.Int64(obj.Size),
				ContentType:   &contentType,
				Metadata:      meta,
			})
		}
		return s.classify("put", key, err)
	})
	if err != nil {
		return Object{}, err
	}
	if s.observe != nil {
		s.observe("put", obj.Size, time.Since(start))
	}
	return obj, nil
}

// whileFull runs put (a write, its error classified) and, while it fails with a *FullError,
// runs it again after 1 s, 2 s, 4 s ... (at most 30 s apart) until Config.FullWait has
// passed; then the last *FullError is returned with Waited set. A disk that fills for a
// moment (another writer's temporary files, a cleanup about to run) costs a pause, not an
// attempt; one that stays full is reported once, as such.
func (s *Store) whileFull(ctx context.Context, put func() error) error {
	start := time.Now()
	wait := time.Second
	for {
		err := put()
		var fe *FullError
		if !errors.As(err, &fe) {
			return err
		}
		fe.Waited = time.Since(start)
		if fe.Waited+wait > s.cfg.fullWait() {
			return fe
		}
		slog.Warn("S3 storage full: retrying the write", "key", fe.Key, "endpoint", fe.Endpoint, "bucket", fe.Bucket,
			"waited", fe.Waited.Round(time.Millisecond).String(), "next_in", wait.String())
		select {
		case <-ctx.Done():
			return fe
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// Get returns the object's bytes after checking their SHA-256 against the object's
// x-amz-meta-sha256 (when present: objects uploaded by other tools may lack it) and against
// wantSHA (when not empty). After a mismatch the object is read again: when the second read
// is right, the first one's bytes were changed on the way and the second one's are returned;
// otherwise the mismatch is an *IntegrityError (the stored object is wrong). A missing object
// is a *NotFoundError.
func (s *Store) Get(ctx context.Context, key string, wantSHA string) ([]byte, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	start := time.Now()
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.cfg.Bucket, Key: &key})
	if err != nil {
		return nil, s.classify("get", key, err)
	}
	defer out.Body.Close()
	var buf bytes.Buffer
	if n := aws.ToInt64(out.ContentLength); n > 0 {
		buf.Grow(int(n))
	}
	if _, err := io.Copy(&buf, out.Body); err != nil {
		return nil, s.classify("get", key, err)
	}
	data := buf.Bytes()
	got := SHA256Hex(data)
	meta := strings.ToLower(out.Metadata[metaSHA])
	var ie *IntegrityError
	if meta != "" && meta != got {
		ie = &IntegrityError{Key: key, Want: meta, Got: got, Source: "metadata"}
	} else if want := strings.ToLower(wantSHA); want != "" && want != got {
		ie = &IntegrityError{Key: key, Want: want, Got: got, Source: "caller"}
		if meta != "" { // the bytes arrived as stored: the store holds another object than expected
			return nil, ie
		}
	}
	if ie != nil {
		// Read again: bytes changed on the way are read right the second time.
		again, err := s.recheck(ctx, ie, meta, wantSHA, true)
		if !ie.InTransit {
			return nil, err
		}
		data = again
	}
	if s.observe != nil {
		s.observe("get", int64(len(data)), time.Since(start))
	}
	return data, nil
}

// recheck follows a failed integrity check: it reads the object again, hashing it, and
// returns ie marked InTransit when the stored bytes are what they should be (they hash to
// the metadata's SHA-256 and to wantSHA, where given): the first read was changed or cut
// on the way, and a retry will succeed. When the second read gives the same wrong bytes, or
// other wrong bytes, or fails, ie is returned as it is: the stored object is not known to
// be intact.
//
// With keep, the second read's bytes are returned too, for Get to use.
func (s *Store) recheck(ctx context.Context, ie *IntegrityError, meta, wantSHA string, keep bool) ([]byte, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.cfg.Bucket, Key: &ie.Key})
	if err != nil {
		return nil, ie
	}
	defer out.Body.Close()
	h := newCountingHash()
	var buf bytes.Buffer
	var w io.Writer = h
	if keep {
		w = io.MultiWriter(h, &buf)
	}
	if _, err := io.Copy(w, out.Body); err != nil {
		return nil, ie
	}
	got := h.hex()
	if m := strings.ToLower(out.Metadata[metaSHA]); m != meta || (meta != "" && got != meta) {
		return nil, ie
	}
	if want := strings.ToLower(wantSHA); (want != "" && got != want) || (want == "" && meta == "") {
		return nil, ie
	}
	ie.InTransit = true
	return buf.Bytes(), ie
}

// Open returns a stream of the object's bytes, for reading a part of it (a checkpoint's
// header) without downloading the rest. Nothing is verified: the caller reads a part, or
// uses Get. Close the stream.
func (s *Store) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.cfg.Bucket, Key: &key})
	if err != nil {
		return nil, s.classify("get", key, err)
	}
	return out.Body, nil
}

// PutJSON stores v as indented JSON.
func (s *Store) PutJSON(ctx context.Context, key string, v any) (Object, error) {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return Object{}, fmt.Errorf("storage: put %s: encode JSON: %w", key, err)
	}
	return s.put(ctx, key, append(data, '\n'), "application/json")
}

// GetJSON fetches key (verified as in Get) and decodes it into v.
func (s *Store) GetJSON(ctx context.Context, key string, wantSHA string, v any) error {
	data, err := s.Get(ctx, key, wantSHA)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("storage: get %s: decode JSON: %w", key, err)
	}
	return nil
}

// Stat returns the object's size and stored SHA-256 (empty if it has none) without its bytes.
func (s *Store) Stat(ctx context.Context, key string) (Object, error) {
	if err := ValidateKey(key); err != nil {
		return Object{}, err
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.cfg.Bucket, Key: &key})
	if err != nil {
		err = s.classify("head", key, err)
		if IsNotFound(err) {
			// HEAD has no body, so a missing bucket also looks like 404 NotFound.
			if berr := s.checkBucket(ctx, key); berr != nil {
				return Object{}, berr
			}
		}
		return Object{}, err
	}
	return Object{Key: key, SHA256: out.Metadata[metaSHA], Size: aws.ToInt64(out.ContentLength)}, nil
}

// checkBucket probes the bucket with a one-key listing rather than HeadBucket: a HEAD
// response has no body, so its 404 cannot tell a missing bucket from an unknown access key.
func (s *Store) checkBucket(ctx context.Context, key string) error {
	_, err := s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &s.cfg.Bucket, MaxKeys: aws.Int32(1)})
	return s.classify("check-bucket", key, err)
}

// Exists reports whether an object is stored under key.
func (s *Store) Exists(ctx context.Context, key string) (bool, error) {
	_, err := s.Stat(ctx, key)
	if IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// List returns every object whose key starts with prefix, in key order, following pagination.
// Object.SHA256 is left empty (see Object).
func (s *Store) List(ctx context.Context, prefix string) ([]Object, error) {
	if prefix != "" {
		if err := validateKeyChars("prefix", prefix); err != nil {
			return nil, err
		}
	}
	var objs []Object
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.cfg.Bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, s.classify("list", prefix+"*", err)
		}
		for _, o := range page.Contents {
			objs = append(objs, Object{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size)})
		}
	}
	return objs, nil
}

// Delete removes the object under key. Deleting a missing object is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.cfg.Bucket, Key: &key})
	if err != nil {
		err = s.classify("delete", key, err)
		if IsNotFound(err) {
			return nil
		}
	}
	return err
}
