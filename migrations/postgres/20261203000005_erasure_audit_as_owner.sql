-- Erasure on a distributed PostgreSQL (Citus; docs/citus.md, blockers D and H), and the same
-- on one node.
--
-- D. Citus refuses a transaction in which two roles write one shard of a table. An erasure
--    changes the audit log as the owner (the definer functions: the service may only append
--    to it) and then wrote its own audit row as the service: the patient's erasure in the
--    tenant's shard, the tenant's erasure in the platform's (which can be the erased tenant's).
--    The erasure's own audit row is now written by ils_audit_erasure, as the owner too.
-- H. The redaction filtered on ils_current_company() itself, which Citus cannot use to pick a
--    shard: it now reads the tenant into a variable first, so its statements reach one shard.

CREATE OR REPLACE FUNCTION ils_redact_audit_subjects(p_ids text[], p_replacement text) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
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
        SELECT company_id, id FROM audit_log
         WHERE company_id = v_company
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
         WHERE a.company_id = v_company AND a.company_id = hits.company_id AND a.id = hits.id
        RETURNING 1)
    SELECT count(*) INTO n FROM redacted;
    RETURN n;
END
$$;

CREATE FUNCTION ils_audit_erasure(p_id uuid, p_actor_user uuid, p_actor_company uuid,
                                  p_actor_role text, p_action text, p_resource_type text,
                                  p_resource_id text, p_request_id text, p_device text,
                                  p_details jsonb) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = public, pg_temp
AS $$
DECLARE
    v_company uuid := ils_current_company();
BEGIN
    IF v_company IS NULL OR p_action NOT IN ('gdpr.erase_patient', 'platform.company.erase') THEN
        RAISE EXCEPTION 'only an erasure in a tenant transaction is audited here'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO audit_log (company_id, id, actor_user_id, actor_company_id, actor_role, action,
                           resource_type, resource_id, outcome, request_id, device, details)
    VALUES (v_company, p_id, p_actor_user, p_actor_company, p_actor_role, p_action,
            p_resource_type, p_resource_id, 'success', p_request_id, p_device, p_details);
END
$$;
REVOKE ALL ON FUNCTION ils_audit_erasure(uuid, uuid, uuid, text, text, text, text, text, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ils_audit_erasure(uuid, uuid, uuid, text, text, text, text, text, text, jsonb) TO ils_app;
