-- The dedupe index moved into ids.db, a database of its own written off the
-- log's commit path (docs/decisions.md, D91). Open copies id_index there
-- before this migration runs.
DROP TABLE IF EXISTS id_index;
DROP TABLE IF EXISTS id_index_state;
