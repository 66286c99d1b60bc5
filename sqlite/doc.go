// Package sqlite is the embedded log backend of sluice, the default: one
// directory on disk holding a SQLite database in WAL mode, every commit
// fsync'd (synchronous=FULL). One process at a time opens a directory (a
// lock file says so); within it one connection writes and a small pool
// reads.
package sqlite
