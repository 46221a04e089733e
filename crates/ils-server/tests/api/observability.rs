//! Health, metrics, request ids, the OpenAPI document and the audit trail of mutations.

use ils_core::{Role, SubscriptionTier};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::TestApp;
use crate::role_matrix::authenticated_routes;

#[tokio::test]
async fn health_reports_the_database() {
    let app = TestApp::spawn().await;
    let ok = app.send(Method::GET, "/api/health", None, None).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.body["database"], "ok");
    assert_eq!(ok.body["redis"], "off", "one replica, no shared Redis");

    // Take the database away from under the service: no new connection, every open one ended.
    // (Not `DROP DATABASE … WITH (FORCE)`: on Citus the maintenance daemon's session holds it.)
    let admin_url = app
        .db
        .owner_url
        .rsplit_once('/')
        .map(|(base, _)| format!("{base}/postgres"))
        .expect("url");
    let admin = sqlx::PgPool::connect(&admin_url).await.expect("admin");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE {} WITH ALLOW_CONNECTIONS false",
        app.db.name
    )))
    .execute(&admin)
    .await
    .expect("no new connections");
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(&app.db.name)
    .execute(&admin)
    .await
    .expect("open connections ended");
    let down = app.send(Method::GET, "/api/health", None, None).await;
    assert_eq!(
        down.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:?}",
        down.body
    );
    assert_eq!(down.code(), "health.database_unavailable");
    let api = app.get("/api/me", &app.platform_token).await;
    assert!(
        api.status == StatusCode::SERVICE_UNAVAILABLE || api.status == StatusCode::OK,
        "a cached principal may still answer, but never with a 500: {:?}",
        api
    );
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status() {
    let app = TestApp::spawn().await;
    app.get("/api/me", &app.platform_token).await;
    app.get("/api/me", "garbage").await;
    let reply = app.send(Method::GET, "/metrics", None, None).await;
    assert_eq!(reply.status, StatusCode::OK);
    let text = reply.body.as_str().expect("text");
    for needle in [
        "ils_http_requests_total{method=\"GET\",route=\"/api/me\",status=\"200\"}",
        "ils_http_requests_total{method=\"GET\",route=\"/api/me\",status=\"401\"}",
        "ils_http_request_duration_seconds_bucket{le=\"0.005\",method=\"GET\",route=\"/api/me\"}",
        "ils_auth_failures_total{reason=\"auth.invalid_token\"}",
    ] {
        assert!(text.contains(needle), "missing {needle} in:\n{text}");
    }
    assert!(
        !text.contains(&app.platform_token),
        "metrics never carry tokens"
    );
}

#[tokio::test]
async fn responses_carry_a_request_id_that_reaches_the_audit_row() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("trace", SubscriptionTier::Pro).await;
    let response = app
        .client
        .post(format!("{}/api/users", app.base))
        .bearer_auth(&tenant.admin_token)
        .header("x-request-id", "req-12345")
        .header("x-ils-device", "front-desk-1")
        .json(&json!({"email": "t@trace.example", "password": "a long enough passphrase", "first_name": "T", "last_name": "R", "role": "ecp"}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.headers()["x-request-id"], "req-12345");
    let created: serde_json::Value = response.json().await.expect("json");
    let audit = app
        .get(
            &format!(
                "/api/audit?resource_type=user&resource_id={}",
                created["id"].as_str().expect("id")
            ),
            &tenant.admin_token,
        )
        .await;
    let row = &audit.body["items"][0];
    assert_eq!(row["action"], "user.create");
    assert_eq!(row["request_id"], "req-12345");
    assert_eq!(row["device"], "front-desk-1");
    assert_eq!(row["actor_user_id"], tenant.admin_id.as_str());
    assert_eq!(row["outcome"], "success");

    let forged = app
        .client
        .get(format!("{}/api/health", app.base))
        .header("x-request-id", "evil\"}, {\"injected\": 1")
        .send()
        .await
        .expect("send");
    let id = forged.headers()["x-request-id"].to_str().expect("ascii");
    assert!(
        !id.contains('"') && !id.is_empty(),
        "an unsafe request id is replaced: {id}"
    );
}

#[tokio::test]
async fn openapi_describes_every_route() {
    let app = TestApp::spawn().await;
    let doc = app.send(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(doc.status, StatusCode::OK);
    let mut routes: Vec<(Method, String)> = authenticated_routes()
        .into_iter()
        .map(|(m, p, _, _)| (m, p.replace("{random}", "{id}")))
        .collect();
    for (m, p) in [
        (Method::POST, "/api/auth/login"),
        (Method::POST, "/api/auth/refresh"),
        (Method::POST, "/api/auth/logout"),
        (Method::GET, "/api/health"),
        (Method::GET, "/metrics"),
        (Method::GET, "/.well-known/jwks.json"),
        (Method::GET, "/api/openapi.json"),
    ] {
        routes.push((m, p.to_owned()));
    }
    for (method, path) in routes {
        let op = &doc.body["paths"][&path][method.as_str().to_lowercase()];
        assert!(
            op.is_object(),
            "{method} {path} is not in the OpenAPI document"
        );
    }
}

#[tokio::test]
async fn every_mutation_writes_an_audit_row() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("audit", SubscriptionTier::Pro).await;
    let (user, _) = app.add_user(&tenant, Role::Ecp).await;
    let t = &tenant.admin_token;
    assert_eq!(
        app.patch(
            &format!("/api/users/{user}"),
            t,
            json!({"last_name": "Changed"})
        )
        .await
        .status,
        StatusCode::OK
    );
    assert_eq!(
        app.post(
            &format!("/api/users/{user}/password"),
            t,
            json!({"password": "another fine passphrase"})
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.patch("/api/company", t, json!({"name": "Renamed Optics"}))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.delete(&format!("/api/users/{user}"), t).await.status,
        StatusCode::NO_CONTENT
    );

    let trail = app.get("/api/audit?limit=200", t).await;
    let actions: Vec<&str> = trail.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|r| r["action"].as_str())
        .collect();
    for expected in [
        "platform.company.create",
        "auth.login",
        "user.create",
        "user.update",
        "user.password_reset",
        "company.update",
        "user.delete",
    ] {
        assert!(
            actions.contains(&expected),
            "no {expected} row in {actions:?}"
        );
    }
    // The platform's own log has the cross-tenant creation too.
    let platform_trail = app
        .get(
            "/api/audit?action=platform.company.create&limit=200",
            &app.platform_token,
        )
        .await;
    assert!(
        platform_trail.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|r| r["resource_id"] == tenant.id.as_str()),
        "{:?}",
        platform_trail.body
    );
}

#[tokio::test]
async fn metrics_can_require_a_token() {
    let app = TestApp::spawn_with(|s| {
        s.http.metrics_token = Some(ils_server::config::Secret::new("scrape-token-for-tests"));
    })
    .await;
    let anonymous = app.send(Method::GET, "/metrics", None, None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.code(), "metrics.unauthorized");
    let wrong = app
        .send(Method::GET, "/metrics", Some("scrape-token-for-test"), None)
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let right = app
        .send(
            Method::GET,
            "/metrics",
            Some("scrape-token-for-tests"),
            None,
        )
        .await;
    assert_eq!(right.status, StatusCode::OK);
    assert!(
        right
            .body
            .as_str()
            .is_some_and(|t| t.contains("ils_http_requests_total"))
    );
}
