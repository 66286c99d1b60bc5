-- sluice: additive
-- The log, in chunks: each row holds the events of consecutive positions,
-- written by one commit (see chunk.go for the encoding). A chunk is found by
-- its last position, so "the chunks after position p" is a range of the
-- primary key.
CREATE TABLE chunks (
    last_position  INTEGER PRIMARY KEY,
    first_position INTEGER NOT NULL,
    events         BLOB    NOT NULL
);

CREATE TABLE streams (
    stream_id     INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    version       INTEGER NOT NULL,
    last_position INTEGER NOT NULL
);

-- The stream index: one row per stream per chunk, saying which versions of
-- the stream the chunk holds (they are consecutive).
CREATE TABLE stream_runs (
    stream_id     INTEGER NOT NULL,
    first_version INTEGER NOT NULL,
    last_version  INTEGER NOT NULL,
    chunk         INTEGER NOT NULL, -- chunks.last_position
    PRIMARY KEY (stream_id, first_version)
) WITHOUT ROWID;

-- The dedupe index: 64-bit hashes of event ids with their positions. It is
-- written in large sorted batches, not per commit: random ids (UUIDv4, as
-- SDKs send them) would dirty an index page per event. The ids of events
-- after indexed_through are kept in memory and rebuilt from the chunks at
-- open. docs/decisions.md says why.
CREATE TABLE id_index (
    hash     INTEGER NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (hash, position)
) WITHOUT ROWID;

CREATE TABLE id_index_state (
    one             INTEGER PRIMARY KEY CHECK (one = 1),
    indexed_through INTEGER NOT NULL
);
INSERT INTO id_index_state (one, indexed_through) VALUES (1, 0);

CREATE TABLE checkpoints (
    name     TEXT PRIMARY KEY,
    position INTEGER NOT NULL
);

CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
);
