// Package opensearch is the sink that indexes events into OpenSearch (or
// Elasticsearch, whose _bulk API is the same) with the _bulk API, spoken
// directly over net/http: one POST of NDJSON per batch.
//
// # Documents
//
// Each record is one index action: an action line
// {"index":{"_index":"<index>","_id":"<event id>"}} and its source, the
// record's body (the stored event as GET /v1/events returns it, or the
// transform's output) on one line, its line breaks (white space between
// JSON tokens; JSON strings hold none) written as spaces. The event id is
// the document id, so a re-delivery (a retry, a replay, a restart before
// the checkpoint moved) replaces the document instead of adding one:
// the index holds each event once.
//
// The index comes from a pattern, index (default "events-%Y.%m.%d"):
// fixed text with %Y (year), %m (month), %d (day), %H (hour) and %% (a %),
// a subset of strftime's, taken from the time the event was recorded
// (recorded_at, not the client's time), in UTC. The configuration is
// refused when the pattern could make a name OpenSearch refuses
// (upper case, \ / * ? " < > | , # : or a space, a leading - _ or +,
// control characters, over 255 bytes).
//
// # Failures
//
// An answer of HTTP 200 is read item by item: whatever its "errors"
// member says, each item's own status decides (an answer with errors true
// is a partial failure, never a success). Items of 408, 429 (OpenSearch's
// write queues are full) or 5xx (a shard unavailable) are retried; any
// other failed item (400: a mapping error, a document that does not parse)
// is permanent and goes to the dead letters; the others are delivered.
// When every item failed retryably, the batch fails as a whole, which the
// circuit breaker counts. An answer of 200 that is not a bulk answer of
// one item per document is retried whole: which documents were indexed is
// unknown, and indexing one again replaces it.
//
// A request answered with another status fails whole: 408, 429 and 5xx
// are retried, after the answer's Retry-After; 401, 403 and 404 are
// retried too, as an operator's to fix (credentials, permissions, the
// URL's path), holding the records back meanwhile; 413 is permanent (the
// error says to lower batch.max_bytes), so are redirects (not followed)
// and every other 4xx. No answer (refused, reset, timeout) is retried.
// The runner owns retries: the sink makes one request per delivery.
//
// # Batches
//
// 1,000 documents and 5 MiB of record bodies by default, at most 10,000
// and 64 MiB, so that a request with its action lines stays under
// OpenSearch's default http.max_content_length (100mb).
//
// # Configuration
//
// url (the cluster, http:// or https://, with a path prefix if a proxy
// needs one), index, username and password (HTTP Basic), or api_key
// (Authorization: ApiKey …, Elasticsearch's API keys), tls (ca_file,
// cert_file and key_file, insecure_skip_verify), timeout (one request,
// default 30s). See Config.
//
// # Limitations
//
// Tested against fakebulk (internal/testutil/fakebulk), an in-memory
// _bulk endpoint written from OpenSearch's documented behaviour, not
// against a real OpenSearch: no OpenSearch server can run on the machines
// sluice is built and tested on. Mappings, analyzers, refresh and
// OpenSearch's own limits beyond those fakebulk checks are not exercised.
// One URL (a load balancer, a coordinating node): no discovery of the
// cluster's nodes. No AWS SigV4 signing (Amazon OpenSearch Service with
// IAM authentication): use its internal users or a signing proxy. No
// gzip of requests, no ingest pipeline or routing parameters, no
// data streams (their op_type is create, which would refuse a
// re-delivery as a conflict).
package opensearch
