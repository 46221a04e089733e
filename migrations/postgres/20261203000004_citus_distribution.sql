
-- Distributes the schema over Citus when, and only when, the citus extension is installed in
-- this database (a Citus coordinator with its workers added); on plain PostgreSQL it does
-- nothing. See docs/citus.md.
--
-- - companies: a reference table (a copy on every node): its unique domain and its single
--   platform row have no tenant column, sign-in looks it up by domain, and every tenant table
--   refers to it.
-- - every tenant table: hash-distributed on company_id, all colocated with users, so that a
--   tenant's rows of every table live on one node and each tenant request is single-shard.
-- - signing_keys and tenant_erasures: platform records, kept on the coordinator only.
--
-- A table added by a later migration must be distributed by that migration (when citus is
-- installed), with create_distributed_table(..., 'company_id', colocate_with => 'users').
DO $$
DECLARE
    fk         record;
    fk_sql     text[] := '{}';
    stmt       text;
    t          text;
    tenant_tables text[];
BEGIN
    IF NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus') THEN
        RAISE NOTICE 'citus is not installed: the schema stays on this node';
        RETURN;
    END IF;
    IF EXISTS (SELECT FROM pg_dist_partition WHERE logicalrelid = 'public.users'::regclass) THEN
        RETURN;  -- already distributed
    END IF;
    IF NOT EXISTS (SELECT FROM pg_dist_node WHERE groupid = 0) THEN
        RAISE EXCEPTION 'run citus_set_coordinator_host() first (reference tables need a coordinator placement)';
    END IF;
    IF NOT EXISTS (SELECT FROM pg_dist_node
                    WHERE groupid <> 0 AND isactive AND noderole = 'primary' AND shouldhaveshards) THEN
        RAISE EXCEPTION 'citus is installed but has no worker: run citus_add_node() first';
    END IF;

    -- Coordinator-side settings only (set_config is deliberately not propagated).
    PERFORM set_config('citus.multi_shard_modify_mode', 'sequential', true); -- FKs to a reference table
    PERFORM set_config('citus.enable_unsafe_triggers', 'on', true);          -- companies_guard

    -- Called by every policy and by the guard trigger: must exist on every node.
    PERFORM create_distributed_function('public.ils_current_company()');
    PERFORM create_distributed_function('public.ils_platform_scope()');

    -- Foreign keys: remember, drop, and re-add once every table is a Citus table.
    FOR fk IN
        SELECT c.conrelid::regclass AS tbl, c.conname, pg_get_constraintdef(c.oid) AS def
          FROM pg_constraint c
          JOIN pg_namespace n ON n.oid = c.connamespace
         WHERE c.contype = 'f' AND n.nspname = 'public'
         ORDER BY c.conrelid::regclass::text, c.conname
    LOOP
        fk_sql := fk_sql || format('ALTER TABLE %s ADD CONSTRAINT %I %s', fk.tbl, fk.conname, fk.def);
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fk.tbl, fk.conname);
    END LOOP;

    -- Every other table of this schema with a company_id column is a tenant's.
    SELECT array_agg(c.relname::text ORDER BY c.relname) INTO tenant_tables
      FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'company_id' AND NOT a.attisdropped
     WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname <> 'users';

    -- 1. Reference tables.
    PERFORM create_reference_table('public.companies');

    -- 2. Distributed tables: users opens the colocation group, the rest join it.
    PERFORM create_distributed_table('public.users', 'company_id', colocate_with => 'none');
    FOREACH t IN ARRAY tenant_tables LOOP
        PERFORM create_distributed_table(format('public.%I', t)::regclass, 'company_id',
                                         colocate_with => 'users');
    END LOOP;

    -- 3. Foreign keys back (each includes company_id or points at companies).
    FOREACH stmt IN ARRAY fk_sql LOOP
        EXECUTE stmt;
    END LOOP;
END
$$;
