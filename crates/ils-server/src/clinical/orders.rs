//! Lens orders: carried out from `ils_core::decide::orders` (creation from a prescription, the
//! status machine with its timeline, remakes), plus the lab's DCS record and the production
//! queue.

use ils_core::decide::orders::{self as decide, NewOrderPlan};
use ils_core::order::{OrderAction, OrderData, OrderStatus};
use ils_core::{OrderId, PatientId, dcs};
use uuid::Uuid;

use super::{Caller, record};
use crate::db::TenantTx;
use crate::error::{Error, Result};
use crate::store::orders::{self, Filter, Lock, OrderEventRow, OrderRow};
use crate::store::patients::{self, PatientRow};
use crate::store::prescriptions::{self, PrescriptionRow};

fn not_found() -> Error {
    Error::NotFound { resource: "order" }
}

/// Writes a new order (placed or a remake) with its number, first timeline entry and audit row.
async fn insert(tx: &mut TenantTx, caller: &Caller, mut plan: NewOrderPlan) -> Result<OrderRow> {
    plan.number(orders::next_number(tx).await?);
    let row = orders::insert(tx, &plan.order).await?;
    orders::record_event(tx, &plan.event).await?;
    record(tx, caller, &plan.audit).await?;
    for change in plan.changes() {
        tx.stage(change, caller.actor.user_id);
    }
    Ok(row)
}

pub async fn create(tx: &mut TenantTx, caller: &Caller, data: &OrderData) -> Result<OrderRow> {
    let patient = patients::find(tx, data.patient_id, patients::Lock::Read).await?;
    // A shared lock: the prescription cannot be cancelled while this order is being made.
    let rx = prescriptions::find(tx, data.prescription_id, prescriptions::Lock::Share).await?;
    let plan = decide::create(
        &caller.ctx(),
        patient.as_ref().map(PatientRow::record).as_ref(),
        rx.as_ref().map(PrescriptionRow::record).as_ref(),
        data,
    )?;
    insert(tx, caller, plan).await
}

async fn find_record(
    tx: &mut TenantTx,
    id: OrderId,
    lock: Lock,
) -> Result<(Option<OrderRow>, Option<ils_core::record::OrderRecord>)> {
    let row = orders::find(tx, id, lock).await?;
    let record = row.as_ref().map(OrderRow::record).transpose()?;
    Ok((row, record))
}

pub async fn get(tx: &mut TenantTx, caller: &Caller, id: OrderId) -> Result<OrderRow> {
    let (row, order) = find_record(tx, id, Lock::Read).await?;
    let event = decide::read(&caller.ctx(), order.as_ref())?;
    record(tx, caller, &event).await?;
    row.ok_or_else(not_found)
}

#[derive(Debug, Default)]
pub struct ListInput {
    pub status: Option<OrderStatus>,
    pub patient: Option<PatientId>,
    pub overdue: bool,
    pub after: Option<Uuid>,
    pub limit: u32,
}

pub async fn list(tx: &mut TenantTx, caller: &Caller, input: &ListInput) -> Result<Vec<OrderRow>> {
    decide::authorize_list(&caller.ctx())?;
    // A list audits its orders' ids: never those of a patient an erasure is removing.
    crate::store::gdpr::lock_for_listing(tx).await?;
    let filter = Filter {
        status: input.status,
        patient: input.patient.map(PatientId::into_uuid),
        overdue_on: input.overdue.then_some(caller.today),
        statuses: None,
    };
    let rows = orders::list(tx, &filter, input.after, input.limit).await?;
    let shown: Vec<OrderId> = rows.iter().map(|r| OrderId::from_uuid(r.id)).collect();
    record(tx, caller, &decide::listed(&shown)).await?;
    Ok(rows)
}

/// The production queue: submitted, in production and in quality check, oldest first. Lab
/// staff and engineers see what to make, not who it is for, so no audit of patient data.
pub async fn production_queue(
    tx: &mut TenantTx,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<OrderRow>> {
    let filter = Filter {
        statuses: Some(&OrderStatus::AT_THE_LAB),
        ..Filter::default()
    };
    orders::list(tx, &filter, after, limit).await
}

#[derive(Debug)]
pub struct TransitionOutcome {
    pub order: OrderRow,
    /// The new linked order a remake created.
    pub remake: Option<OrderRow>,
}

pub async fn apply(
    tx: &mut TenantTx,
    caller: &Caller,
    id: OrderId,
    action: OrderAction,
    note: Option<&str>,
) -> Result<TransitionOutcome> {
    let (_, order) = find_record(tx, id, Lock::Update).await?;
    let rx = match &order {
        Some(o) if decide::needs_prescription(action) => {
            prescriptions::find(tx, o.data.prescription_id, prescriptions::Lock::Share)
                .await?
                .map(|r| r.record())
        }
        _ => None,
    };
    let plan = decide::apply(&caller.ctx(), order.as_ref(), rx.as_ref(), action, note)?;
    let updated = orders::set_status(tx, &plan.order).await?;
    orders::record_event(tx, &plan.event).await?;
    for change in plan.changes() {
        tx.stage(change, caller.actor.user_id);
    }
    let remake = match plan.remake {
        Some(remake) => Some(insert(tx, caller, remake).await?),
        None => None,
    };
    record(tx, caller, &plan.audit).await?;
    Ok(TransitionOutcome {
        order: updated,
        remake,
    })
}

pub async fn timeline(
    tx: &mut TenantTx,
    caller: &Caller,
    id: OrderId,
) -> Result<Vec<OrderEventRow>> {
    let (_, order) = find_record(tx, id, Lock::Read).await?;
    let event = decide::timeline(&caller.ctx(), order.as_ref())?;
    let events = orders::timeline(tx, id).await?;
    record(tx, caller, &event).await?;
    Ok(events)
}

/// The order as a DCS record set for the lab.
pub async fn dcs_record(tx: &mut TenantTx, caller: &Caller, id: OrderId) -> Result<String> {
    let (_, order) = find_record(tx, id, Lock::Read).await?;
    let event = decide::export_dcs(&caller.ctx(), order.as_ref())?;
    let order = order.ok_or_else(not_found)?;
    let rx = prescriptions::get(tx, order.data.prescription_id, prescriptions::Lock::None).await?;
    let patient = patients::get(tx, order.data.patient_id, patients::Lock::Read).await?;
    let record_set = dcs::order_record(
        &order.order_number,
        &patient.customer_number,
        &order.data,
        &rx.data.0,
    );
    record(tx, caller, &event).await?;
    Ok(record_set)
}
