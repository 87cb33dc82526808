package stack

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is one server child process, in its own process group so that stopping it also stops
// anything it spawned.
type proc struct {
	name    string // "temporal" or "versitygw"
	path    string
	args    []string
	env     []string // added to the parent's environment
	logPath string
	detach  bool // new session, survives the parent (make up)

	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited (and was reaped)
}

func (p *proc) start() error {
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("stack: %s log: %w", p.name, err)
	}
	defer logf.Close() // the child holds its own descriptor
	fmt.Fprintf(logf, "--- %s start %s\n", time.Now().Format(time.RFC3339), p.name)
	cmd := exec.Command(p.path, p.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), p.env...)
	if p.detach {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	} else {
		// Pdeathsig: a test binary killed by its timeout takes its servers with it.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("stack: start %s: %w", p.path, err)
	}
	p.cmd = cmd
	p.done = make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(p.done)
	return nil
}

func (p *proc) pid() int {
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// exited reports whether the process has exited.
func (p *proc) exited() bool {
	if p.done == nil {
		return true
	}
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the process group, waits up to grace, then SIGKILLs it.
func (p *proc) stop(grace time.Duration) error {
	if p.cmd == nil || p.exited() {
		p.cmd = nil
		return nil
	}
	pid := p.pid()
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			return fmt.Errorf("stack: %s (pid %d) did not exit after SIGKILL", p.name, pid)
		}
	}
	p.cmd = nil
	return nil
}

// logTail returns the last lines of the process's log, for error messages.
func (p *proc) logTail() string { return tailFile(p.logPath, 15) }

func tailFile(path string, lines int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	data = bytes.TrimRight(data, "\n")
	ls := strings.Split(string(data), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}

// StopPID stops a detached server started by another process (make down): SIGTERM to its
// process group, then SIGKILL after grace. It refuses a pid whose command line does not
// contain want (the pid may have been reused since the pid file was written). A pid that no
// longer exists is not an error.
func StopPID(pid int, want string, grace time.Duration) error {
	if pid <= 0 || !alive(pid) {
		return nil
	}
	cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if want != "" && len(cmdline) > 0 && !bytes.Contains(cmdline, []byte(want)) {
		return fmt.Errorf("stack: pid %d is not %s (pid reused?): not stopping it", pid, want)
	}
	kill := func(sig syscall.Signal) {
		if err := syscall.Kill(-pid, sig); errors.Is(err, syscall.ESRCH) {
			_ = syscall.Kill(pid, sig)
		}
	}
	kill(syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if !alive(pid) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	kill(syscall.SIGKILL)
	for range 100 {
		if !alive(pid) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("stack: %s (pid %d) did not exit after SIGKILL", want, pid)
}

func alive(pid int) bool { return Alive(pid) }

// Alive reports whether pid exists and is not a zombie.
func Alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true // no /proc: trust kill(0)
	}
	// Format: pid (comm) state ...; comm may contain spaces, so look after the last ')'.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z'
	}
	return true
}
