-- sluice: additive
-- Sinks: what every process must know of each sink (sluice.SinkControl as
-- JSON, compared by revision). The status a runner reports is kept in
-- memory: only this process opens the store. A sink's checkpoint and lease
-- are the rows of checkpoints and leases named 'sink/' || name.
CREATE TABLE sinks (
    name     TEXT    PRIMARY KEY,
    control  TEXT    NOT NULL,
    revision INTEGER NOT NULL
) WITHOUT ROWID;

-- Events that sinks gave up on. seq is the listing's cursor (AUTOINCREMENT
-- never gives a number out twice). The event is JSON without its data and
-- metadata, which are kept byte for byte in columns of their own
-- (sluice.EventRecord). Times are in Unix nanoseconds.
CREATE TABLE dead_letters (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    sink             TEXT    NOT NULL,
    event_id         TEXT    NOT NULL,
    event            TEXT    NOT NULL,
    data             BLOB,
    metadata         BLOB,
    attempts         INTEGER NOT NULL,
    error            TEXT    NOT NULL,
    first_attempt_at INTEGER NOT NULL,
    dead_lettered_at INTEGER NOT NULL,
    UNIQUE (sink, event_id)
);
CREATE INDEX dead_letters_sink ON dead_letters (sink, seq);
