-- What a turn of the assistant reads before it calls a model, in one call: the practice's AI
-- configuration and its version, its ready fine-tuned chat models, the owner of the
-- conversation the question continues, and that conversation's last messages (oldest first).
-- PL/pgSQL keeps its queries' plans for the session, so the service's one-round-trip read
-- (BEGIN; SET LOCAL …; SELECT …; COMMIT as one simple query) does not plan them anew each
-- time. SECURITY INVOKER: row-level security applies inside as outside, and every query also
-- names the tenant.
CREATE FUNCTION ils_assistant_turn(p_company uuid, p_conversation uuid, p_history integer)
RETURNS TABLE (
    turn_config         jsonb,
    turn_config_version integer,
    turn_fine_tuned     jsonb,
    turn_owner          uuid,
    turn_history        jsonb
)
LANGUAGE plpgsql STABLE SECURITY INVOKER SET search_path = public, pg_temp AS $$
BEGIN
    RETURN QUERY
    SELECT c.ai_config,
           c.ai_config_version,
           (SELECT jsonb_agg(to_jsonb(f) - 'company_id')
              FROM fine_tuned_models f
             WHERE f.company_id = p_company AND f.purpose = 'chat' AND f.status = 'ready'),
           (SELECT a.user_id FROM ai_conversations a
             WHERE a.company_id = p_company AND a.id = p_conversation),
           (SELECT jsonb_agg(jsonb_build_array(h.role, h.content) ORDER BY h.created_at, h.id)
              FROM (SELECT m.role, m.content, m.created_at, m.id FROM ai_messages m
                     WHERE m.company_id = p_company AND m.conversation_id = p_conversation
                     ORDER BY m.created_at DESC, m.id DESC
                     LIMIT p_history) h)
      FROM companies c
     WHERE c.id = p_company;
END
$$;
REVOKE ALL ON FUNCTION ils_assistant_turn(uuid, uuid, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ils_assistant_turn(uuid, uuid, integer) TO ils_app;
