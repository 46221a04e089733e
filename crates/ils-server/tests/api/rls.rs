//! The second wall: PostgreSQL row-level security, checked directly as the service's role.

use ils_core::{Role, SubscriptionTier};
use sqlx::{Connection, Row};

use crate::common::TestApp;

/// Tables that are not tenant data, each with the reason.
const NOT_TENANT_TABLES: &[&str] = &[
    "_sqlx_migrations", // migration bookkeeping
    "signing_keys",     // platform token-signing keys
    "tenant_erasures",  // the platform's record that a tenant was erased; outlives the tenant
];

#[tokio::test]
async fn every_tenant_table_has_rls_enabled_and_forced() {
    let app = TestApp::spawn().await;
    let owner = app.owner_pool().await;
    let rows = sqlx::query(
        "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
                EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'company_id' AND NOT a.attisdropped) AS has_company
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY c.relname",
    )
    .fetch_all(&owner)
    .await
    .expect("catalog");
    assert!(rows.len() >= 5, "the schema has its tables");
    for row in rows {
        let name: String = row.get(0);
        if NOT_TENANT_TABLES.contains(&name.as_str()) {
            continue;
        }
        let (enabled, forced, has_company): (bool, bool, bool) =
            (row.get(1), row.get(2), row.get(3));
        assert!(
            enabled && forced,
            "{name}: RLS enabled={enabled} forced={forced}"
        );
        assert!(
            has_company || name == "companies",
            "{name}: tenant tables carry company_id"
        );
    }

    // Every tenant table's policies compare with the transaction's tenant, for reads and writes.
    let policies: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT tablename::text, qual, with_check FROM pg_policies WHERE schemaname = 'public'",
    )
    .fetch_all(&owner)
    .await
    .expect("policies");
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')",
    )
    .fetch_all(&owner)
    .await
    .expect("tables");
    for (table,) in tables {
        if NOT_TENANT_TABLES.contains(&table.as_str()) {
            continue;
        }
        let mine: Vec<_> = policies.iter().filter(|(t, _, _)| *t == table).collect();
        assert!(!mine.is_empty(), "{table}: no policy");
        // Every condition of every policy is about the tenant (or, on the tenants table
        // itself, the platform scope); a policy that lets anything else through fails here.
        for (_, qual, check) in &mine {
            for (what, expr) in [("USING", qual), ("WITH CHECK", check)] {
                let Some(expr) = expr.as_deref() else {
                    continue;
                };
                let scoped = expr.contains("ils_current_company()")
                    || (table == "companies" && expr.contains("ils_platform_scope()"));
                assert!(
                    scoped,
                    "{table}: {what} ({expr}) does not compare with the tenant"
                );
            }
        }
        assert!(
            mine.iter().any(|(_, qual, _)| qual
                .as_deref()
                .is_some_and(|q| q.contains("ils_current_company()"))),
            "{table}: no policy limits reads to the tenant"
        );
    }

    // The service role owns nothing and cannot bypass RLS.
    let role: (bool, bool, i64) = sqlx::query_as(
        "SELECT r.rolsuper, r.rolbypassrls,
                (SELECT count(*) FROM pg_class c WHERE c.relowner = r.oid)
         FROM pg_roles r WHERE r.rolname = 'ils_service'",
    )
    .fetch_one(&owner)
    .await
    .expect("role");
    assert_eq!(
        role,
        (false, false, 0),
        "ils_service: (superuser, bypassrls, owned relations)"
    );
}

#[tokio::test]
async fn without_a_tenant_nothing_is_visible_and_foreign_writes_fail() {
    let app = TestApp::spawn().await;
    let a = app.create_tenant("alpha", SubscriptionTier::Pro).await;
    let b = app.create_tenant("beta", SubscriptionTier::Pro).await;
    app.add_user(&a, Role::Ecp).await;

    let service = app.service_pool(1).await;
    for table in ["users", "refresh_tokens", "audit_log", "companies"] {
        let (count,): (i64,) =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                .fetch_one(&service)
                .await
                .expect("count");
        assert_eq!(count, 0, "{table}: nothing is visible without a tenant");
    }

    let mut conn = service.acquire().await.expect("conn");
    let mut tx = conn.begin().await.expect("tx");
    sqlx::query("SELECT set_config('ils.company_id', $1, true)")
        .bind(&a.id)
        .execute(&mut *tx)
        .await
        .expect("set tenant");
    let (visible,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM users WHERE company_id = $1::uuid")
            .bind(&b.id)
            .fetch_one(&mut *tx)
            .await
            .expect("count");
    assert_eq!(
        visible, 0,
        "tenant A cannot see B's users even when asking for them"
    );
    let insert = sqlx::query(
        "INSERT INTO users (company_id, id, email, password_hash, first_name, last_name, role, status)
         VALUES ($1::uuid, gen_random_uuid(), 'x@y.example', 'h', 'X', 'Y', 'ecp', 'active')",
    )
    .bind(&b.id)
    .execute(&mut *tx)
    .await;
    let error = insert.expect_err("writing a B row inside A's transaction must fail");
    assert!(error.to_string().contains("row-level security"), "{error}");
    tx.rollback().await.ok();

    let mut tx = conn.begin().await.expect("tx");
    sqlx::query("SELECT set_config('ils.company_id', $1, true)")
        .bind(&a.id)
        .execute(&mut *tx)
        .await
        .expect("set tenant");
    let updated =
        sqlx::query("UPDATE users SET first_name = 'Hijacked' WHERE company_id = $1::uuid")
            .bind(&b.id)
            .execute(&mut *tx)
            .await
            .expect("update runs");
    assert_eq!(updated.rows_affected(), 0, "A cannot update B's rows");
    let upgrade = sqlx::query(
        "UPDATE companies SET tier = 'enterprise', status = 'active' WHERE id = $1::uuid",
    )
    .bind(&a.id)
    .execute(&mut *tx)
    .await;
    let error = upgrade.expect_err("a tenant cannot change its own tier or status");
    assert!(error.to_string().contains("platform operator"), "{error}");
    tx.rollback().await.ok();

    let mut tx = conn.begin().await.expect("tx");
    let audit_update = sqlx::query("UPDATE audit_log SET action = 'rewritten'")
        .execute(&mut *tx)
        .await;
    assert!(
        audit_update.is_err(),
        "the service can never rewrite the audit log"
    );
    tx.rollback().await.ok();
    let mut tx = conn.begin().await.expect("tx");
    let audit_delete = sqlx::query("DELETE FROM audit_log").execute(&mut *tx).await;
    assert!(
        audit_delete.is_err(),
        "the service can never delete audit rows"
    );
    tx.rollback().await.ok();
}

/// The service redacts the audit log when a patient is erased (docs/citus.md: one role writes a
/// tenant's shards in a transaction), so it may update two columns of it, and the guard lets
/// an audit row change in one way only: forgotten, never rewritten.
#[tokio::test]
async fn the_service_may_redact_its_tenants_audit_rows_but_never_rewrite_them() {
    let app = TestApp::spawn().await;
    let a = app.create_tenant("alpha", SubscriptionTier::Pro).await;
    let b = app.create_tenant("beta", SubscriptionTier::Pro).await;
    app.add_user(&a, Role::Ecp).await;
    app.add_user(&b, Role::Ecp).await;
    let service = app.service_pool(1).await;
    let mut conn = service.acquire().await.expect("conn");

    let attempts: [(&str, Option<&str>); 6] = [
        (
            "UPDATE audit_log SET details = '{\"forged\": true}'",
            Some("never rewritten"),
        ),
        (
            "UPDATE audit_log SET resource_id = 'someone-else'",
            Some("never rewritten"),
        ),
        (
            "UPDATE audit_log SET details = details || '{\"patient_ids\": [\"00000000-0000-0000-0000-000000000001\"]}'",
            Some("never rewritten"),
        ),
        (
            "UPDATE audit_log SET action = 'rewritten'",
            Some("permission denied"),
        ),
        ("DELETE FROM audit_log", Some("permission denied")),
        (
            "UPDATE audit_log SET resource_id = 'erased:0193a000-0000-7000-8000-000000000000', details = '{}'",
            None,
        ),
    ];
    for (sql, refused) in attempts {
        let mut tx = conn.begin().await.expect("tx");
        // As the service sets it (on Citus the workers see a SET LOCAL, not a set_config).
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SET LOCAL ils.company_id = '{}'",
            a.id
        )))
        .execute(&mut *tx)
        .await
        .expect("set tenant");
        // Scoped as the service scopes every statement: on Citus, to the tenant's shard.
        let sql = format!("{sql} WHERE company_id = '{}'", a.id);
        let sql = sql.as_str();
        let outcome = sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut *tx)
            .await;
        match refused {
            Some(why) => {
                let error = outcome.expect_err(sql);
                assert!(error.to_string().contains(why), "{sql}: {error}");
            }
            None => {
                let redacted = outcome.expect(sql).rows_affected();
                assert!(
                    redacted > 0,
                    "a redaction of A's rows is allowed: {redacted}"
                );
                let (others,): (i64,) =
                    sqlx::query_as("SELECT count(*) FROM audit_log WHERE company_id = $1::uuid")
                        .bind(&b.id)
                        .fetch_one(&mut *tx)
                        .await
                        .expect("count");
                assert_eq!(others, 0, "B's rows are out of reach");
            }
        }
        tx.rollback().await.ok();
    }
    let owner = app.owner_pool().await;
    let (untouched,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM audit_log WHERE company_id = $1::uuid AND resource_id LIKE 'erased:%'",
    )
    .bind(&b.id)
    .fetch_one(&owner)
    .await
    .expect("count");
    assert_eq!(untouched, 0, "nothing of B's was redacted");
}

#[tokio::test]
async fn alternating_tenants_on_a_small_pool_never_bleed() {
    let app = TestApp::spawn().await;
    let a = app.create_tenant("alpha", SubscriptionTier::Pro).await;
    let b = app.create_tenant("beta", SubscriptionTier::Pro).await;
    app.add_user(&a, Role::Ecp).await;
    app.add_user(&b, Role::Ecp).await;

    for pool_size in [1, 2] {
        let service = app.service_pool(pool_size).await;
        let mut tasks = Vec::new();
        for i in 0..200 {
            let service = service.clone();
            let tenant = if i % 2 == 0 {
                a.id.clone()
            } else {
                b.id.clone()
            };
            tasks.push(tokio::spawn(async move {
                let mut tx = service.begin().await.expect("tx");
                // As the service sets it (what a Citus coordinator passes on to its workers).
                let id = uuid::Uuid::parse_str(&tenant).expect("uuid");
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "SET LOCAL ils.company_id = '{}'",
                    id.hyphenated()
                )))
                .execute(&mut *tx)
                .await
                .expect("set");
                let seen: Vec<(uuid::Uuid,)> = sqlx::query_as("SELECT company_id FROM users")
                    .fetch_all(&mut *tx)
                    .await
                    .expect("select");
                tx.commit().await.expect("commit");
                // Outside any transaction, on whatever connection comes next, nothing shows.
                let (after,): (i64,) = sqlx::query_as("SELECT count(*) FROM users")
                    .fetch_one(&service)
                    .await
                    .expect("count");
                (tenant, seen, after)
            }));
        }
        for task in tasks {
            let (tenant, seen, after) = task.await.expect("task");
            assert_eq!(seen.len(), 2, "each tenant has two users");
            assert!(
                seen.iter().all(|(c,)| c.to_string() == tenant),
                "rows of another tenant leaked"
            );
            assert_eq!(
                after, 0,
                "the tenant setting must not outlive its transaction"
            );
        }
    }
}

#[tokio::test]
async fn the_services_own_transactions_leave_nothing_on_a_pooled_connection() {
    // One connection serves every request, tenant and platform alike.
    let app = TestApp::spawn_with(|s| s.database.max_connections = 1).await;
    let a = app.create_tenant("alpha", SubscriptionTier::Pro).await;
    let b = app.create_tenant("beta", SubscriptionTier::Pro).await;
    for round in 0..20 {
        let (token, expected) = if round % 2 == 0 {
            (&a.admin_token, &a.id)
        } else {
            (&b.admin_token, &b.id)
        };
        let users = app.get("/api/users", token).await;
        assert!(
            users.body["items"]
                .as_array()
                .expect("items")
                .iter()
                .all(|u| u["company_id"] == expected.as_str())
        );
        let companies = app
            .get("/api/platform/companies?limit=200", &app.platform_token)
            .await;
        assert_eq!(companies.status, reqwest::StatusCode::OK);
    }
    let mut conn = app
        .state
        .db
        .pool()
        .acquire()
        .await
        .expect("the service's one connection");
    let (company, platform): (String, String) = sqlx::query_as(
        "SELECT coalesce(current_setting('ils.company_id', true), ''), coalesce(current_setting('ils.platform', true), '')",
    )
    .fetch_one(&mut *conn)
    .await
    .expect("settings");
    assert_eq!(company, "", "the tenant did not outlive its transaction");
    assert!(
        platform.is_empty() || platform == "off",
        "the platform scope did not outlive its transaction: {platform}"
    );
    let (visible,): (i64,) = sqlx::query_as("SELECT count(*) FROM companies")
        .fetch_one(&mut *conn)
        .await
        .expect("count");
    assert_eq!(visible, 0);
}

/// The audit log is append-only for the service: the one way to delete audit rows removes an
/// erased tenant's log, and refuses while the tenant exists, from any scope.
#[tokio::test]
async fn a_live_tenants_audit_log_cannot_be_erased() {
    let app = TestApp::spawn().await;
    let a = app.create_tenant("kept", SubscriptionTier::Pro).await;
    let service = app.service_pool(1).await;
    let count = || async {
        let owner = app.owner_pool().await;
        let (n,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM audit_log WHERE company_id = $1::uuid")
                .bind(&a.id)
                .fetch_one(&owner)
                .await
                .expect("count");
        n
    };
    let before = count().await;
    assert!(before > 0, "the tenant's creation and sign-in are audited");
    for scope in [
        "SET LOCAL ils.platform = 'on'",
        "SET LOCAL ils.platform = 'off'",
    ] {
        let mut tx = service.begin().await.expect("tx");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "{scope}; SET LOCAL ils.company_id = '{}'",
            a.id
        )))
        .execute(&mut *tx)
        .await
        .expect("scope");
        let refused = sqlx::query("SELECT ils_erase_tenant_audit($1::uuid)")
            .bind(&a.id)
            .execute(&mut *tx)
            .await
            .expect_err("a live tenant's audit log stays");
        assert!(refused.to_string().contains("still exists"), "{refused}");
    }
    let mut tx = service.begin().await.expect("tx");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "SET LOCAL ils.company_id = '{}'",
        a.id
    )))
    .execute(&mut *tx)
    .await
    .expect("scope");
    let deleted = sqlx::query("DELETE FROM audit_log WHERE company_id = $1::uuid")
        .bind(&a.id)
        .execute(&mut *tx)
        .await;
    assert!(deleted.is_err(), "the service has no DELETE on audit_log");
    drop(tx);
    assert_eq!(count().await, before);
}

/// On plain PostgreSQL the Citus migration leaves the schema as it is; on a Citus cluster
/// (`make test-citus`) it makes `companies` a reference table and every other table holding
/// `company_id` a table distributed by it, all in one colocation group, with row-level security
/// enabled and forced on every shard, and a tenant's query reaches one shard.
#[tokio::test]
async fn on_citus_every_tenant_table_is_distributed_by_company_with_its_walls_on_every_shard() {
    let app = TestApp::spawn().await;
    let owner = app.owner_pool().await;
    let (citus,): (bool,) =
        sqlx::query_as("SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus')")
            .fetch_one(&owner)
            .await
            .expect("extensions");
    assert_eq!(citus, ils_testkit::on_citus());
    if !citus {
        return;
    }
    let tenant_tables: Vec<(String,)> = sqlx::query_as(
        "SELECT c.relname::text FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
           JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'company_id' AND NOT a.attisdropped
          WHERE c.relkind = 'r' ORDER BY 1",
    )
    .fetch_all(&owner)
    .await
    .expect("tables");
    assert!(tenant_tables.len() >= 20, "{tenant_tables:?}");
    let distributed: Vec<(String, String, i32)> = sqlx::query_as(
        "SELECT logicalrelid::regclass::text, partmethod::text, colocationid
           FROM pg_dist_partition ORDER BY 1",
    )
    .fetch_all(&owner)
    .await
    .expect("pg_dist_partition");
    let reference: Vec<&str> = distributed
        .iter()
        .filter(|(_, method, _)| method == "n")
        .map(|(t, _, _)| t.as_str())
        .collect();
    assert_eq!(reference, ["companies"]);
    let hashed: Vec<&(String, String, i32)> =
        distributed.iter().filter(|(_, m, _)| m == "h").collect();
    let names: Vec<&str> = hashed.iter().map(|(t, _, _)| t.as_str()).collect();
    let expected: Vec<&str> = tenant_tables.iter().map(|(t,)| t.as_str()).collect();
    assert_eq!(
        names, expected,
        "every tenant table, and only those, hashed"
    );
    assert!(
        hashed.iter().all(|(_, _, group)| *group == hashed[0].2),
        "one colocation group: {hashed:?}"
    );

    for (table,) in &tenant_tables {
        let walls: Vec<(String,)> = sqlx::query_as(
            "SELECT result FROM run_command_on_placements($1::regclass,
               $$SELECT relrowsecurity AND relforcerowsecurity
                        AND EXISTS (SELECT FROM pg_policy WHERE polrelid = '%1$s'::regclass)
                   FROM pg_class WHERE oid = '%1$s'::regclass$$)",
        )
        .bind(table)
        .fetch_all(&owner)
        .await
        .expect("placements");
        assert!(!walls.is_empty(), "{table} has shards");
        assert!(
            walls.iter().all(|(r,)| r == "t"),
            "{table}: row-level security forced with a policy on every shard: {walls:?}"
        );
    }

    let tenant = app.create_tenant("citus", SubscriptionTier::Pro).await;
    let plan: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "EXPLAIN SELECT * FROM patients WHERE company_id = '{}'",
        uuid::Uuid::parse_str(&tenant.id).expect("uuid")
    )))
    .fetch_all(&owner)
    .await
    .expect("explain");
    let plan = plan
        .into_iter()
        .map(|(l,)| l)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(plan.contains("Task Count: 1"), "one shard:\n{plan}");
}
