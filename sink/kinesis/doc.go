// Package kinesis is the sink that puts events into an Amazon Kinesis data
// stream (or a Kinesis-compatible one: kinesalite, a local stack) with
// PutRecords, through aws-sdk-go-v2.
//
// Each record's data is the record's body: one stored event's JSON as GET
// /v1/events returns it (with its id and position, for readers to
// deduplicate), or what the sink's transform made of it. Its partition key
// is an event field (partition_key, a sink.Field: by default the stream,
// so that each stream's events go to one shard, in order); a key of more
// than 256 bytes (Kinesis takes 256 characters) is replaced by its SHA-256
// in hex, which keeps one key on one shard.
//
// # Configuration
//
//	stream             the stream's name; required unless stream_arn is set
//	stream_arn         the stream's ARN, instead of or with stream; default none
//	region             default: stream_arn's region, else AWS_REGION,
//	                   AWS_DEFAULT_REGION or the profile's, else us-east-1
//	endpoint           a Kinesis-compatible endpoint (http:// or https://);
//	                   default empty: AWS's for the region
//	partition_key      id, type, stream, category, source, data.<path> or
//	                   metadata.<path>; default stream
//	profile            the shared configuration profile (it may assume a
//	                   role); default AWS_PROFILE, else "default"
//	access_key_id,     static credentials, for local stacks; default empty:
//	secret_access_key  the SDK's default chain (environment, profile, web
//	                   identity, container and instance roles)
//	timeout            one PutRecords request's bound; default 30s
//
// Batches default to 500 records and 5 MiB, sent as soon as they are there
// (linger 0), and may not be larger: PutRecords' limits. A record and its
// partition key take at most 1 MiB. A batch over those limits once its
// partition keys are counted is sent as several requests, one after the
// other.
//
// # Failures
//
// Only the runner retries: the SDK's retryer is off for this client (one
// attempt per Deliver, whatever AWS_MAX_ATTEMPTS says; the credential
// providers keep theirs), and each request has the timeout.
//
//   - An entry of PutRecords' answer with an ErrorCode
//     (ProvisionedThroughputExceededException, InternalFailure) was not
//     stored: Deliver lists it, retryable, in a *sluice.DeliveryError,
//     and the runner sends only those records again, in their order.
//   - A record larger than 1 MiB with its partition key is not sent: it
//     fails for good (to the dead letters) and the others go.
//   - A request that fails whole with ValidationException or
//     InvalidArgumentException fails its records for good: Kinesis refuses
//     what they hold, and they would be refused again.
//   - Any other failure of a request is retryable: throttling
//     (ProvisionedThroughputExceededException, LimitExceededException,
//     KMSThrottlingException), 5xx, the network, a timeout, and also the
//     errors an operator fixes: a stream that does not exist (yet), a
//     missing permission, a disabled KMS key, expired credentials. A
//     misconfigured stream must not send the log to the dead letters in a
//     second: the sink backs off behind its circuit breaker, with the
//     error in its state, and resumes when the stream is fixed; only a
//     spent retry budget dead-letters.
//   - When nothing of a batch was stored and nothing failed for good,
//     Deliver returns a plain error, not a DeliveryError. When a request
//     of a batch split in several fails whole, its records fail with its
//     error and the later requests' records, not sent, retryably.
//
// Kinesis sends no Retry-After. An answer lost after Kinesis stored the
// records (a connection cut, a timeout) is retried, so the records are
// stored twice: delivery is at-least-once, and the event ids in the data
// are what deduplicates. A transform that drops the id leaves Kinesis
// nothing else to carry it: records have no attributes.
//
// # Limitations
//
// PutRecords keeps no order among the records of one request when some
// fail. The runner keeps each sluice stream's records in order across
// retries, so with the default partition key a stream's events reach its
// shard in log order, as far as Kinesis stores the records of one request
// for one shard in their order (PutRecords does not promise it); with
// another partition key, records of one key from several streams may be
// reordered around retries.
// ExplicitHashKey, KPL aggregation, and records over 1 MiB on streams
// whose MaxRecordSize was raised are not used. The region is not looked up
// from EC2 instance metadata: set region (or AWS_REGION) on EC2.
//
// aws-sdk-go-v2 speaks JSON (application/x-amz-json-1.1) to Kinesis, never
// CBOR (AWS_CBOR_DISABLE is the Java and JavaScript SDKs' switch), so any
// Kinesis-compatible endpoint over plain http:// works.
package kinesis
