-- Schema 2: the rest of a practice's local data. Prescriptions, orders and their timeline, the
-- knowledge base (documents, chunks, full-text index, quantised vectors), conversations with
-- the assistant, the local audit log and settings.
--
-- Domain values (a prescription, an order) are validated by ils-core before they are written
-- and stored whole as JSON; the columns beside the JSON are what lists, filters and foreign
-- keys need. sqlite-vec must be registered before this runs (Store::open does it).

CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;

CREATE INDEX patients_name ON patients (last_name COLLATE NOCASE, first_name COLLATE NOCASE);

CREATE TABLE prescriptions (
    id          TEXT PRIMARY KEY,
    patient_id  TEXT NOT NULL REFERENCES patients (id),
    kind        TEXT NOT NULL CHECK (kind IN ('spectacle', 'contact_lens')),
    status      TEXT NOT NULL CHECK (status IN ('draft', 'active', 'cancelled', 'entered_in_error')),
    issue_date  TEXT NOT NULL,
    data        TEXT NOT NULL CHECK (json_valid(data)),
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
) STRICT;
CREATE INDEX prescriptions_patient ON prescriptions (patient_id, issue_date DESC);

-- Numbers given on this device ("L" for local); the central service gives its own at sync.
CREATE TABLE order_counter (
    only_row INTEGER PRIMARY KEY CHECK (only_row = 1),
    next     INTEGER NOT NULL
) STRICT;
INSERT INTO order_counter (only_row, next) VALUES (1, 1);

CREATE TABLE orders (
    id              TEXT PRIMARY KEY,
    order_number    TEXT NOT NULL UNIQUE,
    patient_id      TEXT NOT NULL REFERENCES patients (id),
    prescription_id TEXT NOT NULL REFERENCES prescriptions (id),
    status          TEXT NOT NULL CHECK (status IN ('draft', 'submitted', 'in_production',
                        'quality_check', 'shipped', 'delivered', 'cancelled', 'remade')),
    remake_of       TEXT REFERENCES orders (id),
    promised_date   TEXT,
    data            TEXT NOT NULL CHECK (json_valid(data)),
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
) STRICT;
CREATE INDEX orders_status ON orders (status, created_at);
CREATE INDEX orders_patient ON orders (patient_id, created_at);

-- The timeline: one row per status change, the first with from_status NULL.
CREATE TABLE order_events (
    id          INTEGER PRIMARY KEY,
    order_id    TEXT NOT NULL REFERENCES orders (id),
    action      TEXT,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    note        TEXT,
    actor       TEXT NOT NULL,
    at          TEXT NOT NULL
) STRICT;
CREATE INDEX order_events_order ON order_events (order_id, id);

-- Every read of a patient's record and every mutation, with the signed-in user. Append-only.
CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    entity    TEXT NOT NULL,
    entity_id TEXT,
    detail    TEXT CHECK (detail IS NULL OR json_valid(detail))
) STRICT;
CREATE INDEX audit_log_entity ON audit_log (entity, entity_id, id);
CREATE TRIGGER audit_log_append_only_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_log_append_only_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

-- Knowledge base. A document's extracted text is kept whole: chunk byte ranges point into it.
CREATE TABLE documents (
    id          TEXT PRIMARY KEY,
    source      TEXT NOT NULL UNIQUE,
    title       TEXT NOT NULL,
    format      TEXT NOT NULL CHECK (format IN ('text', 'markdown', 'pdf')),
    sha256      TEXT NOT NULL,
    byte_size   INTEGER NOT NULL,
    text        TEXT NOT NULL,
    model       TEXT NOT NULL,
    ingested_by TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
) STRICT;

-- The full-precision vector (384 little-endian f32) is kept for rescoring; chunk_vectors holds
-- its 1-bit quantisation for a fast first pass.
CREATE TABLE chunks (
    id          INTEGER PRIMARY KEY,
    document_id TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    ordinal     INTEGER NOT NULL,
    heading     TEXT NOT NULL,
    text        TEXT NOT NULL,
    byte_start  INTEGER NOT NULL,
    byte_end    INTEGER NOT NULL CHECK (byte_end > byte_start),
    embedding   BLOB NOT NULL CHECK (length(embedding) = 1536),
    UNIQUE (document_id, ordinal)
) STRICT;

CREATE VIRTUAL TABLE chunks_fts USING fts5 (
    heading, text,
    content = 'chunks', content_rowid = 'id',
    tokenize = 'porter unicode61 remove_diacritics 2'
);

CREATE VIRTUAL TABLE chunk_vectors USING vec0 (
    chunk_id  INTEGER PRIMARY KEY,
    embedding bit[384]
);

CREATE TRIGGER chunks_after_insert AFTER INSERT ON chunks
BEGIN
    INSERT INTO chunks_fts (rowid, heading, text) VALUES (new.id, new.heading, new.text);
END;
CREATE TRIGGER chunks_after_delete AFTER DELETE ON chunks
BEGIN
    INSERT INTO chunks_fts (chunks_fts, rowid, heading, text)
        VALUES ('delete', old.id, old.heading, old.text);
    DELETE FROM chunk_vectors WHERE chunk_id = old.id;
END;

-- Conversations with the assistant (the assistant itself is a later piece of work).
CREATE TABLE conversations (
    id         TEXT PRIMARY KEY,
    title      TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE messages (
    id              TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    role            TEXT NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
    content         TEXT NOT NULL,
    citations       TEXT CHECK (citations IS NULL OR json_valid(citations)),
    -- For assistant messages: which model answered, its token counts and how long it took.
    model           TEXT,
    prompt_tokens   INTEGER,
    output_tokens   INTEGER,
    latency_ms      INTEGER,
    created_at      TEXT NOT NULL
) STRICT;
CREATE INDEX messages_conversation ON messages (conversation_id, created_at);
