-- sluice: additive
-- The schema registry: every version of every event type's JSON Schema, as
-- registered (canonical JSON, so text keeps it as it is).
CREATE TABLE schemas (
	type       text COLLATE "C" NOT NULL,
	version    integer NOT NULL,
	schema     text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (type, version)
);

-- Rejected events, apart from the log. seq is the listing's cursor. The
-- event is JSON without its data and metadata, which are kept byte for byte
-- in bytea columns of their own (JSON encoding would compact them).
CREATE TABLE quarantine (
	seq            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	event_id       text COLLATE "C" NOT NULL UNIQUE,
	type           text COLLATE "C" NOT NULL,
	event          json NOT NULL,
	data           bytea,
	metadata       bytea,
	reasons        json NOT NULL,
	key            text NOT NULL,
	quarantined_at timestamptz NOT NULL
);
CREATE INDEX quarantine_type ON quarantine (type, seq);
CREATE INDEX quarantine_at ON quarantine (quarantined_at);
