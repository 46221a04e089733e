-- Sync between the desktops and ILS Central (docs/sync-protocol.md).
--
-- * devices: a practice's registered installations, approved by a company administrator or
--   with a one-time registration code (device_codes keeps only the code's SHA-256), revocable.
-- * sync_feed: every change of the practice's records, whoever made it (a device's push or the
--   API), in one total order per tenant (seq). Positions are handed out under the tenant's
--   sync_heads row, taken last in the writing transaction and held to its commit, so a reader
--   never sees position n+1 before n is committed. The head also keeps the tenant's clock: the
--   newest stamp ILS Central has made or accepted for the practice, so its own stamps order
--   after everything it has seen.
-- * sync_versions: the version of each record that won (operation, stamp, change), against
--   which a pushed change is merged (ils_core::change::merge).
-- * sync_received: every change id accepted once (applied or superseded), so a change pushed
--   again is answered "duplicate" and applied once.
-- * sync_conflicts: each version that lost to a concurrent one, for a person to review and
--   restore.
-- * orders.local_number: the number a device gave an order it created offline; ILS Central
--   gives the order the practice's own number and keeps the device's findable.

CREATE TABLE devices (
    company_id    uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    id            text NOT NULL CHECK (id ~ '^[0-9a-f]{16}$'),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    status        text NOT NULL CHECK (status IN ('pending', 'approved', 'revoked')),
    registered_by uuid NOT NULL,
    approved_by   uuid,
    created_at    timestamptz NOT NULL DEFAULT now(),
    approved_at   timestamptz,
    revoked_at    timestamptz,
    last_seen_at  timestamptz,
    PRIMARY KEY (company_id, id)
);

CREATE TABLE device_codes (
    company_id  uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    code_sha256 bytea NOT NULL,
    created_by  uuid NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    used_by     text,
    PRIMARY KEY (company_id, code_sha256)
);

CREATE TABLE sync_heads (
    company_id uuid PRIMARY KEY REFERENCES companies (id) ON DELETE CASCADE,
    seq        bigint NOT NULL DEFAULT 0,
    hlc        text NOT NULL
);

CREATE TABLE sync_feed (
    company_id uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    seq        bigint NOT NULL,
    change_id  uuid NOT NULL,
    device     text NOT NULL,
    entity     text NOT NULL,
    entity_id  uuid NOT NULL,
    operation  text NOT NULL CHECK (operation IN ('upsert', 'delete', 'erase')),
    hlc        text NOT NULL,
    -- The change as it travels (ils_core::change::Change::encode).
    change     text NOT NULL,
    PRIMARY KEY (company_id, seq)
);
CREATE UNIQUE INDEX sync_feed_change ON sync_feed (company_id, change_id);
CREATE INDEX sync_feed_record ON sync_feed (company_id, entity, entity_id);

CREATE TABLE sync_versions (
    company_id uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    entity     text NOT NULL,
    entity_id  uuid NOT NULL,
    operation  text NOT NULL CHECK (operation IN ('upsert', 'delete', 'erase')),
    hlc        text NOT NULL,
    change_id  uuid NOT NULL,
    PRIMARY KEY (company_id, entity, entity_id)
);

CREATE TABLE sync_received (
    company_id  uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    change_id   uuid NOT NULL,
    entity      text NOT NULL,
    entity_id   uuid NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (company_id, change_id)
);
CREATE INDEX sync_received_record ON sync_received (company_id, entity, entity_id);

CREATE TABLE sync_conflicts (
    company_id     uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    id             uuid NOT NULL,
    entity         text NOT NULL,
    entity_id      uuid NOT NULL,
    -- The version that lost, as it travelled, and the one that won.
    lost_change_id uuid NOT NULL,
    lost           text NOT NULL,
    won_change_id  uuid NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    resolved_at    timestamptz,
    resolved_by    uuid,
    resolution     text CHECK (resolution IN ('kept', 'restored')),
    PRIMARY KEY (company_id, id)
);
CREATE INDEX sync_conflicts_record ON sync_conflicts (company_id, entity, entity_id);
CREATE INDEX sync_conflicts_open ON sync_conflicts (company_id, recorded_at) WHERE resolved_at IS NULL;

ALTER TABLE orders ADD COLUMN local_number text;
CREATE INDEX orders_local_number ON orders (company_id, local_number) WHERE local_number IS NOT NULL;

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['devices', 'device_codes', 'sync_heads', 'sync_feed', 'sync_versions',
                             'sync_received', 'sync_conflicts'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON %I USING (company_id = ils_current_company()) WITH CHECK (company_id = ils_current_company())', t || '_tenant', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO ils_app', t);
    END LOOP;
END
$$;
