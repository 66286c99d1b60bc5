-- sluice: additive
-- The log's first position, moved by retention (retention.go) before it
-- deletes the events before it, in a transaction of its own: a read that
-- finds events after a position in a snapshot where the first position is
-- not past it found every one of them.
CREATE TABLE log_first (
	single   boolean PRIMARY KEY DEFAULT true CHECK (single),
	position bigint NOT NULL
);
INSERT INTO log_first (position) VALUES (1);
