-- sluice: breaks-before 7
-- The dedupe index moved into ids.db, a database of its own written off the
-- log's commit path (docs/decisions.md, D91). Open copies id_index there
-- before this migration runs. Not additive: a binary before 007 reads
-- id_index_state at open.
DROP TABLE IF EXISTS id_index;
DROP TABLE IF EXISTS id_index_state;
