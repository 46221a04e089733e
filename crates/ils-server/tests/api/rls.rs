//! The second wall: PostgreSQL row-level security, checked directly as the service's role.

use ils_core::{Role, SubscriptionTier};
use sqlx::{Connection, Row};

use crate::common::TestApp;

/// Tables that are not tenant data, each with the reason.
const NOT_TENANT_TABLES: &[&str] = &[
    "_sqlx_migrations", // migration bookkeeping
    "signing_keys",     // platform token-signing keys
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
                sqlx::query("SELECT set_config('ils.company_id', $1, true)")
                    .bind(&tenant)
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
