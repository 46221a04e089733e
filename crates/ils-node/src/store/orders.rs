//! Lens orders: created from a prescription, moved by ils-core's status machine, with a
//! timeline of every change. Numbers are local ("L000001"); the central service gives its own
//! when the order syncs.

use chrono::NaiveDate;
use ils_core::order::{OrderAction, OrderData, OrderStatus, check_transition_note, transition};
use ils_core::validation::ValidationErrors;

use super::audit;
use ils_core::{OrderId, PatientId};
use rusqlite::{OptionalExtension, Row, Transaction, params};
use serde::Serialize;

use super::{Actor, Store, StoreError, Write, now_text, patients, prescriptions};

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StoredOrder {
    pub id: OrderId,
    pub order_number: String,
    pub status: OrderStatus,
    pub remake_of: Option<OrderId>,
    #[serde(flatten)]
    pub data: OrderData,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OrderEvent {
    pub action: Option<String>,
    pub from_status: Option<String>,
    pub to_status: String,
    pub note: Option<String>,
    pub actor: String,
    pub at: String,
}

/// Which orders a list shows.
#[derive(Clone, Copy, Debug, Default)]
pub struct OrderFilter {
    pub status: Option<OrderStatus>,
    pub patient: Option<PatientId>,
    pub limit: u32,
}

const COLUMNS: &str = "id, order_number, status, remake_of, data, created_at, updated_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<StoredOrder> {
    let bad = super::bad_column;
    let id: String = r.get(0)?;
    let status: String = r.get(2)?;
    let remake_of: Option<String> = r.get(3)?;
    let data: String = r.get(4)?;
    Ok(StoredOrder {
        id: id.parse().map_err(|e| bad(0, Box::new(e)))?,
        order_number: r.get(1)?,
        status: OrderStatus::parse(&status)
            .ok_or_else(|| bad(2, format!("unknown order status {status:?}").into()))?,
        remake_of: remake_of
            .map(|s| s.parse())
            .transpose()
            .map_err(|e| bad(3, Box::new(e)))?,
        data: serde_json::from_str(&data).map_err(|e| bad(4, Box::new(e)))?,
        created_at: r.get(5)?,
        updated_at: r.get(6)?,
    })
}

fn require(tx: &Transaction<'_>, id: OrderId) -> Result<StoredOrder, StoreError> {
    tx.query_row(
        &format!("SELECT {COLUMNS} FROM orders WHERE id = ?1"),
        [id.to_string()],
        from_row,
    )
    .optional()?
    .ok_or_else(|| StoreError::NotFound {
        what: "order",
        id: id.to_string(),
    })
}

struct NewOrder<'a> {
    data: &'a OrderData,
    remake_of: Option<(OrderId, &'a str)>,
}

/// Inserts an order in draft with the first timeline event, its change and its audit row.
fn insert(w: &mut Write<'_>, new: &NewOrder<'_>) -> Result<StoredOrder, StoreError> {
    let n: i64 = w.query_row(
        "UPDATE order_counter SET next = next + 1 WHERE only_row = 1 RETURNING next - 1",
        [],
        |r| r.get(0),
    )?;
    let id = OrderId::new();
    let now = now_text();
    let number = format!("L{n:06}");
    let data = serde_json::to_string(new.data).map_err(|e| StoreError::Encoding(e.to_string()))?;
    w.execute(
        "INSERT INTO orders (id, order_number, patient_id, prescription_id, status, remake_of, promised_date, data, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, 'draft', ?5, ?6, ?7, ?8, ?8)",
        params![
            id.to_string(),
            number,
            new.data.patient_id.to_string(),
            new.data.prescription_id.to_string(),
            new.remake_of.map(|(o, _)| o.to_string()),
            new.data.promised_date.map(|d| d.to_string()),
            data,
            now,
        ],
    )?;
    let (action, note) = match new.remake_of {
        Some((_, reason)) => ("create_remake", Some(reason)),
        None => ("create", None),
    };
    event(w, id, action, None, OrderStatus::Draft, note, &w.actor)?;
    let order = require(w, id)?;
    w.change("order", &id.to_string(), "upsert", &order_json(&order)?)?;
    w.audit(
        "order.create",
        "order",
        Some(&id.to_string()),
        Some(&serde_json::json!({
            "patient_id": new.data.patient_id,
            "remake_of": new.remake_of.map(|(o, _)| o),
        })),
    )?;
    Ok(order)
}

fn order_json(order: &StoredOrder) -> Result<serde_json::Value, StoreError> {
    serde_json::to_value(order).map_err(|e| StoreError::Encoding(e.to_string()))
}

fn event(
    tx: &Transaction<'_>,
    order: OrderId,
    action: &str,
    from: Option<OrderStatus>,
    to: OrderStatus,
    note: Option<&str>,
    actor: &Actor,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO order_events (order_id, action, from_status, to_status, note, actor, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            order.to_string(),
            action,
            from.map(OrderStatus::as_str),
            to.as_str(),
            note,
            actor.as_str(),
            now_text()
        ],
    )?;
    Ok(())
}

impl Store {
    /// Creates an order in draft from one of the patient's prescriptions.
    pub fn create_order(
        &mut self,
        data: &OrderData,
        today: NaiveDate,
    ) -> Result<StoredOrder, StoreError> {
        let mut w = self.begin_write()?;
        patients::require(&w, data.patient_id)?;
        let rx = prescriptions::require(&w, data.prescription_id)?;
        if rx.patient_id != data.patient_id {
            return Err(ValidationErrors::single(
                "prescription_id",
                "order.prescription_of_other_patient",
                "The prescription belongs to another patient",
            )
            .into());
        }
        data.validate(&rx.data, today)?;
        let order = insert(
            &mut w,
            &NewOrder {
                data,
                remake_of: None,
            },
        )?;
        w.commit()?;
        Ok(order)
    }

    /// Takes `action` on an order. Cancel and remake need a reason; submitting and remaking
    /// need a prescription that can still be ordered from. A remake creates a new, linked
    /// order; both are returned (the remake second).
    pub fn transition_order(
        &mut self,
        id: OrderId,
        action: OrderAction,
        note: Option<&str>,
        today: NaiveDate,
    ) -> Result<(StoredOrder, Option<StoredOrder>), StoreError> {
        let note = check_transition_note(action, note)
            .map_err(|e| ValidationErrors { errors: vec![e] })?;
        let mut w = self.begin_write()?;
        let order = require(&w, id)?;
        let to =
            transition(order.status, action).map_err(|e| ValidationErrors { errors: vec![e] })?;
        let mut data = order.data.clone();
        if matches!(action, OrderAction::Submit | OrderAction::Remake) {
            let rx = prescriptions::require(&w, data.prescription_id)?;
            rx.data
                .check_orderable(today)
                .map_err(|e| ValidationErrors { errors: vec![e] })?;
            if action == OrderAction::Remake && data.promised_date.is_some_and(|d| d < today) {
                data.promised_date = None;
            }
        }
        w.execute(
            "UPDATE orders SET status = ?2, updated_at = ?3 WHERE id = ?1",
            params![id.to_string(), to.as_str(), now_text()],
        )?;
        event(
            &w,
            id,
            action.as_str(),
            Some(order.status),
            to,
            note.as_deref(),
            &w.actor,
        )?;
        let updated = require(&w, id)?;
        w.change("order", &id.to_string(), "upsert", &order_json(&updated)?)?;
        w.audit(
            "order.transition",
            "order",
            Some(&id.to_string()),
            Some(&serde_json::json!({ "action": action, "from": order.status, "to": to })),
        )?;
        let remake = if action == OrderAction::Remake {
            let reason = note.as_deref().unwrap_or_default();
            Some(insert(
                &mut w,
                &NewOrder {
                    data: &data,
                    remake_of: Some((id, reason)),
                },
            )?)
        } else {
            None
        };
        w.commit()?;
        Ok((updated, remake))
    }

    /// Orders, newest first, optionally of one status or one patient.
    pub fn orders(&mut self, filter: OrderFilter) -> Result<Vec<StoredOrder>, StoreError> {
        let limit = if filter.limit == 0 {
            100
        } else {
            filter.limit.min(1000)
        };
        self.audited_read(|tx, actor| {
            let mut stmt = tx.prepare(&format!(
                "SELECT {COLUMNS} FROM orders
                 WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR patient_id = ?2)
                 ORDER BY created_at DESC, id DESC LIMIT ?3"
            ))?;
            let rows = stmt
                .query_map(
                    params![
                        filter.status.map(OrderStatus::as_str),
                        filter.patient.map(|p| p.to_string()),
                        limit
                    ],
                    from_row,
                )?
                .collect::<Result<Vec<_>, _>>()?;
            audit::record(
                tx,
                actor,
                "order.list",
                "order",
                None,
                Some(&serde_json::json!({
                    "status": filter.status,
                    "patient_id": filter.patient,
                    "results": rows.len(),
                })),
            )?;
            Ok(rows)
        })
    }

    /// An order's timeline, oldest first.
    pub fn order_timeline(&mut self, id: OrderId) -> Result<Vec<OrderEvent>, StoreError> {
        self.audited_read(|tx, actor| {
            require(tx, id)?;
            let mut stmt = tx.prepare(
                "SELECT action, from_status, to_status, note, actor, at FROM order_events
                 WHERE order_id = ?1 ORDER BY id",
            )?;
            let rows = stmt
                .query_map([id.to_string()], |r| {
                    Ok(OrderEvent {
                        action: r.get(0)?,
                        from_status: r.get(1)?,
                        to_status: r.get(2)?,
                        note: r.get(3)?,
                        actor: r.get(4)?,
                        at: r.get(5)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            audit::record(
                tx,
                actor,
                "order.timeline",
                "order",
                Some(&id.to_string()),
                None,
            )?;
            Ok(rows)
        })
    }
}
