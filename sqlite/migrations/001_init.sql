-- The log. position is the rowid, so appends go to the end of the table's
-- B-tree. Two narrow indexes make the rest: a 64-bit hash of the id for
-- dedupe (a text index on random UUIDs dirties a page per event), and the
-- stream's integer id with the version for stream reads and uniqueness.
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
CREATE INDEX events_id_hash ON events (id_hash);
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
