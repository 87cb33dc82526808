package main

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/space-sft/space/internal/stack"
)

// TestUpDown: `up` on free ports writes stack.env and leaves both servers running; a second
// `up` leaves them be; `down` stops them and removes stack.env.
func TestUpDown(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts the local stack")
	}
	for _, name := range []string{"temporal", "versitygw"} {
		if _, err := stack.FindBin(name); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	opts := stack.Options{Dir: dir, Headless: true, Detach: true}
	if err := up(opts); err != nil {
		t.Fatal(err)
	}
	env, err := stack.ReadEnvFile(envPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = down(dir) })
	for _, k := range []string{"TEMPORAL_ADDRESS", "S3_ENDPOINT", "S3_BUCKET", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "TEMPORAL_PID", "S3_PID"} {
		if env[k] == "" {
			t.Errorf("stack.env lacks %s", k)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := stack.CheckTemporal(ctx, env["TEMPORAL_ADDRESS"]); err != nil {
		t.Fatal(err)
	}
	if err := up(opts); err != nil { // already up: no second stack
		t.Fatal(err)
	}
	if env2, _ := stack.ReadEnvFile(envPath(dir)); env2["S3_PID"] != env["S3_PID"] {
		t.Errorf("second up replaced the stack")
	}
	if err := down(dir); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"TEMPORAL_PID", "S3_PID"} {
		if pid, _ := strconv.Atoi(env[k]); stack.Alive(pid) {
			t.Errorf("%s %d still alive after down", k, pid)
		}
	}
	if _, err := os.Stat(envPath(dir)); !os.IsNotExist(err) {
		t.Errorf("stack.env not removed: %v", err)
	}
}
