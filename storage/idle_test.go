package storage

import (
	"errors"
	"net"
	"testing"
	"time"
)

// TestIdleConn: a connection silent both ways fails with an IdleTimeoutError (a net.Error
// timeout, which the SDK retries) after the timeout; one that keeps sending while waiting for
// the reply (a slow upload) does not, however long the wait.
func TestIdleConn(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := &idleConn{Conn: a, timeout: 100 * time.Millisecond}

	// A slow upload: 10 writes 40 ms apart (400 ms, four timeouts) while a Read waits.
	readErr := make(chan error, 1)
	go func() {
		buf := make([]byte, 1)
		_, err := c.Read(buf)
		readErr <- err
	}()
	go func() {
		buf := make([]byte, 8)
		for {
			if _, err := b.Read(buf); err != nil {
				return
			}
		}
	}()
	for i := 0; i < 10; i++ {
		if _, err := c.Write([]byte("chunk")); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		time.Sleep(40 * time.Millisecond)
	}
	select {
	case err := <-readErr:
		t.Fatalf("the reply's read failed while the request was still being sent: %v", err)
	default:
	}

	// Then silence: the pending read fails within a timeout or so.
	start := time.Now()
	select {
	case err := <-readErr:
		var ie *IdleTimeoutError
		var ne net.Error
		if !errors.As(err, &ie) || !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("stalled read: %T %v, want an IdleTimeoutError that is a net.Error timeout", err, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("stalled read failed after %v, want about 100ms", d)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("stalled read did not fail")
	}
}

func TestReadTimeoutDefault(t *testing.T) {
	for _, c := range []struct{ in, want time.Duration }{{0, DefaultReadTimeout}, {-1, 0}, {5 * time.Second, 5 * time.Second}} {
		if got := (Config{ReadTimeout: c.in}).readTimeout(); got != c.want {
			t.Errorf("ReadTimeout %v: %v, want %v", c.in, got, c.want)
		}
	}
	t.Setenv("S3_READ_TIMEOUT", "7s")
	if got := ConfigFromEnv().ReadTimeout; got != 7*time.Second {
		t.Errorf("S3_READ_TIMEOUT=7s: %v", got)
	}
}
