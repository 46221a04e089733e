//! Tenants: a company's view of itself, the platform operator's administration of all
//! companies, and the bootstrap of the platform company. Every action of a platform
//! administrator on another tenant is audited in that tenant's log and in the platform's own.

use crate::shared::Invalidation;
use ils_core::tenant::{company_name, normalize_domain};
use ils_core::validation::ValidationErrors;
use ils_core::{AiConfig, CompanyId, CompanyStatus, Role, SubscriptionTier, UserId};
use serde_json::json;

use crate::accounts::{NewUserInput, check_new_user, insert_checked};
use crate::app::AppState;
use crate::auth::Principal;
use crate::db::{AuditActor, Db, PlatformCtx, PlatformTx};
use crate::error::{Error, Result};
use crate::store::audit::{self, Entry};
use crate::store::companies::{self, Company, CompanyChanges, NewCompany};

pub async fn own(state: &AppState, caller: &Principal) -> Result<Company> {
    let mut tx = state.db.tenant_tx(&caller.tenant()).await?;
    let company = companies::get_own(&mut tx).await?;
    tx.end_read();
    Ok(company)
}

/// What a company's administrator may change about their own company.
#[derive(Debug, Default)]
pub struct OwnCompanyUpdate {
    pub name: Option<String>,
    pub ai_config: Option<AiConfig>,
    /// The practice's IANA time zone.
    pub time_zone: Option<String>,
}

pub async fn update_own(
    state: &AppState,
    caller: &Principal,
    update: OwnCompanyUpdate,
) -> Result<Company> {
    let mut errors = ValidationErrors::new();
    let name = update
        .name
        .as_deref()
        .and_then(|n| errors.check(company_name("name", n)));
    if let Some(config) = &update.ai_config
        && let Err(e) = config.validate("ai_config")
    {
        errors.errors.extend(e.errors);
    }
    let time_zone = update
        .time_zone
        .as_deref()
        .and_then(|tz| errors.check(ils_core::clock::time_zone("time_zone", tz)));
    errors.into_result()?;
    let mut tx = state.db.tenant_tx(&caller.tenant()).await?;
    // Turning the redaction of patient data, or prescription capture from photos, on or off is
    // named in the audit row.
    let (redaction, capture) = match &update.ai_config {
        Some(new) => {
            let before = companies::get_own(&mut tx).await?.ai_config;
            (before.redaction_change(new), before.capture_change(new))
        }
        None => (None, None),
    };
    let company = companies::update_own(
        &mut tx,
        &CompanyChanges {
            name: name.as_deref(),
            domain: None,
            ai_config: update.ai_config.as_ref(),
            tier: None,
            status: None,
            time_zone,
        },
    )
    .await?;
    audit::record(
        &mut tx,
        &caller.actor(),
        Entry::success("company.update", "company", company.id).with_details(json!({
            "changed": {
                "name": name.is_some(),
                "ai_config": update.ai_config.is_some(),
                "time_zone": time_zone.is_some(),
            },
            "redaction_of_patient_data": redaction,
            "prescription_capture": capture,
        })),
    )
    .await?;
    tx.commit().await?;
    if time_zone.is_some() {
        // Every user's standing carries the practice's time zone: its "today" changes now.
        state
            .standing_changed(Invalidation::Company(company.id))
            .await;
    }
    Ok(company)
}

/// Writes the audit row of a platform action on `target` into the target's log and into the
/// platform's own log, inside the platform transaction.
async fn audit_cross_tenant(
    tx: &mut PlatformTx,
    actor: &AuditActor,
    target: CompanyId,
    action: &str,
    details: serde_json::Value,
) -> Result<()> {
    let entry = |details| Entry::success(action, "company", target).with_details(details);
    let tenant_tx = tx.enter_tenant(target).await?;
    audit::record(tenant_tx, actor, entry(details.clone())).await?;
    let home = tx.enter_home().await?;
    audit::record(home, actor, entry(details)).await?;
    Ok(())
}

pub async fn list(
    state: &AppState,
    caller: &Principal,
    after: Option<CompanyId>,
    limit: u32,
) -> Result<Vec<Company>> {
    let mut tx = state.db.platform_tx(&caller.platform()?).await?;
    let rows = companies::platform_list(&mut tx, after, limit).await?;
    tx.commit().await?;
    Ok(rows)
}

pub async fn get(state: &AppState, caller: &Principal, id: CompanyId) -> Result<Company> {
    let mut tx = state.db.platform_tx(&caller.platform()?).await?;
    let company = companies::platform_get(&mut tx, id).await?;
    if id != caller.company_id() {
        audit_cross_tenant(
            &mut tx,
            &caller.actor(),
            id,
            "platform.company.read",
            json!({}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(company)
}

#[derive(Debug)]
pub struct NewTenantInput {
    pub name: String,
    pub domain: String,
    pub tier: SubscriptionTier,
    pub status: CompanyStatus,
    pub ai_config: AiConfig,
    /// The tenant's first company administrator.
    pub admin: Option<NewUserInput>,
}

pub async fn create(
    state: &AppState,
    caller: &Principal,
    input: NewTenantInput,
) -> Result<Company> {
    let platform = caller.platform()?;
    create_with(&state.db, &state.passwords, &platform, input, false).await
}

async fn create_with(
    db: &Db,
    passwords: &crate::auth::PasswordHasher,
    platform: &PlatformCtx,
    input: NewTenantInput,
    is_platform: bool,
) -> Result<Company> {
    let mut errors = ValidationErrors::new();
    let name = errors.check(company_name("name", &input.name));
    let domain = errors.check(normalize_domain("domain", &input.domain));
    if let Err(e) = input.ai_config.validate("ai_config") {
        errors.errors.extend(e.errors);
    }
    let admin = match &input.admin {
        Some(admin) => match check_new_user(admin, "admin.") {
            Ok(checked) => Some((checked, admin)),
            Err(Error::Validation(e)) => {
                errors.errors.extend(e.errors);
                None
            }
            Err(other) => return Err(other),
        },
        None => None,
    };
    errors.into_result()?;
    let (Some(name), Some(domain)) = (name, domain) else {
        return Err(Error::Internal("validated fields missing".into()));
    };
    let admin_hash = match &admin {
        Some((_, raw)) => Some(passwords.hash(raw.password.clone()).await?),
        None => None,
    };

    let id = if is_platform {
        platform.home()
    } else {
        CompanyId::new()
    };
    let mut tx = db.platform_tx(platform).await?;
    let company = companies::platform_insert(
        &mut tx,
        &NewCompany {
            id,
            name: &name,
            domain: &domain,
            ai_config: &input.ai_config,
            tier: input.tier,
            status: input.status,
            is_platform,
        },
    )
    .await?;
    let mut admin_id = None;
    if let (Some((checked, _)), Some(hash)) = (&admin, &admin_hash) {
        // The first user of a tenant is its company administrator; only the platform company
        // has platform administrators.
        let role = if is_platform {
            Role::PlatformAdmin
        } else {
            Role::CompanyAdmin
        };
        let tenant_tx = tx.enter_tenant(company.id).await?;
        let user = insert_checked(tenant_tx, checked, hash, role).await?;
        admin_id = Some(user.id);
    }
    audit_cross_tenant(
        &mut tx,
        platform.actor(),
        company.id,
        "platform.company.create",
        json!({ "tier": company.tier, "status": company.status, "first_admin": admin_id }),
    )
    .await?;
    tx.commit().await?;
    Ok(company)
}

#[derive(Debug)]
pub struct TenantUpdate {
    pub name: Option<String>,
    pub domain: Option<String>,
    pub tier: Option<SubscriptionTier>,
    pub status: Option<CompanyStatus>,
    pub ai_config: Option<AiConfig>,
}

pub async fn update(
    state: &AppState,
    caller: &Principal,
    id: CompanyId,
    update: TenantUpdate,
) -> Result<Company> {
    let platform = caller.platform()?;
    let mut errors = ValidationErrors::new();
    let name = update
        .name
        .as_deref()
        .and_then(|n| errors.check(company_name("name", n)));
    let domain = update
        .domain
        .as_deref()
        .and_then(|d| errors.check(normalize_domain("domain", d)));
    if let Some(config) = &update.ai_config
        && let Err(e) = config.validate("ai_config")
    {
        errors.errors.extend(e.errors);
    }
    errors.into_result()?;
    if id == platform.home() && update.status == Some(CompanyStatus::Suspended) {
        return Err(Error::conflict(
            "company.cannot_suspend_platform",
            "The platform operator's own company cannot be suspended",
        ));
    }
    let mut tx = state.db.platform_tx(&platform).await?;
    let before = companies::platform_get(&mut tx, id).await?;
    let company = companies::platform_update(
        &mut tx,
        id,
        &CompanyChanges {
            name: name.as_deref(),
            domain: domain.as_deref(),
            ai_config: update.ai_config.as_ref(),
            tier: update.tier,
            status: update.status,
            time_zone: None,
        },
    )
    .await?;
    let action = match (before.status, company.status) {
        (b, CompanyStatus::Suspended) if b != CompanyStatus::Suspended => {
            "platform.company.suspend"
        }
        (CompanyStatus::Suspended, a) if a != CompanyStatus::Suspended => {
            "platform.company.reactivate"
        }
        _ => "platform.company.update",
    };
    audit_cross_tenant(
        &mut tx,
        platform.actor(),
        id,
        action,
        json!({
            "tier": update.tier.filter(|t| *t != before.tier),
            "status": update.status.filter(|s| *s != before.status),
            "name_changed": name.is_some(),
            "domain_changed": domain.is_some(),
            "ai_config_changed": update.ai_config.is_some(),
        }),
    )
    .await?;
    tx.commit().await?;
    state.standing_changed(Invalidation::Company(id)).await;
    Ok(company)
}

/// Creates the platform operator's company and its first platform administrator, once. Returns
/// `None` when the platform already exists.
pub async fn bootstrap_platform(
    state: &AppState,
    name: &str,
    domain: &str,
    admin: NewUserInput,
) -> Result<Option<Company>> {
    let home = CompanyId::new();
    let platform = PlatformCtx::verified(
        home,
        AuditActor {
            user_id: None,
            company_id: home,
            role: Some(Role::PlatformAdmin),
            request_id: None,
            device: Some("ils-server bootstrap".into()),
        },
    );
    let mut tx = state.db.platform_tx(&platform).await?;
    let existing = companies::platform_home(&mut tx).await?;
    tx.commit().await?;
    if existing.is_some() {
        return Ok(None);
    }
    let input = NewTenantInput {
        name: name.to_owned(),
        domain: domain.to_owned(),
        tier: SubscriptionTier::Enterprise,
        status: CompanyStatus::Active,
        ai_config: AiConfig::default(),
        admin: Some(admin),
    };
    create_with(&state.db, &state.passwords, &platform, input, true)
        .await
        .map(Some)
}

/// The platform context of the bootstrapped platform company, for operator commands run on the
/// server itself (e.g. seeding a demo tenant).
pub async fn operator_context(state: &AppState) -> Result<PlatformCtx> {
    let probe_id = CompanyId::new();
    let system = AuditActor {
        user_id: None,
        company_id: probe_id,
        role: Some(Role::PlatformAdmin),
        request_id: None,
        device: Some("ils-server cli".into()),
    };
    let mut tx = state
        .db
        .platform_tx(&PlatformCtx::verified(probe_id, system.clone()))
        .await?;
    let home = companies::platform_home(&mut tx)
        .await?
        .ok_or_else(|| Error::Internal("the platform is not bootstrapped yet".into()))?;
    tx.commit().await?;
    Ok(PlatformCtx::verified(
        home.id,
        AuditActor {
            company_id: home.id,
            ..system
        },
    ))
}

/// Creates a tenant as the operator (CLI), e.g. the demo tenant.
pub async fn create_as_operator(state: &AppState, input: NewTenantInput) -> Result<Company> {
    let platform = operator_context(state).await?;
    create_with(&state.db, &state.passwords, &platform, input, false).await
}

/// Adds a user to a tenant as the operator (CLI), audited in both logs.
pub async fn add_user_as_operator(
    state: &AppState,
    company: CompanyId,
    input: NewUserInput,
) -> Result<UserId> {
    let platform = operator_context(state).await?;
    if input.role == Role::PlatformAdmin && company != platform.home() {
        return Err(Error::validation(
            "role",
            "user.role_not_assignable",
            "platform_admin exists only in the platform operator's company",
        ));
    }
    let checked = check_new_user(&input, "")?;
    let hash = state.passwords.hash(input.password).await?;
    let mut tx = state.db.platform_tx(&platform).await?;
    let tenant_tx = tx.enter_tenant(company).await?;
    let user = insert_checked(tenant_tx, &checked, &hash, input.role).await?;
    audit_cross_tenant(
        &mut tx,
        platform.actor(),
        company,
        "platform.user.create",
        json!({ "user_id": user.id, "role": user.role }),
    )
    .await?;
    tx.commit().await?;
    Ok(user.id)
}

/// Rotates the token-signing key; the rotation and its audit row commit together.
pub async fn rotate_signing_key(state: &AppState, caller: &Principal) -> Result<String> {
    let platform = caller.platform()?;
    let mut tx = state.db.platform_tx(&platform).await?;
    let keys = state.tokens.keys();
    let kid = keys.rotate_in(tx.conn()).await?;
    let home = tx.enter_home().await?;
    audit::record(
        home,
        platform.actor(),
        Entry::success("platform.keys.rotate", "signing_key", &kid),
    )
    .await?;
    tx.commit().await?;
    keys.reload().await?;
    Ok(kid)
}
