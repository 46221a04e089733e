//! `audit_log`: append-only record of who did what to which resource. Rows are written in the
//! same transaction as the change they describe.

use chrono::{DateTime, Utc};
use ils_core::UserId;
use serde::Serialize;
use uuid::Uuid;

use crate::db::{AuditActor, TenantTx};
use crate::error::Result;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Denied,
    Failure,
}

impl Outcome {
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Denied => "denied",
            Outcome::Failure => "failure",
        }
    }
}

/// One audit entry. `details` must never hold secrets or patient data.
#[derive(Debug)]
pub struct Entry<'a> {
    pub action: &'a str,
    pub resource_type: &'a str,
    pub resource_id: Option<String>,
    pub outcome: Outcome,
    pub details: serde_json::Value,
}

impl<'a> Entry<'a> {
    pub fn success(action: &'a str, resource_type: &'a str, resource_id: impl ToString) -> Self {
        Self {
            action,
            resource_type,
            resource_id: Some(resource_id.to_string()),
            outcome: Outcome::Success,
            details: serde_json::Value::Object(Default::default()),
        }
    }

    pub fn with_outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }

    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

pub async fn record(tx: &mut TenantTx, actor: &AuditActor, entry: Entry<'_>) -> Result<()> {
    let tenant = tx.tenant();
    sqlx::query(
        "INSERT INTO audit_log (company_id, id, actor_user_id, actor_company_id, actor_role, action,
                                resource_type, resource_id, outcome, request_id, device, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(tenant)
    .bind(Uuid::now_v7())
    .bind(actor.user_id.map(UserId::into_uuid))
    .bind(actor.company_id.into_uuid())
    .bind(actor.role.map(|r| r.as_str()))
    .bind(entry.action)
    .bind(entry.resource_type)
    .bind(entry.resource_id)
    .bind(entry.outcome.as_str())
    .bind(actor.request_id.as_deref())
    .bind(actor.device.as_deref())
    .bind(sqlx::types::Json(entry.details))
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Writes a tenant erasure's own audit row (`platform.company.erase`) in the transaction's
/// tenant, through `ils_audit_erasure`: as the owner, who has just deleted the erased tenant's
/// audit log in the same transaction, possibly in the same shard. On Citus one role may write
/// a shard within a transaction (docs/citus.md, blocker D). A patient's erasure redacts the
/// log as the service (under the audit log's guard) and records itself with [`record`].
pub async fn record_erasure(tx: &mut TenantTx, actor: &AuditActor, entry: Entry<'_>) -> Result<()> {
    sqlx::query("SELECT ils_audit_erasure($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
        .bind(Uuid::now_v7())
        .bind(actor.user_id.map(UserId::into_uuid))
        .bind(actor.company_id.into_uuid())
        .bind(actor.role.map(|r| r.as_str()))
        .bind(entry.action)
        .bind(entry.resource_type)
        .bind(entry.resource_id)
        .bind(actor.request_id.as_deref())
        .bind(actor.device.as_deref())
        .bind(sqlx::types::Json(entry.details))
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Writes many entries, each with its own actor, in one statement per 1,000 (a sync push
/// audits each change as its maker's). The rows travel as a `VALUES` list: on Citus an
/// `INSERT … SELECT` from arrays would be loaded with `COPY`, which row-level security refuses.
pub async fn record_many(tx: &mut TenantTx, entries: Vec<(AuditActor, Entry<'_>)>) -> Result<()> {
    let tenant = tx.tenant();
    for batch in entries.chunks(1_000) {
        let mut q = sqlx::QueryBuilder::<sqlx::Postgres>::new(
            "INSERT INTO audit_log (company_id, id, actor_user_id, actor_company_id, actor_role, action,
                                    resource_type, resource_id, outcome, request_id, device, details) ",
        );
        q.push_values(batch, |mut row, (actor, entry)| {
            row.push_bind(tenant)
                .push_bind(Uuid::now_v7())
                .push_bind(actor.user_id.map(UserId::into_uuid))
                .push_bind(actor.company_id.into_uuid())
                .push_bind(actor.role.map(|r| r.as_str()))
                .push_bind(entry.action)
                .push_bind(entry.resource_type)
                .push_bind(entry.resource_id.clone())
                .push_bind(entry.outcome.as_str())
                .push_bind(actor.request_id.clone())
                .push_bind(actor.device.clone())
                .push_bind(sqlx::types::Json(entry.details.clone()));
        });
        q.build().execute(tx.conn()).await?;
    }
    Ok(())
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct AuditRow {
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub actor_user_id: Option<Uuid>,
    pub actor_company_id: Option<Uuid>,
    pub actor_role: Option<String>,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub outcome: String,
    pub request_id: Option<String>,
    pub device: Option<String>,
    pub details: sqlx::types::Json<serde_json::Value>,
}

#[derive(Debug, Default)]
pub struct Filter<'a> {
    pub resource_type: Option<&'a str>,
    pub resource_id: Option<&'a str>,
    pub actor_user_id: Option<Uuid>,
    pub action: Option<&'a str>,
    /// Rows strictly older than this id (ids are UUIDv7, so they sort by time).
    pub before: Option<Uuid>,
}

/// Newest first. Only the given filters are in the SQL, so each combination is planned for its
/// own index.
pub async fn list(tx: &mut TenantTx, filter: &Filter<'_>, limit: u32) -> Result<Vec<AuditRow>> {
    let tenant = tx.tenant();
    let mut q = sqlx::QueryBuilder::<sqlx::Postgres>::new(
        "SELECT id, occurred_at, actor_user_id, actor_company_id, actor_role, action, resource_type,
                resource_id, outcome, request_id, device, details
         FROM audit_log WHERE company_id = ",
    );
    q.push_bind(tenant);
    if let Some(v) = filter.resource_type {
        q.push(" AND resource_type = ").push_bind(v.to_owned());
    }
    if let Some(v) = filter.resource_id {
        q.push(" AND resource_id = ").push_bind(v.to_owned());
    }
    if let Some(v) = filter.actor_user_id {
        q.push(" AND actor_user_id = ").push_bind(v);
    }
    if let Some(v) = filter.action {
        q.push(" AND action = ").push_bind(v.to_owned());
    }
    if let Some(v) = filter.before {
        q.push(" AND id < ").push_bind(v);
    }
    q.push(" ORDER BY id DESC LIMIT ")
        .push_bind(i64::from(limit));
    Ok(q.build_query_as().fetch_all(tx.conn()).await?)
}
