package tracing

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Config configures tracing. The exporter also reads OpenTelemetry's own
// variables for what is not here, such as OTEL_EXPORTER_OTLP_HEADERS (an
// API key for a hosted collector) and OTEL_EXPORTER_OTLP_CERTIFICATE.
type Config struct {
	// OTLPEndpoint is the URL of an OTLP/HTTP (protobuf) collector, such
	// as http://127.0.0.1:4318; spans are posted to its /v1/traces unless
	// the URL has a path of its own. Empty turns tracing off. Default ""
	// (off).
	OTLPEndpoint string `yaml:"otlp_endpoint"`
	// SampleRatio is the share of requests traced, from 0 to 1, drawn by
	// trace id; a request whose caller's traceparent says sampled is
	// traced whatever the ratio, one that says not sampled is not. sluice
	// serve's default is 1.
	SampleRatio float64 `yaml:"sample_ratio"`
}

// Enabled reports whether c turns tracing on.
func (c Config) Enabled() bool { return c.OTLPEndpoint != "" }

// Problems checks c's fields; path is c's path in the configuration.
func (c Config) Problems(path string) []error {
	var errs []error
	if c.OTLPEndpoint != "" {
		if _, err := endpointURL(c.OTLPEndpoint); err != nil {
			errs = append(errs, fmt.Errorf("%s.otlp_endpoint: %w", path, err))
		}
	}
	if c.SampleRatio < 0 || c.SampleRatio > 1 {
		errs = append(errs, fmt.Errorf("%s.sample_ratio: %v is not between 0 and 1", path, c.SampleRatio))
	}
	return errs
}

// endpointURL is the URL spans are posted to: endpoint with /v1/traces
// when it has no path.
func endpointURL(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%q is not an http:// or https:// URL", endpoint)
	}
	if strings.Trim(u.Path, "/") == "" {
		u.Path = "/v1/traces"
	}
	return u.String(), nil
}

// Provider is the tracer provider of a process whose tracing is on: spans
// are batched and exported over OTLP/HTTP. It also reads callers' trace
// headers (Extract), so that a request's spans join the caller's trace.
type Provider struct {
	*sdktrace.TracerProvider
	propagator propagation.TextMapPropagator
}

// Info names the process in the spans' resource.
type Info struct {
	// Version is the service.version attribute.
	Version string
	// Node is the service.instance.id attribute.
	Node string
}

// New returns the provider that c configures, or nil when tracing is off.
// Close it on shutdown: it sends the spans not yet exported.
func New(ctx context.Context, c Config, info Info) (*Provider, error) {
	if !c.Enabled() {
		return nil, nil
	}
	if problems := c.Problems("tracing"); len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	endpoint, _ := endpointURL(c.OTLPEndpoint)
	exporter, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint))
	if err != nil {
		return nil, fmt.Errorf("tracing: exporter: %w", err)
	}
	return NewWithExporter(exporter, c.SampleRatio, info), nil
}

// NewWithExporter is New with the spans sent to exporter, sampled at
// ratio (with a caller's decision taking precedence), in batches.
func NewWithExporter(exporter sdktrace.SpanExporter, ratio float64, info Info) *Provider {
	attrs := []attribute.KeyValue{attribute.String("service.name", "sluice")}
	if info.Version != "" {
		attrs = append(attrs, attribute.String("service.version", info.Version))
	}
	if info.Node != "" {
		attrs = append(attrs, attribute.String("service.instance.id", info.Node))
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exporter),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))),
		sdktrace.WithResource(resource.NewSchemaless(attrs...)),
	)
	return &Provider{TracerProvider: tp, propagator: propagation.TraceContext{}}
}

// Extract returns ctx with the remote span context of h's traceparent
// (and tracestate), when h has a valid one.
func (p *Provider) Extract(ctx context.Context, h http.Header) context.Context {
	return p.propagator.Extract(ctx, propagation.HeaderCarrier(h))
}

// Close exports the spans still buffered and stops the provider, waiting
// at most timeout.
func (p *Provider) Close(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		return fmt.Errorf("tracing: shutdown: %w", err)
	}
	return nil
}

var _ trace.TracerProvider = (*Provider)(nil)
