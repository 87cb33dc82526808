// Package sdkmetrics exports the Temporal Go SDK's own metrics (temporal_request,
// temporal_workflow_task_execution_latency, temporal_activity_execution_latency, ...: the
// SDK's client.MetricsHandler) to a Prometheus registry, so that the worker serves them on
// the same /metrics as its own space_* series.
//
// The SDK names a metric and tags it; a Prometheus series is a name and labels. Each name
// becomes one metric family whose labels are every tag key used with it (a series without
// one of them has it empty). Counters stay counters and gauges gauges, under the SDK's
// names; timers become histograms in seconds (buckets from 1 ms to 10 min). It needs no
// other module than the Prometheus client the worker already uses (the SDK's tally
// contrib module would bring uber-go/tally and its own reporter).
package sdkmetrics

import (
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// Buckets are the histogram bounds of timers, in seconds.
var Buckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

type kind int

const (
	counter kind = iota
	gauge
	timer
)

// Metrics holds every series the SDK reported; it is a prometheus.Collector. The zero
// value is not usable: use New.
type Metrics struct {
	mu       sync.Mutex
	families map[string]*family
}

type family struct {
	kind   kind
	series map[string]*series // by the canonical form of its tags
}

type series struct {
	tags   map[string]string
	value  float64  // counter, gauge
	counts []uint64 // timer: per bucket (not cumulative), then +Inf
	sum    float64
	n      uint64
}

// New returns an empty Metrics.
func New() *Metrics { return &Metrics{families: map[string]*family{}} }

// Handler is the client.MetricsHandler to give client.Options.MetricsHandler.
func (m *Metrics) Handler() client.MetricsHandler { return handler{m: m} }

// Describe sends nothing: the families are known only as the SDK reports them, so the
// registry checks them when they are collected (an unchecked collector).
func (m *Metrics) Describe(chan<- *prometheus.Desc) {}

// Collect sends every series, each family with the union of its tag keys as labels.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, f := range m.families {
		keys := map[string]bool{}
		for _, s := range f.series {
			for k := range s.tags {
				keys[k] = true
			}
		}
		labels := make([]string, 0, len(keys))
		for k := range keys {
			labels = append(labels, k)
		}
		sort.Strings(labels)
		promLabels := make([]string, len(labels))
		for i, l := range labels {
			promLabels[i] = sanitize(l)
		}
		desc := prometheus.NewDesc(sanitize(name), "Temporal Go SDK metric "+name+".", promLabels, nil)
		// Series whose label values coincide once missing tags read "" are merged: the
		// registry refuses two series with the same labels.
		merged := map[string]*series{}
		var order []string
		for _, s := range f.series {
			values := make([]string, len(labels))
			for i, l := range labels {
				values[i] = s.tags[l]
			}
			key := strings.Join(values, "\x00")
			t := merged[key]
			if t == nil {
				t = &series{tags: map[string]string{"": key}, counts: make([]uint64, len(s.counts))}
				merged[key] = t
				order = append(order, key)
			}
			if f.kind == gauge {
				t.value = s.value
			} else {
				t.value += s.value
			}
			for i, c := range s.counts {
				t.counts[i] += c
			}
			t.sum += s.sum
			t.n += s.n
		}
		for _, key := range order {
			s := merged[key]
			values := strings.Split(key, "\x00")
			if len(labels) == 0 {
				values = nil
			}
			switch f.kind {
			case counter:
				ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, s.value, values...)
			case gauge:
				ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, s.value, values...)
			case timer:
				cum := map[float64]uint64{}
				var c uint64
				for i, b := range Buckets {
					c += s.counts[i]
					cum[b] = c
				}
				ch <- prometheus.MustNewConstHistogram(desc, s.n, s.sum, cum, values...)
			}
		}
	}
}

// get returns the series of name and tags, creating it.
func (m *Metrics) get(k kind, name string, tags map[string]string) *series {
	key := canonical(tags)
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.families[name]
	if f != nil && f.kind != k { // the same name as another kind: keep both apart
		name += [...]string{"_counter", "_gauge", "_timer"}[k]
		f = m.families[name]
	}
	if f == nil {
		f = &family{kind: k, series: map[string]*series{}}
		m.families[name] = f
	}
	s := f.series[key]
	if s == nil {
		s = &series{tags: tags}
		if k == timer {
			s.counts = make([]uint64, len(Buckets)+1)
		}
		f.series[key] = s
	}
	return s
}

func canonical(tags map[string]string) string {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString(tags[k])
		b.WriteByte(0)
	}
	return b.String()
}

// sanitize makes a metric or label name valid for Prometheus ([a-zA-Z_][a-zA-Z0-9_]*).
func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		ok := c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9'
		if !ok {
			b[i] = '_'
		}
	}
	return string(b)
}

// handler is the SDK's view: a Metrics and the tags of its scope.
type handler struct {
	m    *Metrics
	tags map[string]string
}

func (h handler) WithTags(tags map[string]string) client.MetricsHandler {
	merged := make(map[string]string, len(h.tags)+len(tags))
	for k, v := range h.tags {
		merged[k] = v
	}
	for k, v := range tags {
		merged[k] = v
	}
	return handler{m: h.m, tags: merged}
}

func (h handler) Counter(name string) client.MetricsCounter {
	s := h.m.get(counter, name, h.tags)
	return counterFunc(func(d int64) {
		h.m.mu.Lock()
		s.value += float64(d)
		h.m.mu.Unlock()
	})
}

func (h handler) Gauge(name string) client.MetricsGauge {
	s := h.m.get(gauge, name, h.tags)
	return gaugeFunc(func(v float64) {
		h.m.mu.Lock()
		s.value = v
		h.m.mu.Unlock()
	})
}

func (h handler) Timer(name string) client.MetricsTimer {
	s := h.m.get(timer, name, h.tags)
	return timerFunc(func(d time.Duration) {
		sec := d.Seconds()
		i := sort.SearchFloat64s(Buckets, sec) // the first bound >= sec
		h.m.mu.Lock()
		s.counts[i]++
		s.sum += sec
		s.n++
		h.m.mu.Unlock()
	})
}

type counterFunc func(int64)

func (f counterFunc) Inc(d int64) { f(d) }

type gaugeFunc func(float64)

func (f gaugeFunc) Update(v float64) { f(v) }

type timerFunc func(time.Duration)

func (f timerFunc) Record(d time.Duration) { f(d) }
