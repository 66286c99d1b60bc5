-- sluice: breaks-before 6
-- The events move to segment files (sqlite/frames.go, logfiles.go); chunks
-- keeps where each chunk's frame is. The chunks of a log written before are
-- in blob_chunks until Open has copied them into segment files
-- (sqlite/convert.go), which drops it in the transaction that fills chunks.
-- Not additive: a binary before 006 reads the events from chunks.events.
ALTER TABLE chunks RENAME TO blob_chunks;

CREATE TABLE chunks (
    last_position  INTEGER PRIMARY KEY,
    first_position INTEGER NOT NULL,
    segment        INTEGER NOT NULL, -- the file, by its first position
    file_offset    INTEGER NOT NULL,
    frame_length   INTEGER NOT NULL  -- header included
);
