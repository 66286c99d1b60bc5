// Package kafka is the sink that produces events to a Kafka topic (or one
// of a Kafka-compatible broker: Redpanda, WarpStream, MSK, Event Hubs'
// Kafka endpoint), through franz-go's kgo client.
//
// Each record's value is the record's body: one stored event's JSON as GET
// /v1/events returns it, or what the sink's transform made of it (never a
// null value, which compacted topics take as a tombstone). Its key is an
// event field (key, a sink.Field: by default the stream, so that each
// stream's events go to one partition, in order). Its headers are
// Sluice-Id (the event id, to deduplicate by), Sluice-Type, Sluice-Stream,
// Sluice-Position and Sluice-Version. Its timestamp is the time it was
// produced: an old event replayed with its own time would fall under the
// topic's retention at once, or be refused under
// message.timestamp.before.max.ms; the event's times are in the body.
//
// # Configuration
//
//	brokers            seed brokers, host:port each; required
//	topic              the topic (it must exist); required
//	key                id, type, stream, category, source, data.<path> or
//	                   metadata.<path>; default stream
//	client_id          default "sluice"
//	compression        none, gzip, snappy, lz4, zstd; default snappy
//	max_message_bytes  one record batch's bound, as the topic's
//	                   max.message.bytes; default 1000012
//	record_retries     franz-go's own retries of a failed record; default 0
//	timeout            a delivery's bound (at least 1s); default 10s
//	tls                enabled, ca_file, cert_file, key_file, server_name,
//	                   insecure_skip_verify; default plaintext
//	sasl               mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512),
//	                   username, password; default none
//
// Batches default to 1,000 records and 8 MiB, sent as soon as they are
// there (linger 0, franz-go's linger too): franz-go splits a batch into
// record batches per partition of at most max_message_bytes.
//
// # Delivery and order
//
// Deliver produces every record of the batch (kgo's Produce, in batch
// order) and waits for all of their answers. The producer is idempotent
// (franz-go's default) and waits for every in-sync replica (acks=all).
// franz-go keeps at most 5 produce requests in flight per broker, and the
// idempotent producer's sequence numbers make the broker append a
// partition's batches in the order they were produced even when an
// earlier one is retried. The runner hands Deliver one batch at a time per
// cursor and sends a record again only with the later records of its
// stream (holding back the stream's later batches meanwhile), so with the
// default key each stream's events are in its partition in log order,
// counting each one's last delivery.
//
// # Failures
//
// A record's answer is its record batch's: Kafka takes or refuses a
// partition's batch whole (and franz-go, after a timeout or spent
// retries, fails every record buffered for the partition after it).
// Deliver reports the failed records, by index, in a
// *sluice.DeliveryError (a plain error when none was delivered and none
// failed for good), and the runner retries them.
//
//   - Permanent (to the dead letters): MESSAGE_TOO_LARGE (a record larger
//     than max_message_bytes with its key and headers is refused by
//     franz-go before it is sent; a broker with a smaller
//     max.message.bytes refuses it too), RECORD_LIST_TOO_LARGE,
//     INVALID_RECORD (the broker's validation, a compacted topic without
//     a key), INVALID_TIMESTAMP.
//   - Retryable: everything else. The retriable Kafka errors (leader
//     changes, NOT_ENOUGH_REPLICAS, timeouts), the network, and the
//     errors that kerr calls non-retriable but an operator fixes: an
//     unknown topic, a missing ACL (TOPIC_AUTHORIZATION_FAILED), failed
//     SASL authentication, a TLS certificate the client does not trust.
//     A misconfiguration must hold the records back behind the runner's
//     breaker, with the error in the sink's state, not send the log to
//     the dead letters.
//
// Only the runner retries for long. franz-go retries a failed record
// record_retries times (0 by default: each of its retries waits for a
// metadata refresh, at most one per 5s), and a record without an answer
// after timeout fails, in flight or not (kgo's
// AllowIdempotentProduceCancellation): the runner then sends it again, and
// the broker may hold it twice. Delivery is at-least-once, and the
// Sluice-Id header is what deduplicates.
//
// # Limitations
//
// With a key other than the stream, records of one key from several
// streams may be reordered around retries (the runner orders streams, not
// keys). Transactions (exactly-once), topic creation, OAUTHBEARER and AWS
// MSK IAM authentication are not supported. The tests run against kfake,
// franz-go's in-process fake cluster, not a real broker.
package kafka
