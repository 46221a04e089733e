//! `orders`, `order_events` (the timeline) and `order_counters` (order numbers per tenant).

use chrono::{DateTime, NaiveDate, Utc};
use ils_core::order::{OrderData, OrderStatus};
use ils_core::record::{OrderEventRecord, OrderRecord};
use ils_core::{OrderId, PatientId, PrescriptionId, UserId};
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

    /// The row as the domain's decisions see it.
    pub fn record(&self) -> Result<OrderRecord> {
        let mut data = self.data.0.clone();
        data.patient_id = PatientId::from_uuid(self.patient_id);
        data.prescription_id = PrescriptionId::from_uuid(self.prescription_id);
        Ok(OrderRecord {
            id: OrderId::from_uuid(self.id),
            order_number: self.order_number.clone(),
            status: self.status()?,
            remake_of: self.remake_of.map(OrderId::from_uuid),
            remake_reason: self.remake_reason.clone(),
            data,
            created_by: self.created_by.map(UserId::from_uuid),
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
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

pub async fn insert(tx: &mut TenantTx, order: &OrderRecord) -> Result<OrderRow> {
    let tenant = tx.tenant();
    let row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO orders (company_id, id, order_number, patient_id, prescription_id, status, lens_type,
                             promised_date, data, remake_of, remake_reason, created_by, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING {COLUMNS}"
    )))
    .bind(tenant)
    .bind(order.id.into_uuid())
    .bind(&order.order_number)
    .bind(order.data.patient_id.into_uuid())
    .bind(order.data.prescription_id.into_uuid())
    .bind(order.status.as_str())
    .bind(order.data.lens_type.as_str())
    .bind(order.data.promised_date)
    .bind(Json(&order.data))
    .bind(order.remake_of.map(OrderId::into_uuid))
    .bind(order.remake_reason.as_deref())
    .bind(order.created_by.map(UserId::into_uuid))
    .bind(order.created_at)
    .bind(order.updated_at)
    .fetch_one(tx.conn())
    .await
    .map_err(Error::on_unique_violation("order.number_taken", "This order number is taken"))?;
    Ok(row)
}

/// How a read locks the order row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lock {
    /// Only the patient row, weakly (see `patients::Lock::Read`).
    Read,
    /// The order is about to change (transitions).
    Update,
}

/// An order of a live patient.
pub async fn get(tx: &mut TenantTx, id: OrderId, lock: Lock) -> Result<OrderRow> {
    find(tx, id, lock).await?.ok_or_else(not_found)
}

/// An order of a live patient, if there is one.
pub async fn find(tx: &mut TenantTx, id: OrderId, lock: Lock) -> Result<Option<OrderRow>> {
    let tenant = tx.tenant();
    let lock = match lock {
        Lock::Update => " FOR KEY SHARE OF p FOR UPDATE OF o",
        Lock::Read => " FOR KEY SHARE OF p",
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
    Ok(row)
}

/// Writes the order's new status.
pub async fn set_status(tx: &mut TenantTx, order: &OrderRecord) -> Result<OrderRow> {
    let tenant = tx.tenant();
    let row: Option<OrderRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE orders SET status = $3, updated_at = $4 WHERE company_id = $1 AND id = $2 RETURNING {COLUMNS}"
    )))
    .bind(tenant)
    .bind(order.id.into_uuid())
    .bind(order.status.as_str())
    .bind(order.updated_at)
    .fetch_optional(tx.conn())
    .await?;
    row.ok_or_else(not_found)
}

/// Appends a timeline entry.
pub async fn record_event(tx: &mut TenantTx, e: &OrderEventRecord) -> Result<()> {
    let tenant = tx.tenant();
    sqlx::query(
        "INSERT INTO order_events (company_id, id, order_id, action, from_status, to_status, note, actor_user_id,
                                   occurred_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(tenant)
    .bind(e.id.into_uuid())
    .bind(e.order_id.into_uuid())
    .bind(e.action.as_str())
    .bind(e.from_status.map(OrderStatus::as_str))
    .bind(e.to_status.as_str())
    .bind(e.note.as_deref())
    .bind(e.actor.map(UserId::into_uuid))
    .bind(e.at)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// One timeline entry, as sync carries it.
pub async fn find_event(
    tx: &mut TenantTx,
    id: ils_core::OrderEventId,
) -> Result<Option<OrderEventRecord>> {
    let tenant = tx.tenant();
    type Row = (
        Uuid,
        String,
        Option<String>,
        String,
        Option<String>,
        Option<Uuid>,
        DateTime<Utc>,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT order_id, action, from_status, to_status, note, actor_user_id, occurred_at
         FROM order_events WHERE company_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(id.into_uuid())
    .fetch_optional(tx.conn())
    .await?;
    let Some((order_id, action, from, to, note, actor, at)) = row else {
        return Ok(None);
    };
    let status = |s: &str| {
        OrderStatus::parse(s).ok_or_else(|| Error::Internal(format!("stored order status {s:?}")))
    };
    Ok(Some(OrderEventRecord {
        id,
        order_id: OrderId::from_uuid(order_id),
        action: ils_core::record::TimelineAction::parse(&action)
            .ok_or_else(|| Error::Internal(format!("stored timeline action {action:?}")))?,
        from_status: from.as_deref().map(status).transpose()?,
        to_status: status(&to)?,
        note,
        actor: actor.map(UserId::from_uuid),
        at,
    }))
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
    pub statuses: Option<&'static [OrderStatus]>,
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
    let open = OrderStatus::names(&OrderStatus::OPEN);
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
            .push_bind(OrderStatus::names(statuses))
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
           AND status = ANY($3)",
    )
    .bind(tenant)
    .bind(prescription)
    .bind(OrderStatus::names(&OrderStatus::OPEN))
    .fetch_one(tx.conn())
    .await?;
    Ok(n)
}
