//! Access tokens: every forgery and every malformed token is refused with 401; refresh tokens
//! rotate and their reuse ends the whole sign-in; keys rotate without a restart.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ils_core::{Role, SubscriptionTier};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{PASSWORD, TestApp};

/// The server's active key, read from the database, so tests can mint tokens of any shape.
async fn active_key(app: &TestApp) -> (String, Vec<u8>, Vec<u8>) {
    let pool = app.owner_pool().await;
    let (kid, sealed, public): (String, Vec<u8>, Vec<u8>) = sqlx::query_as(
        "SELECT kid, private_key_der, public_key FROM signing_keys WHERE retired_at IS NULL",
    )
    .fetch_one(&pool)
    .await
    .expect("active key");
    let kek =
        ils_server::auth::keys::KeyEncryptionKey::from_base64(crate::common::KEY_ENCRYPTION_KEY)
            .expect("the tests' key-encryption key");
    let der = kek
        .unseal(&kid, &sealed)
        .expect("sealed with the tests' key");
    (kid, der, public)
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("json"))
}

struct Minter {
    kid: String,
    der: Vec<u8>,
    claims: Value,
}

impl Minter {
    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(&self.der)).expect("sign")
    }

    fn without(&self, field: &str) -> String {
        let mut claims = self.claims.clone();
        claims.as_object_mut().expect("object").remove(field);
        self.sign(&claims)
    }

    fn with(&self, field: &str, value: Value) -> String {
        let mut claims = self.claims.clone();
        claims[field] = value;
        self.sign(&claims)
    }
}

async fn minter(app: &TestApp, user_id: &str, company_id: &str) -> Minter {
    let (kid, der, _) = active_key(app).await;
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "sub": user_id, "company_id": company_id, "role": "company_admin",
        "permissions": Role::CompanyAdmin.grants(), "iat": now, "exp": now + 300,
        "iss": "ils-central", "aud": "ils", "jti": "test", "ver": 0
    });
    Minter { kid, der, claims }
}

#[tokio::test]
async fn forged_and_malformed_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("jwt", SubscriptionTier::Pro).await;
    let m = minter(&app, &tenant.admin_id, &tenant.id).await;
    let (kid, _, public) = active_key(&app).await;
    let now = chrono::Utc::now().timestamp();

    // The control: a token minted the way the server mints it is accepted.
    let good = m.sign(&m.claims);
    assert_eq!(
        app.get("/api/me", &good).await.status,
        StatusCode::OK,
        "the control token must pass"
    );

    let parts: Vec<&str> = good.split('.').collect();
    let alg_none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT", "kid": kid})),
        parts[1]
    );
    let hs256_with_public_key = {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(kid.clone());
        jsonwebtoken::encode(&header, &m.claims, &EncodingKey::from_secret(&public)).expect("hs256")
    };
    let wrong_key = {
        let other = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        let der = other.to_pkcs8_der().expect("der");
        Minter {
            kid: kid.clone(),
            der: der.as_bytes().to_vec(),
            claims: m.claims.clone(),
        }
        .sign(&m.claims)
    };
    let tampered = {
        let mut claims = m.claims.clone();
        claims["role"] = json!("platform_admin");
        claims["permissions"] = json!(["*"]);
        format!("{}.{}.{}", parts[0], b64(&claims), parts[2])
    };
    let unknown_kid = Minter {
        kid: "ils-unknown".into(),
        der: m.der.clone(),
        claims: m.claims.clone(),
    }
    .sign(&m.claims);

    let cases: Vec<(&str, String)> = vec![
        ("alg none", alg_none),
        ("HS256 signed with the public key", hs256_with_public_key),
        ("signed with another key", wrong_key),
        ("tampered claims", tampered),
        ("unknown kid", unknown_kid),
        ("expired beyond the leeway", m.with("exp", json!(now - 120))),
        (
            "a year's lifetime, signed with the real key",
            m.with("exp", json!(now + 365 * 86_400)),
        ),
        ("issued a day in the future", {
            let mut claims = m.claims.clone();
            claims["iat"] = json!(now + 86_400);
            claims["exp"] = json!(now + 86_400 + 300);
            m.sign(&claims)
        }),
        (
            "valid only from tomorrow",
            m.with("nbf", json!(now + 86_400)),
        ),
        ("missing exp", m.without("exp")),
        ("missing aud", m.without("aud")),
        ("missing iss", m.without("iss")),
        ("missing sub", m.without("sub")),
        ("missing company_id", m.without("company_id")),
        ("missing token version", m.without("ver")),
        ("older token version", m.with("ver", json!(-1))),
        ("wrong audience", m.with("aud", json!("someone-else"))),
        ("wrong issuer", m.with("iss", json!("evil-issuer"))),
        ("sub not a uuid", m.with("sub", json!("admin"))),
        ("garbage", "not.a.token".into()),
        ("empty segments", "..".into()),
    ];
    for (name, token) in cases {
        let reply = app.get("/api/me", &token).await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{name}: {:?}",
            reply.body
        );
        assert!(
            reply.code().starts_with("auth."),
            "{name}: {:?}",
            reply.body
        );
    }

    // A validly signed token for a user id that does not exist in that tenant.
    let ghost = m.with("sub", json!(uuid::Uuid::now_v7()));
    assert_eq!(
        app.get("/api/me", &ghost).await.status,
        StatusCode::UNAUTHORIZED
    );
    // A validly signed token whose company is another tenant's: the user is not found there.
    let other = app.create_tenant("other", SubscriptionTier::Pro).await;
    let moved = m.with("company_id", json!(other.id));
    assert_eq!(
        app.get("/api/me", &moved).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn reusing_a_rotated_refresh_token_revokes_the_family() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("refresh", SubscriptionTier::Pro).await;
    let login = app
        .login_reply(
            &tenant.domain,
            &format!("admin@{}", tenant.domain),
            PASSWORD,
        )
        .await;
    let first = login.body["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let refresh = |token: String| {
        let app = &app;
        async move {
            app.send(
                reqwest::Method::POST,
                "/api/auth/refresh",
                None,
                Some(json!({"refresh_token": token})),
            )
            .await
        }
    };

    let second = refresh(first.clone()).await;
    assert_eq!(second.status, StatusCode::OK, "{:?}", second.body);
    let second_token = second.body["refresh_token"]
        .as_str()
        .expect("rotated")
        .to_owned();
    assert_ne!(first, second_token);
    assert_eq!(
        app.get(
            "/api/me",
            second.body["access_token"].as_str().expect("access")
        )
        .await
        .status,
        StatusCode::OK
    );

    let reuse = refresh(first).await;
    assert_eq!(reuse.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reuse.code(), "auth.refresh_token_reused");
    let after = refresh(second_token).await;
    assert_eq!(
        after.status,
        StatusCode::UNAUTHORIZED,
        "the whole family is revoked"
    );

    for bad in [
        "",
        "ilsr.nope",
        "ilsr.00000000000000000000000000000000.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    ] {
        let reply = refresh(bad.to_owned()).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{bad:?}");
        assert_eq!(reply.code(), "auth.invalid_refresh_token");
    }
}

#[tokio::test]
async fn logout_ends_the_sign_in() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("logout", SubscriptionTier::Pro).await;
    let login = app
        .login_reply(
            &tenant.domain,
            &format!("admin@{}", tenant.domain),
            PASSWORD,
        )
        .await;
    let token = login.body["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let body = Some(json!({"refresh_token": token}));
    let out = app
        .send(
            reqwest::Method::POST,
            "/api/auth/logout",
            None,
            body.clone(),
        )
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let again = app
        .send(
            reqwest::Method::POST,
            "/api/auth/refresh",
            None,
            body.clone(),
        )
        .await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    let twice = app
        .send(reqwest::Method::POST, "/api/auth/logout", None, body)
        .await;
    assert_eq!(twice.status, StatusCode::NO_CONTENT, "logout is idempotent");
}

#[tokio::test]
async fn key_rotation_keeps_old_tokens_valid_and_publishes_both_keys() {
    let app = TestApp::spawn().await;
    let before = app
        .send(reqwest::Method::GET, "/.well-known/jwks.json", None, None)
        .await;
    let old_kid = before.body["keys"][0]["kid"]
        .as_str()
        .expect("kid")
        .to_owned();
    assert_eq!(before.body["keys"][0]["alg"], "EdDSA");
    assert_eq!(before.body["keys"][0]["crv"], "Ed25519");

    let rotated = app
        .post(
            "/api/platform/signing-keys/rotate",
            &app.platform_token,
            json!(null),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{:?}", rotated.body);
    let new_kid = rotated.body["kid"].as_str().expect("kid").to_owned();
    assert_ne!(old_kid, new_kid);

    assert_eq!(
        app.get("/api/me", &app.platform_token).await.status,
        StatusCode::OK,
        "old tokens still verify"
    );
    let fresh = app
        .login(
            crate::common::PLATFORM_DOMAIN,
            crate::common::PLATFORM_EMAIL,
            PASSWORD,
        )
        .await;
    let header = jsonwebtoken::decode_header(&fresh).expect("header");
    assert_eq!(
        header.kid.as_deref(),
        Some(new_kid.as_str()),
        "new tokens use the new key"
    );
    let after = app
        .send(reqwest::Method::GET, "/.well-known/jwks.json", None, None)
        .await;
    let kids: Vec<&str> = after.body["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k["kid"].as_str())
        .collect();
    assert!(
        kids.contains(&old_kid.as_str()) && kids.contains(&new_kid.as_str()),
        "{kids:?}"
    );
}

#[tokio::test]
async fn disabled_users_and_suspended_tenants_are_refused_within_the_cache_interval() {
    // A second replica (simulated by a direct SQL change) is caught within status_cache_secs.
    let app = TestApp::spawn_with(|s| s.auth.status_cache_secs = 1).await;
    let tenant = app.create_tenant("standing", SubscriptionTier::Pro).await;
    let (ecp_id, ecp) = app.add_user(&tenant, Role::Ecp).await;
    assert_eq!(app.get("/api/me", &ecp).await.status, StatusCode::OK);

    let owner = app.owner_pool().await;
    sqlx::query("UPDATE users SET status = 'disabled' WHERE id = $1::uuid")
        .bind(&ecp_id)
        .execute(&owner)
        .await
        .expect("disable behind the service's back");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let reply = app.get("/api/me", &ecp).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.code(), "user.disabled");

    // Through the API the change is immediate on this replica (the admin's standing is freshly
    // cached right before).
    assert_eq!(
        app.get("/api/me", &tenant.admin_token).await.status,
        StatusCode::OK
    );
    let suspend = app
        .patch(
            &format!("/api/platform/companies/{}", tenant.id),
            &app.platform_token,
            json!({"status": "suspended"}),
        )
        .await;
    assert_eq!(suspend.status, StatusCode::OK, "{:?}", suspend.body);
    let reply = app.get("/api/me", &tenant.admin_token).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.code(), "tenant.suspended");
    let login = app
        .login_reply(
            &tenant.domain,
            &format!("admin@{}", tenant.domain),
            PASSWORD,
        )
        .await;
    assert_eq!(login.code(), "tenant.suspended");
}

#[tokio::test]
async fn repeated_failures_lock_the_account() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("lockout", SubscriptionTier::Pro).await;
    let email = format!("admin@{}", tenant.domain);
    for attempt in 1..=5 {
        let reply = app
            .login_reply(&tenant.domain, &email, "wrong passphrase here")
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
        assert_eq!(reply.code(), "auth.invalid_credentials");
    }
    let locked = app.login_reply(&tenant.domain, &email, PASSWORD).await;
    assert_eq!(
        locked.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{:?}",
        locked.body
    );
    assert_eq!(locked.code(), "auth.locked_out");
    assert!(locked.headers.get("retry-after").is_some());

    // Unknown accounts and domains answer exactly like a wrong password.
    let unknown = app
        .login_reply(&tenant.domain, "nobody@example.org", PASSWORD)
        .await;
    let no_domain = app.login_reply("nowhere.example", &email, PASSWORD).await;
    for reply in [unknown, no_domain] {
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(reply.code(), "auth.invalid_credentials");
    }

    // The company's administrators can see the attempts.
    let trail = app
        .get("/api/audit?action=auth.login&limit=50", &tenant.admin_token)
        .await;
    let reasons: Vec<&str> = trail.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|r| r["details"]["reason"].as_str())
        .collect();
    assert_eq!(
        reasons.iter().filter(|r| **r == "wrong_password").count(),
        5,
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&"locked") && reasons.contains(&"unknown_account"),
        "{reasons:?}"
    );

    // An administrator's password reset lifts the lockout.
    let me = app.get("/api/me", &tenant.admin_token).await;
    let id = me.body["id"].as_str().expect("id");
    let second_admin = app.add_user(&tenant, Role::CompanyAdmin).await.1;
    let reset = app
        .post(
            &format!("/api/users/{id}/password"),
            &second_admin,
            json!({"password": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT, "{:?}", reset.body);
    assert_eq!(
        app.login_reply(&tenant.domain, &email, "a brand new passphrase")
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_rotation_on_one_replica_reaches_the_others_without_a_restart() {
    // Periodic reloads far apart, so only the reload on an unknown key can explain a pass.
    let app = TestApp::spawn_with(|s| s.auth.key_reload_secs = 3600).await;
    let replica = app.replica().await;
    let via_replica = |path: &str| format!("{}{path}", replica.base);

    // Both replicas start with the same active key (the second found the first's).
    let jwks = |url: String| {
        let client = app.client.clone();
        async move {
            let body: Value = client
                .get(url)
                .send()
                .await
                .expect("send")
                .json()
                .await
                .expect("json");
            let mut kids: Vec<String> = body["keys"]
                .as_array()
                .expect("keys")
                .iter()
                .filter_map(|k| k["kid"].as_str().map(str::to_owned))
                .collect();
            kids.sort();
            kids
        }
    };
    assert_eq!(
        jwks(format!("{}/.well-known/jwks.json", app.base)).await,
        jwks(via_replica("/.well-known/jwks.json")).await
    );

    let rotated = app
        .post(
            "/api/platform/signing-keys/rotate",
            &app.platform_token,
            json!(null),
        )
        .await;
    let new_kid = rotated.body["kid"].as_str().expect("kid").to_owned();
    let fresh = app
        .login(
            crate::common::PLATFORM_DOMAIN,
            crate::common::PLATFORM_EMAIL,
            PASSWORD,
        )
        .await;
    assert_eq!(
        jsonwebtoken::decode_header(&fresh)
            .expect("header")
            .kid
            .as_deref(),
        Some(new_kid.as_str())
    );

    // At once: the replica reloads when it meets a key it has not seen.
    let on_replica = app
        .client
        .get(via_replica("/api/me"))
        .bearer_auth(&fresh)
        .send()
        .await
        .expect("send");
    assert_eq!(
        on_replica.status(),
        StatusCode::OK,
        "the replica verifies tokens signed with the new key"
    );
    assert!(
        jwks(via_replica("/.well-known/jwks.json"))
            .await
            .contains(&new_kid),
        "and publishes it"
    );
    let login: Value = app.client.post(via_replica("/api/auth/login"))
        .json(&json!({"domain": crate::common::PLATFORM_DOMAIN, "email": crate::common::PLATFORM_EMAIL, "password": PASSWORD}))
        .send().await.expect("send").json().await.expect("json");
    let token = login["access_token"].as_str().expect("token");
    assert_eq!(
        jsonwebtoken::decode_header(token)
            .expect("header")
            .kid
            .as_deref(),
        Some(new_kid.as_str()),
        "and signs with it"
    );
}

#[tokio::test]
async fn a_password_change_ends_every_session_and_own_password_guesses_count() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("pwchange", SubscriptionTier::Pro).await;
    let (_, ecp) = app.add_user(&tenant, Role::Ecp).await;
    // No waiting: tokens carry the user's token version, not just a time.
    let changed = app
        .post(
            "/api/me/password",
            &ecp,
            json!({"current_password": PASSWORD, "new_password": "an entirely new passphrase"}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{:?}", changed.body);
    let stale = app.get("/api/me", &ecp).await;
    assert_eq!(
        stale.status,
        StatusCode::UNAUTHORIZED,
        "access tokens issued before the change stop working"
    );
    assert_eq!(stale.code(), "auth.token_stale");

    // With a stolen token, guessing the current password locks the account like sign-in does.
    let (_, lab) = app.add_user(&tenant, Role::LabTech).await;
    for _ in 0..5 {
        let wrong = app
            .post("/api/me/password", &lab, json!({"current_password": "guess guess guess", "new_password": "whatever passphrase"}))
            .await;
        assert_eq!(wrong.code(), "user.current_password_wrong");
    }
    let locked = app
        .post(
            "/api/me/password",
            &lab,
            json!({"current_password": PASSWORD, "new_password": "whatever passphrase"}),
        )
        .await;
    assert_eq!(
        locked.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{:?}",
        locked.body
    );
    assert_eq!(locked.code(), "auth.locked_out");
}

#[tokio::test]
async fn an_expired_lockout_starts_counting_again() {
    let app = TestApp::spawn_with(|s| {
        s.auth.lockout_secs = 1;
        s.auth.max_failed_logins = 3;
    })
    .await;
    let tenant = app.create_tenant("relock", SubscriptionTier::Pro).await;
    let email = format!("admin@{}", tenant.domain);
    for _ in 0..3 {
        app.login_reply(&tenant.domain, &email, "wrong passphrase here")
            .await;
    }
    assert_eq!(
        app.login_reply(&tenant.domain, &email, PASSWORD)
            .await
            .code(),
        "auth.locked_out"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let one_more = app
        .login_reply(&tenant.domain, &email, "wrong passphrase here")
        .await;
    assert_eq!(
        one_more.code(),
        "auth.invalid_credentials",
        "one wrong guess after a lockout does not lock again"
    );
    assert_eq!(
        app.login_reply(&tenant.domain, &email, PASSWORD)
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_platform_role_outside_the_platform_company_grants_nothing() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("rogue", SubscriptionTier::Pro).await;
    let (rogue, _) = app.add_user(&tenant, Role::Ecp).await;
    let email = app
        .get(&format!("/api/users/{rogue}"), &tenant.admin_token)
        .await
        .body["email"]
        .as_str()
        .expect("email")
        .to_owned();
    // A bad manual fix in the database, not something the API allows.
    let owner = app.owner_pool().await;
    sqlx::query("UPDATE users SET role = 'platform_admin' WHERE id = $1::uuid")
        .bind(&rogue)
        .execute(&owner)
        .await
        .expect("update");
    // Refused at sign-in: no token is issued for the misplaced role.
    let login = app.login_reply(&tenant.domain, &email, PASSWORD).await;
    assert_eq!(
        (login.status, login.code()),
        (StatusCode::FORBIDDEN, "auth.forbidden"),
        "{:?}",
        login.body
    );
    assert!(login.body.get("access_token").is_none());
    // And a token that was issued before the bad fix is refused everywhere.
    sqlx::query("UPDATE users SET role = 'ecp' WHERE id = $1::uuid")
        .bind(&rogue)
        .execute(&owner)
        .await
        .expect("update");
    let token = app.login(&tenant.domain, &email, PASSWORD).await;
    sqlx::query("UPDATE users SET role = 'platform_admin' WHERE id = $1::uuid")
        .bind(&rogue)
        .execute(&owner)
        .await
        .expect("update");
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let reply = app.get("/api/platform/companies", &token).await;
    assert!(
        matches!(
            reply.status,
            StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED
        ),
        "{:?}",
        reply.body
    );
}

#[tokio::test]
async fn a_database_read_alone_cannot_sign_a_token() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("sealed", SubscriptionTier::Pro).await;
    let owner = app.owner_pool().await;
    // A key written before sealing existed (as an older build stored it).
    let (old_kid, old_der, old_public) = {
        let seed = [9u8; 32];
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        let der = key.to_pkcs8_der().expect("der").as_bytes().to_vec();
        (
            "ils-old-plaintext".to_owned(),
            der,
            key.verifying_key().to_bytes().to_vec(),
        )
    };
    sqlx::query(
        "INSERT INTO signing_keys (kid, algorithm, private_key_der, public_key, retired_at, publish_until)
         VALUES ($1, 'EdDSA', $2, $3, now(), now() + interval '1 hour')",
    )
    .bind(&old_kid)
    .bind(&old_der)
    .bind(&old_public)
    .execute(&owner)
    .await
    .expect("old row");
    // Another replica starts: it seals what it finds unsealed.
    let _replica = app.replica().await;
    let rows: Vec<(String, Vec<u8>, bool)> =
        sqlx::query_as("SELECT kid, private_key_der, sealed FROM signing_keys")
            .fetch_all(&owner)
            .await
            .expect("rows");
    assert!(rows.len() >= 2);
    assert!(
        rows.iter().all(|(_, _, sealed)| *sealed),
        "every key is sealed"
    );
    let old = rows
        .iter()
        .find(|(kid, ..)| *kid == old_kid)
        .expect("old key");
    assert_ne!(old.1, old_der, "the plaintext is gone from the row");
    let kek =
        ils_server::auth::keys::KeyEncryptionKey::from_base64(crate::common::KEY_ENCRYPTION_KEY)
            .expect("kek");
    assert_eq!(kek.unseal(&old_kid, &old.1).expect("unseals"), old_der);

    // What a database read gives cannot sign: the stored bytes are not the key.
    let (kid, stored) = rows
        .iter()
        .find(|(kid, ..)| *kid != old_kid)
        .map(|(kid, bytes, _)| (kid.clone(), bytes.clone()))
        .expect("active key");
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "sub": tenant.admin_id, "company_id": tenant.id, "role": "company_admin",
        "permissions": Role::CompanyAdmin.grants(), "iat": now, "exp": now + 300,
        "iss": "ils-central", "aud": "ils", "jti": "stolen", "ver": 0
    });
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid);
    if let Ok(token) = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ed_der(&stored)) {
        assert_eq!(
            app.get("/api/me", &token).await.status,
            StatusCode::UNAUTHORIZED,
            "a token signed with the stored bytes is refused"
        );
    }

    // A replica with another key-encryption key, or none, does not start.
    let mut wrong = app.settings.clone();
    wrong.auth.key_encryption_key = Some(ils_server::config::Secret::new(
        "b3RoZXIta2V5LWVuY3J5cHRpb24ta2V5LTMyYnl0ZXM=",
    ));
    let err = ils_server::AppState::build(wrong)
        .await
        .expect_err("wrong key");
    assert!(
        err.to_string()
            .contains("cannot be opened with this auth.key_encryption_key"),
        "{err}"
    );
    let mut none = app.settings.clone();
    none.auth.key_encryption_key = None;
    let err = ils_server::AppState::build(none).await.expect_err("no key");
    assert!(
        err.to_string()
            .contains("auth.key_encryption_key is not set"),
        "{err}"
    );
}

/// A replica remembers tokens it has verified, but a remembered token is still refused the
/// moment it expires, and once its signing key is no longer published.
#[tokio::test]
async fn a_remembered_token_ends_with_its_expiry_and_its_key() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("remember", SubscriptionTier::Pro).await;
    let m = minter(&app, &tenant.admin_id, &tenant.id).await;
    let leeway = i64::try_from(app.settings.auth.leeway_secs).expect("leeway");

    // Valid for two more seconds (counting the leeway), used twice while valid.
    let now = chrono::Utc::now().timestamp();
    let short = m.sign(&{
        let mut c = m.claims.clone();
        c["iat"] = json!(now - 60);
        c["exp"] = json!(now - leeway + 2);
        c
    });
    for _ in 0..2 {
        assert_eq!(app.get("/api/me", &short).await.status, StatusCode::OK);
    }
    tokio::time::sleep(std::time::Duration::from_millis(3_200)).await;
    let expired = app.get("/api/me", &short).await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert_eq!(expired.code(), "auth.token_expired");

    // A remembered token whose key stops being published is refused.
    let token = m.sign(&m.claims);
    assert_eq!(app.get("/api/me", &token).await.status, StatusCode::OK);
    let rotated = app
        .post(
            "/api/platform/signing-keys/rotate",
            &app.platform_token,
            json!({}),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{:?}", rotated.body);
    assert_eq!(
        app.get("/api/me", &token).await.status,
        StatusCode::OK,
        "a rotated-out key stays accepted while it is published"
    );
    let pool = app.owner_pool().await;
    sqlx::query("UPDATE signing_keys SET publish_until = now() WHERE kid = $1")
        .bind(&m.kid)
        .execute(&pool)
        .await
        .expect("end the old key's publication");
    app.state.tokens.keys().reload().await.expect("reload");
    let refused = app.get("/api/me", &token).await;
    assert_eq!(
        refused.status,
        StatusCode::UNAUTHORIZED,
        "{:?}",
        refused.body
    );
}
