// Package postgres is the PostgreSQL backend of sluice: a sluice.Store that
// several sluice processes can share, for production.
//
// Every table lives in one schema (Options.Schema), created and migrated at
// Open with the numbered SQL files in migrations/. Positions are assigned
// under a lock on the single row of log_head, so commits take positions in
// commit order and a reader never sees a gap that later fills. Each commit
// announces its head with NOTIFY on a channel of the schema's own; every
// Store LISTENs on it, so WaitHead wakes on the commits of every process.
package postgres
