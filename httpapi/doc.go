// Package httpapi is the HTTP edge of sluice: routing, keys and roles, CORS,
// limits, decoding of every accepted format into sluice.Event,
// application/problem+json errors, and the Prometheus metrics of the edge.
// It is stdlib net/http; cmd/sluice wires it to a store and a writer.
package httpapi
