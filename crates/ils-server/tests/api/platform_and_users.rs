//! Tenant administration by the platform operator and user administration by companies.

use ils_core::{Role, SubscriptionTier};
use reqwest::StatusCode;
use serde_json::json;

use crate::common::{PASSWORD, TestApp};

#[tokio::test]
async fn platform_creates_lists_updates_suspends_and_reactivates_tenants() {
    let app = TestApp::spawn().await;
    let p = &app.platform_token;
    let tenant = app.create_tenant("lifecycle", SubscriptionTier::Free).await;

    let dup = app
        .post(
            "/api/platform/companies",
            p,
            json!({"name": "Dup", "domain": tenant.domain.to_uppercase(), "tier": "pro"}),
        )
        .await;
    assert_eq!(
        dup.status,
        StatusCode::CONFLICT,
        "domains are unique, case-insensitively"
    );
    assert_eq!(dup.code(), "company.domain_taken");

    let list = app.get("/api/platform/companies?limit=1", p).await;
    assert_eq!(list.body["items"].as_array().map(Vec::len), Some(1));
    let next = list.body["next"].as_str().expect("a second page");
    let page2 = app
        .get(&format!("/api/platform/companies?after={next}"), p)
        .await;
    assert!(
        page2.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|c| c["id"] == tenant.id.as_str())
    );

    let path = format!("/api/platform/companies/{}", tenant.id);
    let upgraded = app
        .patch(
            &path,
            p,
            json!({"tier": "premium", "ai_config": {"temperature": 0.5}}),
        )
        .await;
    assert_eq!(upgraded.status, StatusCode::OK, "{:?}", upgraded.body);
    assert_eq!(upgraded.body["tier"], "premium");
    assert_eq!(upgraded.body["ai_config"]["temperature"], 0.5);

    assert_eq!(
        app.patch(&path, p, json!({"status": "suspended"}))
            .await
            .body["status"],
        "suspended"
    );
    assert_eq!(
        app.get("/api/me", &tenant.admin_token).await.code(),
        "tenant.suspended"
    );
    assert_eq!(
        app.patch(&path, p, json!({"status": "active"})).await.body["status"],
        "active"
    );
    assert_eq!(
        app.get("/api/me", &tenant.admin_token).await.status,
        StatusCode::OK
    );

    let trail = app
        .get(
            "/api/audit?resource_type=company&limit=50",
            &tenant.admin_token,
        )
        .await;
    let actions: Vec<&str> = trail.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|r| r["action"].as_str())
        .collect();
    for a in [
        "platform.company.suspend",
        "platform.company.reactivate",
        "platform.company.update",
    ] {
        assert!(
            actions.contains(&a),
            "the tenant sees the operator's {a}: {actions:?}"
        );
    }

    let home = app.get("/api/me", p).await.body["company_id"]
        .as_str()
        .expect("home")
        .to_owned();
    let own = app
        .patch(
            &format!("/api/platform/companies/{home}"),
            p,
            json!({"status": "suspended"}),
        )
        .await;
    assert_eq!(own.code(), "company.cannot_suspend_platform");
    let missing = app
        .get(
            &format!("/api/platform/companies/{}", uuid::Uuid::now_v7()),
            p,
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn company_admins_manage_their_users_within_the_rules() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("users", SubscriptionTier::Pro).await;
    let t = &tenant.admin_token;

    let (ecp, ecp_token) = app.add_user(&tenant, Role::Ecp).await;
    let email = app.get(&format!("/api/users/{ecp}"), t).await.body["email"]
        .as_str()
        .expect("email")
        .to_owned();
    let dup = app
        .post("/api/users", t, json!({"email": email.to_uppercase(), "password": PASSWORD, "first_name": "D", "last_name": "U", "role": "ecp"}))
        .await;
    assert_eq!(
        dup.status,
        StatusCode::CONFLICT,
        "e-mail addresses are unique case-insensitively"
    );
    assert_eq!(dup.code(), "user.email_taken");

    // Sign-in is case-insensitive on the e-mail address.
    assert_eq!(
        app.login_reply(&tenant.domain, &email.to_uppercase(), PASSWORD)
            .await
            .status,
        StatusCode::OK
    );

    // The last administrator cannot be demoted, disabled or deleted.
    let me = tenant.admin_id.clone();
    let demote = app
        .patch(&format!("/api/users/{me}"), t, json!({"role": "ecp"}))
        .await;
    assert_eq!(demote.code(), "user.last_admin");
    let disable = app
        .patch(
            &format!("/api/users/{me}"),
            t,
            json!({"status": "disabled"}),
        )
        .await;
    assert_eq!(disable.code(), "user.last_admin");
    assert_eq!(
        app.delete(&format!("/api/users/{me}"), t).await.code(),
        "user.cannot_delete_self"
    );

    // A role change makes the old token stale at once.
    let promoted = app
        .patch(&format!("/api/users/{ecp}"), t, json!({"role": "lab_tech"}))
        .await;
    assert_eq!(promoted.body["role"], "lab_tech");
    assert_eq!(
        app.get("/api/me", &ecp_token).await.code(),
        "auth.token_stale"
    );

    // Disabling ends the user's sessions and refuses their token.
    let disabled = app
        .patch(
            &format!("/api/users/{ecp}"),
            t,
            json!({"status": "disabled"}),
        )
        .await;
    assert_eq!(disabled.body["status"], "disabled");
    let login = app.login_reply(&tenant.domain, &email, PASSWORD).await;
    assert_eq!(login.code(), "user.disabled");

    // Changing one's own password needs the current one and ends other sessions.
    let wrong = app
        .post(
            "/api/me/password",
            t,
            json!({"current_password": "nope", "new_password": "a fresh passphrase"}),
        )
        .await;
    assert_eq!(wrong.code(), "user.current_password_wrong");
    let weak = app
        .post(
            "/api/me/password",
            t,
            json!({"current_password": PASSWORD, "new_password": "short"}),
        )
        .await;
    assert_eq!(weak.code(), "user.password_too_short");
    let changed = app
        .post(
            "/api/me/password",
            t,
            json!({"current_password": PASSWORD, "new_password": "a fresh passphrase"}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{:?}", changed.body);
    let admin_email = format!("admin@{}", tenant.domain);
    assert_eq!(
        app.login_reply(&tenant.domain, &admin_email, PASSWORD)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login_reply(&tenant.domain, &admin_email, "a fresh passphrase")
            .await
            .status,
        StatusCode::OK
    );

    // The old access token is stale now; go on with a fresh sign-in.
    assert_eq!(app.get("/api/me", t).await.code(), "auth.token_stale");
    let fresh = app
        .login(&tenant.domain, &admin_email, "a fresh passphrase")
        .await;
    let tenant = crate::common::Tenant {
        admin_token: fresh,
        ..tenant.clone()
    };
    let t = &tenant.admin_token;

    // Pagination is stable and complete.
    for _ in 0..3 {
        app.add_user(&tenant, Role::Engineer).await;
    }
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(a) => format!("/api/users?limit=2&after={a}"),
            None => "/api/users?limit=2".to_owned(),
        };
        let page = app.get(&path, t).await;
        for u in page.body["items"].as_array().expect("items") {
            seen.push(u["id"].as_str().expect("id").to_owned());
        }
        match page.body["next"].as_str() {
            Some(n) => after = Some(n.to_owned()),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen.len(), 5, "admin, ecp and three engineers: {seen:?}");
    assert_eq!(seen, sorted, "pages are in stable id order without repeats");
}

#[tokio::test]
async fn two_admins_demoting_each_other_at_once_leave_one_admin() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("race", SubscriptionTier::Pro).await;
    let (second_id, second_token) = app.add_user(&tenant, Role::CompanyAdmin).await;
    let second_path = format!("/api/users/{second_id}");
    let first_path = format!("/api/users/{}", tenant.admin_id);
    let (a, b) = tokio::join!(
        app.patch(&second_path, &tenant.admin_token, json!({"role": "ecp"})),
        app.patch(&first_path, &second_token, json!({"role": "ecp"})),
    );
    // The loser either waited for the winner and found itself the last admin (409), or was
    // already demoted when it arrived (its token is stale: 401). Never both succeed.
    let ok = [a.status, b.status]
        .iter()
        .filter(|s| **s == StatusCode::OK)
        .count();
    assert_eq!(
        ok, 1,
        "exactly one demotion succeeds: {:?} / {:?}",
        a.body, b.body
    );
    let owner = app.owner_pool().await;
    let (count,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM users WHERE company_id = $1::uuid AND role = 'company_admin' AND status = 'active'",
    )
    .bind(&tenant.id)
    .fetch_one(&owner)
    .await
    .expect("count");
    assert_eq!(count, 1, "one administrator is left");
}
