package sink_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/internal/testutil/memsink"
	"github.com/sluicehq/sluice/sink"
	"github.com/sluicehq/sluice/sqlite"
)

// TestRunner_Traces: each delivery is a client span named sink.deliver with
// the sink's name and the batch, and a failed one says so.
func TestRunner_Traces(t *testing.T) {
	t.Parallel()
	s, err := sqlite.Open(context.Background(), sqlite.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	dest := &memsink.Sink{}
	dest.Script(func(n int, _ []sluice.SinkRecord) error {
		if n == 1 {
			return errors.New("connection refused")
		}
		return nil
	})
	head := appendEvents(t, s, "a", "b", "c")
	cfg := fast("traced")
	cfg.Retry.MaxAge = time.Minute // the failed batch is retried, not buried
	startWith(t, s, dest, cfg, sink.Limits{}, sink.RunnerOptions{Node: "node-1", Tracer: tp.Tracer("test")})
	waitCheckpoint(t, s, "traced", head)
	testutil.Eventually(t, 5*time.Second, func() bool { return len(rec.Ended()) >= 2 }, "fewer than 2 delivery spans ended")
	spans := rec.Ended()
	for _, sp := range spans {
		if sp.Name() != "sink.deliver" || sp.SpanKind() != trace.SpanKindClient {
			t.Errorf("span %s of kind %v, want sink.deliver, client", sp.Name(), sp.SpanKind())
		}
		attrs := map[string]any{}
		for _, kv := range sp.Attributes() {
			attrs[string(kv.Key)] = kv.Value.AsInterface()
		}
		if attrs["sluice.sink"] != "traced" || attrs["sluice.sink.records"] != int64(3) || attrs["sluice.position.first"] != int64(1) || attrs["sluice.position.last"] != int64(head) {
			t.Errorf("span attributes %v", attrs)
		}
	}
	if spans[0].Status().Code != codes.Error || len(spans[0].Events()) == 0 {
		t.Errorf("the failed delivery's span: status %v, events %v; want an error recorded", spans[0].Status(), spans[0].Events())
	}
	if spans[1].Status().Code == codes.Error {
		t.Errorf("the second delivery succeeded, its span says %v", spans[1].Status())
	}
}
