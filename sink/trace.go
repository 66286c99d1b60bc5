package sink

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/sluicehq/sluice"
)

// send delivers recs through the breaker, in a span named op ("deliver",
// or "redrive" for dead letters sent again) when the runner traces.
func (r *Runner) send(ctx context.Context, recs []sluice.SinkRecord, op string) error {
	deliver := func() (struct{}, error) { return struct{}{}, r.sink.Deliver(ctx, recs) }
	if r.tracer == nil {
		_, err := r.breaker.Execute(deliver)
		return err
	}
	ctx, span := r.tracer.Start(ctx, "sink."+op, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("sluice.sink", r.cfg.Name),
		attribute.Int("sluice.sink.records", len(recs)),
		attribute.Int64("sluice.position.first", int64(recs[0].Event.Position)),
		attribute.Int64("sluice.position.last", int64(recs[len(recs)-1].Event.Position)),
	))
	defer span.End()
	_, err := r.breaker.Execute(deliver) // deliver sees the span's ctx
	var partial *sluice.DeliveryError
	switch {
	case err == nil:
	case errors.As(err, &partial):
		span.SetAttributes(attribute.Int("sluice.sink.failed_records", len(partial.Failed)))
		span.SetStatus(codes.Error, "some records failed")
	default:
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	return err
}
