//! `companies`: the tenants.

use chrono::{DateTime, Utc};
use ils_core::{AiConfig, CompanyId, CompanyStatus, SubscriptionTier};
use sqlx::types::Json;
use uuid::Uuid;

use super::parse_column;
use crate::db::{PlatformTx, TenantTx};
use crate::error::{Error, Result};

#[derive(Clone, Debug)]
pub struct Company {
    pub id: CompanyId,
    pub name: String,
    pub domain: String,
    pub ai_config: AiConfig,
    /// Goes up by one with every change of `ai_config`.
    pub ai_config_version: i32,
    pub tier: SubscriptionTier,
    pub status: CompanyStatus,
    pub is_platform: bool,
    /// The practice's IANA time zone: its "today".
    pub time_zone: chrono_tz::Tz,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    name: String,
    domain: String,
    ai_config: Json<serde_json::Value>,
    ai_config_version: i32,
    tier: String,
    status: String,
    is_platform: bool,
    time_zone: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<Row> for Company {
    type Error = Error;

    fn try_from(row: Row) -> Result<Self> {
        Ok(Company {
            id: CompanyId::from_uuid(row.id),
            name: row.name,
            domain: row.domain,
            // A stored config that no longer parses (an older shape) falls back to defaults
            // rather than locking the tenant out.
            ai_config: serde_json::from_value(row.ai_config.0).unwrap_or_default(),
            ai_config_version: row.ai_config_version,
            tier: parse_column("companies.tier", &row.tier)?,
            status: parse_column("companies.status", &row.status)?,
            is_platform: row.is_platform,
            time_zone: parse_column("companies.time_zone", &row.time_zone)?,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

const COLUMNS: &str = "id, name, domain, ai_config, ai_config_version, tier, status, is_platform, time_zone, created_at, updated_at";

/// The caller's own company.
pub async fn get_own(tx: &mut TenantTx) -> Result<Company> {
    let tenant = tx.tenant();
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM companies WHERE id = $1"
    )))
    .bind(tenant)
    .fetch_optional(tx.conn())
    .await?;
    row.ok_or(Error::NotFound {
        resource: "company",
    })?
    .try_into()
}

#[derive(Debug)]
pub struct CompanyChanges<'a> {
    pub name: Option<&'a str>,
    pub domain: Option<&'a str>,
    pub ai_config: Option<&'a AiConfig>,
    pub tier: Option<SubscriptionTier>,
    pub status: Option<CompanyStatus>,
    pub time_zone: Option<chrono_tz::Tz>,
}

/// Updates the caller's own company (name and AI configuration only reach here from tenants).
pub async fn update_own(tx: &mut TenantTx, changes: &CompanyChanges<'_>) -> Result<Company> {
    let tenant = tx.tenant();
    update(tx.conn(), tenant, changes).await
}

pub async fn platform_get(tx: &mut PlatformTx, id: CompanyId) -> Result<Company> {
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM companies WHERE id = $1"
    )))
    .bind(id.into_uuid())
    .fetch_optional(tx.conn())
    .await?;
    row.ok_or(Error::NotFound {
        resource: "company",
    })?
    .try_into()
}

pub async fn platform_list(
    tx: &mut PlatformTx,
    after: Option<CompanyId>,
    limit: u32,
) -> Result<Vec<Company>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM companies WHERE ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT $2"
    )))
    .bind(after.map(CompanyId::into_uuid))
    .bind(i64::from(limit))
    .fetch_all(tx.conn())
    .await?;
    rows.into_iter().map(Company::try_from).collect()
}

#[derive(Debug)]
pub struct NewCompany<'a> {
    pub id: CompanyId,
    pub name: &'a str,
    pub domain: &'a str,
    pub ai_config: &'a AiConfig,
    pub tier: SubscriptionTier,
    pub status: CompanyStatus,
    pub is_platform: bool,
}

pub async fn platform_insert(tx: &mut PlatformTx, new: &NewCompany<'_>) -> Result<Company> {
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO companies (id, name, domain, ai_config, tier, status, is_platform)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
    )))
    .bind(new.id.into_uuid())
    .bind(new.name)
    .bind(new.domain)
    .bind(Json(new.ai_config))
    .bind(new.tier.as_str())
    .bind(new.status.as_str())
    .bind(new.is_platform)
    .fetch_one(tx.conn())
    .await
    .map_err(Error::on_unique_violation(
        "company.domain_taken",
        "Another company already uses this domain",
    ))?;
    row.try_into()
}

pub async fn platform_update(
    tx: &mut PlatformTx,
    id: CompanyId,
    changes: &CompanyChanges<'_>,
) -> Result<Company> {
    update(tx.conn(), id.into_uuid(), changes).await
}

async fn update(
    conn: &mut sqlx::PgConnection,
    id: Uuid,
    changes: &CompanyChanges<'_>,
) -> Result<Company> {
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE companies SET
            name = coalesce($2, name),
            domain = coalesce($3, domain),
            ai_config = coalesce($4, ai_config),
            ai_config_version = ai_config_version
                + CASE WHEN $4::jsonb IS NOT NULL AND $4::jsonb IS DISTINCT FROM ai_config THEN 1 ELSE 0 END,
            tier = coalesce($5, tier),
            status = coalesce($6, status),
            time_zone = coalesce($7, time_zone),
            updated_at = now()
         WHERE id = $1 RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(changes.name)
    .bind(changes.domain)
    .bind(changes.ai_config.map(Json))
    .bind(changes.tier.map(SubscriptionTier::as_str))
    .bind(changes.status.map(CompanyStatus::as_str))
    .bind(changes.time_zone.map(|tz| tz.name()))
    .fetch_optional(conn)
    .await
    .map_err(Error::on_unique_violation(
        "company.domain_taken",
        "Another company already uses this domain",
    ))?;
    row.ok_or(Error::NotFound {
        resource: "company",
    })?
    .try_into()
}

/// What sign-in needs before any tenant is set, through the narrow definer function.
#[derive(Clone, Copy, Debug)]
pub struct LoginTenant {
    pub id: CompanyId,
    pub status: CompanyStatus,
    pub tier: SubscriptionTier,
}

pub async fn for_login(pool: &sqlx::PgPool, domain: &str) -> Result<Option<LoginTenant>> {
    let row: Option<(Uuid, String, String)> =
        sqlx::query_as("SELECT id, status, tier FROM ils_company_for_login($1)")
            .bind(domain)
            .fetch_optional(pool)
            .await?;
    row.map(|(id, status, tier)| {
        Ok(LoginTenant {
            id: CompanyId::from_uuid(id),
            status: parse_column("companies.status", &status)?,
            tier: parse_column("companies.tier", &tier)?,
        })
    })
    .transpose()
}

/// The platform company, if bootstrapped.
pub async fn platform_home(tx: &mut PlatformTx) -> Result<Option<Company>> {
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM companies WHERE is_platform"
    )))
    .fetch_optional(tx.conn())
    .await?;
    row.map(Company::try_from).transpose()
}
