//! `fine_tuned_models`: a practice's registered fine-tuned models.

use ils_core::fine_tune::{AiPurpose, FineTuneStatus, FineTunedModel};
use uuid::Uuid;

use super::parse_column;
use crate::db::TenantTx;
use crate::error::{Error, Result};

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    base_model: String,
    provider: String,
    provider_model_id: String,
    purpose: String,
    vision: bool,
    status: String,
    failure_reason: Option<String>,
    created_at: chrono::DateTime<chrono::Utc>,
    deployed_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl TryFrom<Row> for FineTunedModel {
    type Error = Error;
    fn try_from(r: Row) -> Result<Self> {
        Ok(FineTunedModel {
            id: r.id,
            base_model: r.base_model,
            provider: r.provider,
            provider_model_id: r.provider_model_id,
            purpose: parse_column::<AiPurpose>("purpose", &r.purpose)?,
            vision: r.vision,
            status: parse_column::<FineTuneStatus>("status", &r.status)?,
            failure_reason: r.failure_reason,
            created_at: r.created_at,
            deployed_at: r.deployed_at,
        })
    }
}

const COLUMNS: &str = "id, base_model, provider, provider_model_id, purpose, vision, status, \
                       failure_reason, created_at, deployed_at";

/// Every registration of the practice, newest first.
pub async fn list(tx: &mut TenantTx) -> Result<Vec<FineTunedModel>> {
    let tenant = tx.tenant();
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM fine_tuned_models WHERE company_id = $1
         ORDER BY created_at DESC, id DESC"
    )))
    .bind(tenant)
    .fetch_all(tx.conn())
    .await?;
    rows.into_iter().map(TryInto::try_into).collect()
}

/// One registration, locked for a change.
pub async fn find_for_update(tx: &mut TenantTx, id: Uuid) -> Result<Option<FineTunedModel>> {
    let tenant = tx.tenant();
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM fine_tuned_models WHERE company_id = $1 AND id = $2 FOR UPDATE"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    row.map(TryInto::try_into).transpose()
}

/// Writes a new registration; `false` when the practice registered this provider's model
/// already.
pub async fn insert(tx: &mut TenantTx, m: &FineTunedModel) -> Result<bool> {
    let tenant = tx.tenant();
    let done = sqlx::query(
        "INSERT INTO fine_tuned_models (company_id, id, base_model, provider, provider_model_id,
             purpose, vision, status, failure_reason, created_at, deployed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (company_id, provider, provider_model_id) DO NOTHING",
    )
    .bind(tenant)
    .bind(m.id)
    .bind(&m.base_model)
    .bind(&m.provider)
    .bind(&m.provider_model_id)
    .bind(m.purpose.as_str())
    .bind(m.vision)
    .bind(m.status.as_str())
    .bind(&m.failure_reason)
    .bind(m.created_at)
    .bind(m.deployed_at)
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn update_status(tx: &mut TenantTx, m: &FineTunedModel) -> Result<()> {
    let tenant = tx.tenant();
    sqlx::query(
        "UPDATE fine_tuned_models SET status = $3, failure_reason = $4, deployed_at = $5
         WHERE company_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(m.id)
    .bind(m.status.as_str())
    .bind(&m.failure_reason)
    .bind(m.deployed_at)
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub async fn delete(tx: &mut TenantTx, id: Uuid) -> Result<()> {
    let tenant = tx.tenant();
    sqlx::query("DELETE FROM fine_tuned_models WHERE company_id = $1 AND id = $2")
        .bind(tenant)
        .bind(id)
        .execute(tx.conn())
        .await?;
    Ok(())
}
