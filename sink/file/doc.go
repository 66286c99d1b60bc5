// Package file is the file sink: it appends each record's body (the stored
// event's JSON, or its transform's output) as one line to a file, NDJSON,
// or writes it to the standard output, for debugging and local pipelines.
//
// # Delivery
//
// A batch is one write, and, unless fsync is false, one fsync (and one of
// the directory when the file was created): delivered means on the disk,
// so the checkpoint that moves after it never passes a record that a
// crash or a power cut could lose. Line breaks in a body (an event's data
// is kept as its client wrote it, on several lines maybe) are white space
// between JSON tokens and are written as spaces, so each record is one
// line holding the same value. Every line carries the event's id and
// position.
//
// Each batch opens the file (O_APPEND, created when missing; its directory
// must exist), writes and closes it: a program that rotates the file (it
// renames it, as logrotate does) takes effect at the next batch, and a
// directory that comes back after an outage (a remount) is written again.
// Opening per batch costs nothing measurable against a file kept open
// (BenchmarkSink_Deliver, batches of 1,000 records: 157–159 µs against
// 163–190 µs a batch without fsync); the fsync costs about 1.4 ms a batch
// on this machine's disk (630,000 against 6.3 million events/s).
//
// # Rotation
//
// Before a batch that would grow the file past max_bytes (default 100
// MiB), the file is renamed beside itself with the time of the rotation,
// UTC to the millisecond: out.ndjson becomes
// out-20260102T150405.123Z.ndjson (events becomes
// events-20260102T150405.123Z), names that sort in rotation order; the
// next batch creates the file again. The oldest rotated files beyond
// max_files (default 10) are removed. A batch larger than max_bytes makes
// a file of its own.
//
// # Failures
//
// A write, fsync or open error (ENOSPC, EIO, the directory gone or
// replaced) fails the whole batch, retryably, and what was written of it
// is cut off again (truncated), so that a retry does not leave a torn
// line. A last line without its newline (a write torn by a crash) is cut
// off before the next batch is written. A file refuses no record: there
// is no permanent failure.
//
// # Standard output
//
// With path "-" the lines go to the standard output: no fsync, no
// rotation. Open makes the process ignore SIGPIPE, so that a reader that
// has gone away (sluice serve | head) makes deliveries fail retryably with
// EPIPE instead of killing sluice; a write cut short on a pipe cannot be
// taken back, and its reader sees a torn line.
//
// # Configuration
//
// path (required), max_bytes, max_files, fsync. See Config.
package file
