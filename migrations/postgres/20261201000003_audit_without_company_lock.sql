-- Audit inserts no longer lock the tenant's companies row.
--
-- The foreign key from audit_log to companies made every audit insert take a KEY SHARE lock on
-- its tenant's companies row. Under load, with several requests of one tenant in flight, each
-- such lock creates a new MultiXact and rewrites the row's lock word: an audit insert cost 85 µs
-- under the clinic load, 43 µs without the key. Row-level security already confines every
-- insert to the transaction's own tenant, which exists (the service sets it from a verified
-- credential), so the key guarded nothing the policy does not.
--
-- What the key's ON DELETE CASCADE did, removing an erased tenant's audit log with it, is done
-- by ils_erase_tenant_audit, which the tenant erasure calls after deleting the company. The
-- service still cannot delete audit rows of a live tenant: the function refuses while the
-- company exists. The tenant is set with SET LOCAL, as everywhere, so a distributed
-- PostgreSQL passes it on to the workers that hold the rows.
ALTER TABLE audit_log DROP CONSTRAINT audit_log_company_id_fkey;

CREATE FUNCTION ils_erase_tenant_audit(company uuid) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public
AS $$
DECLARE
    deleted  bigint;
    previous text := coalesce(current_setting('ils.company_id', true), '');
BEGIN
    IF EXISTS (SELECT 1 FROM companies WHERE id = company) THEN
        RAISE EXCEPTION 'company % still exists: its audit log is erased with it, not before', company;
    END IF;
    EXECUTE format('SET LOCAL ils.company_id = %L', company::text);
    DELETE FROM audit_log WHERE company_id = company;
    GET DIAGNOSTICS deleted = ROW_COUNT;
    EXECUTE format('SET LOCAL ils.company_id = %L', previous);
    RETURN deleted;
END
$$;
REVOKE ALL ON FUNCTION ils_erase_tenant_audit(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ils_erase_tenant_audit(uuid) TO ils_app;
