// Package consumer is how everything downstream reads the log: each
// consumer through a durable checkpoint of its own, one process at a time
// through a lease, woken by commits rather than by polling.
//
//   - Cursor reads the log after a position through a filter, a page at a
//     time: it catches up from the store, then waits for commits (the
//     catch-up-then-live switch). The live tail and subscriptions use it.
//   - Consumer runs a handler over the log in-process with a checkpoint and
//     a lease, so that in a deployment of several nodes it runs on one at a
//     time and moves when its node goes away. Sinks are built on it.
//   - Hub serves durable subscriptions to remote readers (the HTTP API):
//     definitions, delivery after the checkpoint with long polls,
//     acknowledgements, read-your-writes waits, one reader at a time, and
//     the figures the metrics report (lag, holds).
package consumer
