-- sluice: additive
-- Retention deletes the stream runs of the chunks it removes (retention.go):
-- found by chunk, which grows with the log, so the index is appended to at
-- its right edge.
CREATE INDEX IF NOT EXISTS stream_runs_chunk ON stream_runs (chunk);
