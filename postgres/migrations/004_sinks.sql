-- sluice: additive
-- Sinks: what every process must know of each sink: its control
-- (sluice.SinkControl as JSON, compared by revision) and the status its
-- runner last reported. A sink's checkpoint and lease are the rows of
-- checkpoints and leases named 'sink/' || name.
CREATE TABLE sinks (
	name      text COLLATE "C" PRIMARY KEY,
	control   json NOT NULL DEFAULT '{}',
	revision  bigint NOT NULL DEFAULT 0,
	status    json,
	status_at timestamptz
);

-- Events that sinks gave up on. seq is the listing's cursor. The event is
-- JSON without its data and metadata, which are kept byte for byte in bytea
-- columns of their own (sluice.EventRecord).
CREATE TABLE dead_letters (
	seq              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	sink             text COLLATE "C" NOT NULL,
	event_id         text COLLATE "C" NOT NULL,
	event            json NOT NULL,
	data             bytea,
	metadata         bytea,
	attempts         integer NOT NULL,
	error            text NOT NULL,
	first_attempt_at timestamptz NOT NULL,
	dead_lettered_at timestamptz NOT NULL,
	UNIQUE (sink, event_id)
);
CREATE INDEX dead_letters_sink ON dead_letters (sink, seq);
