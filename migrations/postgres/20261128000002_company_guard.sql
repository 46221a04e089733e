-- The second wall for the tenants table: inside a tenant's own transaction, row-level security
-- lets a company see and update its own row. Only its name and AI configuration are the
-- tenant's to change; tier, status, domain and the platform flag belong to the platform
-- operator. This trigger refuses anything else outside the platform scope, whatever the
-- application does.
CREATE FUNCTION ils_guard_company_update() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    IF NOT ils_platform_scope() AND (
           NEW.id IS DISTINCT FROM OLD.id
        OR NEW.tier IS DISTINCT FROM OLD.tier
        OR NEW.status IS DISTINCT FROM OLD.status
        OR NEW.domain IS DISTINCT FROM OLD.domain
        OR NEW.is_platform IS DISTINCT FROM OLD.is_platform
        OR NEW.created_at IS DISTINCT FROM OLD.created_at) THEN
        RAISE EXCEPTION 'only the platform operator can change a company''s tier, status, domain or platform flag'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER companies_guard
    BEFORE UPDATE ON companies
    FOR EACH ROW EXECUTE FUNCTION ils_guard_company_update();
