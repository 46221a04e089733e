-- Keyword search of a practice's knowledge base that stays fast as the practice's documents
-- grow.
--
-- 1. kb_terms: how many of a practice's passages hold each word (lexeme of the 'simple'
--    configuration), kept by triggers on kb_chunks in the same transaction as the passages
--    themselves, so it is exact whatever writes or deletes them (a document replaced or
--    deleted, a tenant erased). Concurrent writers of one practice lock its terms in term
--    order, so they wait for each other instead of deadlocking.
CREATE TABLE kb_terms (
    company_id uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    term       text NOT NULL,
    passages   integer NOT NULL CHECK (passages >= 0),
    PRIMARY KEY (company_id, term)
);
ALTER TABLE kb_terms ENABLE ROW LEVEL SECURITY;
ALTER TABLE kb_terms FORCE ROW LEVEL SECURITY;
CREATE POLICY kb_terms_tenant ON kb_terms
    USING (company_id = ils_current_company())
    WITH CHECK (company_id = ils_current_company());
GRANT SELECT, INSERT, UPDATE, DELETE ON kb_terms TO ils_app;

CREATE FUNCTION ils_kb_terms_inserted() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
    INSERT INTO kb_terms (company_id, term, passages)
    SELECT r.company_id, t.term, count(*)
      FROM new_rows r, unnest(tsvector_to_array(r.tsv)) AS t(term)
     GROUP BY r.company_id, t.term
     ORDER BY r.company_id, t.term
    ON CONFLICT (company_id, term) DO UPDATE SET passages = kb_terms.passages + excluded.passages;
    RETURN NULL;
END
$$;
CREATE FUNCTION ils_kb_terms_deleted() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
    UPDATE kb_terms k SET passages = greatest(k.passages - d.n, 0)
      FROM (SELECT r.company_id, t.term, count(*)::integer AS n
              FROM old_rows r, unnest(tsvector_to_array(r.tsv)) AS t(term)
             GROUP BY r.company_id, t.term
             ORDER BY r.company_id, t.term) d
     WHERE k.company_id = d.company_id AND k.term = d.term;
    RETURN NULL;
END
$$;
CREATE FUNCTION ils_kb_terms_updated() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
    UPDATE kb_terms k SET passages = greatest(k.passages - d.n, 0)
      FROM (SELECT r.company_id, t.term, count(*)::integer AS n
              FROM old_rows r, unnest(tsvector_to_array(r.tsv)) AS t(term)
             GROUP BY r.company_id, t.term
             ORDER BY r.company_id, t.term) d
     WHERE k.company_id = d.company_id AND k.term = d.term;
    INSERT INTO kb_terms (company_id, term, passages)
    SELECT r.company_id, t.term, count(*)
      FROM new_rows r, unnest(tsvector_to_array(r.tsv)) AS t(term)
     GROUP BY r.company_id, t.term
     ORDER BY r.company_id, t.term
    ON CONFLICT (company_id, term) DO UPDATE SET passages = kb_terms.passages + excluded.passages;
    RETURN NULL;
END
$$;
CREATE TRIGGER kb_chunks_terms_inserted AFTER INSERT ON kb_chunks
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ils_kb_terms_inserted();
CREATE TRIGGER kb_chunks_terms_deleted AFTER DELETE ON kb_chunks
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION ils_kb_terms_deleted();
CREATE TRIGGER kb_chunks_terms_updated AFTER UPDATE ON kb_chunks
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ils_kb_terms_updated();

-- The passages already there.
INSERT INTO kb_terms (company_id, term, passages)
SELECT c.company_id, t.term, count(*)
  FROM kb_chunks c, unnest(tsvector_to_array(c.tsv)) AS t(term)
 GROUP BY c.company_id, t.term;

-- 2. The search, run with the owner's rights. Under row-level security a condition whose
--    operator is not leakproof may not run before the policy, and full-text matching
--    (tsvector @@ tsquery) is not leakproof: the service's keyword search could not use the
--    full-text index and tested every passage of the practice one by one (60 ms at 10,000
--    passages). This function uses the index and keeps the tenant wall itself: it refuses
--    unless the company it is given is the transaction's tenant (ils.company_id, set by the
--    service from the verified token), and reads that company's rows only.
--
--    Ranking: a word held by more than p_common of the practice's passages (kb_terms) is
--    common; it counts in the rank (ts_rank over all the words) but does not choose which
--    passages are ranked: those holding any of the rarer words are (at most p_max_ranked), or,
--    when every word is common, those holding all of them.
CREATE FUNCTION ils_kb_keyword_search(
    p_company uuid, p_words text[], p_limit integer, p_common integer, p_max_ranked integer)
RETURNS TABLE (chunk_id uuid, rank real)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    lexemes text[];
    rare    text[];
    present bigint;
    wanted  tsquery;
    chosen  tsquery;
BEGIN
    IF p_company IS NULL OR p_company IS DISTINCT FROM ils_current_company() THEN
        RAISE EXCEPTION 'ils_kb_keyword_search: % is not this transaction''s tenant', p_company
            USING ERRCODE = '42501';
    END IF;
    -- The words as the passages' full-text vectors hold them.
    lexemes := tsvector_to_array(to_tsvector('simple', array_to_string(p_words, ' ')));
    IF coalesce(array_length(lexemes, 1), 0) = 0 THEN
        RETURN;
    END IF;
    SELECT array_agg(u.w) FILTER (WHERE t.passages BETWEEN 1 AND p_common),
           count(*) FILTER (WHERE t.passages > 0)
      INTO rare, present
      FROM unnest(lexemes) AS u(w)
      LEFT JOIN kb_terms t ON t.company_id = p_company AND t.term = u.w;
    IF present = 0 THEN
        RETURN;
    END IF;
    wanted := to_tsquery('simple', array_to_string(
        ARRAY(SELECT quote_literal(u.w) FROM unnest(lexemes) AS u(w)), ' | '));
    IF rare IS NULL THEN
        chosen := to_tsquery('simple', array_to_string(
            ARRAY(SELECT quote_literal(u.w) FROM unnest(lexemes) AS u(w)), ' & '));
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
