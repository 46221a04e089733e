//! `users`: people who sign in, each inside one company.

use chrono::{DateTime, Utc};
use ils_core::user::UserStatus;
use ils_core::{CompanyId, CompanyStatus, Role, SubscriptionTier, UserId};
use uuid::Uuid;

use super::parse_column;
use crate::db::TenantTx;
use crate::error::{Error, Result};

#[derive(Clone, Debug)]
pub struct User {
    pub company_id: CompanyId,
    pub id: UserId,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub role: Role,
    pub status: UserStatus,
    pub failed_logins: i32,
    pub token_version: i32,
    pub locked_until: Option<DateTime<Utc>>,
    pub last_login_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Row {
    company_id: Uuid,
    id: Uuid,
    email: String,
    first_name: String,
    last_name: String,
    role: String,
    status: String,
    failed_logins: i32,
    token_version: i32,
    locked_until: Option<DateTime<Utc>>,
    last_login_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<Row> for User {
    type Error = Error;

    fn try_from(row: Row) -> Result<Self> {
        Ok(User {
            company_id: CompanyId::from_uuid(row.company_id),
            id: UserId::from_uuid(row.id),
            email: row.email,
            first_name: row.first_name,
            last_name: row.last_name,
            role: parse_column("users.role", &row.role)?,
            status: parse_column("users.status", &row.status)?,
            failed_logins: row.failed_logins,
            token_version: row.token_version,
            locked_until: row.locked_until,
            last_login_at: row.last_login_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

const COLUMNS: &str = "company_id, id, email, first_name, last_name, role, status, failed_logins, \
                       token_version, locked_until, last_login_at, created_at, updated_at";

fn not_found() -> Error {
    Error::NotFound { resource: "user" }
}

#[derive(Debug)]
pub struct NewUser<'a> {
    pub id: UserId,
    pub email: &'a str,
    pub password_hash: &'a str,
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub role: Role,
}

pub async fn insert(tx: &mut TenantTx, new: &NewUser<'_>) -> Result<User> {
    let tenant = tx.tenant();
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO users (company_id, id, email, password_hash, first_name, last_name, role, status)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'active') RETURNING {COLUMNS}"
    )))
    .bind(tenant)
    .bind(new.id.into_uuid())
    .bind(new.email)
    .bind(new.password_hash)
    .bind(new.first_name)
    .bind(new.last_name)
    .bind(new.role.as_str())
    .fetch_one(tx.conn())
    .await
    .map_err(Error::on_unique_violation(
        "user.email_taken",
        "A user with this e-mail address already exists in this company",
    ))?;
    row.try_into()
}

pub async fn get(tx: &mut TenantTx, id: UserId) -> Result<User> {
    let tenant = tx.tenant();
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM users WHERE company_id = $1 AND id = $2"
    )))
    .bind(tenant)
    .bind(id.into_uuid())
    .fetch_optional(tx.conn())
    .await?;
    row.ok_or_else(not_found)?.try_into()
}

/// A user, read in one round trip outside any other transaction (`Db::read_tenant_rows`).
pub async fn read(db: &crate::db::Db, ctx: &crate::db::TenantCtx, id: UserId) -> Result<User> {
    let select = crate::db::ReadById::new(
        &format!("SELECT {COLUMNS} FROM users WHERE company_id = {{}} AND id = {{}}"),
        &[ctx.company_id().into_uuid(), id.into_uuid()],
    );
    let rows: Vec<Row> = db.read_tenant_rows(ctx, select).await?;
    rows.into_iter().next().ok_or_else(not_found)?.try_into()
}

#[derive(sqlx::FromRow)]
struct LoginRow {
    #[sqlx(flatten)]
    user: Row,
    password_hash: String,
}

/// A user and their password hash, for sign-in. No lock is taken: the password check runs
/// outside any transaction, and the counters are updated atomically afterwards.
pub async fn get_for_login(tx: &mut TenantTx, email: &str) -> Result<Option<(User, String)>> {
    let tenant = tx.tenant();
    let row: Option<LoginRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS}, password_hash FROM users WHERE company_id = $1 AND lower(email) = lower($2)"
    )))
    .bind(tenant)
    .bind(email)
    .fetch_optional(tx.conn())
    .await?;
    row.map(|r| Ok((r.user.try_into()?, r.password_hash)))
        .transpose()
}

/// When the account is locked, until when; locks the row for the rest of the transaction.
pub async fn locked_until_for_update(
    tx: &mut TenantTx,
    id: UserId,
) -> Result<Option<DateTime<Utc>>> {
    let tenant = tx.tenant();
    let row: Option<(Option<DateTime<Utc>>,)> = sqlx::query_as(
        "SELECT locked_until FROM users WHERE company_id = $1 AND id = $2 AND locked_until > now() FOR UPDATE",
    )
    .bind(tenant)
    .bind(id.into_uuid())
    .fetch_optional(tx.conn())
    .await?;
    Ok(row.and_then(|(until,)| until))
}

pub async fn password_hash(tx: &mut TenantTx, id: UserId) -> Result<String> {
    let tenant = tx.tenant();
    let row: Option<(String,)> =
        sqlx::query_as("SELECT password_hash FROM users WHERE company_id = $1 AND id = $2")
            .bind(tenant)
            .bind(id.into_uuid())
            .fetch_optional(tx.conn())
            .await?;
    row.map(|(h,)| h).ok_or_else(not_found)
}

pub async fn list(tx: &mut TenantTx, after: Option<UserId>, limit: u32) -> Result<Vec<User>> {
    let tenant = tx.tenant();
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM users WHERE company_id = $1 AND ($2::uuid IS NULL OR id > $2)
         ORDER BY id LIMIT $3"
    )))
    .bind(tenant)
    .bind(after.map(UserId::into_uuid))
    .bind(i64::from(limit))
    .fetch_all(tx.conn())
    .await?;
    rows.into_iter().map(User::try_from).collect()
}

#[derive(Debug, Default)]
pub struct UserChanges<'a> {
    pub first_name: Option<&'a str>,
    pub last_name: Option<&'a str>,
    pub role: Option<Role>,
    pub status: Option<UserStatus>,
}

pub async fn update(tx: &mut TenantTx, id: UserId, changes: &UserChanges<'_>) -> Result<User> {
    let tenant = tx.tenant();
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE users SET
            first_name = coalesce($3, first_name),
            last_name = coalesce($4, last_name),
            role = coalesce($5, role),
            status = coalesce($6, status),
            updated_at = now()
         WHERE company_id = $1 AND id = $2 RETURNING {COLUMNS}"
    )))
    .bind(tenant)
    .bind(id.into_uuid())
    .bind(changes.first_name)
    .bind(changes.last_name)
    .bind(changes.role.map(Role::as_str))
    .bind(changes.status.map(UserStatus::as_str))
    .fetch_optional(tx.conn())
    .await?;
    row.ok_or_else(not_found)?.try_into()
}

pub async fn set_password(tx: &mut TenantTx, id: UserId, hash: &str) -> Result<()> {
    let tenant = tx.tenant();
    let done = sqlx::query(
        "UPDATE users SET password_hash = $3, password_changed_at = now(), token_version = token_version + 1, failed_logins = 0,
                locked_until = NULL, updated_at = now()
         WHERE company_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(id.into_uuid())
    .bind(hash)
    .execute(tx.conn())
    .await?;
    if done.rows_affected() == 0 {
        return Err(not_found());
    }
    Ok(())
}

pub async fn delete(tx: &mut TenantTx, id: UserId) -> Result<()> {
    let tenant = tx.tenant();
    let done = sqlx::query("DELETE FROM users WHERE company_id = $1 AND id = $2")
        .bind(tenant)
        .bind(id.into_uuid())
        .execute(tx.conn())
        .await?;
    if done.rows_affected() == 0 {
        return Err(not_found());
    }
    Ok(())
}

/// Counts a failed password check and locks the account once `max_failures` is reached. A lock
/// that has run out starts the count again, so one wrong guess after a lockout does not lock
/// the account anew. Returns the lock's end when the account is (now) locked.
pub async fn record_failed_login(
    tx: &mut TenantTx,
    id: UserId,
    max_failures: u32,
    lockout_secs: u64,
) -> Result<Option<DateTime<Utc>>> {
    let tenant = tx.tenant();
    let now = tx.now().await?;
    let row: Option<(Option<DateTime<Utc>>,)> = sqlx::query_as(
        "UPDATE users SET
            failed_logins = CASE WHEN locked_until <= $5 THEN 1 ELSE failed_logins + 1 END,
            locked_until = CASE
                WHEN (CASE WHEN locked_until <= $5 THEN 1 ELSE failed_logins + 1 END) >= $3
                    THEN $4
                WHEN locked_until <= $5 THEN NULL
                ELSE locked_until END
         WHERE company_id = $1 AND id = $2
         RETURNING locked_until",
    )
    .bind(tenant)
    .bind(id.into_uuid())
    .bind(i32::try_from(max_failures).unwrap_or(i32::MAX))
    // Computed here: `timestamptz + interval` is not immutable either.
    .bind(
        chrono::Duration::try_seconds(i64::try_from(lockout_secs).unwrap_or(i64::MAX))
            .and_then(|lockout| now.checked_add_signed(lockout))
            .unwrap_or(DateTime::<Utc>::MAX_UTC),
    )
    .bind(now)
    .fetch_optional(tx.conn())
    .await?;
    Ok(row.and_then(|(until,)| until))
}

pub async fn record_successful_login(tx: &mut TenantTx, id: UserId) -> Result<()> {
    let tenant = tx.tenant();
    sqlx::query(
        "UPDATE users SET failed_logins = 0, locked_until = NULL, last_login_at = now()
         WHERE company_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(id.into_uuid())
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Active users with `role` other than `except`. Locks every active holder of the role first
/// (in id order, so concurrent callers queue instead of deadlocking), so that two
/// administrators demoting each other at the same moment cannot both succeed.
pub async fn count_other_active_with_role(
    tx: &mut TenantTx,
    except: UserId,
    role: Role,
) -> Result<usize> {
    let tenant = tx.tenant();
    let holders: Vec<(Uuid,)> = sqlx::query_as(
        "SELECT id FROM users WHERE company_id = $1 AND role = $2 AND status = 'active'
         ORDER BY id FOR UPDATE",
    )
    .bind(tenant)
    .bind(role.as_str())
    .fetch_all(tx.conn())
    .await?;
    Ok(holders
        .iter()
        .filter(|(id,)| *id != except.into_uuid())
        .count())
}

/// What every authenticated request re-checks (through a short cache).
#[derive(Clone, Copy, Debug)]
pub struct StandingRow {
    pub user_status: UserStatus,
    pub role: Role,
    /// Tokens of an older version are stale (password changed or reset).
    pub token_version: i32,
    pub company_status: CompanyStatus,
    pub tier: SubscriptionTier,
    pub company_is_platform: bool,
    /// The practice's time zone, for its "today".
    pub time_zone: chrono_tz::Tz,
}

pub async fn standing(tx: &mut TenantTx, id: UserId) -> Result<Option<StandingRow>> {
    let tenant = tx.tenant();
    let row: Option<(String, String, i32, String, String, bool, String)> = sqlx::query_as(
        "SELECT u.status, u.role, u.token_version, c.status, c.tier, c.is_platform, c.time_zone
         FROM users u JOIN companies c ON c.id = u.company_id
         WHERE u.company_id = $1 AND u.id = $2",
    )
    .bind(tenant)
    .bind(id.into_uuid())
    .fetch_optional(tx.conn())
    .await?;
    row.map(
        |(us, role, token_version, cs, tier, is_platform, time_zone)| {
            Ok(StandingRow {
                user_status: parse_column("users.status", &us)?,
                role: parse_column("users.role", &role)?,
                token_version,
                company_status: parse_column("companies.status", &cs)?,
                tier: parse_column("companies.tier", &tier)?,
                company_is_platform: is_platform,
                time_zone: parse_column("companies.time_zone", &time_zone)?,
            })
        },
    )
    .transpose()
}
