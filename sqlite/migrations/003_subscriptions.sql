-- sluice: additive
-- Durable subscriptions: a filter (sluice.Filter as JSON) and the position
-- each was created at. A subscription's checkpoint and lease are the rows of
-- checkpoints and leases named 'subscription/' || name. created_at and
-- updated_at are in Unix nanoseconds.
CREATE TABLE subscriptions (
    name           TEXT    PRIMARY KEY,
    filter         TEXT    NOT NULL,
    start_position INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
) WITHOUT ROWID;
