//! Reads in one round trip (`Db::read_tenant_rows`): on plain PostgreSQL a read runs as
//! `EXECUTE` of a statement each connection prepares on its first such read, so that it is not
//! planned again for every request. A connection that lost the statement prepares it again; the
//! tenant wall holds under the prepared statement as under any other.

use ils_core::SubscriptionTier;
use reqwest::StatusCode;

use crate::common::TestApp;

/// The prepared reads a connection of the service holds.
async fn prepared_reads(app: &TestApp) -> Vec<String> {
    let mut conn = app.state.db.pool().acquire().await.expect("connection");
    sqlx::query_scalar(
        "SELECT name FROM pg_prepared_statements WHERE name LIKE 'ils\\_read\\_%' ORDER BY name",
    )
    .fetch_all(&mut *conn)
    .await
    .expect("prepared statements")
}

#[tokio::test]
async fn a_read_is_prepared_once_per_connection_and_again_when_the_connection_lost_it() {
    // One connection: every request below is served by it, and the test can look into it.
    let app = TestApp::spawn_with(|s| s.database.max_connections = 1).await;
    let tenant = app.create_tenant("reads", SubscriptionTier::Pro).await;
    let other = app
        .create_tenant("reads-other", SubscriptionTier::Pro)
        .await;
    let path = format!("/api/users/{}", tenant.admin_id);

    for _ in 0..3 {
        let reply = app.get(&path, &tenant.admin_token).await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        assert_eq!(reply.body["id"], tenant.admin_id.as_str());
        assert_eq!(reply.body["first_name"], "Ada");
    }
    let me = app.get("/api/me", &tenant.admin_token).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["id"], tenant.admin_id.as_str());

    let prepared = prepared_reads(&app).await;
    if ils_testkit::on_citus() {
        // On Citus the read travels with its values written in (docs/citus.md).
        assert!(prepared.is_empty(), "{prepared:?}");
    } else {
        // `/api/users/{id}` and `/api/me` are the same read: prepared once.
        assert_eq!(prepared.len(), 1, "{prepared:?}");
        // The connection loses it, as after a pooler's reset.
        let mut conn = app.state.db.pool().acquire().await.expect("connection");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DEALLOCATE {}", prepared[0])))
            .execute(&mut *conn)
            .await
            .expect("deallocate");
        drop(conn);
        assert!(prepared_reads(&app).await.is_empty());
    }

    let reply = app.get(&path, &tenant.admin_token).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body["id"], tenant.admin_id.as_str());
    if !ils_testkit::on_citus() {
        assert_eq!(prepared_reads(&app).await.len(), 1, "prepared again");
    }

    // The same prepared read, asked for another practice's user: row-level security and the
    // query's own tenant filter see nothing, as for any read.
    let foreign = app
        .get(
            &format!("/api/users/{}", other.admin_id),
            &tenant.admin_token,
        )
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND, "{:?}", foreign.body);
    let own = app.get("/api/me", &other.admin_token).await;
    assert_eq!(own.status, StatusCode::OK);
    assert_eq!(own.body["id"], other.admin_id.as_str());
}
