-- sluice: additive
-- The schema registry: every version of every event type's JSON Schema, as
-- registered (canonical JSON). created_at is in Unix nanoseconds.
CREATE TABLE schemas (
    type       TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    schema     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (type, version)
) WITHOUT ROWID;

-- Rejected events, apart from the log. seq is the listing's cursor:
-- AUTOINCREMENT never gives a number out twice, so a cursor never skips an
-- event that replaced another. The event is JSON without its data and
-- metadata, which are kept byte for byte in columns of their own (JSON
-- encoding would compact them). quarantined_at is in Unix nanoseconds.
CREATE TABLE quarantine (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id       TEXT    NOT NULL UNIQUE,
    type           TEXT    NOT NULL,
    event          TEXT    NOT NULL,
    data           BLOB,
    metadata       BLOB,
    reasons        TEXT    NOT NULL,
    key            TEXT    NOT NULL,
    quarantined_at INTEGER NOT NULL
);
CREATE INDEX quarantine_type ON quarantine (type, seq);
CREATE INDEX quarantine_at ON quarantine (quarantined_at);
