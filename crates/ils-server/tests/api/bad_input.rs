//! Bad input gets a 4xx with a stable code and changes nothing.

use ils_core::SubscriptionTier;
use reqwest::StatusCode;
use serde_json::json;

use crate::common::TestApp;

#[tokio::test]
async fn bad_requests_get_clear_4xx_codes_and_write_nothing() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("bad", SubscriptionTier::Pro).await;
    let token = &tenant.admin_token;
    let url = format!("{}/api/users", app.base);
    let valid = json!({"email": "new@bad.example", "password": "a long enough passphrase", "first_name": "N", "last_name": "U", "role": "ecp"});

    let raw = |body: String, content_type: Option<&'static str>| {
        let mut request = app.client.post(&url).bearer_auth(token).body(body);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        request
    };

    let cases: Vec<(&str, reqwest::RequestBuilder, StatusCode, &str)> = vec![
        ("oversized body", raw(format!("{{\"email\":\"{}\"}}", "x".repeat(100_000)), Some("application/json")), StatusCode::PAYLOAD_TOO_LARGE, "request.body_too_large"),
        ("malformed JSON", raw("{\"email\": ".into(), Some("application/json")), StatusCode::BAD_REQUEST, "request.malformed_json"),
        ("not JSON at all", raw("\u{0}\u{1}binary".into(), Some("application/json")), StatusCode::BAD_REQUEST, "request.malformed_json"),
        ("no content type", raw(valid.to_string(), None), StatusCode::UNSUPPORTED_MEDIA_TYPE, "request.unsupported_media_type"),
        ("wrong types", raw(json!({"email": 5, "password": [], "first_name": "N", "last_name": "U", "role": "ecp"}).to_string(), Some("application/json")), StatusCode::BAD_REQUEST, "request.invalid_body"),
        ("unknown field", raw({ let mut v = valid.clone(); v["is_superuser"] = json!(true); v.to_string() }, Some("application/json")), StatusCode::BAD_REQUEST, "request.invalid_body"),
        ("unknown role", raw({ let mut v = valid.clone(); v["role"] = json!("root"); v.to_string() }, Some("application/json")), StatusCode::BAD_REQUEST, "request.invalid_body"),
        ("missing field", raw(json!({"email": "a@b.example"}).to_string(), Some("application/json")), StatusCode::BAD_REQUEST, "request.invalid_body"),
        ("invalid e-mail", raw({ let mut v = valid.clone(); v["email"] = json!("not-an-email"); v.to_string() }, Some("application/json")), StatusCode::UNPROCESSABLE_ENTITY, "user.email_invalid"),
        ("weak password", raw({ let mut v = valid.clone(); v["password"] = json!("short"); v.to_string() }, Some("application/json")), StatusCode::UNPROCESSABLE_ENTITY, "user.password_too_short"),
        ("platform role", raw({ let mut v = valid.clone(); v["role"] = json!("platform_admin"); v.to_string() }, Some("application/json")), StatusCode::UNPROCESSABLE_ENTITY, "user.role_not_assignable"),
        ("huge page size", app.client.get(format!("{url}?limit=1000000")).bearer_auth(token), StatusCode::BAD_REQUEST, "pagination.limit_out_of_range"),
        ("zero page size", app.client.get(format!("{url}?limit=0")).bearer_auth(token), StatusCode::BAD_REQUEST, "pagination.limit_out_of_range"),
        ("negative page size", app.client.get(format!("{url}?limit=-5")).bearer_auth(token), StatusCode::BAD_REQUEST, "request.invalid_query"),
        ("bad cursor", app.client.get(format!("{url}?after=yesterday")).bearer_auth(token), StatusCode::BAD_REQUEST, "request.invalid_query"),
        ("bad id in path", app.client.get(format!("{url}/not-a-uuid")).bearer_auth(token), StatusCode::BAD_REQUEST, "request.invalid_path"),
        ("unknown route", app.client.get(format!("{}/api/nothing-here", app.base)).bearer_auth(token), StatusCode::NOT_FOUND, "route.not_found"),
        ("wrong method", app.client.put(format!("{}/api/me", app.base)).bearer_auth(token), StatusCode::METHOD_NOT_ALLOWED, "route.method_not_allowed"),
        ("bad device header", app.client.get(format!("{}/api/me", app.base)).bearer_auth(token).header("x-ils-device", "d".repeat(300)), StatusCode::BAD_REQUEST, "request.invalid_device"),
    ];
    for (name, request, status, code) in cases {
        let response = request.send().await.expect("sent");
        let got = response.status();
        let body: serde_json::Value = response.json().await.unwrap_or(json!({}));
        assert_eq!(
            (got, body["code"].as_str().unwrap_or("")),
            (status, code),
            "{name}: {body}"
        );
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{name}: a message for people"
        );
    }

    let users = app.get("/api/users", token).await;
    assert_eq!(
        users.body["items"].as_array().map(Vec::len),
        Some(1),
        "nothing was written"
    );

    // Several problems at once are all reported, by field.
    let reply = app
        .post("/api/users", token, json!({"email": "nope", "password": "short", "first_name": "", "last_name": "U", "role": "ecp"}))
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = reply.body["details"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(|f| f["field"].as_str())
        .collect();
    assert_eq!(fields, ["email", "first_name", "password"]);

    let reply = app
        .patch(
            "/api/company",
            token,
            json!({"ai_config": {"temperature": 7, "max_tokens": 0}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.code(), "ai_config.temperature_out_of_range");
    let company = app.get("/api/company", token).await;
    assert_eq!(
        company.body["ai_config"]["max_tokens"], 1024,
        "the company is unchanged"
    );
}
