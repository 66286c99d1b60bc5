// Package sink is the runner that every sink shares: it reads the log
// after the sink's checkpoint (one process at a time, through a lease),
// filters and transforms each event, batches records by count, bytes and
// time, hands the batches to the sink's Deliver, retries the records that
// failed (with exponential backoff and full jitter, honouring Retry-After,
// within a budget of attempts and time) behind a circuit breaker, stores
// the records it gives up on as dead letters, and moves the checkpoint
// only past records delivered or dead-lettered.
//
// Records of one stream are handed to Deliver in log order; a failed
// record holds back the later records of its stream (not those of other
// streams), and the later records of its stream that were in the same
// batch are sent again after it, so that each stream's last deliveries
// are in log order. Delivery is at-least-once: every record carries its
// event's id and position.
//
// The sinks themselves, one package each under sink/, implement
// sluice.Sink and a Destination (their configuration).
package sink
