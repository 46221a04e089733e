-- Keyword search of a practice's knowledge base, run with the owner's rights.
--
-- Under row-level security a condition whose operator is not leakproof may not run before the
-- policy, and full-text matching (tsvector @@ tsquery) is not leakproof: the service's keyword
-- search could not use the full-text index and tested every passage of the practice one by
-- one (60 ms at 10,000 passages). This function runs as the owner, so it uses the index, and
-- keeps the tenant wall itself: it refuses unless the company it is given is the
-- transaction's tenant (ils.company_id, set by the service from the verified token), and reads
-- that company's rows only.
--
-- Ranking: a word found in more than p_common of the practice's passages is common; it counts
-- in the rank (ts_rank over all the words) but does not choose which passages are ranked: the
-- passages holding any of the rarer words are (at most p_max_ranked), or, when every word is
-- common, those holding all of them.
CREATE FUNCTION ils_kb_keyword_search(
    p_company uuid, p_words text[], p_limit integer, p_common integer, p_max_ranked integer)
RETURNS TABLE (chunk_id uuid, rank real)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    rare    text[];
    present bigint;
    wanted  tsquery;
    chosen  tsquery;
BEGIN
    IF p_company IS NULL OR p_company IS DISTINCT FROM ils_current_company() THEN
        RAISE EXCEPTION 'ils_kb_keyword_search: % is not this transaction''s tenant', p_company
            USING ERRCODE = '42501';
    END IF;
    IF coalesce(array_length(p_words, 1), 0) = 0 THEN
        RETURN;
    END IF;
    SELECT array_agg(counted.w) FILTER (WHERE counted.n BETWEEN 1 AND p_common),
           count(*) FILTER (WHERE counted.n > 0)
      INTO rare, present
      FROM (SELECT u.w,
                   (SELECT count(*) FROM (
                        SELECT 1 FROM kb_chunks c
                         WHERE c.company_id = p_company
                           AND c.tsv @@ to_tsquery('simple', quote_literal(u.w))
                         LIMIT p_common + 1) found) AS n
              FROM unnest(p_words) AS u(w)) counted;
    IF present = 0 THEN
        RETURN;
    END IF;
    wanted := to_tsquery('simple', array_to_string(
        ARRAY(SELECT quote_literal(u.w) FROM unnest(p_words) AS u(w)), ' | '));
    IF rare IS NULL THEN
        chosen := to_tsquery('simple', array_to_string(
            ARRAY(SELECT quote_literal(u.w) FROM unnest(p_words) AS u(w)), ' & '));
    ELSE
        chosen := to_tsquery('simple', array_to_string(
            ARRAY(SELECT quote_literal(u.w) FROM unnest(rare) AS u(w)), ' | '));
    END IF;
    RETURN QUERY
    SELECT c.id, ts_rank(c.tsv, wanted)
      FROM (SELECT k.id, k.tsv FROM kb_chunks k
             WHERE k.company_id = p_company AND k.tsv @@ chosen
             LIMIT p_max_ranked) c
     ORDER BY 2 DESC, 1
     LIMIT p_limit;
END
$$;
REVOKE ALL ON FUNCTION ils_kb_keyword_search(uuid, text[], integer, integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ils_kb_keyword_search(uuid, text[], integer, integer, integer) TO ils_app;
