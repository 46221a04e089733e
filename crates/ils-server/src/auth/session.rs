//! Sign-in, refresh and sign-out.

use std::time::Duration;

use chrono::Utc;
use ils_core::user::UserStatus;
use ils_core::{CompanyId, Role, UserId, tenant, user};
use serde::Serialize;
use uuid::Uuid;

use super::throttle::AuditFailure;
use super::tokens::{hash_refresh_token, new_refresh_token, refresh_token_tenant};
use crate::app::AppState;
use crate::db::{AuditActor, TenantCtx, TenantTx};
use crate::error::{Error, Result};
use crate::store::audit::{self, Entry, Outcome};
use crate::store::{companies, refresh_tokens, users};

/// What a successful sign-in or refresh returns.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub refresh_token: String,
    pub refresh_expires_in: u64,
    #[schema(value_type = String, format = Uuid)]
    pub user_id: UserId,
    #[schema(value_type = String, format = Uuid)]
    pub company_id: CompanyId,
    #[schema(value_type = String)]
    pub role: Role,
}

/// Where a request comes from, for audit rows.
#[derive(Clone, Debug, Default)]
pub struct Origin {
    pub request_id: Option<String>,
    pub device: Option<String>,
    /// The client's address as the connection shows it (sign-in throttling).
    pub address: Option<std::net::IpAddr>,
}

fn invalid_credentials() -> Error {
    Error::unauthorized(
        "auth.invalid_credentials",
        "The domain, e-mail address or password is wrong",
    )
}

fn invalid_refresh() -> Error {
    Error::unauthorized(
        "auth.invalid_refresh_token",
        "The refresh token is invalid or expired; sign in again",
    )
}

pub(crate) fn suspended() -> Error {
    Error::forbidden(
        "tenant.suspended",
        "This company's account is suspended; contact the platform operator",
    )
}

pub(crate) fn disabled() -> Error {
    Error::forbidden("user.disabled", "This user account is disabled")
}

pub async fn login(
    state: &AppState,
    domain: &str,
    email: &str,
    password: String,
    origin: Origin,
) -> Result<TokenPair> {
    let address = origin.address;
    // A spent budget is refused before anything costly: no password hash, no audit row.
    throttled(state, address, None).await?;
    let Ok(domain) = tenant::normalize_domain("domain", domain) else {
        state.sign_in.failed(address, None).await;
        state.passwords.verify(password, None).await?;
        state.metrics.auth_failure("invalid_credentials");
        return Err(invalid_credentials());
    };
    let Some(company) = companies::for_login(state.db.pool(), &domain).await? else {
        state.sign_in.failed(address, None).await;
        state.passwords.verify(password, None).await?;
        state.metrics.auth_failure("invalid_credentials");
        return Err(invalid_credentials());
    };
    // The address was checked above: now the tenant's budget (with Redis, one round trip).
    throttled(state, None, Some(company.id)).await?;
    let mut actor = AuditActor {
        user_id: None,
        company_id: company.id,
        role: None,
        request_id: origin.request_id.clone(),
        device: origin.device.clone(),
    };
    let ctx = TenantCtx::verified(company.id, actor.clone());

    // 1. Read the account (no lock, short transaction).
    let mut tx = state.db.tenant_tx(&ctx).await?;
    let found = if user::email("email", email).is_ok() {
        users::get_for_login(&mut tx, email.trim()).await?
    } else {
        None
    };
    let Some((account, hash)) = found else {
        // The company's administrators see attempts on accounts that do not exist (no address
        // is recorded: it may be someone's mistyped personal e-mail); beyond the window's first
        // few, in one aggregate row.
        if state.sign_in.failed(address, Some(company.id)).await == AuditFailure::Row {
            audit_login(&mut tx, &actor, Outcome::Failure, "unknown_account").await?;
        }
        tx.commit().await?;
        state.passwords.verify(password, None).await?;
        state.metrics.auth_failure("invalid_credentials");
        return Err(invalid_credentials());
    };
    actor.user_id = Some(account.id);
    actor.role = Some(account.role);
    if let Some(until) = account.locked_until
        && until > Utc::now()
    {
        audit_login(&mut tx, &actor, Outcome::Denied, "locked").await?;
        tx.commit().await?;
        state.metrics.auth_failure("locked");
        return Err(locked_out(until));
    }
    tx.commit().await?;

    // 2. The password check holds no connection and no lock.
    let correct = state.passwords.verify(password, Some(hash)).await?;

    // 3. Record the outcome.
    let mut tx = state.db.tenant_tx(&ctx).await?;
    if !correct {
        let settings = &state.settings.auth;
        users::record_failed_login(
            &mut tx,
            account.id,
            settings.max_failed_logins,
            settings.lockout_secs,
        )
        .await?;
        if state.sign_in.failed(address, Some(company.id)).await == AuditFailure::Row {
            audit_login(&mut tx, &actor, Outcome::Failure, "wrong_password").await?;
        }
        tx.commit().await?;
        state.metrics.auth_failure("invalid_credentials");
        return Err(invalid_credentials());
    }
    // Parallel wrong guesses may have locked the account meanwhile.
    if let Some(until) = users::locked_until_for_update(&mut tx, account.id).await? {
        audit_login(&mut tx, &actor, Outcome::Denied, "locked").await?;
        tx.commit().await?;
        state.metrics.auth_failure("locked");
        return Err(locked_out(until));
    }
    if !company.status.is_usable() {
        audit_login(&mut tx, &actor, Outcome::Denied, "tenant_suspended").await?;
        tx.commit().await?;
        state.metrics.auth_failure("tenant_suspended");
        return Err(suspended());
    }
    if account.status == UserStatus::Disabled {
        audit_login(&mut tx, &actor, Outcome::Denied, "user_disabled").await?;
        tx.commit().await?;
        state.metrics.auth_failure("user_disabled");
        return Err(disabled());
    }
    if account.role == Role::PlatformAdmin
        && !users::standing(&mut tx, account.id)
            .await?
            .is_some_and(|s| s.company_is_platform)
    {
        // The platform role outside the platform company is a misconfiguration: every request
        // would be refused, so no token is issued either.
        audit_login(&mut tx, &actor, Outcome::Denied, "misplaced_platform_role").await?;
        tx.commit().await?;
        state.metrics.auth_failure("misplaced_platform_role");
        return Err(Error::forbidden(
            "auth.forbidden",
            "The platform_admin role is only valid in the platform operator's company",
        ));
    }

    users::record_successful_login(&mut tx, account.id).await?;
    let pair = start_family(
        state,
        &mut tx,
        account.id,
        account.role,
        account.token_version,
        origin.device.as_deref(),
    )
    .await?;
    audit_login(&mut tx, &actor, Outcome::Success, "password").await?;
    tx.commit().await?;
    Ok(pair)
}

/// 429 when the address's or the tenant's budget of failed sign-ins is spent.
async fn throttled(
    state: &AppState,
    address: Option<std::net::IpAddr>,
    tenant: Option<CompanyId>,
) -> Result<()> {
    state.sign_in.check(address, tenant).await.map_err(|wait| {
        state.metrics.auth_failure("sign_in_throttled");
        Error::RateLimited {
            code: "rate_limit.sign_in",
            retry_after: wait,
        }
    })
}

/// Writes, in each tenant's log, one row for the failed sign-ins of an ended window that were
/// not audited one by one (run by the housekeeping task; public for tests).
pub async fn audit_unaudited_failures(state: &crate::app::Inner) {
    for unaudited in state.sign_in.take_unaudited() {
        let actor = AuditActor {
            user_id: None,
            company_id: unaudited.tenant,
            role: None,
            request_id: None,
            device: None,
        };
        let ctx = TenantCtx::verified(unaudited.tenant, actor.clone());
        let result = async {
            let mut tx = state.db.tenant_tx(&ctx).await?;
            audit::record(
                &mut tx,
                &actor,
                Entry {
                    action: "auth.login_failures",
                    resource_type: "session",
                    resource_id: None,
                    outcome: Outcome::Failure,
                    details: serde_json::json!({
                        "count": unaudited.count,
                        "from": unaudited.from,
                        "until": unaudited.until,
                    }),
                },
            )
            .await?;
            tx.commit().await
        }
        .await;
        if let Err(error) = result {
            tracing::warn!(%error, "could not audit aggregated sign-in failures");
        }
    }
}

pub(crate) fn locked_out(until: chrono::DateTime<Utc>) -> Error {
    let wait = (until - Utc::now())
        .to_std()
        .unwrap_or(Duration::from_secs(1));
    Error::LockedOut { retry_after: wait }
}

async fn audit_login(
    tx: &mut TenantTx,
    actor: &AuditActor,
    outcome: Outcome,
    reason: &str,
) -> Result<()> {
    let resource = actor.user_id.map(|u| u.to_string());
    audit::record(
        tx,
        actor,
        Entry {
            action: "auth.login",
            resource_type: "user",
            resource_id: resource,
            outcome,
            details: serde_json::json!({ "reason": reason }),
        },
    )
    .await
}

async fn start_family(
    state: &AppState,
    tx: &mut TenantTx,
    user_id: UserId,
    role: Role,
    version: i32,
    device: Option<&str>,
) -> Result<TokenPair> {
    issue_pair(state, tx, user_id, role, version, Uuid::now_v7(), device).await
}

async fn issue_pair(
    state: &AppState,
    tx: &mut TenantTx,
    user_id: UserId,
    role: Role,
    version: i32,
    family_id: Uuid,
    device: Option<&str>,
) -> Result<TokenPair> {
    let company_id = tx.company_id();
    let (refresh_token, hash) = new_refresh_token(company_id);
    let refresh_ttl = chrono::Duration::days(i64::from(state.settings.auth.refresh_ttl_days));
    refresh_tokens::insert(
        tx,
        &refresh_tokens::NewRefreshToken {
            id: Uuid::now_v7(),
            user_id,
            family_id,
            token_hash: &hash,
            device,
            expires_at: Utc::now() + refresh_ttl,
        },
    )
    .await?;
    let access_token = state
        .tokens
        .issue_access(user_id, company_id, role, version)?;
    Ok(TokenPair {
        access_token,
        token_type: "Bearer",
        expires_in: state.tokens.access_ttl().as_secs(),
        refresh_token,
        refresh_expires_in: refresh_ttl.num_seconds().max(0) as u64,
        user_id,
        company_id,
        role,
    })
}

/// Rotates a refresh token. Presenting a token that was already rotated means it leaked (or a
/// client retried wrongly): the whole family is revoked and the caller must sign in again.
pub async fn refresh(state: &AppState, token: &str, origin: Origin) -> Result<TokenPair> {
    let company_id = refresh_token_tenant(token).ok_or_else(invalid_refresh)?;
    let mut actor = AuditActor {
        user_id: None,
        company_id,
        role: None,
        request_id: origin.request_id.clone(),
        device: origin.device.clone(),
    };
    let ctx = TenantCtx::verified(company_id, actor.clone());
    let mut tx = state.db.tenant_tx(&ctx).await?;
    let hash = hash_refresh_token(token);
    refresh_tokens::lock_family_of(&mut tx, &hash).await?;
    let stored = refresh_tokens::find_for_update(&mut tx, &hash)
        .await?
        .ok_or_else(|| {
            state.metrics.auth_failure("invalid_refresh_token");
            invalid_refresh()
        })?;
    let user_id = UserId::from_uuid(stored.user_id);
    actor.user_id = Some(user_id);

    if stored.revoked_at.is_some() || stored.expires_at <= Utc::now() {
        state.metrics.auth_failure("invalid_refresh_token");
        return Err(invalid_refresh());
    }
    if stored.rotated_at.is_some() {
        let revoked =
            refresh_tokens::revoke_family(&mut tx, stored.family_id, "reuse_detected").await?;
        audit::record(
            &mut tx,
            &actor,
            Entry::success(
                "auth.refresh_reuse",
                "refresh_token_family",
                stored.family_id,
            )
            .with_outcome(Outcome::Denied)
            .with_details(serde_json::json!({ "revoked_tokens": revoked })),
        )
        .await?;
        tx.commit().await?;
        state.metrics.auth_failure("refresh_token_reused");
        return Err(Error::unauthorized(
            "auth.refresh_token_reused",
            "This refresh token was already used; every session of this sign-in was ended. Sign in again",
        ));
    }

    let standing = users::standing(&mut tx, user_id)
        .await?
        .ok_or_else(invalid_refresh)?;
    actor.role = Some(standing.role);
    if !standing.company_status.is_usable() {
        return Err(suspended());
    }
    if standing.user_status == UserStatus::Disabled {
        let revoked =
            refresh_tokens::revoke_family(&mut tx, stored.family_id, "user_disabled").await?;
        audit::record(
            &mut tx,
            &actor,
            Entry::success("auth.refresh", "refresh_token_family", stored.family_id)
                .with_outcome(Outcome::Denied)
                .with_details(
                    serde_json::json!({ "reason": "user_disabled", "revoked_tokens": revoked }),
                ),
        )
        .await?;
        tx.commit().await?;
        return Err(disabled());
    }

    refresh_tokens::mark_rotated(&mut tx, stored.id).await?;
    let device = origin.device.as_deref().or(stored.device.as_deref());
    let pair = issue_pair(
        state,
        &mut tx,
        user_id,
        standing.role,
        standing.token_version,
        stored.family_id,
        device,
    )
    .await?;
    audit::record(
        &mut tx,
        &actor,
        Entry::success("auth.refresh", "refresh_token_family", stored.family_id),
    )
    .await?;
    tx.commit().await?;
    Ok(pair)
}

/// Ends the sign-in the refresh token belongs to (every token of its family). Idempotent.
pub async fn logout(state: &AppState, token: &str, origin: Origin) -> Result<()> {
    let company_id = refresh_token_tenant(token).ok_or_else(invalid_refresh)?;
    let mut actor = AuditActor {
        user_id: None,
        company_id,
        role: None,
        request_id: origin.request_id,
        device: origin.device,
    };
    let ctx = TenantCtx::verified(company_id, actor.clone());
    let mut tx = state.db.tenant_tx(&ctx).await?;
    let hash = hash_refresh_token(token);
    refresh_tokens::lock_family_of(&mut tx, &hash).await?;
    let stored = refresh_tokens::find_for_update(&mut tx, &hash)
        .await?
        .ok_or_else(invalid_refresh)?;
    actor.user_id = Some(UserId::from_uuid(stored.user_id));
    let revoked = refresh_tokens::revoke_family(&mut tx, stored.family_id, "logout").await?;
    if revoked > 0 {
        audit::record(
            &mut tx,
            &actor,
            Entry::success("auth.logout", "refresh_token_family", stored.family_id),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
