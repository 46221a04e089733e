-- Clinical records: patients, prescriptions, lens orders and their timeline, erasure
-- tombstones. Same walls as the core: company_id leads every key, RLS enabled and forced.

CREATE TABLE patients (
    company_id      uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    id              uuid NOT NULL,
    customer_number text NOT NULL CHECK (length(customer_number) BETWEEN 1 AND 32),
    first_name      text NOT NULL,
    last_name       text NOT NULL,
    date_of_birth   date NOT NULL CHECK (date_of_birth >= DATE '1900-01-01'),
    email           text,
    phone           text,
    address         text,
    notes           text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz,
    -- Sort and search keys: the names lower-cased by the service (Unicode-aware, whatever the
    -- database's locale) in byte order. Plain columns rather than expressions, because under
    -- row-level security a condition that calls a function that is not leakproof (lower() is
    -- not) cannot use an index.
    last_name_key   text COLLATE "C" NOT NULL,
    first_name_key  text COLLATE "C" NOT NULL,
    PRIMARY KEY (company_id, id)
);
-- Customer numbers stay reserved after a soft delete, so a number always means one person.
CREATE UNIQUE INDEX patients_customer_number_key ON patients (company_id, customer_number);
-- Name search is a prefix range on a name key, which a b-tree serves whatever the database's
-- locale; the sort order (last name, first name, id) is the first index's order.
CREATE INDEX patients_last_name ON patients (company_id, last_name_key, first_name_key, id);
CREATE INDEX patients_first_name ON patients (company_id, first_name_key, id);
CREATE INDEX patients_birth ON patients (company_id, date_of_birth, id);

CREATE TABLE prescriptions (
    company_id  uuid NOT NULL,
    id          uuid NOT NULL,
    patient_id  uuid NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('spectacle', 'contact_lens')),
    status      text NOT NULL CHECK (status IN ('draft', 'active', 'cancelled', 'entered_in_error')),
    issue_date  date NOT NULL,
    expiry_date date CHECK (expiry_date IS NULL OR expiry_date > issue_date),
    -- The whole prescription as ils-core's RxData (validated before it is written).
    data        jsonb NOT NULL,
    created_by  uuid,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (company_id, id),
    FOREIGN KEY (company_id, patient_id) REFERENCES patients (company_id, id) ON DELETE CASCADE
);
CREATE INDEX prescriptions_patient ON prescriptions (company_id, patient_id, issue_date DESC);

CREATE TABLE order_counters (
    company_id  uuid PRIMARY KEY REFERENCES companies (id) ON DELETE CASCADE,
    last_number bigint NOT NULL
);

CREATE TABLE orders (
    company_id      uuid NOT NULL,
    id              uuid NOT NULL,
    order_number    text NOT NULL,
    patient_id      uuid NOT NULL,
    prescription_id uuid NOT NULL,
    status          text NOT NULL CHECK (status IN ('draft', 'submitted', 'in_production', 'quality_check',
                                                    'shipped', 'delivered', 'cancelled', 'remade')),
    lens_type       text NOT NULL,
    promised_date   date,
    -- The whole order as ils-core's OrderData.
    data            jsonb NOT NULL,
    remake_of       uuid,
    remake_reason   text,
    created_by      uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (company_id, id),
    FOREIGN KEY (company_id, patient_id) REFERENCES patients (company_id, id) ON DELETE CASCADE,
    FOREIGN KEY (company_id, prescription_id) REFERENCES prescriptions (company_id, id) ON DELETE CASCADE,
    FOREIGN KEY (company_id, remake_of) REFERENCES orders (company_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX orders_number_key ON orders (company_id, order_number);
CREATE INDEX orders_status ON orders (company_id, status, id);
CREATE INDEX orders_patient ON orders (company_id, patient_id, id);
CREATE INDEX orders_promised ON orders (company_id, promised_date, id)
    WHERE status IN ('draft', 'submitted', 'in_production', 'quality_check', 'shipped');

CREATE TABLE order_events (
    company_id    uuid NOT NULL,
    id            uuid NOT NULL,
    order_id      uuid NOT NULL,
    action        text NOT NULL,
    from_status   text,
    to_status     text NOT NULL,
    note          text,
    actor_user_id uuid,
    occurred_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (company_id, id),
    FOREIGN KEY (company_id, order_id) REFERENCES orders (company_id, id) ON DELETE CASCADE
);
CREATE INDEX order_events_order ON order_events (company_id, order_id, id);

-- What sync will carry to the desktops so an erased patient is erased there too and never
-- comes back from an offline outbox. It names the subject only by a SHA-256 of its id, so not
-- even the id of the erased patient remains.
CREATE TABLE tombstones (
    company_id   uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    id           uuid NOT NULL,
    entity       text NOT NULL CHECK (entity IN ('patient')),
    subject_hash bytea NOT NULL,
    erased_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (company_id, id)
);

-- A platform-level record that a whole tenant was erased (it must outlive the tenant, so it
-- is not tenant data and carries no foreign key).
CREATE TABLE tenant_erasures (
    id                uuid PRIMARY KEY,
    erased_company_id uuid NOT NULL,
    erased_at         timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT, INSERT ON tenant_erasures TO ils_app;

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['patients', 'prescriptions', 'order_counters', 'orders', 'order_events', 'tombstones'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON %I USING (company_id = ils_current_company()) WITH CHECK (company_id = ils_current_company())', t || '_tenant', t);
    END LOOP;
END
$$;
GRANT SELECT, INSERT, UPDATE, DELETE ON patients, prescriptions, orders TO ils_app;
GRANT SELECT, INSERT, UPDATE ON order_counters TO ils_app;
GRANT SELECT, INSERT ON order_events, tombstones TO ils_app;

-- Tenant erasure deletes the company row; only the platform scope may, and tenants still cannot
-- insert companies. The single FOR ALL policy of the core migration becomes one per command.
DROP POLICY companies_tenant ON companies;
CREATE POLICY companies_select ON companies FOR SELECT
    USING (id = ils_current_company() OR ils_platform_scope());
CREATE POLICY companies_insert ON companies FOR INSERT
    WITH CHECK (ils_platform_scope());
CREATE POLICY companies_update ON companies FOR UPDATE
    USING (id = ils_current_company() OR ils_platform_scope())
    WITH CHECK (id = ils_current_company() OR ils_platform_scope());
CREATE POLICY companies_delete ON companies FOR DELETE
    USING (ils_platform_scope());
GRANT DELETE ON companies TO ils_app;

-- A tenant's erasure deletes its company row; its audit log goes with it, and an audit row that
-- a request still running tries to add afterwards fails instead of outliving the tenant.
ALTER TABLE audit_log ADD FOREIGN KEY (company_id) REFERENCES companies (id) ON DELETE CASCADE;

-- GDPR erasure must not leave the erased subject's ids in the audit log, which the service can
-- otherwise never change. This narrow definer function works inside the current tenant only:
-- rows about the given records get their resource id replaced, ids are removed from the id
-- lists of list and search rows (which keep the other patients' entries), and any other row
-- whose details mention them loses its details.
CREATE FUNCTION ils_redact_audit_subjects(p_ids text[], p_replacement text) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = public, pg_temp
AS $$
DECLARE n bigint;
BEGIN
    IF p_ids IS NULL OR cardinality(p_ids) = 0
       OR EXISTS (SELECT 1 FROM unnest(p_ids) AS i WHERE i !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')
       OR p_replacement !~ '^erased:[0-9a-f-]{36}$' THEN
        RAISE EXCEPTION 'redaction needs record ids and a tombstone reference' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    WITH hits AS (
        SELECT company_id, id FROM audit_log
         WHERE company_id = ils_current_company()
           AND (EXISTS (SELECT 1 FROM unnest(p_ids) AS i WHERE resource_id LIKE '%' || i || '%')
                OR details::text LIKE ANY (SELECT '%' || i || '%' FROM unnest(p_ids) AS i))
    ), redacted AS (
        UPDATE audit_log a
           SET resource_id = CASE
                   WHEN a.resource_id = ANY (p_ids) THEN p_replacement
                   WHEN EXISTS (SELECT 1 FROM unnest(p_ids) AS i WHERE a.resource_id LIKE '%' || i || '%') THEN p_replacement
                   ELSE a.resource_id END,
               details = CASE
                   WHEN a.details ? 'patient_ids' OR a.details ? 'order_ids' THEN
                       a.details
                       || jsonb_build_object('patient_ids', coalesce((SELECT jsonb_agg(x) FROM jsonb_array_elements(a.details -> 'patient_ids') AS x WHERE NOT (x #>> '{}') = ANY (p_ids)), '[]'::jsonb))
                       || jsonb_build_object('order_ids', coalesce((SELECT jsonb_agg(x) FROM jsonb_array_elements(a.details -> 'order_ids') AS x WHERE NOT (x #>> '{}') = ANY (p_ids)), '[]'::jsonb))
                   ELSE '{}'::jsonb END
          FROM hits
         WHERE a.company_id = hits.company_id AND a.id = hits.id
        RETURNING 1)
    SELECT count(*) INTO n FROM redacted;
    RETURN n;
END
$$;
REVOKE ALL ON FUNCTION ils_redact_audit_subjects(text[], text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ils_redact_audit_subjects(text[], text) TO ils_app;
