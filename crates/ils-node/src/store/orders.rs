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

/// The orders board: a column per status, newest first, with the patient's name for those who
/// may read patients.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OrderBoard {
    pub columns: Vec<BoardColumn>,
    /// Open orders past their promised date, in all (whether shown or not).
    pub overdue_total: u64,
    /// The most orders a column shows.
    pub per_column: u32,
}

/// One status of the board: how many orders are in it, and the newest of them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BoardColumn {
    pub status: OrderStatus,
    /// All orders in this status (within the board's filter), shown or not.
    pub total: u64,
    pub orders: Vec<BoardOrder>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BoardOrder {
    pub order: OrderRecord,
    pub overdue: bool,
    /// Whose order it is; `None` for a role that may not read patients (a lab technician).
    pub patient: Option<PatientLabel>,
}

/// Enough of a patient to recognise their order on the board.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PatientLabel {
    pub id: PatientId,
    pub customer_number: String,
    pub first_name: String,
    pub last_name: String,
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

    /// The orders board: per status the newest `per_column` orders (at most 1,000) and how many
    /// there are, optionally only the overdue ones. The patient's name comes with each order for
    /// a role that may read patients. Audited as a list of the orders (and patients) shown.
    pub fn order_board(
        &mut self,
        per_column: u32,
        overdue_only: bool,
    ) -> Result<OrderBoard, StoreError> {
        let per_column = per_column.clamp(1, 1000);
        let w = self.begin_write()?;
        decide::authorize_list(&w.ctx())?;
        let with_patients = decide::list_shows_patients(&w.ctx());
        let today = w.today.to_string();
        let open = super::open_statuses();
        let overdue_sql = "(o.promised_date IS NOT NULL AND o.promised_date < ?1
                           AND o.status IN (SELECT value FROM json_each(?2)))";
        let mut totals = std::collections::HashMap::new();
        {
            let mut stmt = w.prepare_cached(&format!(
                "SELECT o.status, count(*) FROM orders o JOIN patients p ON p.id = o.patient_id
                 WHERE p.deleted_at IS NULL AND (?3 = 0 OR {overdue_sql})
                 GROUP BY o.status"
            ))?;
            let rows = stmt.query_map(params![today, open, overdue_only], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })?;
            for row in rows {
                let (status, n) = row?;
                totals.insert(status, u64::try_from(n).unwrap_or(0));
            }
        }
        let overdue_total: i64 = w.query_row(
            &format!(
                "SELECT count(*) FROM orders o JOIN patients p ON p.id = o.patient_id
                 WHERE p.deleted_at IS NULL AND {overdue_sql}"
            ),
            params![today, open],
            |r| r.get(0),
        )?;
        let mut columns = Vec::with_capacity(OrderStatus::ALL.len());
        let mut shown = Vec::new();
        let mut patients_shown = Vec::new();
        {
            let mut stmt = w.prepare_cached(&format!(
                "SELECT {COLUMNS}, {overdue_sql}, p.customer_number, p.first_name, p.last_name
                 FROM orders o JOIN patients p ON p.id = o.patient_id
                 WHERE p.deleted_at IS NULL AND o.status = ?4 AND (?3 = 0 OR {overdue_sql})
                 ORDER BY o.id DESC LIMIT ?5"
            ))?;
            for status in OrderStatus::ALL {
                let total = totals.get(status.as_str()).copied().unwrap_or(0);
                let orders = if total == 0 {
                    Vec::new()
                } else {
                    stmt.query_map(
                        params![today, open, overdue_only, status.as_str(), per_column],
                        |r| {
                            let order = from_row(r)?;
                            let patient = with_patients
                                .then(|| -> rusqlite::Result<PatientLabel> {
                                    Ok(PatientLabel {
                                        id: order.data.patient_id,
                                        customer_number: r.get(10)?,
                                        first_name: r.get(11)?,
                                        last_name: r.get(12)?,
                                    })
                                })
                                .transpose()?;
                            Ok(BoardOrder {
                                overdue: r.get(9)?,
                                order,
                                patient,
                            })
                        },
                    )?
                    .collect::<Result<Vec<_>, _>>()?
                };
                for o in &orders {
                    shown.push(o.order.id);
                    if let Some(p) = &o.patient
                        && !patients_shown.contains(&p.id)
                    {
                        patients_shown.push(p.id);
                    }
                }
                columns.push(BoardColumn {
                    status,
                    total,
                    orders,
                });
            }
        }
        w.audit(&decide::listed_with_patients(&shown, &patients_shown))?;
        w.commit()?;
        Ok(OrderBoard {
            columns,
            overdue_total: u64::try_from(overdue_total).unwrap_or(0),
            per_column,
        })
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
