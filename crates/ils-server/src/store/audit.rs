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

/// Writes many entries, each with its own actor, in one statement (a sync push audits each
/// change as its maker's).
pub async fn record_many(tx: &mut TenantTx, entries: Vec<(AuditActor, Entry<'_>)>) -> Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let tenant = tx.tenant();
    let n = entries.len();
    let mut ids = Vec::with_capacity(n);
    let mut users = Vec::with_capacity(n);
    let mut companies = Vec::with_capacity(n);
    let mut roles = Vec::with_capacity(n);
    let mut actions = Vec::with_capacity(n);
    let mut types = Vec::with_capacity(n);
    let mut resources = Vec::with_capacity(n);
    let mut outcomes = Vec::with_capacity(n);
    let mut requests = Vec::with_capacity(n);
    let mut devices = Vec::with_capacity(n);
    let mut details = Vec::with_capacity(n);
    for (actor, entry) in entries {
        ids.push(Uuid::now_v7());
        users.push(actor.user_id.map(UserId::into_uuid));
        companies.push(actor.company_id.into_uuid());
        roles.push(actor.role.map(|r| r.as_str().to_owned()));
        actions.push(entry.action.to_owned());
        types.push(entry.resource_type.to_owned());
        resources.push(entry.resource_id);
        outcomes.push(entry.outcome.as_str().to_owned());
        requests.push(actor.request_id);
        devices.push(actor.device);
        details.push(entry.details);
    }
    sqlx::query(
        "INSERT INTO audit_log (company_id, id, actor_user_id, actor_company_id, actor_role, action,
                                resource_type, resource_id, outcome, request_id, device, details)
         SELECT $1, a.id, a.u, a.c, a.r, a.act, a.t, a.res, a.o, a.req, a.dev, a.d
         FROM unnest($2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::text[],
                     $8::text[], $9::text[], $10::text[], $11::text[], $12::jsonb[])
              AS a(id, u, c, r, act, t, res, o, req, dev, d)",
    )
    .bind(tenant)
    .bind(ids)
    .bind(users)
    .bind(companies)
    .bind(roles)
    .bind(actions)
    .bind(types)
    .bind(resources)
    .bind(outcomes)
    .bind(requests)
    .bind(devices)
    .bind(details)
    .execute(tx.conn())
    .await?;
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
