package stack_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/operatorservice/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/space-sft/space/internal/searchattr"
	"github.com/space-sft/space/internal/stack"
	"github.com/space-sft/space/internal/stack/stacktest"
	"github.com/space-sft/space/storage"
)

func TestFindBinMissing(t *testing.T) {
	t.Setenv("PATH", "")
	_, err := stack.FindBin("no-such-tool-xyz")
	if err == nil || !strings.Contains(err.Error(), "make tools") {
		t.Fatalf("FindBin error %v should say `make tools`", err)
	}
}

func TestEnvFileRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), stack.EnvFileName)
	in := []string{"A=1", "B=http://127.0.0.1:7070", "C=with space"}
	if err := stack.WriteEnvFile(p, in); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	env, err := stack.ReadEnvFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(stack.SortedEnv(env), ","); got != strings.Join(in, ",") {
		t.Errorf("got %s", got)
	}
}

func TestPortBusy(t *testing.T) {
	if _, err := stack.FindBin("versitygw"); err != nil && testing.Short() {
		t.Skip("needs bin/versitygw")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	_, err = stack.Start(context.Background(), stack.Options{Dir: t.TempDir(), S3Port: port, SkipTemporal: true})
	if err == nil || !strings.Contains(err.Error(), "busy") || !strings.Contains(err.Error(), strconv.Itoa(port)) {
		t.Fatalf("want a port-busy error naming %d, got %v", port, err)
	}
}

// TestStack starts both servers on free ports, checks that the bucket exists and the Temporal
// frontend answers, restarts each server on its port, and stops them.
func TestStack(t *testing.T) {
	begin := time.Now()
	s := stacktest.Start(t, stack.Options{})
	t.Logf("stack up in %v: temporal %s, s3 %s", time.Since(begin), s.TemporalAddress(), s.S3Endpoint())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	if err := stack.CheckTemporal(ctx, s.TemporalAddress()); err != nil {
		t.Fatalf("temporal frontend: %v", err)
	}
	checkSearchAttributes(ctx, t, s.TemporalAddress())
	cfg := s.StorageConfig()
	cfg.MaxAttempts = 1
	st, err := storage.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(ctx, "probe/x", []byte("x")); err != nil {
		t.Fatalf("bucket %s not usable: %v", s.Bucket(), err)
	}
	tpid, spid := s.PIDs()
	if tpid == 0 || spid == 0 {
		t.Fatalf("pids %d %d", tpid, spid)
	}
	env := strings.Join(s.Env(), "\n")
	for _, want := range []string{"TEMPORAL_ADDRESS=" + s.TemporalAddress(), "S3_ENDPOINT=" + s.S3Endpoint(), "AWS_ACCESS_KEY_ID="} {
		if !strings.Contains(env, want) {
			t.Errorf("Env lacks %s", want)
		}
	}

	// Chaos hooks: each server restarts on the same port with its data.
	t0 := time.Now()
	if err := s.StopTemporal(); err != nil {
		t.Fatal(err)
	}
	cctx, ccancel := context.WithTimeout(ctx, time.Second)
	if err := stack.CheckTemporal(cctx, s.TemporalAddress()); err == nil {
		t.Error("temporal still answers after StopTemporal")
	}
	ccancel()
	if stack.Alive(tpid) {
		t.Errorf("temporal pid %d still alive", tpid)
	}
	t1 := time.Now()
	if err := s.StartTemporal(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("temporal stop %v, restart %v", t1.Sub(t0), time.Since(t1))
	checkSearchAttributes(ctx, t, s.TemporalAddress()) // an existing database keeps them
	if err := s.StopS3(); err != nil {
		t.Fatal(err)
	}
	if err := s.StartS3(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, "probe/x", ""); err != nil {
		t.Errorf("object lost across gateway restart: %v", err)
	}

	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	_, err = st.Get(ctx, "probe/x", "")
	var ue *storage.UnreachableError
	if !errors.As(err, &ue) {
		t.Errorf("after Stop: %v", err)
	}
}

// checkSearchAttributes checks that space's search attributes are registered on "default".
func checkSearchAttributes(ctx context.Context, t *testing.T, addr string) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	missing, err := searchattr.Missing(ctx, operatorservice.NewOperatorServiceClient(conn), "default")
	if err != nil || len(missing) > 0 {
		t.Fatalf("search attributes: missing %v, err %v", missing, err)
	}
}
