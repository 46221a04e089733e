//! Lens orders: carried out from `ils_core::decide::orders` (creation from a prescription, the
//! status machine, the timeline, remakes). Numbers are local ("L000001"); the central service
//! gives its own when the order syncs.

use ils_core::decide::orders::{self as decide, NewOrderPlan};
use ils_core::order::{OrderAction, OrderData, OrderStatus};
use ils_core::record::{OrderEventRecord, OrderRecord, TimelineAction};
use ils_core::{DomainError, OrderId, PatientId, Resource, dcs};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, Write, bad_column, now_text, patients, prescriptions, time_column};

/// Which orders a list shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OrderFilter {
    pub status: Option<OrderStatus>,
    pub patient: Option<PatientId>,
    /// Open orders whose promised date has passed (in the practice's calendar).
    pub overdue: bool,
    /// At most this many (default 100, at most 1,000).
    pub limit: u32,
}

const COLUMNS: &str = "o.id, o.order_number, o.status, o.remake_of, o.data, o.created_at, \
                       o.updated_at, o.remake_reason, o.created_by";

fn from_row(r: &Row<'_>) -> rusqlite::Result<OrderRecord> {
    let id: String = r.get(0)?;
    let status: String = r.get(2)?;
    let remake_of: Option<String> = r.get(3)?;
    let data: String = r.get(4)?;
    let created_by: Option<String> = r.get(8)?;
    Ok(OrderRecord {
        id: id.parse().map_err(|e| bad_column(0, Box::new(e)))?,
        order_number: r.get(1)?,
        status: OrderStatus::parse(&status)
            .ok_or_else(|| bad_column(2, format!("unknown order status {status:?}").into()))?,
        remake_of: remake_of
            .map(|s| s.parse())
            .transpose()
            .map_err(|e| bad_column(3, Box::new(e)))?,
        data: serde_json::from_str(&data).map_err(|e| bad_column(4, Box::new(e)))?,
        created_at: time_column(r, 5)?,
        updated_at: time_column(r, 6)?,
        remake_reason: r.get(7)?,
        created_by: created_by.and_then(|u| u.parse().ok()),
    })
}

/// An order of a live patient.
fn find(conn: &Connection, id: OrderId) -> Result<Option<OrderRecord>, StoreError> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {COLUMNS} FROM orders o JOIN patients p ON p.id = o.patient_id
                 WHERE o.id = ?1 AND p.deleted_at IS NULL"
            ),
            [id.to_string()],
            from_row,
        )
        .optional()?)
}

fn not_found() -> StoreError {
    StoreError::Domain(DomainError::NotFound(Resource::Order))
}

pub(crate) fn write_order(w: &Connection, o: &OrderRecord) -> Result<(), StoreError> {
    let data = serde_json::to_string(&o.data).map_err(|e| StoreError::Encoding(e.to_string()))?;
    w.execute(
        "INSERT INTO orders (id, order_number, patient_id, prescription_id, status, remake_of, promised_date,
                             data, created_at, updated_at, remake_reason, created_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, promised_date = excluded.promised_date,
             data = excluded.data, updated_at = excluded.updated_at,
             -- ILS Central's number replaces this device's, which stays findable.
             local_number = CASE WHEN orders.order_number <> excluded.order_number
                                 THEN coalesce(orders.local_number, orders.order_number)
                                 ELSE orders.local_number END,
             order_number = excluded.order_number",
        params![
            o.id.to_string(),
            o.order_number,
            o.data.patient_id.to_string(),
            o.data.prescription_id.to_string(),
            o.status.as_str(),
            o.remake_of.map(|r| r.to_string()),
            o.data.promised_date.map(|d| d.to_string()),
            data,
            now_text(o.created_at),
            now_text(o.updated_at),
            o.remake_reason,
            o.created_by.map(|u| u.to_string()),
        ],
    )?;
    Ok(())
}

pub(crate) fn write_event(w: &Connection, e: &OrderEventRecord) -> Result<(), StoreError> {
    w.execute(
        "INSERT INTO order_events (event_id, order_id, action, from_status, to_status, note, actor, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (event_id) DO NOTHING",
        params![
            e.id.to_string(),
            e.order_id.to_string(),
            e.action.as_str(),
            e.from_status.map(OrderStatus::as_str),
            e.to_status.as_str(),
            e.note,
            e.actor.map(|u| u.to_string()).unwrap_or_default(),
            now_text(e.at)
        ],
    )?;
    Ok(())
}

/// Writes a new order with the next local number, its first timeline entry, changes and audit.
fn insert(w: &Write<'_>, mut plan: NewOrderPlan) -> Result<OrderRecord, StoreError> {
    let n: i64 = w.query_row(
        "UPDATE order_counter SET next = next + 1 WHERE only_row = 1 RETURNING next - 1",
        [],
        |r| r.get(0),
    )?;
    plan.number(format!("L{n:06}"));
    write_order(w, &plan.order)?;
    write_event(w, &plan.event)?;
    for change in plan.changes() {
        w.change(change)?;
    }
    w.audit(&plan.audit)?;
    Ok(plan.order)
}

impl Store {
    /// Creates an order in draft from one of the patient's prescriptions.
    pub fn create_order(&mut self, data: &OrderData) -> Result<OrderRecord, StoreError> {
        let w = self.begin_write()?;
        let patient = patients::find(&w, data.patient_id)?;
        let rx = prescriptions::find(&w, data.prescription_id)?;
        let plan = decide::create(&w.ctx(), patient.as_ref(), rx.as_ref(), data)?;
        let order = insert(&w, plan)?;
        w.commit()?;
        Ok(order)
    }

    /// Takes `action` on an order; a remake also returns the new, linked order.
    pub fn transition_order(
        &mut self,
        id: OrderId,
        action: OrderAction,
        note: Option<&str>,
    ) -> Result<(OrderRecord, Option<OrderRecord>), StoreError> {
        let w = self.begin_write()?;
        let order = find(&w, id)?;
        let rx = match &order {
            Some(o) if decide::needs_prescription(action) => {
                prescriptions::find(&w, o.data.prescription_id)?
            }
            _ => None,
        };
        let plan = decide::apply(&w.ctx(), order.as_ref(), rx.as_ref(), action, note)?;
        write_order(&w, &plan.order)?;
        write_event(&w, &plan.event)?;
        for change in plan.changes() {
            w.change(change)?;
        }
        let remake = match plan.remake {
            Some(remake) => Some(insert(&w, remake)?),
            None => None,
        };
        w.audit(&plan.audit)?;
        w.commit()?;
        Ok((plan.order, remake))
    }

    /// One order (audited as a read).
    pub fn order(&mut self, id: OrderId) -> Result<OrderRecord, StoreError> {
        let w = self.begin_write()?;
        let found = find(&w, id)?;
        let event = decide::read(&w.ctx(), found.as_ref())?;
        w.audit(&event)?;
        w.commit()?;
        found.ok_or_else(not_found)
    }

    /// Orders of live patients, oldest first, filtered (audited as a read of each).
    pub fn orders(&mut self, filter: OrderFilter) -> Result<Vec<OrderRecord>, StoreError> {
        let limit = if filter.limit == 0 {
            100
        } else {
            filter.limit.min(1000)
        };
        let w = self.begin_write()?;
        decide::authorize_list(&w.ctx())?;
        let rows = {
            let mut stmt = w.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM orders o JOIN patients p ON p.id = o.patient_id
                 WHERE p.deleted_at IS NULL
                   AND (?1 IS NULL OR o.status = ?1) AND (?2 IS NULL OR o.patient_id = ?2)
                   AND (?3 IS NULL OR (o.promised_date < ?3 AND o.status IN (SELECT value FROM json_each(?4))))
                 ORDER BY o.id LIMIT ?5"
            ))?;
            stmt.query_map(
                params![
                    filter.status.map(OrderStatus::as_str),
                    filter.patient.map(|p| p.to_string()),
                    filter.overdue.then(|| w.today.to_string()),
                    super::open_statuses(),
                    limit
                ],
                from_row,
            )?
            .collect::<Result<Vec<_>, _>>()?
        };
        let shown: Vec<OrderId> = rows.iter().map(|o| o.id).collect();
        w.audit(&decide::listed(&shown))?;
        w.commit()?;
        Ok(rows)
    }

    /// An order's timeline, oldest first.
    pub fn order_timeline(&mut self, id: OrderId) -> Result<Vec<OrderEventRecord>, StoreError> {
        let w = self.begin_write()?;
        let found = find(&w, id)?;
        let event = decide::timeline(&w.ctx(), found.as_ref())?;
        let rows = {
            let mut stmt = w.prepare_cached(
                "SELECT event_id, action, from_status, to_status, note, actor, at FROM order_events
                 WHERE order_id = ?1 ORDER BY id",
            )?;
            stmt.query_map([id.to_string()], |r| {
                let event_id: Option<String> = r.get(0)?;
                let action: Option<String> = r.get(1)?;
                let from: Option<String> = r.get(2)?;
                let to: String = r.get(3)?;
                let actor: String = r.get(5)?;
                Ok(OrderEventRecord {
                    id: event_id
                        .unwrap_or_default()
                        .parse()
                        .map_err(|e| bad_column(0, Box::new(e)))?,
                    order_id: id,
                    action: action
                        .as_deref()
                        .and_then(TimelineAction::parse)
                        .unwrap_or(TimelineAction::Create),
                    from_status: from.as_deref().and_then(OrderStatus::parse),
                    to_status: OrderStatus::parse(&to)
                        .ok_or_else(|| bad_column(3, format!("unknown status {to:?}").into()))?,
                    note: r.get(4)?,
                    actor: actor.parse().ok(),
                    at: super::time_column(r, 6)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?
        };
        w.audit(&event)?;
        w.commit()?;
        Ok(rows)
    }

    /// The order as the lab's DCS record set (audited as an export).
    pub fn order_dcs(&mut self, id: OrderId) -> Result<String, StoreError> {
        let w = self.begin_write()?;
        let found = find(&w, id)?;
        let event = decide::export_dcs(&w.ctx(), found.as_ref())?;
        let order = found.ok_or_else(not_found)?;
        let rx = prescriptions::find(&w, order.data.prescription_id)?.ok_or_else(not_found)?;
        let patient = patients::find(&w, order.data.patient_id)?.ok_or_else(not_found)?;
        let record = dcs::order_record(
            &order.order_number,
            &patient.data.customer_number,
            &order.data,
            &rx.data,
        );
        w.audit(&event)?;
        w.commit()?;
        Ok(record)
    }
}
