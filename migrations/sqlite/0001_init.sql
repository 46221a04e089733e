-- ILS Desktop: one database file per installation, holding exactly one tenant's data.
-- Applied in order at open; PRAGMA user_version records the schema version.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE patients (
    id              TEXT PRIMARY KEY,
    customer_number TEXT NOT NULL UNIQUE,
    first_name      TEXT NOT NULL,
    last_name       TEXT NOT NULL,
    date_of_birth   TEXT NOT NULL,
    email           TEXT,
    phone           TEXT,
    address         TEXT,
    notes           TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    deleted_at      TEXT
) STRICT;

-- Every change sync must carry, written in the same transaction as the change itself.
CREATE TABLE outbox (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    change_id   TEXT NOT NULL UNIQUE,
    entity      TEXT NOT NULL,
    entity_id   TEXT NOT NULL,
    operation   TEXT NOT NULL CHECK (operation IN ('upsert', 'delete')),
    row_json    TEXT NOT NULL,
    hlc         TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    pushed_at   TEXT
) STRICT;
CREATE INDEX outbox_unpushed ON outbox (seq) WHERE pushed_at IS NULL;
