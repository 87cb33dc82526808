package harness

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// echoServer answers every line with the same line, on loopback.
func echoServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return l.Addr().String()
}

func roundTrip(c net.Conn, msg string, wait time.Duration) (string, error) {
	if _, err := c.Write([]byte(msg + "\n")); err != nil {
		return "", err
	}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	return bufio.NewReader(c).ReadString('\n')
}

// TestNetProxy: the proxy passes bytes; the stall toxic swallows them without closing (the
// client's own deadline ends the wait); after Clear new connections work again.
func TestNetProxy(t *testing.T) {
	p := NewNetProxy(t, "echo", echoServer(t))
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got, err := roundTrip(c, "hello", 2*time.Second); err != nil || got != "hello\n" {
		t.Fatalf("through the proxy: %q %v", got, err)
	}
	if _, err := p.Toxic("stall", "downstream", nil); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if got, err := roundTrip(c, "stalled", 300*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("stalled reply: %q %v, want the client's deadline to end the wait", got, err)
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("stalled read returned after %v", d)
	}
	p.Clear()
	c2, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if got, err := roundTrip(c2, "again", 2*time.Second); err != nil || got != "again\n" {
		t.Fatalf("new connection after Clear: %q %v", got, err)
	}
}
