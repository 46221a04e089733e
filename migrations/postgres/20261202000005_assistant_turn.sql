-- What a turn of the assistant reads before it calls a model, in one call: the practice's AI
-- configuration and its version, its ready fine-tuned chat models, the owner of the
-- conversation the question continues, that conversation's last messages (oldest first), and
-- the practice's patients the question or the history may name (for the redaction).
-- PL/pgSQL keeps its queries' plans for the session, so the service's one-round-trip read
-- (BEGIN; SET LOCAL …; SELECT …; COMMIT as one simple query) does not plan them anew each
-- time. SECURITY INVOKER: row-level security applies inside as outside, and every query also
-- names the tenant.
-- The words each message may name a patient by (ils_llm::redact::lookup_keys, computed by the
-- service when it records the message), so that a later turn finds whom its history names by
-- the same rule as its question, without splitting the history's text here.
ALTER TABLE ai_messages
    ADD COLUMN lookup_names   text[] NOT NULL DEFAULT '{}',
    ADD COLUMN lookup_numbers text[] NOT NULL DEFAULT '{}';

CREATE FUNCTION ils_assistant_turn(
    p_company uuid, p_conversation uuid, p_history integer, p_names text[], p_numbers text[])
RETURNS TABLE (
    turn_config         jsonb,
    turn_config_version integer,
    turn_fine_tuned     jsonb,
    turn_owner          uuid,
    turn_history        jsonb,
    turn_patients       jsonb
)
LANGUAGE plpgsql STABLE SECURITY INVOKER SET search_path = public, pg_temp AS $$
DECLARE
    config  jsonb;
    version integer;
    history jsonb;
    names   text[];
    numbers text[];
BEGIN
    SELECT c.ai_config, c.ai_config_version INTO config, version
      FROM companies c WHERE c.id = p_company;
    SELECT jsonb_agg(jsonb_build_array(h.role, h.content) ORDER BY h.created_at, h.id)
      INTO history
      FROM (SELECT m.role, m.content, m.created_at, m.id FROM ai_messages m
             WHERE m.company_id = p_company AND m.conversation_id = p_conversation
             ORDER BY m.created_at DESC, m.id DESC
             LIMIT p_history) h;
    -- Whom the prompt may name, for the redaction of patient data (unless the practice turned
    -- it off): the words of the question (given) and those recorded with the history.
    IF coalesce((config ->> 'redact_patient_data')::boolean, true) THEN
        SELECT coalesce(array_agg(DISTINCT n) FILTER (WHERE n IS NOT NULL), '{}'),
               coalesce(array_agg(DISTINCT u) FILTER (WHERE u IS NOT NULL), '{}')
          INTO names, numbers
          FROM (SELECT m.lookup_names, m.lookup_numbers FROM ai_messages m
                 WHERE m.company_id = p_company AND m.conversation_id = p_conversation
                 ORDER BY m.created_at DESC, m.id DESC
                 LIMIT p_history) h
          LEFT JOIN LATERAL unnest(h.lookup_names) AS n ON true
          LEFT JOIN LATERAL unnest(h.lookup_numbers) AS u ON true;
        names := names || coalesce(p_names, '{}');
        numbers := numbers || coalesce(p_numbers, '{}');
    END IF;
    RETURN QUERY
    SELECT config,
           version,
           (SELECT jsonb_agg(to_jsonb(f) - 'company_id')
              FROM fine_tuned_models f
             WHERE f.company_id = p_company AND f.purpose = 'chat' AND f.status = 'ready'),
           (SELECT a.user_id FROM ai_conversations a
             WHERE a.company_id = p_company AND a.id = p_conversation),
           history,
           (SELECT jsonb_agg(jsonb_build_object(
                       'first_name', p.first_name, 'last_name', p.last_name,
                       'customer_number', p.customer_number, 'phone', p.phone,
                       'email', p.email, 'address', p.address))
              FROM (SELECT * FROM patients p
                     WHERE p.company_id = p_company
                       AND (p.last_name_key = ANY(names) OR p.first_name_key = ANY(names)
                            OR p.customer_number = ANY(numbers))
                     LIMIT 500) p);
END
$$;
REVOKE ALL ON FUNCTION ils_assistant_turn(uuid, uuid, integer, text[], text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ils_assistant_turn(uuid, uuid, integer, text[], text[]) TO ils_app;
