// Package nats is the nats sink: it publishes each record to NATS
// JetStream as a message of its own, the record's body (the stored event's
// JSON, or its transform's output) as the message's data.
//
// # Messages
//
// Each message carries the event's id as Nats-Msg-Id, so that JetStream
// stores a record sent again within the stream's duplicate window (2m by
// default) once; and the headers Sluice-Position (the event's position in
// the log), Sluice-Version (its version in its stream), Sluice-Type and
// Sluice-Stream. A replay re-sends records with their ids, so JetStream
// drops those it still remembers: a replay shows in the stream only for
// events delivered longer ago than its duplicate window.
//
// The subject comes from a template (subject, default "sluice.{stream}")
// in which {stream}, {type} and {category} stand for the event's. Their
// dots separate tokens (order.placed → sluice.order.placed); what a
// subject token cannot hold is percent-encoded: '%', '*', '>', spaces,
// control characters, every byte of a non-ASCII character as %XX, a dot
// that would leave a token empty (first, last or after another) as %2E,
// and an empty value (the category of a stream starting with '-') as %00.
// Percent-decoding the part gives the value back; the headers carry the
// values as they are. The template's first token is fixed text, so that no
// event can name a system subject ($JS.API…, _INBOX…).
//
// # Delivery
//
// Deliver publishes the records in order, asynchronously, with at most
// max_pending (default 256) awaiting their acknowledgements at once
// across the sink's deliveries, and returns once every record is
// acknowledged or failed, within timeout (default 5s). A record that the
// stream already held (a duplicate) counts as delivered.
//
// The runner owns retries: nats.go retries nothing here (no retry on "no
// responders", nothing buffered while disconnected, so a delivery then
// fails at once); it only reconnects, for ever, in the background. Open
// does not wait for the server: when its first attempt fails (at once
// when connections are refused, after at most 2s for an address that
// does not answer, per server), connecting goes on in the background.
// Open fails only for what no server can fix: an unreadable creds_file
// or TLS file.
//
// # Failures
//
//   - Not connected (server down, refused, authentication refused): the
//     whole delivery fails, retryably; the error says why (nats.go's last
//     error).
//   - The connection lost during a delivery: the records not acknowledged
//     fail retryably and the later ones are not sent; those the server had
//     stored are dropped as duplicates when they are sent again.
//   - No acknowledgement within timeout, or the context ended: retryable.
//   - No stream holds the subject (no responders), storage full or
//     failing, the cluster without a leader, too many requests, account
//     limits: retryable.
//   - A record larger than the server's max_payload (1 MiB by default; the
//     value the server announces is checked, so the sink's Limits set no
//     MaxRecordBytes), larger than the stream's max_msg_size (10054), with
//     headers over 64 KiB (10097), or a sealed stream (10109): permanent
//     for that record, which goes to the dead letters.
//
// When no record was delivered and every failure may pass, Deliver
// returns a plain error (the destination failed as a whole, and the
// runner's circuit breaker counts it); otherwise a *sluice.DeliveryError
// lists the failed records.
//
// # Configuration
//
// url (default nats://127.0.0.1:4222; several, comma-separated, for a
// cluster), subject, user and password, or token, or creds_file, tls
// (ca_file, cert_file and key_file, insecure_skip_verify), max_pending,
// timeout. See Config.
package nats
