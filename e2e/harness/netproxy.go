package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/toxics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// NetProxy is a fault-injecting TCP proxy (Shopify's toxiproxy, run in-process) between a
// worker and one server. Point the worker at Addr instead of the server and add toxics
// (latency, bandwidth, limit_data, timeout, reset_peer, and stall, below) to break the link in the ways a real
// network does; Clear heals it. It listens on 127.0.0.1 only.
type NetProxy struct {
	Name  string
	proxy *toxiproxy.Proxy
	seq   atomic.Int64
}

// proxyServer is toxiproxy's registry of proxies; its HTTP API is never started.
var proxyServer = sync.OnceValue(func() *toxiproxy.ApiServer {
	// The toxics log through zerolog's global logger, at trace level: keep the test's output clean.
	zerolog.SetGlobalLevel(zerolog.WarnLevel)
	toxics.Register("stall", new(stallToxic))
	return toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
})

// NewNetProxy starts a proxy on a free loopback port to upstream (host:port, or a URL whose
// host:port is taken). It stops when the test ends.
func NewNetProxy(t testing.TB, name, upstream string) *NetProxy {
	t.Helper()
	if u, err := url.Parse(upstream); err == nil && u.Host != "" {
		upstream = u.Host
	}
	p := toxiproxy.NewProxy(proxyServer(), name, "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		t.Fatalf("proxy %s to %s: %v", name, upstream, err)
	}
	t.Cleanup(p.Stop)
	return &NetProxy{Name: name, proxy: p}
}

// Addr is the proxy's host:port.
func (n *NetProxy) Addr() string { return n.proxy.Listen }

// URL is the proxy's address as http://host:port (for S3_ENDPOINT).
func (n *NetProxy) URL() string { return "http://" + n.Addr() }

// Toxic adds a toxic of the given type (see toxiproxy's README: "latency" {latency, jitter}
// in ms, "bandwidth" {rate} in KB/s, "limit_data" {bytes}, "timeout" {timeout} in ms (0:
// drop everything), "reset_peer" {timeout} in ms, "stall" {}) on stream "upstream"
// (worker to server) or "downstream" (server to worker), to every connection, new and
// open. It returns the toxic's name, for Remove.
func (n *NetProxy) Toxic(typ, stream string, attrs map[string]any) (string, error) {
	name := fmt.Sprintf("%s-%s-%d", typ, stream, n.seq.Add(1))
	body, err := json.Marshal(map[string]any{"name": name, "type": typ, "stream": stream, "toxicity": 1.0, "attributes": attrs})
	if err != nil {
		return "", err
	}
	if _, err := n.proxy.Toxics.AddToxicJson(strings.NewReader(string(body))); err != nil {
		return "", fmt.Errorf("proxy %s: add %s toxic: %w", n.Name, typ, err)
	}
	return name, nil
}

// Both adds the same toxic to both streams.
func (n *NetProxy) Both(typ string, attrs map[string]any) error {
	for _, s := range []string{"upstream", "downstream"} {
		if _, err := n.Toxic(typ, s, attrs); err != nil {
			return err
		}
	}
	return nil
}

// Clear removes every toxic: the link is healthy again for new connections, and open
// connections carry data again (what a stalling toxic dropped stays lost).
func (n *NetProxy) Clear() {
	n.proxy.Toxics.ResetToxics(context.Background())
}

// stallToxic swallows everything that comes down the stream and never closes it, not even
// when the far end does: a reply that stalls without closing, as behind a dead NAT entry or
// a half-open connection. toxiproxy's own "timeout" toxic closes the connection as soon as
// the server closes its side, which the worker sees as EOF at once; here only the worker's
// own read timeout can end the wait. What it swallowed is lost when the toxic is removed, so
// the connections it held stay useless: only new ones work again.
type stallToxic struct{}

func (stallToxic) Pipe(stub *toxics.ToxicStub) {
	for {
		select {
		case <-stub.Interrupt:
			return
		case c := <-stub.Input:
			if c == nil { // the server closed its side: keep the worker waiting
				<-stub.Interrupt
				return
			}
		}
	}
}
