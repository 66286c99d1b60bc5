// Package otlptest is an in-process OTLP/HTTP trace receiver for tests: an
// httptest server that takes POST /v1/traces in protobuf, as a collector
// does, and keeps the spans it decoded.
package otlptest
