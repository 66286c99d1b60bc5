-- sluice: additive
-- API keys managed through the API (sluice.KeyRecord): the SHA-256 of the
-- secret, never the secret. A name is unique among the keys not revoked;
-- revoked keys stay, for the audit trail. origins and types are JSON
-- arrays. Times are in Unix nanoseconds; revoked_at is NULL while the key
-- is in use.
CREATE TABLE keys (
    id         TEXT    PRIMARY KEY,
    name       TEXT    NOT NULL,
    role       TEXT    NOT NULL,
    hash       BLOB    NOT NULL UNIQUE,
    origins    TEXT    NOT NULL,
    types      TEXT    NOT NULL,
    rate       REAL    NOT NULL,
    burst      INTEGER NOT NULL,
    bootstrap  INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
) WITHOUT ROWID;
CREATE UNIQUE INDEX keys_name ON keys (name) WHERE revoked_at IS NULL;
