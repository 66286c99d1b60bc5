// Package kinesis reads a Kinesis stream as a source of events for
// transfer: every shard from TRIM_HORIZON or a timestamp, a child shard
// only once its parents are read to their end (resharding followed), until
// every shard is read to its end or caught up with the stream's tip.
package kinesis
