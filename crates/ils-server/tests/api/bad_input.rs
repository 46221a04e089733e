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
        ("an array where an object belongs", raw(json!(["new@bad.example", "a long enough passphrase", "N", "U", "ecp"]).to_string(), Some("application/json")), StatusCode::BAD_REQUEST, "request.invalid_body"),
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
    let fields = reply.fields();
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

#[tokio::test]
async fn arrays_are_not_read_as_objects_anywhere() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("arrays", SubscriptionTier::Pro).await;
    let (_, ecp) = app.add_user(&tenant, ils_core::Role::Ecp).await;
    let patient = app
        .post(
            "/api/patients",
            &ecp,
            json!({"customer_number": "A-1", "first_name": "Ada", "last_name": "Lovelace",
                   "date_of_birth": "1990-12-10", "email": null, "phone": null, "address": null, "notes": null}),
        )
        .await;
    assert_eq!(patient.status, StatusCode::CREATED, "{:?}", patient.body);
    let id = patient.body["id"].as_str().expect("id").to_owned();
    let cases = [
        (
            "PATCH a patient",
            app.patch(&format!("/api/patients/{id}"), &ecp, json!([]))
                .await,
        ),
        (
            "create a patient",
            app.post(
                "/api/patients",
                &ecp,
                json!([
                    "A-2",
                    "Ada",
                    "Lovelace",
                    "1990-12-10",
                    null,
                    null,
                    null,
                    null
                ]),
            )
            .await,
        ),
        (
            "sign in",
            app.send(
                reqwest::Method::POST,
                "/api/auth/login",
                None,
                Some(json!([
                    tenant.domain,
                    "someone@example.org",
                    crate::common::PASSWORD
                ])),
            )
            .await,
        ),
        (
            "a prescription",
            app.post(
                &format!("/api/patients/{id}/prescriptions"),
                &ecp,
                json!([1, 2]),
            )
            .await,
        ),
    ];
    for (what, reply) in cases {
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::BAD_REQUEST, "request.invalid_body"),
            "{what}: {:?}",
            reply.body
        );
    }
    let unchanged = app.get(&format!("/api/patients/{id}"), &ecp).await;
    assert_eq!(unchanged.body["first_name"], "Ada");
}

#[tokio::test]
async fn invisible_names_and_inexact_powers_are_refused() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("invisible", SubscriptionTier::Pro).await;
    let (_, ecp) = app.add_user(&tenant, ils_core::Role::Ecp).await;
    let patient = |first: &str, number: &str| {
        json!({"customer_number": number, "first_name": first, "last_name": "Lovelace",
               "date_of_birth": "1990-12-10", "email": null, "phone": null, "address": null, "notes": null})
    };
    for (name, first) in [
        ("only zero-width spaces", "\u{200B}\u{200B}"),
        ("a byte-order mark", "\u{FEFF}Ada"),
        ("a right-to-left override", "Ada\u{202E}adA"),
        ("a line separator", "Ada\u{2028}Byron"),
    ] {
        let reply = app.post("/api/patients", &ecp, patient(first, "I-1")).await;
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::UNPROCESSABLE_ENTITY, "patient.name_invalid"),
            "{name}: {:?}",
            reply.body
        );
        assert_eq!(reply.body["details"]["fields"][0]["field"], "first_name");
    }
    let ok = app.post("/api/patients", &ecp, patient("Ada", "I-2")).await;
    assert_eq!(ok.status, StatusCode::CREATED, "{:?}", ok.body);
    let id = ok.body["id"].as_str().expect("id");
    let rx = json!({
        "kind": "spectacle",
        "right": {"sphere": -1e-9},
        "left": {"sphere": -1.0},
        "issue_date": "2026-11-01",
        "prescriber": "Dr. Rosalind Franklin"
    });
    let reply = app
        .post(&format!("/api/patients/{id}/prescriptions"), &ecp, rx)
        .await;
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "input.invalid"),
        "a sphere of -0.000000001 is not stored as 0.00: {:?}",
        reply.body
    );
    assert_eq!(reply.body["details"]["fields"][0]["field"], "right.sphere");
}
