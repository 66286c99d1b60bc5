package main

import (
	"context"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/sluicehq/sluice/httpapi"
	"github.com/sluicehq/sluice/internal/tracing"
)

// openTracing starts the tracer provider that cfg.Tracing configures; nil
// when tracing is off.
func openTracing(ctx context.Context, cfg Config, log *slog.Logger) (*tracing.Provider, error) {
	tp, err := tracing.New(ctx, cfg.Tracing, tracing.Info{Version: thisRelease(), Node: cfg.node()})
	if err != nil || tp == nil {
		return nil, err
	}
	log.Info("tracing", "otlp_endpoint", cfg.Tracing.OTLPEndpoint, "sample_ratio", cfg.Tracing.SampleRatio)
	return tp, nil
}

// closeTracing sends the spans still buffered, waiting at most timeout.
func closeTracing(tp *tracing.Provider, timeout time.Duration) error {
	if tp == nil {
		return nil
	}
	return tp.Close(timeout)
}

// apiTracing is the API's option of tp: none when tracing is off.
func apiTracing(tp *tracing.Provider) []httpapi.Option {
	if tp == nil {
		return nil
	}
	return []httpapi.Option{httpapi.WithTracing(tp)}
}

// sinkTracer is the sink runners' tracer of tp: nil when tracing is off.
func sinkTracer(tp *tracing.Provider) trace.Tracer {
	if tp == nil {
		return nil
	}
	return tp.Tracer("github.com/sluicehq/sluice/sink")
}
