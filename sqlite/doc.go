// Package sqlite is the embedded log backend of sluice, the default: one
// directory on disk holding a SQLite database in WAL mode, every commit
// fsync'd (synchronous=FULL). One process at a time opens a directory (a
// lock file says so); within it one connection writes and a small pool
// reads, through statements prepared once. Reads never wait for the commit
// in flight. Consumers' checkpoints are kept in memory and written with the
// next commit of the log (see checkpointCache), so an acknowledgement costs
// no fsync of its own.
package sqlite
