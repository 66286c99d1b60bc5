// Package s3 is the archive sink: it writes the log into an S3 bucket (or
// an S3-compatible store: MinIO, Ceph, R2) as time-partitioned,
// gzip-compressed NDJSON objects, through aws-sdk-go-v2, and reads such an
// archive back to verify it (Archive, used by "sluice archive verify").
//
// Each batch of the runner is one object: the sink's limits make batches
// of 64 MiB of records (uncompressed) or 5 minutes from the first record
// read (batch.max_bytes and batch.linger set other bounds), and the
// runner moves the checkpoint only once the object is stored. An object
// is named
//
//	PREFIX/date=YYYY-MM-DD/hour=HH/FIRST_LAST_NODE.ndjson.gz
//
// after its first event's commit hour (UTC), its first and last events'
// positions (20 digits, so that names sort as positions do) and the node
// that wrote it. Each line is a record's body: the stored event's JSON as
// GET /v1/events returns it, or what the transform made of it. An object
// that compresses to less than part_size (8 MiB) is one PUT; a larger one
// is a multipart upload whose parts are sent as they fill, so the sink
// holds one part of compressed bytes beside the batch's records.
//
// # Configuration
//
//	bucket             required
//	prefix             a folder in the bucket; default "" (its root)
//	region             default AWS_REGION, AWS_DEFAULT_REGION or the
//	                   profile's, else us-east-1
//	endpoint           an S3-compatible endpoint (http:// or https://);
//	                   default empty: AWS's for the region
//	path_style         bucket in the path, not the host name; default false
//	profile            the shared configuration profile; default
//	                   AWS_PROFILE, else "default"
//	access_key_id,     static credentials; default empty: the SDK's
//	secret_access_key  default chain
//	part_size          a multipart upload's parts, 5 MiB to 5 GiB;
//	                   default 8 MiB
//	timeout            one request (a PUT, a part); default 2m
//
// # Failures and crashes
//
// An object is stored whole or not at all, so Deliver fails its batch
// whole, and always retryably: throttling, 5xx, the network, and also a
// missing bucket or permission (an operator's to fix) hold the checkpoint
// behind the runner's backoff and breaker until the retry budget is spent.
// A failed multipart upload is aborted. The SDK's own retries are off
// (the runner retries), but for Archive, which only reads.
//
// After a crash or a takeover between storing an object and moving the
// checkpoint, the object is written again from the same first position.
// When its records end at the same position (the batch was closed by size
// with the same records, as after a restart on a backlog) and the node's
// name is the same, the new object has the same name and replaces the old
// one. Otherwise (closed by age at another point, or written by another
// node) both are kept: the positions they share are archived twice, which
// Verify reports as an overlap; nothing is lost, readers deduplicate by
// event id, and an object wholly covered by another may be deleted. A
// replay writes objects of its own over the same positions, overlaps too.
//
// The objects are tested against gofakes3 (in process), not against AWS
// S3, MinIO or the others.
package s3
