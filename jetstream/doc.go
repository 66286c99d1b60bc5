// Package jetstream is a sluice.Store on NATS JetStream, for deployments
// that outgrow one PostgreSQL primary: the log is one Raft-replicated
// JetStream stream whose sequence is the global position, and everything
// else (checkpoints, leases, subscriptions, schemas, sink state, keys, the
// id index) lives in KV buckets whose revisions are the compare-and-set.
//
// Every commit is one JetStream atomic batch (ADR-50, nats-server 2.12 or
// later) whose first message expects the log's last sequence, so that the
// positions and versions that sluice.CommitPlan works out in memory are the
// ones the server assigns, whichever process commits; each stream's first
// message also expects the stream's last sequence. Any number of Stores, in
// any number of processes, may share one log.
//
// A Store plans on what it knows from its own commits (known.go) and reads
// the server only for what it does not know or after another process
// wrote; the batches of one group commit go out with up to
// Options.PublishWindow in flight (append.go); the id index, which covers
// dedupe beyond JetStream's duplicate window, is written behind the commits
// by one goroutine (indexer.go) and completed from the log before a lookup.
package jetstream
