//! Tenant B's token with tenant A's ids — in the path, the query and the body — behaves exactly
//! as a random id would: 404, or a refusal of the field; lists never show A's rows.

use ils_core::{Role, SubscriptionTier};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::TestApp;

#[tokio::test]
async fn ids_of_another_tenant_are_not_found() {
    let app = TestApp::spawn().await;
    let a = app.create_tenant("alpha", SubscriptionTier::Pro).await;
    let b = app.create_tenant("beta", SubscriptionTier::Pro).await;
    let (a_user, _) = app.add_user(&a, Role::Ecp).await;
    let random = uuid::Uuid::now_v7().to_string();

    let cases: Vec<(Method, String, Option<serde_json::Value>)> = vec![
        (Method::GET, "/api/users/{id}".into(), None),
        (
            Method::PATCH,
            "/api/users/{id}".into(),
            Some(json!({"first_name": "Hijacked", "status": "disabled"})),
        ),
        (
            Method::POST,
            "/api/users/{id}/password".into(),
            Some(json!({"password": "a completely new passphrase"})),
        ),
        (Method::DELETE, "/api/users/{id}".into(), None),
    ];
    for (method, template, body) in cases {
        let foreign = app
            .send(
                method.clone(),
                &template.replace("{id}", &a_user),
                Some(&b.admin_token),
                body.clone(),
            )
            .await;
        let missing = app
            .send(
                method.clone(),
                &template.replace("{id}", &random),
                Some(&b.admin_token),
                body,
            )
            .await;
        assert_eq!(
            foreign.status,
            StatusCode::NOT_FOUND,
            "{method} {template}: {:?}",
            foreign.body
        );
        assert_eq!(
            (foreign.status, foreign.body.clone()),
            (missing.status, missing.body.clone()),
            "{method} {template}: another tenant's id must look exactly like a missing one"
        );
    }

    // Nothing of A changed.
    let still = app
        .get(&format!("/api/users/{a_user}"), &a.admin_token)
        .await;
    assert_eq!(still.status, StatusCode::OK);
    assert_eq!(still.body["first_name"], "Sam");
    assert_eq!(still.body["status"], "active");
    assert_eq!(
        app.login_reply(
            &a.domain,
            still.body["email"].as_str().expect("email"),
            crate::common::PASSWORD
        )
        .await
        .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn lists_and_audit_never_show_another_tenants_rows() {
    let app = TestApp::spawn().await;
    let a = app.create_tenant("alpha", SubscriptionTier::Pro).await;
    let b = app.create_tenant("beta", SubscriptionTier::Pro).await;
    let (a_user, _) = app.add_user(&a, Role::LabTech).await;
    app.add_user(&b, Role::Ecp).await;

    let list = app.get("/api/users?limit=200", &b.admin_token).await;
    let items = list.body["items"].as_array().expect("items");
    assert_eq!(
        items.len(),
        2,
        "B sees its admin and its ECP only: {:?}",
        list.body
    );
    assert!(items.iter().all(|u| u["company_id"] == b.id.as_str()));

    let audit = app
        .get(&format!("/api/audit?resource_id={a_user}"), &b.admin_token)
        .await;
    assert_eq!(audit.status, StatusCode::OK);
    assert_eq!(
        audit.body["items"].as_array().map(Vec::len),
        Some(0),
        "{:?}",
        audit.body
    );
    let own = app
        .get(&format!("/api/audit?resource_id={a_user}"), &a.admin_token)
        .await;
    assert!(
        !own.body["items"].as_array().expect("items").is_empty(),
        "A sees its own audit rows"
    );

    let page = app
        .get(&format!("/api/users?after={a_user}"), &b.admin_token)
        .await;
    assert!(
        page.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|u| u["company_id"] == b.id.as_str())
    );
    let company = app.get("/api/company", &b.admin_token).await;
    assert_eq!(company.body["id"], b.id.as_str());
}

#[tokio::test]
async fn tenant_ids_in_bodies_or_queries_are_refused_not_followed() {
    let app = TestApp::spawn().await;
    let a = app.create_tenant("alpha", SubscriptionTier::Pro).await;
    let b = app.create_tenant("beta", SubscriptionTier::Pro).await;

    let reply = app
        .post(
            "/api/users",
            &b.admin_token,
            json!({"email": "x@alpha.example", "password": "a long enough passphrase", "first_name": "X",
                   "last_name": "Y", "role": "ecp", "company_id": a.id}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{:?}", reply.body);
    assert_eq!(reply.code(), "request.invalid_body");

    let reply = app
        .patch(
            "/api/company",
            &b.admin_token,
            json!({"name": "Evil", "id": a.id}),
        )
        .await;
    assert_eq!(reply.code(), "request.invalid_body");

    let reply = app
        .get(&format!("/api/users?company_id={}", a.id), &b.admin_token)
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.code(), "request.invalid_query");

    let reply = app
        .get(&format!("/api/platform/companies/{}", a.id), &b.admin_token)
        .await;
    assert_eq!(
        reply.status,
        StatusCode::FORBIDDEN,
        "only the platform operator reaches tenants by id"
    );

    let a_company = app.get("/api/company", &a.admin_token).await;
    assert_eq!(a_company.body["name"], "alpha Optics", "A is untouched");
    let a_users = app.get("/api/users", &a.admin_token).await;
    assert_eq!(a_users.body["items"].as_array().map(Vec::len), Some(1));
}
