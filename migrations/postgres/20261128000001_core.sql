-- ILS Central core schema: tenants, users, refresh tokens, audit log, signing keys.
--
-- Tenancy walls (see ARCHITECTURE.md):
--  * every tenant table carries company_id, in its primary key and in every foreign key;
--  * row-level security is enabled AND forced on every tenant table;
--  * the service connects as a login role that is a member of ils_app, owns nothing and has no
--    BYPASSRLS; the tenant is set per transaction with set_config('ils.company_id', ..., true).
-- Migrations run as the owner role (a superuser or a role with BYPASSRLS).

CREATE EXTENSION IF NOT EXISTS vector;

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ils_app') THEN
        CREATE ROLE ils_app NOLOGIN NOBYPASSRLS;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO ils_app;

-- The tenant of the current transaction, or NULL when none is set (then RLS shows nothing).
CREATE FUNCTION ils_current_company() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT nullif(current_setting('ils.company_id', true), '')::uuid $$;

-- True inside a platform-administration transaction (only the tenants table honours it).
CREATE FUNCTION ils_platform_scope() RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT coalesce(current_setting('ils.platform', true), '') = 'on' $$;

CREATE TABLE companies (
    id          uuid PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    domain      text NOT NULL CHECK (domain = lower(domain) AND length(domain) BETWEEN 3 AND 253),
    ai_config   jsonb NOT NULL DEFAULT '{}'::jsonb,
    tier        text NOT NULL CHECK (tier IN ('free', 'pro', 'premium', 'enterprise')),
    status      text NOT NULL CHECK (status IN ('active', 'trial', 'suspended')),
    is_platform boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX companies_domain_key ON companies (domain);
-- At most one platform (operator) company.
CREATE UNIQUE INDEX companies_one_platform ON companies (is_platform) WHERE is_platform;

ALTER TABLE companies ENABLE ROW LEVEL SECURITY;
ALTER TABLE companies FORCE ROW LEVEL SECURITY;
CREATE POLICY companies_tenant ON companies
    USING (id = ils_current_company() OR ils_platform_scope())
    WITH CHECK (id = ils_current_company() OR ils_platform_scope());
GRANT SELECT, INSERT, UPDATE ON companies TO ils_app;

CREATE TABLE users (
    company_id          uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    id                  uuid NOT NULL,
    email               text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    password_hash       text NOT NULL,
    first_name          text NOT NULL,
    last_name           text NOT NULL,
    role                text NOT NULL CHECK (role IN ('platform_admin', 'company_admin', 'ecp', 'lab_tech', 'engineer')),
    status              text NOT NULL CHECK (status IN ('active', 'disabled')),
    failed_logins       integer NOT NULL DEFAULT 0,
    locked_until        timestamptz,
    password_changed_at timestamptz NOT NULL DEFAULT now(),
    -- Access tokens carry the version they were issued under; raising it (password change or
    -- reset) makes every earlier token stale at once.
    token_version       integer NOT NULL DEFAULT 0,
    last_login_at       timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (company_id, id)
);
CREATE UNIQUE INDEX users_email_key ON users (company_id, lower(email));

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY users_tenant ON users
    USING (company_id = ils_current_company())
    WITH CHECK (company_id = ils_current_company());
GRANT SELECT, INSERT, UPDATE, DELETE ON users TO ils_app;

CREATE TABLE refresh_tokens (
    company_id     uuid NOT NULL,
    id             uuid NOT NULL,
    user_id        uuid NOT NULL,
    family_id      uuid NOT NULL,
    token_hash     bytea NOT NULL,
    device         text,
    issued_at      timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    rotated_at     timestamptz,
    revoked_at     timestamptz,
    revoked_reason text,
    PRIMARY KEY (company_id, id),
    FOREIGN KEY (company_id, user_id) REFERENCES users (company_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX refresh_tokens_hash_key ON refresh_tokens (company_id, token_hash);
CREATE INDEX refresh_tokens_family ON refresh_tokens (company_id, family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (company_id, user_id);

ALTER TABLE refresh_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE refresh_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY refresh_tokens_tenant ON refresh_tokens
    USING (company_id = ils_current_company())
    WITH CHECK (company_id = ils_current_company());
GRANT SELECT, INSERT, UPDATE, DELETE ON refresh_tokens TO ils_app;

-- Append-only for the service. (The clinical migration adds the foreign key to companies, so a
-- tenant's erasure takes its audit log with it; the platform's own log keeps the record of it.)
CREATE TABLE audit_log (
    company_id       uuid NOT NULL,
    id               uuid NOT NULL,
    occurred_at      timestamptz NOT NULL DEFAULT now(),
    actor_user_id    uuid,
    actor_company_id uuid,
    actor_role       text,
    action           text NOT NULL,
    resource_type    text NOT NULL,
    resource_id      text,
    outcome          text NOT NULL CHECK (outcome IN ('success', 'denied', 'failure')),
    request_id       text,
    device           text,
    details          jsonb NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (company_id, id)
);
CREATE INDEX audit_log_resource ON audit_log (company_id, resource_type, resource_id);

ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_log_tenant ON audit_log
    USING (company_id = ils_current_company())
    WITH CHECK (company_id = ils_current_company());
-- Insert and read only: the service can never rewrite history.
GRANT SELECT, INSERT ON audit_log TO ils_app;

-- Platform-wide (not tenant data): the keys that sign access tokens. Several may be published at
-- once so that tokens signed before a rotation still verify until they expire.
CREATE TABLE signing_keys (
    kid             text PRIMARY KEY,
    algorithm       text NOT NULL CHECK (algorithm = 'EdDSA'),
    private_key_der bytea NOT NULL,
    public_key      bytea NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    retired_at      timestamptz,
    publish_until   timestamptz
);
-- Exactly one key signs at a time.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys ((true)) WHERE retired_at IS NULL;
GRANT SELECT, INSERT, UPDATE ON signing_keys TO ils_app;

-- Sign-in needs the tenant before any tenant is set: this narrow definer function answers just
-- that, and nothing else crosses the wall.
CREATE FUNCTION ils_company_for_login(p_domain text)
    RETURNS TABLE (id uuid, status text, tier text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = public, pg_temp
AS $$ SELECT c.id, c.status, c.tier FROM companies c WHERE c.domain = lower(p_domain) $$;
REVOKE ALL ON FUNCTION ils_company_for_login(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ils_company_for_login(text) TO ils_app;
