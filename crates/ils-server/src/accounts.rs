//! Managing a company's users: the rules around roles, the last administrator, passwords and
//! sessions. Every mutation writes its audit row in the same transaction.

use crate::shared::Invalidation;
use ils_core::user::{self, UserStatus};
use ils_core::validation::ValidationErrors;
use ils_core::{Role, UserId};
use serde_json::json;

use crate::app::AppState;
use crate::auth::Principal;
use crate::error::{Error, Result};
use crate::store::audit::{self, Entry, Outcome};
use crate::store::refresh_tokens;
use crate::store::users::{self, User, UserChanges};

pub struct NewUserInput {
    pub email: String,
    pub password: String,
    pub first_name: String,
    pub last_name: String,
    pub role: Role,
}

impl std::fmt::Debug for NewUserInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUserInput")
            .field("email", &self.email)
            .field("password", &"[redacted]")
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
pub struct UserUpdate {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub role: Option<Role>,
    pub status: Option<UserStatus>,
}

/// Validated, normalised fields of a new user.
pub(crate) struct CheckedNewUser {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
}

pub(crate) fn check_new_user(input: &NewUserInput, field_prefix: &str) -> Result<CheckedNewUser> {
    let mut errors = ValidationErrors::new();
    let person = user::check_person(
        &mut errors,
        field_prefix,
        &input.email,
        &input.first_name,
        &input.last_name,
    );
    errors.check(user::check_password(
        &format!("{field_prefix}password"),
        &input.password,
        &input.email,
    ));
    match person {
        Some(p) if errors.is_empty() => Ok(CheckedNewUser {
            email: p.email,
            first_name: p.first_name,
            last_name: p.last_name,
        }),
        _ => Err(errors.into()),
    }
}

fn check_assignable(caller: &Principal, role: Role, field: &str) -> Result<()> {
    Ok(user::check_assignable(caller.role(), role, field)?)
}

/// Platform administrators can be changed by the platform operator only.
fn protect_platform_admin(caller: &Principal, target: &User) -> Result<()> {
    if target.role == Role::PlatformAdmin && caller.role() != Role::PlatformAdmin {
        return Err(Error::forbidden(
            "user.platform_admin_protected",
            "Only the platform operator can change a platform administrator",
        ));
    }
    Ok(())
}

/// Refuses to take away the last active company administrator (or the platform's last
/// platform administrator): nobody could manage the company any more.
async fn ensure_not_last_admin(tx: &mut crate::db::TenantTx, target: &User) -> Result<()> {
    if !matches!(target.role, Role::CompanyAdmin | Role::PlatformAdmin) {
        return Ok(());
    }
    if users::count_other_active_with_role(tx, target.id, target.role).await? == 0 {
        return Err(Error::conflict(
            "user.last_admin",
            format!(
                "This is the last active {}; appoint another one first",
                target.role
            ),
        ));
    }
    Ok(())
}

/// Inserts a validated new user with an already computed password hash.
pub(crate) async fn insert_checked(
    tx: &mut crate::db::TenantTx,
    checked: &CheckedNewUser,
    password_hash: &str,
    role: Role,
) -> Result<User> {
    users::insert(
        tx,
        &users::NewUser {
            id: UserId::new(),
            email: &checked.email,
            password_hash,
            first_name: &checked.first_name,
            last_name: &checked.last_name,
            role,
        },
    )
    .await
}

pub async fn list(
    state: &AppState,
    caller: &Principal,
    after: Option<UserId>,
    limit: u32,
) -> Result<Vec<User>> {
    let mut tx = state.db.tenant_tx(&caller.tenant()).await?;
    let rows = users::list(&mut tx, after, limit).await?;
    tx.end_read();
    Ok(rows)
}

pub async fn get(state: &AppState, caller: &Principal, id: UserId) -> Result<User> {
    // Reading a user writes nothing (no audit row): one round trip.
    users::read(&state.db, &caller.tenant(), id).await
}

pub async fn create(state: &AppState, caller: &Principal, input: NewUserInput) -> Result<User> {
    let checked = check_new_user(&input, "")?;
    check_assignable(caller, input.role, "role")?;
    let hash = state.passwords.hash(input.password).await?;
    let mut tx = state.db.tenant_tx(&caller.tenant()).await?;
    let created = insert_checked(&mut tx, &checked, &hash, input.role).await?;
    audit::record(
        &mut tx,
        &caller.actor(),
        Entry::success("user.create", "user", created.id)
            .with_details(json!({ "role": created.role })),
    )
    .await?;
    tx.commit().await?;
    Ok(created)
}

pub async fn update(
    state: &AppState,
    caller: &Principal,
    id: UserId,
    update: UserUpdate,
) -> Result<User> {
    let mut errors = ValidationErrors::new();
    let first_name = update
        .first_name
        .as_deref()
        .and_then(|v| errors.check(user::person_name("first_name", v)));
    let last_name = update
        .last_name
        .as_deref()
        .and_then(|v| errors.check(user::person_name("last_name", v)));
    errors.into_result()?;
    if let Some(role) = update.role {
        check_assignable(caller, role, "role")?;
    }

    let mut tx = state.db.tenant_tx(&caller.tenant()).await?;
    let before = users::get(&mut tx, id).await?;
    protect_platform_admin(caller, &before)?;
    let loses_role = before.status == UserStatus::Active
        && (update.role.is_some_and(|r| r != before.role)
            || update.status == Some(UserStatus::Disabled));
    if loses_role {
        ensure_not_last_admin(&mut tx, &before).await?;
    }
    // The sessions end and the audit row is written before the row changes: the row's lock is
    // then held only from the update to the commit that follows it, not across two more round
    // trips (several sessions of one practice editing one user otherwise queue on it).
    let mut revoked = 0;
    if update.status == Some(UserStatus::Disabled) && before.status != UserStatus::Disabled {
        revoked = refresh_tokens::revoke_all_for_user(&mut tx, id, "user_disabled").await?;
    }
    audit::record(
        &mut tx,
        &caller.actor(),
        Entry::success("user.update", "user", id).with_details(json!({
            "changed": {
                "first_name": first_name.is_some(),
                "last_name": last_name.is_some(),
                "role": update.role.filter(|r| *r != before.role),
                "status": update.status.filter(|s| *s != before.status),
            },
            "revoked_sessions": revoked,
        })),
    )
    .await?;
    let after = users::update(
        &mut tx,
        id,
        &UserChanges {
            first_name: first_name.as_deref(),
            last_name: last_name.as_deref(),
            role: update.role,
            status: update.status,
        },
    )
    .await?;
    tx.commit().await?;
    if after.role != before.role || after.status != before.status {
        // Names are not part of the standing; a role or status change is, at once.
        state
            .standing_changed(Invalidation::User(caller.company_id(), id))
            .await;
    }
    Ok(after)
}

pub async fn delete(state: &AppState, caller: &Principal, id: UserId) -> Result<()> {
    if id == caller.user_id() {
        return Err(Error::conflict(
            "user.cannot_delete_self",
            "You cannot delete your own account",
        ));
    }
    let mut tx = state.db.tenant_tx(&caller.tenant()).await?;
    let target = users::get(&mut tx, id).await?;
    protect_platform_admin(caller, &target)?;
    if target.status == UserStatus::Active {
        ensure_not_last_admin(&mut tx, &target).await?;
    }
    users::delete(&mut tx, id).await?;
    audit::record(
        &mut tx,
        &caller.actor(),
        Entry::success("user.delete", "user", id),
    )
    .await?;
    tx.commit().await?;
    state
        .standing_changed(Invalidation::User(caller.company_id(), id))
        .await;
    Ok(())
}

/// An administrator sets a new password for a user; the user's sessions end and any lockout
/// is lifted.
pub async fn reset_password(
    state: &AppState,
    caller: &Principal,
    id: UserId,
    password: String,
) -> Result<()> {
    let mut tx = state.db.tenant_tx(&caller.tenant()).await?;
    let target = users::get(&mut tx, id).await?;
    user::check_password("password", &password, &target.email)?;
    protect_platform_admin(caller, &target)?;
    let hash = state.passwords.hash(password).await?;
    users::set_password(&mut tx, id, &hash).await?;
    let revoked = refresh_tokens::revoke_all_for_user(&mut tx, id, "password_reset").await?;
    audit::record(
        &mut tx,
        &caller.actor(),
        Entry::success("user.password_reset", "user", id)
            .with_details(json!({ "revoked_sessions": revoked })),
    )
    .await?;
    tx.commit().await?;
    state
        .standing_changed(Invalidation::User(caller.company_id(), id))
        .await;
    Ok(())
}

/// A user changes their own password, proving the current one. Wrong guesses count towards the
/// account's lockout like failed sign-ins (a stolen access token must not become a way to guess
/// the password); on success every session ends, access tokens issued before included.
pub async fn change_own_password(
    state: &AppState,
    caller: &Principal,
    current: String,
    new: String,
) -> Result<()> {
    let id = caller.user_id();
    let ctx = caller.tenant();
    let mut tx = state.db.tenant_tx(&ctx).await?;
    let me = users::get(&mut tx, id).await?;
    let hash = users::password_hash(&mut tx, id).await?;
    tx.commit().await?;
    if let Some(until) = me.locked_until
        && until > chrono::Utc::now()
    {
        return Err(crate::auth::session::locked_out(until));
    }
    let correct = state.passwords.verify(current, Some(hash)).await?;
    let mut tx = state.db.tenant_tx(&ctx).await?;
    if !correct {
        let settings = &state.settings.auth;
        users::record_failed_login(
            &mut tx,
            id,
            settings.max_failed_logins,
            settings.lockout_secs,
        )
        .await?;
        audit::record(
            &mut tx,
            &caller.actor(),
            Entry::success("user.password_change", "user", id)
                .with_outcome(Outcome::Failure)
                .with_details(json!({ "reason": "wrong_current_password" })),
        )
        .await?;
        tx.commit().await?;
        return Err(Error::validation(
            "current_password",
            "user.current_password_wrong",
            "The current password is wrong",
        ));
    }
    user::check_password("new_password", &new, &me.email)?;
    let new_hash = state.passwords.hash(new).await?;
    users::set_password(&mut tx, id, &new_hash).await?;
    let revoked = refresh_tokens::revoke_all_for_user(&mut tx, id, "password_changed").await?;
    audit::record(
        &mut tx,
        &caller.actor(),
        Entry::success("user.password_change", "user", id)
            .with_details(json!({ "revoked_sessions": revoked })),
    )
    .await?;
    tx.commit().await?;
    state
        .standing_changed(Invalidation::User(caller.company_id(), id))
        .await;
    Ok(())
}

pub async fn audit_trail(
    state: &AppState,
    caller: &Principal,
    filter: &audit::Filter<'_>,
    limit: u32,
) -> Result<Vec<audit::AuditRow>> {
    for (name, value) in [
        ("resource_type", filter.resource_type),
        ("resource_id", filter.resource_id),
        ("action", filter.action),
    ] {
        if let Some(value) = value
            && (value.len() > 200 || value.chars().any(char::is_control))
        {
            return Err(Error::bad_request(
                "audit.filter_invalid",
                format!("{name} must be at most 200 printable characters"),
            ));
        }
    }
    let mut tx = state.db.tenant_tx(&caller.tenant()).await?;
    let rows = audit::list(&mut tx, filter, limit).await?;
    tx.commit().await?;
    Ok(rows)
}
