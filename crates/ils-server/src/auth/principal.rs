//! The authenticated caller of a request: verified token claims plus a fresh-enough standing.

use ils_core::{AccessClaims, CompanyId, Permission, Role, SubscriptionTier, UserId};

use super::session::Origin;
use crate::app::AppState;
use crate::db::{AuditActor, PlatformCtx, TenantCtx};
use crate::error::{Error, Result};
use crate::rate_limit::LimitClass;
use ils_core::user::UserStatus;

#[derive(Clone, Debug)]
pub struct Principal {
    pub claims: AccessClaims,
    pub tier: SubscriptionTier,
    /// Whether the user belongs to the platform operator's own company.
    pub in_platform_company: bool,
    /// The practice's time zone (its "today").
    pub time_zone: chrono_tz::Tz,
    pub origin: Origin,
}

impl Principal {
    pub fn user_id(&self) -> UserId {
        self.claims.sub
    }

    pub fn company_id(&self) -> CompanyId {
        self.claims.company_id
    }

    pub fn role(&self) -> Role {
        self.claims.role
    }

    pub fn actor(&self) -> AuditActor {
        AuditActor {
            user_id: Some(self.claims.sub),
            company_id: self.claims.company_id,
            role: Some(self.claims.role),
            request_id: self.origin.request_id.clone(),
            device: self.origin.device.clone(),
        }
    }

    /// The caller as the domain's decisions see them, acting now in the practice's calendar.
    pub fn caller(&self) -> crate::clinical::Caller {
        // Microseconds, as PostgreSQL and the desktop's file keep times: a record's times are
        // then the same in every copy of it (sync compares them).
        let now = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 6);
        crate::clinical::Caller {
            actor: ils_core::Actor::from(&self.claims),
            audit: self.actor(),
            today: ils_core::clock::practice_date(now, self.time_zone),
            now,
        }
    }

    /// The caller's own tenant, the only one its requests may touch.
    pub fn tenant(&self) -> TenantCtx {
        TenantCtx::verified(self.claims.company_id, self.actor())
    }

    /// Platform scope, for platform administrators of the platform company only.
    pub fn platform(&self) -> Result<PlatformCtx> {
        if self.claims.role != Role::PlatformAdmin || !self.in_platform_company {
            return Err(forbidden_for(self, None));
        }
        Ok(PlatformCtx::verified(self.claims.company_id, self.actor()))
    }

    pub fn require(&self, permission: Permission) -> Result<()> {
        if self.claims.allows(permission) {
            Ok(())
        } else {
            Err(forbidden_for(self, Some(permission)))
        }
    }
}

fn forbidden_for(principal: &Principal, permission: Option<Permission>) -> Error {
    let needed = permission.map_or_else(
        || "platform administration".to_owned(),
        |p| format!("permission {p}"),
    );
    Error::forbidden(
        "auth.forbidden",
        format!("The role {} does not have {needed}", principal.claims.role),
    )
}

/// Verifies the bearer token, checks the user's and tenant's standing, and draws from the
/// tenant's API budget.
pub async fn authenticate(state: &AppState, bearer: &str, origin: Origin) -> Result<Principal> {
    let claims = match state.tokens.verify_access(bearer) {
        // A key this replica has not loaded yet: another replica may have just rotated. At most
        // four reloads a second, however many such tokens arrive.
        Err(Error::Unauthorized {
            code: "auth.unknown_key",
            ..
        }) if state
            .tokens
            .keys()
            .reload_if_older_than(std::time::Duration::from_millis(250))
            .await? =>
        {
            state.tokens.verify_access(bearer)
        }
        other => other,
    }
    .inspect_err(|e| {
        if let Error::Unauthorized { code, .. } = e {
            state.metrics.auth_failure(code);
        }
    })?;
    let actor = AuditActor {
        user_id: Some(claims.sub),
        company_id: claims.company_id,
        role: Some(claims.role),
        request_id: origin.request_id.clone(),
        device: origin.device.clone(),
    };
    let ctx = TenantCtx::verified(claims.company_id, actor);
    let standing = state
        .standing
        .get(&state.db, &ctx, claims.sub)
        .await?
        .ok_or_else(super::tokens::invalid_token)?;
    if !standing.company_status.is_usable() {
        state.metrics.auth_failure("tenant_suspended");
        return Err(super::session::suspended());
    }
    if standing.user_status == UserStatus::Disabled {
        state.metrics.auth_failure("user_disabled");
        return Err(super::session::disabled());
    }
    if claims.ver != standing.token_version {
        // The password was changed or reset after this token was issued.
        state.metrics.auth_failure("password_changed");
        return Err(Error::unauthorized(
            "auth.token_stale",
            "The password was changed since this token was issued; sign in again",
        ));
    }
    if standing.role == Role::PlatformAdmin && !standing.company_is_platform {
        // A platform role outside the platform company is a misconfiguration; never honour it.
        state.metrics.auth_failure("misplaced_platform_role");
        return Err(Error::forbidden(
            "auth.forbidden",
            "The platform_admin role is only valid in the platform operator's company",
        ));
    }
    if standing.role != claims.role {
        // The role changed since the token was issued: its permissions are stale.
        state.metrics.auth_failure("role_changed");
        return Err(Error::unauthorized(
            "auth.token_stale",
            "Your role has changed; refresh the access token",
        ));
    }
    if let Err(wait) = state
        .limiter
        .check(claims.company_id, standing.tier, LimitClass::Api)
        .await
    {
        state
            .metrics
            .rate_limited(&claims.company_id.to_string(), LimitClass::Api.as_str());
        return Err(Error::RateLimited {
            code: "rate_limit.api",
            retry_after: wait,
        });
    }
    Ok(Principal {
        claims,
        tier: standing.tier,
        in_platform_company: standing.company_is_platform,
        time_zone: standing.time_zone,
        origin,
    })
}

/// Audits a refused request in the caller's tenant (in its own transaction: the refused one is
/// not committed). `what` names the permission or rule, `resource` what was asked for.
pub async fn record_denial(state: &AppState, principal: &Principal, what: &str, resource: &str) {
    use crate::store::audit::{self, Entry, Outcome};
    let result = async {
        let mut tx = state.db.tenant_tx(&principal.tenant()).await?;
        audit::record(
            &mut tx,
            &principal.actor(),
            Entry {
                action: "access.denied",
                resource_type: "route",
                resource_id: Some(resource.to_owned()),
                outcome: Outcome::Denied,
                details: serde_json::json!({ "permission": what }),
            },
        )
        .await?;
        tx.commit().await
    }
    .await;
    if let Err(error) = result {
        tracing::warn!(%error, "could not audit a refused request");
    }
}
