// Package storetest is the conformance suite that every sluice.Store
// backend runs (Run), and the benchmarks they share (Benchmark). A backend
// is done when it passes the suite.
package storetest
