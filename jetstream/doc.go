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
package jetstream
