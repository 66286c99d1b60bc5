// Package client is the Go client of sluice's HTTP API, for the Go
// applications around a sluice server: collectors that ingest events,
// command handlers that append to streams under an expected version and
// read them back, and projections that keep read models up to date from
// durable subscriptions.
//
// A Client is made with New and is safe for concurrent use. Every error
// answer of the server is an *Error; the usual cases are tested with
// errors.Is against the root package's sentinels (sluice.ErrWrongExpectedVersion,
// sluice.ErrStreamNotFound, sluice.ErrSubscriptionNotFound) and this
// package's (ErrWaitTimeout, ErrSubscriptionBusy).
//
// Delivery is at-least-once: Subscribe acknowledges a batch only after its
// handler returns nil, so after a crash, an error or a move to another
// process the same events come again. Handlers must be idempotent (by event
// id, or by remembering the last position applied).
//
// Read-your-writes: Append and Ingest return the position of what they
// wrote; Wait(ctx, subscription, position, timeout) returns once that
// subscription's handler has processed it, so a read model read afterwards
// includes the write.
package client
