package storage

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

// idleConn fails a connection to S3 that carries no byte, either way, for timeout: a reply
// that stalls without closing then fails as a timeout, which the SDK retries on a new
// connection, instead of blocking the activity (which goes on heartbeating) until its
// start-to-close timeout. Bytes written count as activity too: net/http reads the reply
// while the request body is still being sent, and a large upload over a slow link must not
// be cut because the reply has not begun. (The SDK's own read timeout,
// BuildableClient.WithReadTimeout, counts only bytes read, so it cuts every upload that
// lasts longer than the timeout.)
type idleConn struct {
	net.Conn
	timeout time.Duration
}

func (c *idleConn) Read(p []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(p)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = &IdleTimeoutError{After: c.timeout, Err: err}
	}
	return n, err
}

func (c *idleConn) Write(p []byte) (int, error) {
	deadline := time.Now().Add(c.timeout)
	// A pending Read waits for the reply: the request is still on its way.
	if err := c.Conn.SetReadDeadline(deadline); err != nil {
		return 0, err
	}
	if err := c.Conn.SetWriteDeadline(deadline); err != nil {
		return 0, err
	}
	n, err := c.Conn.Write(p)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = &IdleTimeoutError{After: c.timeout, Err: err}
	}
	return n, err
}

// IdleTimeoutError: the connection to S3 carried no byte for After (Config.ReadTimeout).
// It is a timeout (net.Error), retried by the SDK and, past its attempts, by Temporal.
type IdleTimeoutError struct {
	After time.Duration
	Err   error
}

func (e *IdleTimeoutError) Error() string {
	return fmt.Sprintf("no byte to or from S3 for %v: connection stalled (S3_READ_TIMEOUT)", e.After)
}
func (e *IdleTimeoutError) Unwrap() error   { return e.Err }
func (e *IdleTimeoutError) Timeout() bool   { return true }
func (e *IdleTimeoutError) Temporary() bool { return true }

// withIdleTimeout makes the transport's connections idleConns (timeout <= 0: unchanged).
func withIdleTimeout(timeout time.Duration) func(*http.Transport) {
	return func(tr *http.Transport) {
		if timeout <= 0 {
			return
		}
		dial := tr.DialContext
		if dial == nil {
			dial = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
		}
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &idleConn{Conn: c, timeout: timeout}, nil
		}
	}
}
