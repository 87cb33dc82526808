package stack

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/space-sft/space/internal/searchattr"
	"github.com/space-sft/space/storage"
)

// Fixed development credentials of the local gateway (loopback only, local data only).
const (
	DevAccessKey = "space-dev"
	DevSecretKey = "space-dev-secret-local-only"
)

// Host is the address every server of the stack binds to.
const Host = "127.0.0.1"

// Options configure Start. The zero value starts both servers on free ports under ".data".
type Options struct {
	Dir    string // data and logs; default ".data" (created)
	BinDir string // where temporal and versitygw are; default: FindBin

	TemporalPort int // frontend gRPC; 0 = a free port
	UIPort       int // web UI; 0 = a free port; ignored when Headless
	S3Port       int // versitygw; 0 = a free port
	Headless     bool

	Bucket       string // created at start; default storage.DefaultBucket
	SkipTemporal bool   // start only the S3 gateway (storage tests)

	// Detach starts the servers in their own session so that they outlive this process
	// (devstack up); stop them with Stop from this process or StopPID from another.
	Detach bool

	StartTimeout time.Duration // per server, default 60s

	// HTTPS for the gateway: certificate and key files (PEM) for versitygw, and the CA file
	// clients need to trust it (StorageConfig's CABundle). Empty: plain HTTP on loopback.
	S3TLSCert, S3TLSKey, S3CABundle string
}

// Stack is a running local stack.
type Stack struct {
	opts          Options
	mu            sync.Mutex
	temporal, vgw *proc
}

// Start starts the servers, waits until they answer, and creates the bucket. On error,
// whatever was started is stopped again. A free port picked for 0 can be taken by someone
// else before the server binds it: then Start tries again with new ports (3 times).
func Start(ctx context.Context, opts Options) (*Stack, error) {
	auto := opts.S3Port == 0 || (!opts.SkipTemporal && (opts.TemporalPort == 0 || (!opts.Headless && opts.UIPort == 0)))
	for attempt := 1; ; attempt++ {
		s, err := start(ctx, opts)
		if err == nil || !auto || attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			return s, err
		}
	}
}

func start(ctx context.Context, opts Options) (*Stack, error) {
	if opts.Dir == "" {
		opts.Dir = ".data"
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	opts.Dir = dir
	if opts.Bucket == "" {
		opts.Bucket = storage.DefaultBucket
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 60 * time.Second
	}
	if err := os.MkdirAll(filepath.Join(dir, "s3"), 0o755); err != nil {
		return nil, fmt.Errorf("stack: data folder: %w", err)
	}
	bin := func(name string) (string, error) {
		if opts.BinDir != "" {
			p := filepath.Join(opts.BinDir, name)
			if _, err := os.Stat(p); err != nil {
				return "", fmt.Errorf("stack: %s not found in %s: run `make tools`", name, opts.BinDir)
			}
			return p, nil
		}
		return FindBin(name)
	}
	if (opts.S3TLSCert == "") != (opts.S3TLSKey == "") {
		return nil, errors.New("stack: S3TLSCert and S3TLSKey go together")
	}
	vgwPath, err := bin("versitygw")
	if err != nil {
		return nil, err
	}
	var temporalPath string
	if !opts.SkipTemporal {
		if temporalPath, err = bin("temporal"); err != nil {
			return nil, err
		}
	}
	// Fixed ports must be free; free ports are picked now, so restarts reuse them.
	for _, p := range []struct {
		port *int
		name string
		skip bool
	}{
		{&opts.S3Port, "S3 (versitygw)", false},
		{&opts.TemporalPort, "Temporal frontend", opts.SkipTemporal},
		{&opts.UIPort, "Temporal UI", opts.SkipTemporal || opts.Headless},
	} {
		if p.skip {
			continue
		}
		if *p.port, err = reservePort(*p.port, p.name); err != nil {
			return nil, err
		}
	}

	s := &Stack{opts: opts}
	vgwArgs := []string{"--port", net.JoinHostPort(Host, strconv.Itoa(opts.S3Port)), "--health", "/health", "--quiet"}
	if opts.S3TLSCert != "" {
		vgwArgs = append(vgwArgs, "--cert", opts.S3TLSCert, "--key", opts.S3TLSKey)
	}
	// --data-integrity-etag: ETags derived from the CRC64NVME checksum the gateway computes
	// anyway, instead of an MD5 of every object. MD5 was the upload bottleneck (a 98 MB
	// checkpoint: about 410 MB/s with MD5, 920 MB/s without, one PutObject on 2 cores), and
	// nothing here reads ETags: objects are verified by their SHA-256 (storage package).
	vgwArgs = append(vgwArgs, "posix", "--data-integrity-etag")
	if !xattrSupported(filepath.Join(dir, "s3")) {
		// versitygw keeps object metadata (our sha256) in extended attributes; where the
		// filesystem has none (tmpfs before Linux 6.6, some overlays) it can use a sidecar folder.
		meta := filepath.Join(dir, "vgw-meta")
		if err := os.MkdirAll(meta, 0o755); err != nil {
			return nil, fmt.Errorf("stack: metadata folder: %w", err)
		}
		vgwArgs = append(vgwArgs, "--sidecar", meta)
	}
	s.vgw = &proc{
		name: "versitygw", path: vgwPath, logPath: filepath.Join(dir, "versitygw.log"), detach: opts.Detach,
		args: append(vgwArgs, filepath.Join(dir, "s3")),
		// Credentials through the environment, not argv (ps would show them).
		env: []string{"ROOT_ACCESS_KEY_ID=" + DevAccessKey, "ROOT_SECRET_ACCESS_KEY=" + DevSecretKey},
	}
	if !opts.SkipTemporal {
		args := []string{"server", "start-dev", "--ip", Host, "--port", strconv.Itoa(opts.TemporalPort),
			"--db-filename", filepath.Join(dir, "temporal.db"), "--log-level", "warn"}
		args = append(args, searchattr.DevServerFlags()...) // a new database; Ensure below covers an old one
		if opts.Headless {
			args = append(args, "--headless")
		} else {
			args = append(args, "--ui-port", strconv.Itoa(opts.UIPort))
		}
		s.temporal = &proc{name: "temporal", path: temporalPath, args: args,
			logPath: filepath.Join(dir, "temporal.log"), detach: opts.Detach}
	}

	if err := s.StartS3(ctx); err != nil {
		_ = s.Stop()
		return nil, err
	}
	if err := s.createBucket(ctx); err != nil {
		_ = s.Stop()
		return nil, err
	}
	if s.temporal != nil {
		if err := s.StartTemporal(ctx); err != nil {
			_ = s.Stop()
			return nil, err
		}
	}
	return s, nil
}

// xattrSupported reports whether files in dir can carry user extended attributes.
func xattrSupported(dir string) bool {
	f, err := os.CreateTemp(dir, ".xattr-probe-")
	if err != nil {
		return false
	}
	name := f.Name()
	f.Close()
	defer os.Remove(name)
	return syscall.Setxattr(name, "user.space-probe", []byte("1"), 0) == nil
}

// reservePort checks that a fixed port is free, or picks a free one for port 0.
func reservePort(port int, what string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(Host, strconv.Itoa(port)))
	if err != nil {
		return 0, fmt.Errorf("stack: %s port %s:%d is busy (another stack running? `make down`, or choose another port): %w",
			what, Host, port, err)
	}
	got := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return got, nil
}

// TemporalAddress is the frontend's host:port ("" when SkipTemporal).
func (s *Stack) TemporalAddress() string {
	if s.opts.SkipTemporal {
		return ""
	}
	return net.JoinHostPort(Host, strconv.Itoa(s.opts.TemporalPort))
}

// UIAddress is the web UI's URL ("" when headless or SkipTemporal).
func (s *Stack) UIAddress() string {
	if s.opts.SkipTemporal || s.opts.Headless {
		return ""
	}
	return "http://" + net.JoinHostPort(Host, strconv.Itoa(s.opts.UIPort))
}

// S3Endpoint is the gateway's URL.
func (s *Stack) S3Endpoint() string {
	scheme := "http://"
	if s.opts.S3TLSCert != "" {
		scheme = "https://"
	}
	return scheme + net.JoinHostPort(Host, strconv.Itoa(s.opts.S3Port))
}

// Bucket is the bucket Start created.
func (s *Stack) Bucket() string { return s.opts.Bucket }

// Dir is the data folder (absolute).
func (s *Stack) Dir() string { return s.opts.Dir }

// S3Dir is the folder versitygw serves: bucket b's object k is the file S3Dir()/b/k.
func (s *Stack) S3Dir() string { return filepath.Join(s.opts.Dir, "s3") }

// Credentials returns the gateway's access and secret key (DevAccessKey, DevSecretKey).
func (s *Stack) Credentials() (accessKey, secretKey string) { return DevAccessKey, DevSecretKey }

// StorageConfig is a storage.Config for this stack's gateway and bucket.
func (s *Stack) StorageConfig() storage.Config {
	return storage.Config{
		Endpoint: s.S3Endpoint(), Region: storage.DefaultRegion, Bucket: s.opts.Bucket,
		AccessKey: DevAccessKey, SecretKey: DevSecretKey, PathStyle: true, CABundle: s.opts.S3CABundle,
	}
}

// Env returns the stack's settings as KEY=VALUE pairs, as the worker and starter read them.
func (s *Stack) Env() []string {
	env := []string{
		"S3_ENDPOINT=" + s.S3Endpoint(),
		"S3_REGION=" + storage.DefaultRegion,
		"S3_BUCKET=" + s.opts.Bucket,
		"S3_PATH_STYLE=true",
		"AWS_ACCESS_KEY_ID=" + DevAccessKey,
		"AWS_SECRET_ACCESS_KEY=" + DevSecretKey,
	}
	if s.opts.S3CABundle != "" {
		env = append(env, "S3_CA_BUNDLE="+s.opts.S3CABundle)
	}
	if a := s.TemporalAddress(); a != "" {
		env = append(env, "TEMPORAL_ADDRESS="+a)
	}
	if u := s.UIAddress(); u != "" {
		env = append(env, "TEMPORAL_UI="+u)
	}
	return env
}

// PIDs returns the server process ids (0 for one not running).
func (s *Stack) PIDs() (temporal, s3 int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.temporal != nil {
		temporal = s.temporal.pid()
	}
	return temporal, s.vgw.pid()
}

// StartS3 (re)starts the gateway on its port and waits for GET /health.
func (s *Stack) StartS3(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.vgw.cmd != nil && !s.vgw.exited() {
		return nil
	}
	if err := s.vgw.start(); err != nil {
		return err
	}
	url := s.S3Endpoint() + "/health"
	client := &http.Client{Timeout: time.Second}
	if s.opts.S3TLSCert != "" {
		// A liveness probe on loopback only; real clients verify against S3CABundle.
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	}
	return s.wait(ctx, s.vgw, url, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("health: HTTP %d", resp.StatusCode)
		}
		return nil
	})
}

// StopS3 stops the gateway (objects stay on disk).
func (s *Stack) StopS3() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.vgw.stop(10 * time.Second)
}

// StartTemporal (re)starts the dev server on its ports and database file and waits until
// the frontend is healthy and the "default" namespace answers.
func (s *Stack) StartTemporal(ctx context.Context) error {
	if s.temporal == nil {
		return errors.New("stack: started with SkipTemporal")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.temporal.cmd != nil && !s.temporal.exited() {
		return nil
	}
	if err := s.temporal.start(); err != nil {
		return err
	}
	if err := s.wait(ctx, s.temporal, s.TemporalAddress(), func(ctx context.Context) error {
		return CheckTemporal(ctx, s.TemporalAddress())
	}); err != nil {
		return err
	}
	return registerSearchAttributes(ctx, s.TemporalAddress())
}

// registerSearchAttributes registers space's search attributes (internal/searchattr) on the
// "default" namespace when they are missing: `--search-attribute` registers them only when
// the dev server creates its database.
func registerSearchAttributes(ctx context.Context, addr string) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := searchattr.Ensure(ctx, operatorservice.NewOperatorServiceClient(conn), "default"); err != nil {
		return fmt.Errorf("stack: %w", err)
	}
	return nil
}

// StopTemporal stops the dev server (workflows stay in the database file).
func (s *Stack) StopTemporal() error {
	if s.temporal == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.temporal.stop(15 * time.Second)
}

// Stop stops both servers. Data stays in Dir.
func (s *Stack) Stop() error {
	return errors.Join(s.StopTemporal(), s.StopS3())
}

// wait polls check until it succeeds, the process exits, or StartTimeout passes.
func (s *Stack) wait(ctx context.Context, p *proc, addr string, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.StartTimeout)
	defer cancel()
	var last error
	for {
		cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
		last = check(cctx)
		ccancel()
		if last == nil {
			return nil
		}
		select {
		case <-p.done:
			p.cmd = nil
			return fmt.Errorf("stack: %s exited during start-up (log %s):\n%s", p.name, p.logPath, p.logTail())
		case <-ctx.Done():
			_ = p.stop(5 * time.Second)
			return fmt.Errorf("stack: %s did not become healthy at %s within %s: %v (log %s):\n%s",
				p.name, addr, s.opts.StartTimeout, last, p.logPath, p.logTail())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (s *Stack) createBucket(ctx context.Context) error {
	cfg := s.StorageConfig()
	cfg.MaxAttempts = 2
	st, err := storage.New(ctx, cfg)
	if err != nil {
		return err
	}
	if err := st.EnsureBucket(ctx); err != nil {
		return fmt.Errorf("stack: create bucket %s: %w", s.opts.Bucket, err)
	}
	return nil
}

// CheckTemporal checks that a Temporal frontend at addr is serving: the gRPC health check of
// the WorkflowService, then DescribeNamespace("default").
func CheckTemporal(ctx context.Context, addr string) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{
		Service: "temporal.api.workflowservice.v1.WorkflowService",
	})
	if err != nil {
		return err
	}
	if resp.Status != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("temporal frontend status %s", resp.Status)
	}
	_, err = workflowservice.NewWorkflowServiceClient(conn).DescribeNamespace(ctx,
		&workflowservice.DescribeNamespaceRequest{Namespace: "default"})
	return err
}
