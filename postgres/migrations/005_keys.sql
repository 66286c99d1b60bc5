-- sluice: additive
-- API keys managed through the API (sluice.KeyRecord): the SHA-256 of the
-- secret, never the secret. A name is unique among the keys not revoked;
-- revoked keys stay, for the audit trail. revoked_at is NULL while the key
-- is in use.
CREATE TABLE keys (
	id         text COLLATE "C" PRIMARY KEY,
	name       text COLLATE "C" NOT NULL,
	role       text NOT NULL,
	hash       bytea NOT NULL UNIQUE,
	origins    text[] NOT NULL,
	types      text[] NOT NULL,
	rate       double precision NOT NULL,
	burst      integer NOT NULL,
	bootstrap  boolean NOT NULL,
	created_at timestamptz NOT NULL,
	revoked_at timestamptz
);
CREATE UNIQUE INDEX keys_name ON keys (name) WHERE revoked_at IS NULL;
