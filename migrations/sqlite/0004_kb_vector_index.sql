-- Vector search moves from sqlite-vec's vec0 table of 1-bit vectors to an index kept in the
-- process's memory (ils-node kb/index.rs: 8-bit codes of every chunk's vector, scanned whole,
-- then the best rescored with the full-precision vectors of `chunks.embedding`). vec0 selects
-- its top k at a cost of k × n, which made a search of 100,000 passages take 20 ms or more;
-- the 1-bit table is no longer read, so it goes.
--
-- The index is consistent with this file through `kb_generation`: every chunk written or
-- deleted, by this process or any other, moves it on (by trigger, in the same transaction), and a
-- search compares it with the generation its index was built at before using the index.
DROP TRIGGER chunks_after_delete;
DROP TABLE chunk_vectors;

CREATE TABLE kb_generation (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
) STRICT;
INSERT INTO kb_generation (id, value) VALUES (1, 0);

CREATE TRIGGER chunks_after_insert AFTER INSERT ON chunks
BEGIN
    UPDATE kb_generation SET value = value + 1 WHERE id = 1;
END;
CREATE TRIGGER chunks_after_delete AFTER DELETE ON chunks
BEGIN
    DELETE FROM chunks_fts WHERE rowid = old.id;
    UPDATE kb_generation SET value = value + 1 WHERE id = 1;
END;
