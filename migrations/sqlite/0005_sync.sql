-- Schema 5: sync with ILS Central (docs/sync-protocol.md).
--
-- * sync_versions: the version of each record this device holds (operation, stamp, change), so
--   that a change made here names the version it was made from (its base) and a change pulled
--   from ILS Central is merged by ils_core::change::merge. Filled from the outbox for the
--   records written before.
-- * sync_conflicts: versions that lost to a concurrent one, here, for a person to review; and
--   patients of this device whose customer number a patient from ILS Central took (they keep a
--   provisional number, "C-7.dup-1a2b3c", until a person gives them another).
-- * outbox rows refused by ILS Central keep the code and message, for a person to see; they
--   are never sent again unchanged and never dropped.
-- * orders.local_number: the number this device gave an order ("L000001") once ILS Central
--   has given it the practice's own.
-- * users.password_verifier: an Argon2id hash of the password of a user who signed in against
--   ILS Central on this device, so that they can sign in offline; never the password.

CREATE TABLE sync_versions (
    entity    TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    operation TEXT NOT NULL CHECK (operation IN ('upsert', 'delete', 'erase')),
    hlc       TEXT NOT NULL,
    change_id TEXT NOT NULL,
    -- The version as it travelled (for the conflict log when it loses).
    change    TEXT NOT NULL,
    PRIMARY KEY (entity, entity_id)
) STRICT;

INSERT INTO sync_versions (entity, entity_id, operation, hlc, change_id, change)
    SELECT entity, entity_id, operation, max(hlc), change_id, change
    FROM outbox GROUP BY entity, entity_id;

CREATE TABLE sync_conflicts (
    id             TEXT PRIMARY KEY,
    entity         TEXT NOT NULL,
    entity_id      TEXT NOT NULL,
    lost_change_id TEXT NOT NULL,
    lost           TEXT NOT NULL,
    won_change_id  TEXT NOT NULL,
    -- 'concurrent_edit' or 'customer_number_taken'.
    reason         TEXT NOT NULL DEFAULT 'concurrent_edit',
    recorded_at    TEXT NOT NULL,
    resolved_at    TEXT
) STRICT;
CREATE INDEX sync_conflicts_open ON sync_conflicts (recorded_at) WHERE resolved_at IS NULL;

ALTER TABLE outbox ADD COLUMN rejected_code TEXT;
ALTER TABLE outbox ADD COLUMN rejected_message TEXT;
ALTER TABLE outbox ADD COLUMN rejected_at TEXT;
DROP INDEX outbox_unpushed;
CREATE INDEX outbox_unpushed ON outbox (seq) WHERE pushed_at IS NULL AND rejected_at IS NULL;

ALTER TABLE orders ADD COLUMN local_number TEXT;
CREATE INDEX orders_local_number ON orders (local_number) WHERE local_number IS NOT NULL;

ALTER TABLE users ADD COLUMN password_verifier TEXT;

-- The audit log stays append-only, with one exception: an erasure (GDPR) redacts the ids of
-- the erased patient's records ("erased:<subject>") in the rows that name them; nothing else
-- of a row may change, and no row may go.
DROP TRIGGER audit_log_append_only_update;
CREATE TRIGGER audit_log_append_only_update BEFORE UPDATE ON audit_log
WHEN NOT (
    new.id = old.id AND new.at = old.at AND new.actor = old.actor AND new.action = old.action
    AND new.entity = old.entity
    AND (new.entity_id IS old.entity_id OR new.entity_id LIKE 'erased:%')
    AND (new.detail IS old.detail OR new.detail LIKE '%erased:%')
)
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only (only an erasure redacts it)');
END;

-- Searches and lists use the name keys (schema 3); the older index on the names themselves
-- only cost every write.
DROP INDEX IF EXISTS patients_name;
