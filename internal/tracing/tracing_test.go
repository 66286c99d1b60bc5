package tracing_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/sluicehq/sluice/internal/testutil/otlptest"
	"github.com/sluicehq/sluice/internal/tracing"
)

func TestNew_Off(t *testing.T) {
	t.Parallel()
	tp, err := tracing.New(context.Background(), tracing.Config{SampleRatio: 1}, tracing.Info{})
	if err != nil || tp != nil {
		t.Fatalf("no endpoint: got %v, %v; want nil, nil (off)", tp, err)
	}
}

func TestConfig_Problems(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		cfg  tracing.Config
		want string
	}{
		{tracing.Config{OTLPEndpoint: "127.0.0.1:4318", SampleRatio: 1}, "tracing.otlp_endpoint"},
		{tracing.Config{OTLPEndpoint: "grpc://x:4317", SampleRatio: 1}, "tracing.otlp_endpoint"},
		{tracing.Config{SampleRatio: 1.5}, "tracing.sample_ratio"},
		{tracing.Config{SampleRatio: -0.1}, "tracing.sample_ratio"},
	} {
		p := c.cfg.Problems("tracing")
		if len(p) != 1 || !strings.HasPrefix(p[0].Error(), c.want+":") {
			t.Errorf("%+v: problems %v, want one of %s", c.cfg, p, c.want)
		}
	}
	if p := (tracing.Config{OTLPEndpoint: "https://collector.example/otlp/v1/traces", SampleRatio: 0.5}).Problems("tracing"); p != nil {
		t.Errorf("a valid configuration: %v", p)
	}
}

// TestNew_ExportsOverOTLP sends spans to a receiver over real OTLP/HTTP:
// names, parent and child, attributes and the resource arrive.
func TestNew_ExportsOverOTLP(t *testing.T) {
	t.Parallel()
	rc := otlptest.New(t)
	tp, err := tracing.New(context.Background(), tracing.Config{OTLPEndpoint: rc.URL, SampleRatio: 1}, tracing.Info{Version: "v9.8.7", Node: "node-1"})
	if err != nil {
		t.Fatal(err)
	}
	tr := tp.Tracer("test")
	ctx, parent := tr.Start(context.Background(), "parent", trace.WithSpanKind(trace.SpanKindServer))
	_, child := tr.Start(ctx, "child")
	child.End()
	parent.End()
	if err := tp.Close(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	spans := rc.Spans()
	if len(spans) != 2 {
		t.Fatalf("received %d spans, want 2: %+v", len(spans), spans)
	}
	byName := map[string]otlptest.Span{}
	for _, s := range spans {
		byName[s.Name] = s
	}
	p, c := byName["parent"], byName["child"]
	if p.ParentID != "" || c.ParentID != p.SpanID || c.TraceID != p.TraceID {
		t.Errorf("parent %+v, child %+v: want child under parent in one trace", p, c)
	}
	for k, v := range map[string]any{"service.name": "sluice", "service.version": "v9.8.7", "service.instance.id": "node-1"} {
		if p.Resource[k] != v {
			t.Errorf("resource %s = %v, want %v", k, p.Resource[k], v)
		}
	}
}

// TestProvider_Extract continues a caller's trace from its traceparent, and
// follows the caller's sampling decision over the ratio.
func TestProvider_Extract(t *testing.T) {
	t.Parallel()
	rc := otlptest.New(t)
	tp, err := tracing.New(context.Background(), tracing.Config{OTLPEndpoint: rc.URL, SampleRatio: 0}, tracing.Info{})
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Close(time.Second)
	h := http.Header{}
	h.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	_, span := tp.Tracer("test").Start(tp.Extract(context.Background(), h), "joined")
	if got := span.SpanContext().TraceID().String(); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("trace id %s, want the caller's", got)
	}
	if !span.IsRecording() {
		t.Error("a caller's sampled trace is not recorded at ratio 0")
	}
	span.End()
	_, own := tp.Tracer("test").Start(context.Background(), "own")
	if own.IsRecording() {
		t.Error("ratio 0 records a trace of its own")
	}
}
