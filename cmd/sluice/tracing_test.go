package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/testutil/otlptest"
)

func TestServe_TracingOffByDefault(t *testing.T) {
	t.Parallel()
	if DefaultConfig().Tracing.Enabled() {
		t.Fatal("tracing is on by default")
	}
	tp, err := openTracing(t.Context(), DefaultConfig(), newLogger(&strings.Builder{}))
	if err != nil || tp != nil {
		t.Fatalf("openTracing of the default configuration: %v, %v; want nil, nil", tp, err)
	}
	if apiTracing(nil) != nil || sinkTracer(nil) != nil {
		t.Error("with tracing off the API or the sinks still get a tracer")
	}
}

// TestServe_Tracing runs serve with tracing.otlp_endpoint at an OTLP/HTTP
// receiver: an ingest request's spans arrive over real OTLP, in one trace,
// and its access log line carries that trace's id.
func TestServe_Tracing(t *testing.T) {
	t.Parallel()
	rc := otlptest.New(t)
	const write = "sk_write_tracing_0123456"
	tm := newTestMain(map[string]string{
		"SLUICE_WRITE_KEY":               write,
		"SLUICE_HTTP_ACCESS_LOG_ENABLED": "true",
		"SLUICE_TRACING_OTLP_ENDPOINT":   rc.URL,
	})
	base, stop := serveInProcess(t, tm, "--listen", "127.0.0.1:0", "--data", t.TempDir())
	expectStatus(t, http.StatusOK, "POST", base+"/v1/events", write, `{"type":"page.viewed","data":{}}`)
	if err := stop(); err != nil { // shutting down sends the buffered spans
		t.Fatalf("stop: %v", err)
	}
	var server otlptest.Span
	for _, s := range rc.Spans() {
		if s.Name == "POST /v1/events" {
			server = s
		}
	}
	if server.SpanID == "" {
		t.Fatalf("no span POST /v1/events among %+v", rc.Spans())
	}
	if server.Resource["service.name"] != "sluice" || server.Attrs["http.response.status_code"] != int64(200) {
		t.Errorf("server span: resource %v, attributes %v", server.Resource, server.Attrs)
	}
	children := map[string]bool{}
	for _, s := range rc.Spans() {
		if s.ParentID == server.SpanID && s.TraceID == server.TraceID {
			children[s.Name] = true
		}
	}
	for _, name := range []string{"decode", "validate", "queue_wait", "commit", "answer"} {
		if !children[name] {
			t.Errorf("no %s span under the request's, got %v", name, children)
		}
	}
	var traceID string
	for line := range strings.Lines(tm.stderr.String()) {
		var rec struct {
			Msg     string `json:"msg"`
			TraceID string `json:"trace_id"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "request" {
			traceID = rec.TraceID
		}
	}
	if traceID != server.TraceID {
		t.Errorf("the access log's trace_id is %q, want the request span's %q:\n%s", traceID, server.TraceID, tm.stderr)
	}
}
