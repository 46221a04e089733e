//! Sign-in throttling: a budget of failures per client address and per tenant, refused before
//! any password is checked, and an audit log that guessing cannot flood.

use ils_core::SubscriptionTier;
use reqwest::StatusCode;

use crate::common::{PASSWORD, TestApp};

async fn login_failures(app: &TestApp, token: &str) -> (usize, Vec<serde_json::Value>) {
    let single = app
        .get("/api/audit?action=auth.login&limit=200", token)
        .await;
    let failures = single.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|r| r["outcome"] == "failure")
        .count();
    let aggregates = app
        .get("/api/audit?action=auth.login_failures&limit=200", token)
        .await;
    (
        failures,
        aggregates.body["items"].as_array().expect("items").clone(),
    )
}

#[tokio::test]
async fn an_address_that_spent_its_budget_is_refused_before_any_password_is_checked() {
    let app = TestApp::spawn_with(|s| {
        s.auth.sign_in_failures_per_address = 3;
    })
    .await;
    let tenant = app.create_tenant("guess", SubscriptionTier::Pro).await;
    let email = format!("admin@{}", tenant.domain);
    for _ in 0..3 {
        let reply = app
            .login_reply(&tenant.domain, &email, "wrong guess, wrong guess")
            .await;
        assert_eq!(reply.code(), "auth.invalid_credentials");
    }
    // Spent: even the right password is refused now, with the time to wait.
    let refused = app.login_reply(&tenant.domain, &email, PASSWORD).await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limit.sign_in")
    );
    let wait: u64 = refused
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=60).contains(&wait), "{wait}");
    // Unknown practices count against the address too, and cost no audit row anywhere.
    let other = app.login_reply("nowhere.example", &email, "x").await;
    assert_eq!(other.status, StatusCode::TOO_MANY_REQUESTS);
    let (failures, _) = login_failures(&app, &tenant.admin_token).await;
    assert_eq!(failures, 3, "refused attempts write no audit row");
    // The account itself is not locked: the lockout counts password checks, and none ran.
    let users = app.get("/api/users", &tenant.admin_token).await;
    assert_eq!(users.status, StatusCode::OK);
}

#[tokio::test]
async fn repeated_failures_are_audited_as_one_row_per_window() {
    let app = TestApp::spawn_with(|s| {
        s.auth.sign_in_audited_failures = 2;
        s.auth.sign_in_window_secs = 1;
    })
    .await;
    let tenant = app.create_tenant("flood", SubscriptionTier::Pro).await;
    for i in 0..6 {
        let reply = app
            .login_reply(
                &tenant.domain,
                &format!("nobody{i}@{}", tenant.domain),
                "guess",
            )
            .await;
        assert_eq!(reply.code(), "auth.invalid_credentials");
    }
    let (failures, aggregates) = login_failures(&app, &tenant.admin_token).await;
    assert_eq!(failures, 2, "the window's first failures have a row each");
    assert!(aggregates.is_empty(), "the window is not over yet");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    ils_server::auth::session::audit_unaudited_failures(&app.state).await;
    let (failures, aggregates) = login_failures(&app, &tenant.admin_token).await;
    assert_eq!(failures, 2);
    assert_eq!(aggregates.len(), 1, "{aggregates:?}");
    assert_eq!(aggregates[0]["details"]["count"], 4);
}
