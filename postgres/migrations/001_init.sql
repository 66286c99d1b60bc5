-- sluice: additive
-- The log. Data and metadata are bytea: kept byte for byte, and cheaper to
-- write than jsonb. Text keys use the "C" collation: byte order, as the
-- other backends sort, and memcmp instead of strcoll in every index.
CREATE TABLE events (
	position    bigint PRIMARY KEY,
	id          text COLLATE "C" NOT NULL CONSTRAINT events_id_key UNIQUE,
	stream      text COLLATE "C" NOT NULL,
	version     bigint NOT NULL,
	type        text COLLATE "C" NOT NULL,
	source      text NOT NULL,
	time        text NOT NULL,
	data        bytea NOT NULL,
	metadata    bytea,
	recorded_at timestamptz NOT NULL,
	UNIQUE (stream, version)
);

-- One row per stream: its version and the position of its last event.
CREATE TABLE streams (
	stream        text COLLATE "C" PRIMARY KEY,
	version       bigint NOT NULL,
	last_position bigint NOT NULL
);

-- The highest committed position, in a single row. Every append locks it
-- first (SELECT … FOR UPDATE): commits are serialized, so positions are
-- assigned in commit order without gaps.
CREATE TABLE log_head (
	single   boolean PRIMARY KEY DEFAULT true CHECK (single),
	position bigint NOT NULL
);
INSERT INTO log_head (position) VALUES (0);

CREATE TABLE checkpoints (
	name     text PRIMARY KEY,
	position bigint NOT NULL
);

CREATE TABLE leases (
	name       text PRIMARY KEY,
	holder     text NOT NULL,
	expires_at timestamptz NOT NULL
);
