// Package bench generates load against a sluice ingest URL (or any URL
// that takes POSTed JSON) and measures it: requests and events per second,
// latency percentiles, answers by status, and, for a process the caller
// names, its CPU seconds and peak resident memory. It is the engine of
// "sluice bench" and of the reliability harness.
//
// Run sends pre-generated bodies (see Envelopes) over a fixed number of
// keep-alive connections, as fast as they go or open-loop at a fixed rate,
// and keeps latencies in a log-bucket histogram, so that its memory does
// not grow with the length of a run. docs/decisions.md (D18) says why it
// works the way it does.
package bench
