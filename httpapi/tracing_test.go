package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/sluicehq/sluice/httpapi"
	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/internal/tracing"
)

// tracedServer is the API on an embedded store, with the access log on
// (JSON, to the returned buffer) and opts.
func tracedServer(t *testing.T, opts ...httpapi.Option) (http.Handler, *testutil.LogBuffer) {
	t.Helper()
	return accessServer(t, httpapi.AccessLog{Enabled: true, Sample: 1}, opts...)
}

// recorded is a tracing provider whose spans end up in the returned
// exporter once flushed.
func recorded(t *testing.T) (*tracing.Provider, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := tracing.NewWithExporter(exp, 1, tracing.Info{})
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp, exp
}

// The caller's trace, as a traceparent header sends it.
const (
	callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerSpan  = "00f067aa0ba902b7"
)

func TestTracing_Off(t *testing.T) {
	t.Parallel()
	h, log := tracedServer(t)
	req := httptest.NewRequest("POST", "/v1/events?key="+writeKey, strings.NewReader(`{"type":"page.viewed","data":{}}`))
	req.Header.Set("traceparent", "00-"+callerTrace+"-"+callerSpan+"-01")
	serveAll(h, []*http.Request{req})
	lines := accessLines(t, log.String())
	if len(lines) != 1 || lines[0].Status != 200 {
		t.Fatalf("access lines %+v", lines)
	}
	if lines[0].TraceID != "" || strings.Contains(log.String(), "trace_id") {
		t.Errorf("tracing is off, yet the access log has a trace id:\n%s", log)
	}
}

func TestTracing_Ingest(t *testing.T) {
	t.Parallel()
	tp, exp := recorded(t)
	h, log := tracedServer(t, httpapi.WithTracing(tp))
	req := httptest.NewRequest("POST", "/v1/events?key="+writeKey, strings.NewReader(`[{"type":"page.viewed","data":{}},{"type":"page.viewed","data":{}}]`))
	req.Header.Set("traceparent", "00-"+callerTrace+"-"+callerSpan+"-01")
	serveAll(h, []*http.Request{req})
	if err := tp.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := exp.GetSpans()
	byName := map[string]tracetest.SpanStub{}
	for _, s := range spans {
		byName[s.Name] = s
	}
	server, ok := byName["POST /v1/events"]
	if !ok {
		t.Fatalf("no server span POST /v1/events in %v", names(spans))
	}
	if server.SpanKind != trace.SpanKindServer || server.Parent.SpanID().String() != callerSpan || server.SpanContext.TraceID().String() != callerTrace {
		t.Errorf("server span: kind %v, parent %s, trace %s; want a server span under the caller's", server.SpanKind, server.Parent.SpanID(), server.SpanContext.TraceID())
	}
	wantAttrs(t, server, map[attribute.Key]any{"http.route": "/v1/events", "http.request.method": "POST", "http.response.status_code": int64(200), "sluice.key": "web", "url.path": "/v1/events"})
	var previous tracetest.SpanStub
	for _, name := range []string{"decode", "validate", "queue_wait", "commit", "answer"} {
		s, ok := byName[name]
		if !ok {
			t.Errorf("no %s span in %v", name, names(spans))
			continue
		}
		if s.Parent.SpanID() != server.SpanContext.SpanID() {
			t.Errorf("%s's parent is %s, want the server span %s", name, s.Parent.SpanID(), server.SpanContext.SpanID())
		}
		if s.EndTime.Before(s.StartTime) || s.StartTime.Before(server.StartTime) || s.EndTime.After(server.EndTime) {
			t.Errorf("%s runs %v–%v, outside its server span %v–%v", name, s.StartTime, s.EndTime, server.StartTime, server.EndTime)
		}
		if previous.Name != "" && s.StartTime.Before(previous.EndTime) && name != "commit" {
			t.Errorf("%s starts before %s ends", name, previous.Name)
		}
		previous = s
	}
	wantAttrs(t, byName["decode"], map[attribute.Key]any{"sluice.events": int64(2)})
	wantAttrs(t, byName["validate"], map[attribute.Key]any{"sluice.events": int64(2), "sluice.rejected": int64(0)})
	wantAttrs(t, byName["commit"], map[attribute.Key]any{"sluice.commit.requests": int64(1), "sluice.commit.events": int64(2)})
	if !byName["queue_wait"].EndTime.Equal(byName["commit"].StartTime) {
		t.Errorf("queue_wait ends %v, commit starts %v: want the same instant", byName["queue_wait"].EndTime, byName["commit"].StartTime)
	}
	lines := accessLines(t, log.String())
	if len(lines) != 1 || lines[0].TraceID != callerTrace {
		t.Errorf("access lines %+v: want one with trace_id %s", lines, callerTrace)
	}
}

func TestTracing_StreamAppendAndErrors(t *testing.T) {
	t.Parallel()
	tp, exp := recorded(t)
	h, log := tracedServer(t, httpapi.WithTracing(tp))
	appendReq := httptest.NewRequest("POST", "/v1/streams/order-1/events?expected_version=no_stream", strings.NewReader(`{"type":"order.placed","data":{}}`))
	appendReq.Header.Set("Authorization", "Bearer "+writeKey)
	noKey := httptest.NewRequest("GET", "/v1/events", nil)
	serveAll(h, []*http.Request{appendReq, noKey})
	if err := tp.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := exp.GetSpans()
	got := names(spans)
	for _, want := range []string{"POST /v1/streams/{stream}/events", "decode", "validate", "queue_wait", "commit", "answer", "GET /v1/events"} {
		if !strings.Contains(" "+strings.Join(got, " | ")+" ", want) {
			t.Errorf("no %s span in %v", want, got)
		}
	}
	for _, s := range spans {
		if s.Name == "GET /v1/events" {
			wantAttrs(t, s, map[attribute.Key]any{"http.response.status_code": int64(401)})
		}
	}
	lines := accessLines(t, log.String())
	if len(lines) != 2 || lines[0].TraceID == "" || lines[1].TraceID == "" || lines[0].TraceID == lines[1].TraceID {
		t.Errorf("access lines %+v: want each with a trace id of its own", lines)
	}
}

func names(spans tracetest.SpanStubs) []string {
	var n []string
	for _, s := range spans {
		n = append(n, s.Name)
	}
	return n
}

// wantAttrs checks that span has each of want's attributes.
func wantAttrs(t *testing.T, span tracetest.SpanStub, want map[attribute.Key]any) {
	t.Helper()
	got := map[attribute.Key]any{}
	for _, kv := range span.Attributes {
		got[kv.Key] = kv.Value.AsInterface()
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s = %v, want %v", span.Name, k, got[k], v)
		}
	}
}

// BenchmarkTracing measures single-event durable ingest over HTTP (as
// BenchmarkHTTP/IngestSingleDurable) with tracing off, on with no request
// sampled (ratio 0: spans are started but not recorded) and on with every
// request recorded and exported (to an exporter that drops them), in one
// run. Compare cpu-s/Mevents and req/s:
//
//	go test -run '^$' -bench Tracing -benchtime 4s -count 3 ./httpapi/
func BenchmarkTracing(b *testing.B) {
	body := func(i int) []byte {
		return []byte(`{"type":"page.viewed","data":{"url":"https://shop.example.com/p/` + strconv.Itoa(i) + `","ref":"search"}}`)
	}
	b.Run("Off", func(b *testing.B) { load(b, sluiceHandler(b), "/v1/events", body, 1) })
	for _, c := range []struct {
		name  string
		ratio float64
	}{{"NotSampled", 0}, {"Sampled", 1}} {
		b.Run(c.name, func(b *testing.B) {
			tp := tracing.NewWithExporter(tracetest.NewNoopExporter(), c.ratio, tracing.Info{})
			b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
			load(b, sluiceHandler(b, httpapi.WithTracing(tp)), "/v1/events", body, 1)
		})
	}
}
