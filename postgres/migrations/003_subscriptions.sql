-- sluice: additive
-- Durable subscriptions: a filter (sluice.Filter as JSON) and the position
-- each was created at. A subscription's checkpoint and lease are the rows of
-- checkpoints and leases named 'subscription/' || name.
CREATE TABLE subscriptions (
	name           text COLLATE "C" PRIMARY KEY,
	filter         json NOT NULL,
	start_position bigint NOT NULL,
	created_at     timestamptz NOT NULL,
	updated_at     timestamptz NOT NULL
);
