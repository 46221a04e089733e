-- Schema 3: one identity, one change contract, one clock, one copy of each document's text.
--
-- * The practice (a local tenant, its id and time zone in `meta`) and its users with roles: the
--   desktop acts as a user with a role in a tenant, like every caller of ILS Central, and checks
--   the same permission table. Columns that named "who" with free text (created_by, actor,
--   ingested_by) now hold the user's id; rows written before keep their text.
-- * The outbox carries typed changes (docs/sync-changes.md), each stamped by the device's
--   hybrid logical clock, whose state now lives in `meta` ('hlc') and advances inside the
--   writing transaction, so that stamps are unique whatever number of processes write. The
--   changes of schemas 1–2 had four hand-built shapes and were never sent (there was no sync):
--   they are kept, untouched, in `outbox_v1`; the first sync uploads every record whole.
-- * Timeline entries get global ids, so that they can travel.
-- * A chunk's text is no longer stored beside its document's: it is the document's text between
--   the chunk's byte offsets. The full-text index keeps no copy either (contentless, with
--   deletes).

CREATE TABLE users (
    id         TEXT PRIMARY KEY,
    email      TEXT NOT NULL UNIQUE COLLATE NOCASE,
    first_name TEXT NOT NULL,
    last_name  TEXT NOT NULL,
    role       TEXT NOT NULL CHECK (role IN ('company_admin', 'ecp', 'lab_tech', 'engineer')),
    status     TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;

DROP INDEX outbox_unpushed;
ALTER TABLE outbox RENAME TO outbox_v1;

INSERT INTO meta (key, value)
    SELECT 'hlc', max(hlc) FROM outbox_v1 HAVING count(*) > 0;

CREATE TABLE outbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    change_id  TEXT NOT NULL UNIQUE,
    entity     TEXT NOT NULL,
    entity_id  TEXT NOT NULL,
    operation  TEXT NOT NULL CHECK (operation IN ('upsert', 'delete', 'erase')),
    hlc        TEXT NOT NULL UNIQUE,
    -- The change as it travels (ils_core::change::Change::encode).
    change     TEXT NOT NULL CHECK (json_valid(change)),
    created_at TEXT NOT NULL,
    pushed_at  TEXT
) STRICT;
CREATE INDEX outbox_unpushed ON outbox (seq) WHERE pushed_at IS NULL;
CREATE INDEX outbox_entity ON outbox (entity, entity_id, seq);

ALTER TABLE order_events ADD COLUMN event_id TEXT;
UPDATE order_events SET event_id =
    lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4'
    || substr(lower(hex(randomblob(2))), 2) || '-'
    || substr('89ab', 1 + (abs(random()) % 4), 1) || substr(lower(hex(randomblob(2))), 2) || '-'
    || lower(hex(randomblob(6)));
CREATE UNIQUE INDEX order_events_event_id ON order_events (event_id);

DROP TRIGGER chunks_after_insert;
DROP TRIGGER chunks_after_delete;
CREATE VIRTUAL TABLE chunks_fts_v3 USING fts5 (
    heading, text,
    content = '', contentless_delete = 1,
    tokenize = 'porter unicode61 remove_diacritics 2'
);
INSERT INTO chunks_fts_v3 (rowid, heading, text) SELECT id, heading, text FROM chunks;
DROP TABLE chunks_fts;
ALTER TABLE chunks_fts_v3 RENAME TO chunks_fts;
ALTER TABLE chunks DROP COLUMN text;
-- The store indexes a chunk's text when it writes the chunk (the text is the document's).
CREATE TRIGGER chunks_after_delete AFTER DELETE ON chunks
BEGIN
    DELETE FROM chunks_fts WHERE rowid = old.id;
    DELETE FROM chunk_vectors WHERE chunk_id = old.id;
END;

-- Names are searched and sorted by their keys, lower-cased the Unicode way
-- (ils_core::patient::name_key) as ILS Central does; SQLite's lower() folds ASCII only, so the
-- store fills the keys of existing rows right after this migration.
ALTER TABLE patients ADD COLUMN last_name_key TEXT;
ALTER TABLE patients ADD COLUMN first_name_key TEXT;
CREATE INDEX patients_name_key ON patients (last_name_key, first_name_key, id);

-- Orders keep who placed them and why a remake was made, as on ILS Central (the reason of an
-- earlier remake is in its first timeline entry).
ALTER TABLE orders ADD COLUMN remake_reason TEXT;
ALTER TABLE orders ADD COLUMN created_by TEXT;
UPDATE orders SET remake_reason = (
    SELECT note FROM order_events e WHERE e.order_id = orders.id AND e.action = 'create_remake'
) WHERE remake_of IS NOT NULL;
