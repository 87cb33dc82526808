package harness

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestProcAddr(t *testing.T) {
	for in, want := range map[string]string{
		"0100007F:1F90":                         "127.0.0.1:8080",
		"00000000:0050":                         "0.0.0.0:80",
		"00000000000000000000000001000000:0016": "[::1]:22",
		"0000000000000000FFFF00000100007F:1F90": "127.0.0.1:8080", // IPv4-mapped
	} {
		if _, got := procAddr(in); got != want {
			t.Errorf("procAddr(%s) = %s, want %s", in, got, want)
		}
	}
}

// TestLocalWatch: a child process that holds a file open for writing outside the allowed
// folder is caught, one inside it is not; a listener on every address (this process's) is
// caught, one on loopback is not.
func TestLocalWatch(t *testing.T) {
	allowed, outside := t.TempDir(), t.TempDir()
	cmd := exec.Command("bash", "-c", `exec 3>"$1/in.log"; exec 4>"$2/out.log"; exec sleep 30`, "child", allowed, outside)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	wild, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer wild.Close()
	lo, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lo.Close()
	time.Sleep(300 * time.Millisecond) // bash has exec'd sleep with both files open
	w := WatchLocal(t, func() map[int]string { return map[int]string{cmd.Process.Pid: "child", os.Getpid(): "test"} }, allowed)
	time.Sleep(300 * time.Millisecond)
	vs := strings.Join(w.Violations(), "\n")
	if !strings.Contains(vs, filepath.Join(outside, "out.log")) {
		t.Errorf("the write outside was not caught:\n%s", vs)
	}
	if strings.Contains(vs, "in.log") {
		t.Errorf("the write inside the allowed folder was reported:\n%s", vs)
	}
	if !strings.Contains(vs, wild.Addr().String()) || !strings.Contains(vs, "not on loopback") {
		t.Errorf("the wildcard listener %s was not caught:\n%s", wild.Addr(), vs)
	}
	if strings.Contains(vs, lo.Addr().String()) {
		t.Errorf("the loopback listener was reported:\n%s", vs)
	}
}
