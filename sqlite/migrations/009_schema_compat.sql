-- sluice: additive
-- What each applied migration declares of the binaries before it (its first
-- line, read by internal/migrate: 0 for additive, else the oldest migration
-- a binary must know to run here) and the release of the binary that
-- applied it ('' for those applied before this one), so that an older
-- binary, which does not have the newer files, can tell whether it may run
-- on the schema and which release to run instead. Open fills them in.
ALTER TABLE schema_migrations ADD COLUMN breaks_before INTEGER NOT NULL DEFAULT 0;
ALTER TABLE schema_migrations ADD COLUMN applied_by TEXT NOT NULL DEFAULT '';
