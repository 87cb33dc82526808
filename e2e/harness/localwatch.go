package harness

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/space-sft/space/internal/stack"
)

// LocalWatch samples, every 100 ms while a test runs, the open files and sockets of a set of
// processes (the workers, the Temporal dev server, the S3 gateway, the test itself) from
// /proc, and records two kinds of violation: a file open for writing outside the allowed
// folders (the test's temporary folders), and a TCP or UDP socket whose local or remote
// address is not a loopback address (a server listening on a wildcard address counts). At
// the end of the test each violation fails it, once. A sample can miss a file opened and
// closed between two samples; the worker's own temporary space is tested separately, full
// (TestDiskFull).
type LocalWatch struct {
	t       testing.TB
	pids    func() map[int]string
	allowed []string

	mu         sync.Mutex
	violations map[string]bool
	samples    int
	stop       chan struct{}
	done       chan struct{}
}

// WatchLocal starts a LocalWatch over pids (pid -> name; called at every sample, so that
// restarted processes are followed) with writes allowed under allowed (and /dev/null,
// pipes, sockets). It stops and reports when the test ends.
func WatchLocal(t testing.TB, pids func() map[int]string, allowed ...string) *LocalWatch {
	w := &LocalWatch{t: t, pids: pids, violations: map[string]bool{}, stop: make(chan struct{}), done: make(chan struct{})}
	for _, a := range allowed {
		if r, err := filepath.EvalSymlinks(a); err == nil {
			a = r
		}
		w.allowed = append(w.allowed, filepath.Clean(a)+string(filepath.Separator))
	}
	go w.loop()
	t.Cleanup(w.Check)
	return w
}

// Processes is a pids function for WatchLocal: the env's servers, every worker made by
// NewWorker (as it is now: restarts are followed) and the test process.
func (e *Env) Processes() func() map[int]string {
	return func() map[int]string {
		m := StackProcesses(e.Stack)()
		e.mu.Lock()
		workers := append([]*Worker(nil), e.workers...)
		e.mu.Unlock()
		for _, w := range workers {
			if pid := w.PID(); pid > 0 {
				m[pid] = "worker " + w.Identity
			}
		}
		return m
	}
}

// StackProcesses is a pids function for WatchLocal: a stack's servers and the test process.
func StackProcesses(st *stack.Stack) func() map[int]string {
	return func() map[int]string {
		m := map[int]string{os.Getpid(): "test"}
		tp, sp := st.PIDs()
		if tp > 0 {
			m[tp] = "temporal"
		}
		if sp > 0 {
			m[sp] = "versitygw"
		}
		return m
	}
}

func (w *LocalWatch) loop() {
	defer close(w.done)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		w.sample()
		select {
		case <-w.stop:
			w.sample()
			return
		case <-tick.C:
		}
	}
}

// Check stops the watch (idempotent) and fails the test for each violation seen.
func (w *LocalWatch) Check() {
	vs := w.Violations()
	for _, v := range vs {
		w.t.Errorf("local-only check: %s", v)
	}
	w.t.Logf("local-only check: %d samples of the processes' open files and sockets, %d violations", w.samples, len(vs))
}

// Violations stops the watch (idempotent) and returns what it saw, sorted; they are not
// reported again.
func (w *LocalWatch) Violations() []string {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	var vs []string
	for v := range w.violations {
		vs = append(vs, v)
	}
	sort.Strings(vs)
	w.violations = map[string]bool{}
	return vs
}

func (w *LocalWatch) sample() {
	pids := w.pids()
	found := map[string]bool{}
	for pid, name := range pids {
		inodes := map[string]bool{}
		fdDir := fmt.Sprintf("/proc/%d/fd", pid)
		ents, err := os.ReadDir(fdDir)
		if err != nil {
			continue // gone
		}
		for _, e := range ents {
			target, err := os.Readlink(filepath.Join(fdDir, e.Name()))
			if err != nil {
				continue
			}
			if strings.HasPrefix(target, "socket:[") {
				inodes[strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")] = true
				continue
			}
			if !strings.HasPrefix(target, "/") || strings.HasPrefix(target, "/dev/") || strings.HasPrefix(target, "/proc/") {
				continue // pipes, anon inodes, ttys, /dev/null
			}
			if name == "test" {
				continue // the test writes its own tables where it is told to
			}
			if writable(pid, e.Name()) && !w.isAllowed(strings.TrimSuffix(target, " (deleted)")) {
				found[fmt.Sprintf("%s (pid %d) has %s open for writing, outside the test's folders", name, pid, target)] = true
			}
		}
		for _, f := range []string{"tcp", "tcp6", "udp", "udp6"} {
			for _, s := range sockets(fmt.Sprintf("/proc/%d/net/%s", pid, f)) {
				if inodes[s.inode] && (!s.local.IsLoopback() || !(s.remote.IsLoopback() || s.remote.IsUnspecified())) {
					found[fmt.Sprintf("%s (pid %d) has a %s socket %s -> %s, not on loopback", name, pid, f, s.localS, s.remoteS)] = true
				}
			}
		}
	}
	w.mu.Lock()
	w.samples++
	for v := range found {
		w.violations[v] = true
	}
	w.mu.Unlock()
}

func (w *LocalWatch) isAllowed(path string) bool {
	for _, a := range w.allowed {
		if strings.HasPrefix(path, a) {
			return true
		}
	}
	return false
}

// writable reports whether fd of pid is open for writing (fdinfo's flags, octal).
func writable(pid int, fd string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%s", pid, fd))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "flags:"); ok {
			flags, err := strconv.ParseUint(strings.TrimSpace(v), 8, 64)
			return err == nil && flags&3 != 0 // O_WRONLY or O_RDWR
		}
	}
	return false
}

type socket struct {
	local, remote   net.IP
	localS, remoteS string
	inode           string
}

// sockets parses a /proc/net/{tcp,udp}[6] table.
func sockets(path string) []socket {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []socket
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 {
			continue
		}
		l, ls := procAddr(fields[1])
		r, rs := procAddr(fields[2])
		out = append(out, socket{local: l, remote: r, localS: ls, remoteS: rs, inode: fields[9]})
	}
	return out
}

// procAddr decodes /proc/net's HEXIP:HEXPORT (IPv4 as one little-endian word, IPv6 as four).
func procAddr(s string) (net.IP, string) {
	ipHex, portHex, ok := strings.Cut(s, ":")
	if !ok {
		return nil, s
	}
	raw, err := hex.DecodeString(ipHex)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return nil, s
	}
	ip := make(net.IP, len(raw))
	for i := 0; i < len(raw); i += 4 { // each 32-bit word is in host (little-endian) order
		ip[i], ip[i+1], ip[i+2], ip[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	port, _ := strconv.ParseUint(portHex, 16, 16)
	return ip, net.JoinHostPort(ip.String(), strconv.FormatUint(port, 10))
}
