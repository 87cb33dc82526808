package sdkmetrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func scrape(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Result().Body)
	if rec.Code != 200 {
		t.Fatalf("HTTP %d: %s", rec.Code, body)
	}
	return string(body)
}

func TestExport(t *testing.T) {
	m := New()
	reg := prometheus.NewRegistry()
	reg.MustRegister(m)
	h := m.Handler().WithTags(map[string]string{"namespace": "default"})
	h.WithTags(map[string]string{"operation": "StartWorkflowExecution"}).Counter("temporal_request").Inc(2)
	h.WithTags(map[string]string{"operation": "StartWorkflowExecution"}).Counter("temporal_request").Inc(1)
	h.Counter("temporal_request").Inc(1)                                              // no operation tag: operation=""
	h.WithTags(map[string]string{"operation": ""}).Counter("temporal_request").Inc(1) // the same series once collected
	h.Gauge("temporal_num_pollers").Update(3)
	h.Gauge("temporal_num_pollers").Update(4)
	tm := h.WithTags(map[string]string{"activity_type": "Train"}).Timer("temporal_activity_execution_latency")
	tm.Record(3 * time.Millisecond)
	tm.Record(2 * time.Second)
	h.Counter("weird-name.x").Inc(1)
	h.Gauge("temporal_request").Update(1) // a name reused with another kind is kept apart

	got := scrape(t, reg)
	for _, want := range []string{
		"# TYPE temporal_request counter\n",
		`temporal_request{namespace="default",operation=""} 2` + "\n",
		`temporal_request{namespace="default",operation="StartWorkflowExecution"} 3` + "\n",
		"# TYPE temporal_num_pollers gauge\n",
		`temporal_num_pollers{namespace="default"} 4` + "\n",
		"# TYPE temporal_activity_execution_latency histogram\n",
		`temporal_activity_execution_latency_bucket{activity_type="Train",namespace="default",le="0.0025"} 0` + "\n",
		`temporal_activity_execution_latency_bucket{activity_type="Train",namespace="default",le="0.005"} 1` + "\n",
		`temporal_activity_execution_latency_bucket{activity_type="Train",namespace="default",le="1"} 1` + "\n",
		`temporal_activity_execution_latency_bucket{activity_type="Train",namespace="default",le="2.5"} 2` + "\n",
		`temporal_activity_execution_latency_bucket{activity_type="Train",namespace="default",le="+Inf"} 2` + "\n",
		`temporal_activity_execution_latency_count{activity_type="Train",namespace="default"} 2` + "\n",
		`weird_name_x{namespace="default"} 1` + "\n",
		`temporal_request_gauge{namespace="default"} 1` + "\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(got)
	}
}
