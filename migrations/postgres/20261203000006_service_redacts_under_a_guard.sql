-- A patient's erasure on a distributed PostgreSQL (Citus; docs/citus.md, blocker D), and the
-- same on one node.
--
-- On Citus one role may write a tenant's shards within a transaction ("cannot perform query on
-- placements that were modified in this transaction by a different user"), and a patient's
-- erasure must both delete the patient's rows (as the service) and redact the audit log (which
-- the service could not change: only the owner, through ils_redact_audit_subjects). So the
-- service now redacts the audit log itself, under a guard that lets an audit row change in one
-- way only, by anyone: its resource becomes an erasure reference (`erased:<uuid>`), its details
-- lose some of their patient and order ids or become `{}`. The service may change those two
-- columns and nothing else, never delete a row, and only in its tenant (the policy); history
-- cannot be rewritten, only forgotten.
--
-- The redaction also computes its new values in the SELECT that finds the rows: Citus refuses
-- an UPDATE whose new values are CASE expressions calling functions that are not IMMUTABLE
-- (jsonb_build_object and jsonb_agg are STABLE). Same rows, same values as before.

CREATE FUNCTION ils_guard_audit_change() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = public, pg_temp
AS $$
BEGIN
    -- Every column but these two stays as it was (a column added later included).
    IF (to_jsonb(NEW) - 'resource_id' - 'details') IS DISTINCT FROM (to_jsonb(OLD) - 'resource_id' - 'details')
       OR (NEW.resource_id IS DISTINCT FROM OLD.resource_id
           AND NEW.resource_id !~ '^erased:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')
       OR (NEW.details IS DISTINCT FROM OLD.details AND NEW.details <> '{}'::jsonb
           AND NOT ((NEW.details - 'patient_ids' - 'order_ids') = (OLD.details - 'patient_ids' - 'order_ids')
                    AND jsonb_typeof(coalesce(NEW.details -> 'patient_ids', '[]')) = 'array'
                    AND jsonb_typeof(coalesce(NEW.details -> 'order_ids', '[]')) = 'array'
                    AND coalesce(OLD.details -> 'patient_ids', '[]') @> coalesce(NEW.details -> 'patient_ids', '[]')
                    AND coalesce(OLD.details -> 'order_ids', '[]') @> coalesce(NEW.details -> 'order_ids', '[]'))) THEN
        RAISE EXCEPTION 'an audit row can only be redacted, never rewritten'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;

-- Each statement on its own in EXECUTE: Citus sends a distributed table's DDL to the workers
-- as the query string that carried it, which must then hold that statement alone.
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_extension WHERE extname = 'citus') THEN
        -- A row trigger that reads only its own row: safe on every shard.
        PERFORM set_config('citus.enable_unsafe_triggers', 'on', true);
        PERFORM create_distributed_function('public.ils_guard_audit_change()');
    END IF;
    EXECUTE 'CREATE TRIGGER audit_log_guard BEFORE UPDATE ON audit_log
                 FOR EACH ROW EXECUTE FUNCTION ils_guard_audit_change()';
    EXECUTE 'GRANT UPDATE (resource_id, details) ON audit_log TO ils_app';
END
$$;

CREATE OR REPLACE FUNCTION ils_redact_audit_subjects(p_ids text[], p_replacement text) RETURNS bigint
    LANGUAGE plpgsql SECURITY INVOKER
    SET search_path = public, pg_temp
AS $$
DECLARE
    n bigint;
    v_company uuid := ils_current_company();
BEGIN
    IF p_ids IS NULL OR cardinality(p_ids) = 0
       OR EXISTS (SELECT 1 FROM unnest(p_ids) AS i WHERE i !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')
       OR p_replacement !~ '^erased:[0-9a-f-]{36}$' THEN
        RAISE EXCEPTION 'redaction needs record ids and a tombstone reference' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    WITH hits AS (
        SELECT a.company_id, a.id,
               CASE
                   WHEN a.resource_id = ANY (p_ids) THEN p_replacement
                   WHEN EXISTS (SELECT 1 FROM unnest(p_ids) AS i WHERE a.resource_id LIKE '%' || i || '%') THEN p_replacement
                   ELSE a.resource_id END AS resource_id,
               CASE
                   WHEN a.details ? 'patient_ids' OR a.details ? 'order_ids' THEN
                       a.details
                       || jsonb_build_object('patient_ids', coalesce((SELECT jsonb_agg(x) FROM jsonb_array_elements(a.details -> 'patient_ids') AS x WHERE NOT (x #>> '{}') = ANY (p_ids)), '[]'::jsonb))
                       || jsonb_build_object('order_ids', coalesce((SELECT jsonb_agg(x) FROM jsonb_array_elements(a.details -> 'order_ids') AS x WHERE NOT (x #>> '{}') = ANY (p_ids)), '[]'::jsonb))
                   ELSE '{}'::jsonb END AS details
          FROM audit_log a
         WHERE a.company_id = v_company
           AND (EXISTS (SELECT 1 FROM unnest(p_ids) AS i WHERE a.resource_id LIKE '%' || i || '%')
                OR a.details::text LIKE ANY (SELECT '%' || i || '%' FROM unnest(p_ids) AS i))
    ), redacted AS (
        UPDATE audit_log a
           SET resource_id = hits.resource_id, details = hits.details
          FROM hits
         WHERE a.company_id = v_company AND a.company_id = hits.company_id AND a.id = hits.id
        RETURNING 1)
    SELECT count(*) INTO n FROM redacted;
    RETURN n;
END
$$;
