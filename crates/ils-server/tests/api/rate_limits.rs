//! Per-tenant budgets: one tenant over its tier gets 429 while another's requests pass.

use ils_core::SubscriptionTier;
use reqwest::StatusCode;

use crate::common::TestApp;

#[tokio::test]
async fn a_tenant_over_its_budget_does_not_affect_another() {
    let app = TestApp::spawn_with(|s| {
        s.rate_limits.api_per_minute.free = 8;
        s.rate_limits.api_per_minute.enterprise = 10_000;
    })
    .await;
    // Tenant creation signs in and reads /api/me once: one request of the budget each.
    let noisy = app.create_tenant("noisy", SubscriptionTier::Free).await;
    let quiet = app.create_tenant("quiet", SubscriptionTier::Free).await;

    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(app.get("/api/me", &noisy.admin_token).await.status);
    }
    let passed = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(passed, 7, "8 per minute, one already used: {statuses:?}");
    let limited = app.get("/api/me", &noisy.admin_token).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.code(), "rate_limit.api");
    let retry: u64 = limited.headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry), "Retry-After {retry}");

    for _ in 0..5 {
        assert_eq!(
            app.get("/api/me", &quiet.admin_token).await.status,
            StatusCode::OK,
            "the quiet tenant is unaffected"
        );
    }

    // A forwarded-for header does not open another bucket.
    let spoofed = app
        .client
        .get(format!("{}/api/me", app.base))
        .bearer_auth(&noisy.admin_token)
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .expect("send");
    assert_eq!(spoofed.status(), StatusCode::TOO_MANY_REQUESTS);

    let metrics = app.send(reqwest::Method::GET, "/metrics", None, None).await;
    let text = metrics.body.as_str().expect("text").to_owned();
    assert!(
        text.contains(&format!(
            "ils_rate_limit_rejections_total{{company_id=\"{}\",class=\"api\"}}",
            noisy.id
        )),
        "rejections are counted by tenant:\n{text}"
    );
}
