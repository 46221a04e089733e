//! Every role × every route × method: allowed or refused with 403, nothing else.

use ils_core::{Role, SubscriptionTier};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::TestApp;

/// Routes that need authentication, with a request that is harmless for whoever is allowed
/// (an invalid body or a random id), so that the matrix itself changes nothing.
pub fn authenticated_routes() -> Vec<(Method, &'static str, Option<Value>, &'static [Role])> {
    use Role::*;
    const ALL: &[Role] = &[PlatformAdmin, CompanyAdmin, Ecp, LabTech, Engineer];
    const ADMINS: &[Role] = &[PlatformAdmin, CompanyAdmin];
    const PLATFORM: &[Role] = &[PlatformAdmin];
    // Company admins read clinical data; ECPs manage it; the lab sees orders; engineers and the
    // lab see the production queue.
    const CLINICAL_READ: &[Role] = &[PlatformAdmin, CompanyAdmin, Ecp];
    const CLINICAL_WRITE: &[Role] = &[PlatformAdmin, Ecp];
    const ORDERS_READ: &[Role] = &[PlatformAdmin, CompanyAdmin, Ecp, LabTech];
    const PRODUCTION: &[Role] = &[PlatformAdmin, LabTech, Engineer];
    vec![
        (Method::GET, "/api/me", None, ALL),
        (
            Method::POST,
            "/api/me/password",
            Some(json!({"current_password": "x", "new_password": "y"})),
            ALL,
        ),
        (Method::GET, "/api/company", None, ADMINS),
        (
            Method::PATCH,
            "/api/company",
            Some(json!({"ai_config": {"temperature": 9}})),
            ADMINS,
        ),
        (Method::GET, "/api/users", None, ADMINS),
        (
            Method::POST,
            "/api/users",
            Some(
                json!({"email": "bad", "password": "x", "first_name": "", "last_name": "", "role": "ecp"}),
            ),
            ADMINS,
        ),
        (Method::GET, "/api/users/{random}", None, ADMINS),
        (
            Method::PATCH,
            "/api/users/{random}",
            Some(json!({"first_name": "Kim"})),
            ADMINS,
        ),
        (Method::DELETE, "/api/users/{random}", None, ADMINS),
        (
            Method::POST,
            "/api/users/{random}/password",
            Some(json!({"password": "a long enough passphrase"})),
            ADMINS,
        ),
        (Method::GET, "/api/audit", None, ADMINS),
        (Method::GET, "/api/platform/companies", None, PLATFORM),
        (
            Method::POST,
            "/api/platform/companies",
            Some(json!({"name": "", "domain": "bad", "tier": "free"})),
            PLATFORM,
        ),
        (
            Method::GET,
            "/api/platform/companies/{random}",
            None,
            PLATFORM,
        ),
        (
            Method::PATCH,
            "/api/platform/companies/{random}",
            Some(json!({"name": "Renamed"})),
            PLATFORM,
        ),
        (
            Method::POST,
            "/api/platform/signing-keys/rotate",
            None,
            PLATFORM,
        ),
        (
            Method::POST,
            "/api/platform/companies/{random}/erasure",
            None,
            PLATFORM,
        ),
        // Clinical records.
        (Method::GET, "/api/patients", None, CLINICAL_READ),
        (
            Method::POST,
            "/api/patients",
            Some(json!({"customer_number": ""})),
            CLINICAL_WRITE,
        ),
        (Method::GET, "/api/patients/{random}", None, CLINICAL_READ),
        (
            Method::PATCH,
            "/api/patients/{random}",
            Some(json!({"first_name": "Kim"})),
            CLINICAL_WRITE,
        ),
        (
            Method::DELETE,
            "/api/patients/{random}",
            None,
            CLINICAL_WRITE,
        ),
        (
            Method::GET,
            "/api/patients/{random}/prescriptions",
            None,
            CLINICAL_READ,
        ),
        (
            Method::POST,
            "/api/patients/{random}/prescriptions",
            Some(json!({"kind": "spectacle"})),
            CLINICAL_WRITE,
        ),
        (
            Method::POST,
            "/api/patients/{random}/prescriptions/fhir",
            Some(json!({"resourceType": "Patient"})),
            CLINICAL_WRITE,
        ),
        (
            Method::GET,
            "/api/prescriptions/{random}",
            None,
            CLINICAL_READ,
        ),
        (
            Method::PATCH,
            "/api/prescriptions/{random}",
            Some(json!({"status": "cancelled"})),
            CLINICAL_WRITE,
        ),
        (
            Method::GET,
            "/api/prescriptions/{random}/fhir",
            None,
            CLINICAL_READ,
        ),
        (Method::GET, "/api/orders", None, ORDERS_READ),
        (
            Method::POST,
            "/api/orders",
            Some(json!({"material": ""})),
            CLINICAL_WRITE,
        ),
        (Method::GET, "/api/orders/{random}", None, ORDERS_READ),
        (
            Method::POST,
            "/api/orders/{random}/transitions",
            Some(json!({"action": "submit"})),
            ORDERS_READ,
        ),
        (
            Method::GET,
            "/api/orders/{random}/timeline",
            None,
            ORDERS_READ,
        ),
        (Method::GET, "/api/orders/{random}/dcs", None, ORDERS_READ),
        (Method::GET, "/api/production/orders", None, PRODUCTION),
        (Method::GET, "/api/patients/{random}/export", None, ADMINS),
        (Method::POST, "/api/patients/{random}/erasure", None, ADMINS),
        (Method::GET, "/api/company/export", None, ADMINS),
        (Method::GET, "/api/kb/documents", None, CLINICAL_READ),
        (
            Method::POST,
            "/api/kb/documents",
            Some(json!({"source": "x.md", "content_base64": "%%"})),
            ADMINS,
        ),
        (Method::DELETE, "/api/kb/documents/{random}", None, ADMINS),
        (Method::GET, "/api/kb/search", None, CLINICAL_READ),
        (
            Method::POST,
            "/api/master-ai/chat",
            Some(json!({"question": ""})),
            CLINICAL_READ,
        ),
        (
            Method::GET,
            "/api/master-ai/conversations",
            None,
            CLINICAL_READ,
        ),
        (
            Method::GET,
            "/api/master-ai/conversations/{random}",
            None,
            CLINICAL_READ,
        ),
        (Method::GET, "/api/master-ai/usage", None, ADMINS),
        (
            Method::GET,
            "/api/master-ai/fine-tuned-models",
            None,
            ADMINS,
        ),
        (
            Method::POST,
            "/api/master-ai/fine-tuned-models",
            Some(
                json!({"base_model": "", "provider": "x", "provider_model_id": "", "purpose": "chat"}),
            ),
            ADMINS,
        ),
        (
            Method::PATCH,
            "/api/master-ai/fine-tuned-models/{random}",
            Some(json!({"status": "ready"})),
            ADMINS,
        ),
        (
            Method::DELETE,
            "/api/master-ai/fine-tuned-models/{random}",
            None,
            ADMINS,
        ),
    ]
}

#[tokio::test]
async fn every_role_on_every_route() {
    let app = TestApp::spawn().await;
    let tenant = app
        .create_tenant("matrix", SubscriptionTier::Enterprise)
        .await;
    let mut tokens = vec![
        (Role::PlatformAdmin, app.platform_token.clone()),
        (Role::CompanyAdmin, tenant.admin_token.clone()),
    ];
    for role in [Role::Ecp, Role::LabTech, Role::Engineer] {
        let (_, token) = app.add_user(&tenant, role).await;
        tokens.push((role, token));
    }

    let mut failures = Vec::new();
    for (method, template, body, allowed) in authenticated_routes() {
        for (role, token) in &tokens {
            let path = template.replace("{random}", &uuid::Uuid::now_v7().to_string());
            let reply = app
                .send(method.clone(), &path, Some(token), body.clone())
                .await;
            let expected_allowed = allowed.contains(role);
            let ok = if expected_allowed {
                reply.status != StatusCode::FORBIDDEN
                    && reply.status != StatusCode::UNAUTHORIZED
                    && !reply.status.is_server_error()
            } else {
                reply.status == StatusCode::FORBIDDEN && reply.code() == "auth.forbidden"
            };
            if !ok {
                failures.push(format!(
                    "{role} {method} {template}: expected {}, got {} {}",
                    if expected_allowed { "allowed" } else { "403" },
                    reply.status,
                    reply.body
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "role matrix mismatches:\n{}",
        failures.join("\n")
    );
}

#[tokio::test]
async fn every_authenticated_route_refuses_anonymous_callers() {
    let app = TestApp::spawn().await;
    for (method, template, body, _) in authenticated_routes() {
        let path = template.replace("{random}", &uuid::Uuid::now_v7().to_string());
        let reply = app.send(method.clone(), &path, None, body).await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{method} {template}"
        );
        assert_eq!(reply.code(), "auth.missing_token", "{method} {template}");
    }
}

#[tokio::test]
async fn refusals_are_audited() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("denied", SubscriptionTier::Pro).await;
    let (ecp_id, ecp) = app.add_user(&tenant, Role::Ecp).await;
    assert_eq!(
        app.get("/api/users", &ecp).await.status,
        StatusCode::FORBIDDEN
    );
    let trail = app
        .get(
            &format!("/api/audit?action=access.denied&actor_user_id={ecp_id}"),
            &tenant.admin_token,
        )
        .await;
    assert_eq!(trail.status, StatusCode::OK);
    let items = trail.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{:?}", trail.body);
    assert_eq!(items[0]["outcome"], "denied");
    assert_eq!(items[0]["details"]["permission"], "users:read");
}
