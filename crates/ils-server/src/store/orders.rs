//! `orders`, `order_events` (the timeline) and `order_counters` (order numbers per tenant).

use chrono::{DateTime, NaiveDate, Utc};
use ils_core::order::{OrderData, OrderStatus};
use ils_core::{OrderId, UserId};
use sqlx::types::Json;
use uuid::Uuid;

use crate::db::TenantTx;
use crate::error::{Error, Result};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct OrderRow {
    pub id: Uuid,
    pub order_number: String,
    pub patient_id: Uuid,
    pub prescription_id: Uuid,
    pub status: String,
    pub data: Json<OrderData>,
    pub remake_of: Option<Uuid>,
    pub remake_reason: Option<String>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl OrderRow {
    pub fn status(&self) -> Result<OrderStatus> {
        OrderStatus::parse(&self.status)
            .ok_or_else(|| Error::Internal(format!("unexpected orders.status {:?}", self.status)))
    }
}

#[derive(Clone, Debug, sqlx::FromRow, serde::Serialize)]
pub struct OrderEventRow {
    pub id: Uuid,
    pub action: String,
    pub from_status: Option<String>,
    pub to_status: String,
    pub note: Option<String>,
    pub actor_user_id: Option<Uuid>,
    pub occurred_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, order_number, patient_id, prescription_id, status, data, remake_of, remake_reason, \
                       created_by, created_at, updated_at";

fn not_found() -> Error {
    Error::NotFound { resource: "order" }
}

/// The tenant's next order number, `ORD-000001` onwards (the counter row serialises callers).
pub async fn next_number(tx: &mut TenantTx) -> Result<String> {
    let tenant = tx.tenant();
    let (n,): (i64,) = sqlx::query_as(
        "INSERT INTO order_counters (company_id, last_number) VALUES ($1, 1)
         ON CONFLICT (company_id) DO UPDATE SET last_number = order_counters.last_number + 1
         RETURNING last_number",
    )
    .bind(tenant)
    .fetch_one(tx.conn())
    .await?;
    Ok(format!("ORD-{n:06}"))
}

pub struct NewOrder<'a> {
    pub id: OrderId,
    pub number: &'a str,
    pub data: &'a OrderData,
    pub remake_of: Option<OrderId>,
    pub remake_reason: Option<&'a str>,
    pub by: Option<UserId>,
}

impl std::fmt::Debug for NewOrder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewOrder")
            .field("id", &self.id)
            .field("number", &self.number)
            .finish_non_exhaustive()
    }
}

pub async fn insert(tx: &mut TenantTx, new: &NewOrder<'_>) -> Result<OrderRow> {
    let tenant = tx.tenant();
    let row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO orders (company_id, id, order_number, patient_id, prescription_id, status, lens_type,
                             promised_date, data, remake_of, remake_reason, created_by)
         VALUES ($1, $2, $3, $4, $5, 'draft', $6, $7, $8, $9, $10, $11) RETURNING {COLUMNS}"
    )))
    .bind(tenant)
    .bind(new.id.into_uuid())
    .bind(new.number)
    .bind(new.data.patient_id.into_uuid())
    .bind(new.data.prescription_id.into_uuid())
    .bind(new.data.lens_type.as_str())
    .bind(new.data.promised_date)
    .bind(Json(new.data))
    .bind(new.remake_of.map(OrderId::into_uuid))
    .bind(new.remake_reason)
    .bind(new.by.map(UserId::into_uuid))
    .fetch_one(tx.conn())
    .await
    .map_err(Error::on_unique_violation("order.number_taken", "This order number is taken"))?;
    Ok(row)
}

/// An order of a live patient; `for_update` locks it (transitions).
pub async fn get(tx: &mut TenantTx, id: OrderId, for_update: bool) -> Result<OrderRow> {
    let tenant = tx.tenant();
    let lock = if for_update {
        " FOR KEY SHARE OF p FOR UPDATE OF o"
    } else {
        " FOR KEY SHARE OF p"
    };
    let row: Option<OrderRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT o.id, o.order_number, o.patient_id, o.prescription_id, o.status, o.data, o.remake_of,
                o.remake_reason, o.created_by, o.created_at, o.updated_at
         FROM orders o JOIN patients p ON p.company_id = o.company_id AND p.id = o.patient_id
         WHERE o.company_id = $1 AND o.id = $2 AND p.deleted_at IS NULL{lock}"
    )))
    .bind(tenant)
    .bind(id.into_uuid())
    .fetch_optional(tx.conn())
    .await?;
    row.ok_or_else(not_found)
}

pub async fn set_status(tx: &mut TenantTx, id: OrderId, status: OrderStatus) -> Result<OrderRow> {
    let tenant = tx.tenant();
    let row: Option<OrderRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE orders SET status = $3, updated_at = now() WHERE company_id = $1 AND id = $2 RETURNING {COLUMNS}"
    )))
    .bind(tenant)
    .bind(id.into_uuid())
    .bind(status.as_str())
    .fetch_optional(tx.conn())
    .await?;
    row.ok_or_else(not_found)
}

pub struct Event<'a> {
    pub order: OrderId,
    pub action: &'a str,
    pub from: Option<OrderStatus>,
    pub to: OrderStatus,
    pub note: Option<&'a str>,
    pub actor: Option<UserId>,
}

impl std::fmt::Debug for Event<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event")
            .field("order", &self.order)
            .field("action", &self.action)
            .finish_non_exhaustive()
    }
}

pub async fn record_event(tx: &mut TenantTx, e: &Event<'_>) -> Result<()> {
    let tenant = tx.tenant();
    sqlx::query(
        "INSERT INTO order_events (company_id, id, order_id, action, from_status, to_status, note, actor_user_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(tenant)
    .bind(Uuid::now_v7())
    .bind(e.order.into_uuid())
    .bind(e.action)
    .bind(e.from.map(OrderStatus::as_str))
    .bind(e.to.as_str())
    .bind(e.note)
    .bind(e.actor.map(UserId::into_uuid))
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub async fn timeline(tx: &mut TenantTx, order: OrderId) -> Result<Vec<OrderEventRow>> {
    let tenant = tx.tenant();
    let rows = sqlx::query_as(
        "SELECT id, action, from_status, to_status, note, actor_user_id, occurred_at
         FROM order_events WHERE company_id = $1 AND order_id = $2 ORDER BY id",
    )
    .bind(tenant)
    .bind(order.into_uuid())
    .fetch_all(tx.conn())
    .await?;
    Ok(rows)
}

#[derive(Debug, Default)]
pub struct Filter {
    pub status: Option<OrderStatus>,
    pub patient: Option<Uuid>,
    /// Open orders whose promised date is before this day.
    pub overdue_on: Option<NaiveDate>,
    /// Only these statuses (the production queue).
    pub statuses: Option<Vec<&'static str>>,
}

/// Orders of live patients, oldest first (ids are time-ordered), after `after`. Only the given
/// filters are in the SQL, so each combination is planned for its own index.
pub async fn list(
    tx: &mut TenantTx,
    filter: &Filter,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<OrderRow>> {
    let tenant = tx.tenant();
    let open: Vec<&str> = OrderStatus::ALL
        .iter()
        .filter(|s| s.is_open())
        .map(|s| s.as_str())
        .collect();
    let mut q = sqlx::QueryBuilder::<sqlx::Postgres>::new(
        "SELECT o.id, o.order_number, o.patient_id, o.prescription_id, o.status, o.data, o.remake_of,
                o.remake_reason, o.created_by, o.created_at, o.updated_at
         FROM orders o JOIN patients p ON p.company_id = o.company_id AND p.id = o.patient_id
         WHERE p.deleted_at IS NULL AND o.company_id = ",
    );
    q.push_bind(tenant);
    if let Some(status) = filter.status {
        q.push(" AND o.status = ").push_bind(status.as_str());
    }
    if let Some(patient) = filter.patient {
        q.push(" AND o.patient_id = ").push_bind(patient);
    }
    if let Some(day) = filter.overdue_on {
        q.push(" AND o.promised_date < ")
            .push_bind(day)
            .push(" AND o.status = ANY(")
            .push_bind(open)
            .push(")");
    }
    if let Some(statuses) = &filter.statuses {
        q.push(" AND o.status = ANY(")
            .push_bind(statuses.clone())
            .push(")");
    }
    if let Some(after) = after {
        q.push(" AND o.id > ").push_bind(after);
    }
    q.push(" ORDER BY o.id LIMIT ").push_bind(i64::from(limit));
    Ok(q.build_query_as().fetch_all(tx.conn()).await?)
}

/// Orders made from a prescription that are not finished (before cancelling the prescription).
pub async fn open_for_prescription(tx: &mut TenantTx, prescription: Uuid) -> Result<i64> {
    let tenant = tx.tenant();
    let (n,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM orders WHERE company_id = $1 AND prescription_id = $2
           AND status IN ('draft', 'submitted', 'in_production', 'quality_check', 'shipped')",
    )
    .bind(tenant)
    .bind(prescription)
    .fetch_one(tx.conn())
    .await?;
    Ok(n)
}
