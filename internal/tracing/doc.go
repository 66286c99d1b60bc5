// Package tracing is sluice's one door to OpenTelemetry's SDK: it builds
// the tracer provider that exports spans over OTLP/HTTP when a collector's
// endpoint is configured, and reads callers' W3C trace headers. httpapi
// and sink see only the trace API (go.opentelemetry.io/otel/trace) through
// what New returns; nothing else imports the SDK or the exporter.
//
// Tracing is off by default, and then New returns nil: the API and the
// sink runners start no span at all (docs/decisions.md, D146).
package tracing
