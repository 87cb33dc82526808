// Command devstack starts and stops the local stack (Temporal dev server + versitygw) in the
// background; `make up` and `make down` run it.
//
//	devstack up     [-dir .data] [-temporal-port 7233] [-ui-port 8233] [-s3-port 7070] [-headless] [-bucket space]
//	                [-s3-cert cert.pem -s3-key key.pem -s3-ca ca.pem]
//	devstack down   [-dir .data]
//	devstack status [-dir .data]
//
// up writes DIR/stack.env (TEMPORAL_ADDRESS, S3_ENDPOINT, S3_BUCKET, AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, TEMPORAL_PID, S3_PID, ...); `source .data/stack.env` before running
// the worker or the starter. down stops the processes named there.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/space-sft/space/internal/stack"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	cmd, args := os.Args[1], os.Args[2:]
	fs := flag.NewFlagSet("devstack "+cmd, flag.ExitOnError)
	dir := fs.String("dir", ".data", "data folder (Temporal database, S3 objects, logs, stack.env)")
	var err error
	switch cmd {
	case "up":
		tport := fs.Int("temporal-port", 7233, "Temporal frontend port (0 = free port)")
		uport := fs.Int("ui-port", 8233, "Temporal web UI port (0 = free port)")
		sport := fs.Int("s3-port", 7070, "S3 gateway port (0 = free port)")
		headless := fs.Bool("headless", false, "no Temporal web UI")
		bucket := fs.String("bucket", "space", "bucket to create")
		cert := fs.String("s3-cert", "", "serve S3 over HTTPS with this certificate (PEM)")
		key := fs.String("s3-key", "", "private key (PEM) of -s3-cert")
		ca := fs.String("s3-ca", "", "CA file clients need to trust -s3-cert (written to stack.env as S3_CA_BUNDLE)")
		_ = fs.Parse(args)
		err = up(stack.Options{Dir: *dir, TemporalPort: *tport, UIPort: *uport, S3Port: *sport,
			Headless: *headless, Bucket: *bucket, Detach: true, S3TLSCert: *cert, S3TLSKey: *key, S3CABundle: *ca})
	case "down":
		_ = fs.Parse(args)
		err = down(*dir)
	case "status":
		_ = fs.Parse(args)
		err = status(*dir)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "devstack "+cmd+":", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: devstack up|down|status [-dir .data] (devstack up -h for ports)")
	os.Exit(2)
}

func envPath(dir string) string { return filepath.Join(dir, stack.EnvFileName) }

// running returns the pids recorded in dir's stack.env that are still alive.
func running(dir string) (map[string]string, []string) {
	env, err := stack.ReadEnvFile(envPath(dir))
	if err != nil {
		return nil, nil
	}
	var alive []string
	for _, k := range []string{"TEMPORAL_PID", "S3_PID"} {
		if pid, _ := strconv.Atoi(env[k]); pid > 0 && stack.Alive(pid) {
			alive = append(alive, k+"="+env[k])
		}
	}
	return env, alive
}

func up(opts stack.Options) error {
	if env, alive := running(opts.Dir); len(alive) > 0 {
		fmt.Printf("already up (%v): Temporal %s, S3 %s; `make down` first to restart\n",
			alive, env["TEMPORAL_ADDRESS"], env["S3_ENDPOINT"])
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	s, err := stack.Start(ctx, opts)
	if err != nil {
		return err
	}
	tpid, spid := s.PIDs()
	env := append(s.Env(), "TEMPORAL_PID="+strconv.Itoa(tpid), "S3_PID="+strconv.Itoa(spid), "SPACE_DATA_DIR="+s.Dir())
	if err := stack.WriteEnvFile(envPath(opts.Dir), env); err != nil {
		_ = s.Stop()
		return err
	}
	fmt.Printf("stack up in %.1fs (data and logs in %s)\n", time.Since(start).Seconds(), s.Dir())
	fmt.Printf("  Temporal  %s (pid %d)\n", s.TemporalAddress(), tpid)
	if u := s.UIAddress(); u != "" {
		fmt.Printf("  Web UI    %s\n", u)
	}
	fmt.Printf("  S3        %s bucket %s (pid %d)\n", s.S3Endpoint(), s.Bucket(), spid)
	fmt.Printf("use it:     source %s\n", envPath(opts.Dir))
	return nil
}

func down(dir string) error {
	env, err := stack.ReadEnvFile(envPath(dir))
	if os.IsNotExist(err) {
		fmt.Printf("not up (no %s)\n", envPath(dir))
		return nil
	} else if err != nil {
		return err
	}
	var errs []error
	for _, p := range []struct{ key, name string }{{"TEMPORAL_PID", "temporal"}, {"S3_PID", "versitygw"}} {
		pid, _ := strconv.Atoi(env[p.key])
		if err := stack.StopPID(pid, p.name, 15*time.Second); err != nil {
			errs = append(errs, err)
		} else if pid > 0 {
			fmt.Printf("stopped %s (pid %d)\n", p.name, pid)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%v", errs)
	}
	return os.Remove(envPath(dir))
}

func status(dir string) error {
	env, alive := running(dir)
	if env == nil {
		fmt.Println("down")
		return nil
	}
	fmt.Printf("running: %v\n", alive)
	for _, kv := range stack.SortedEnv(env) {
		if k, _, _ := strings.Cut(kv, "="); strings.Contains(k, "SECRET") {
			kv = k + "=<redacted, see " + envPath(dir) + ">"
		}
		fmt.Println(" ", kv)
	}
	return nil
}
