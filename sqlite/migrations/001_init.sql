-- The log. position is the rowid, so appends go to the end of the table's
-- B-tree. The stream's integer id with the version indexes stream reads and
-- keeps versions unique. There is no index on the id here: random ids
-- (UUIDv4, as SDKs send them) would dirty an index page per event; see
-- id_index.
CREATE TABLE events (
    position    INTEGER PRIMARY KEY,
    id          TEXT    NOT NULL,
    id_hash     INTEGER NOT NULL,
    stream      TEXT    NOT NULL,
    stream_id   INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    type        TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    time        TEXT    NOT NULL,
    data        BLOB    NOT NULL,
    metadata    BLOB,
    recorded_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX events_stream_version ON events (stream_id, version);

CREATE TABLE streams (
    stream_id     INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    version       INTEGER NOT NULL,
    last_position INTEGER NOT NULL
);

CREATE TABLE checkpoints (
    name     TEXT PRIMARY KEY,
    position INTEGER NOT NULL
);

CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
);

-- The dedupe index: 64-bit hashes of event ids (events.id_hash) with their
-- positions. It is filled in large sorted batches, not per commit; the ids
-- after indexed_through are kept in memory (and rebuilt from events at
-- open). docs/decisions.md says why.
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
