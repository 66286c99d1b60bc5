// Package sqlite is the embedded log backend of sluice, the default: one
// directory on disk. The events are in segment files (segments/, frames of
// chunks with a CRC-32C each: frames.go, logfiles.go), appended with one
// write and one fdatasync per commit, which is the commit's durability
// point. A SQLite database in WAL mode (sluice.db) holds the index (where
// each chunk is, the stream runs, the streams, the ids) and everything
// else: schemas, keys, subscriptions, sinks, quarantine, checkpoints. The
// log's index transactions run at synchronous=NORMAL, rebuilt from the
// segments after a crash (recover.go); every other write is fsync'd
// (synchronous=FULL) before it returns. A log written by older versions,
// with the events as blobs in SQLite, is converted at Open (convert.go).
//
// One process at a time opens a directory (a lock file says so); within
// it one connection writes and a small pool reads, through statements
// prepared once. Reads never wait for the commit in flight. Consumers'
// checkpoints are kept in memory and written with the next commit of the
// log (see checkpointCache), so an acknowledgement costs no fsync of its
// own.
package sqlite
