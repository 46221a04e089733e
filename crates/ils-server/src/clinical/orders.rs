//! Lens orders: creation from a prescription, the status machine with its timeline, remakes,
//! the lab's DCS record and the production queue.

use ils_core::order::{OrderAction, OrderData, OrderStatus, check_transition_note, transition};
use ils_core::{OrderId, PatientId, PrescriptionId, dcs};
use serde_json::json;
use uuid::Uuid;

use super::today;
use crate::app::AppState;
use crate::auth::Principal;
use crate::db::TenantTx;
use crate::error::{Error, Result};
use crate::store::audit::{self, Entry};
use crate::store::orders::{self, Event, Filter, NewOrder, OrderEventRow, OrderRow};
use crate::store::prescriptions::Lock;
use crate::store::{patients, prescriptions};

async fn insert_order(
    tx: &mut TenantTx,
    caller: &Principal,
    data: &OrderData,
    remake_of: Option<(OrderId, &str)>,
) -> Result<OrderRow> {
    let number = orders::next_number(tx).await?;
    let row = orders::insert(
        tx,
        &NewOrder {
            id: OrderId::new(),
            number: &number,
            data,
            remake_of: remake_of.map(|(id, _)| id),
            remake_reason: remake_of.map(|(_, reason)| reason),
            by: Some(caller.user_id()),
        },
    )
    .await?;
    orders::record_event(
        tx,
        &Event {
            order: OrderId::from_uuid(row.id),
            action: if remake_of.is_some() {
                "create_remake"
            } else {
                "create"
            },
            from: None,
            to: OrderStatus::Draft,
            note: remake_of.map(|(_, reason)| reason),
            actor: Some(caller.user_id()),
        },
    )
    .await?;
    Ok(row)
}

pub async fn create(state: &AppState, caller: &Principal, data: OrderData) -> Result<OrderRow> {
    let mut tx = state.db.tenant_tx(&caller.tenant()).await?;
    patients::get(&mut tx, data.patient_id, false).await?;
    // A shared lock: the prescription cannot be cancelled while this order is being made.
    let rx = prescriptions::get(&mut tx, data.prescription_id, Lock::Share).await?;
    if rx.patient_id != data.patient_id.into_uuid() {
        return Err(Error::validation(
            "prescription_id",
            "order.prescription_of_other_patient",
            "The prescription belongs to another patient",
        ));
    }
    data.validate(&rx.data.0, today())?;
    let row = insert_order(&mut tx, caller, &data, None).await?;
    audit::record(
        &mut tx,
        &caller.actor(),
        Entry::success("order.create", "order", row.id)
            .with_details(json!({ "lens_type": data.lens_type })),
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}

pub async fn get(state: &AppState, caller: &Principal, id: OrderId) -> Result<OrderRow> {
    let mut tx = state.db.tenant_tx(&caller.tenant()).await?;
    let row = orders::get(&mut tx, id, false).await?;
    audit::record(
        &mut tx,
        &caller.actor(),
        Entry::success("order.read", "order", row.id),
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}

#[derive(Debug, Default)]
pub struct ListInput {
    pub status: Option<OrderStatus>,
    pub patient: Option<PatientId>,
    pub overdue: bool,
    pub after: Option<Uuid>,
    pub limit: u32,
}

pub async fn list(state: &AppState, caller: &Principal, input: ListInput) -> Result<Vec<OrderRow>> {
    let mut tx = state.db.tenant_tx(&caller.tenant()).await?;
    let filter = Filter {
        status: input.status,
        patient: input.patient.map(PatientId::into_uuid),
        overdue_on: input.overdue.then(today),
        statuses: None,
    };
    let rows = orders::list(&mut tx, &filter, input.after, input.limit).await?;
    audit::record(
        &mut tx,
        &caller.actor(),
        Entry {
            action: "order.list",
            resource_type: "order",
            resource_id: None,
            outcome: audit::Outcome::Success,
            details: json!({ "order_ids": rows.iter().map(|r| r.id).collect::<Vec<_>>() }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(rows)
}

/// The production queue: submitted, in production and in quality check, oldest first. Lab
/// staff and engineers see what to make, not who it is for, so no audit of patient data.
pub async fn production_queue(
    state: &AppState,
    caller: &Principal,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<OrderRow>> {
    let mut tx = state.db.tenant_tx(&caller.tenant()).await?;
    let filter = Filter {
        statuses: Some(vec!["submitted", "in_production", "quality_check"]),
        ..Filter::default()
    };
    let rows = orders::list(&mut tx, &filter, after, limit).await?;
    tx.commit().await?;
    Ok(rows)
}

#[derive(Debug)]
pub struct TransitionOutcome {
    pub order: OrderRow,
    /// The new linked order a remake created.
    pub remake: Option<OrderRow>,
}

pub async fn apply(
    state: &AppState,
    caller: &Principal,
    id: OrderId,
    action: OrderAction,
    note: Option<&str>,
) -> Result<TransitionOutcome> {
    let note = check_transition_note(action, note)?;
    let mut tx = state.db.tenant_tx(&caller.tenant()).await?;
    let row = orders::get(&mut tx, id, true).await?;
    let from = row.status()?;
    // Whether the action exists for this status at all is said first, to everyone.
    let to = transition(from, action)?;
    let permissions = action.permissions(from);
    if !permissions.iter().any(|p| caller.claims.allows(*p)) {
        let needed: Vec<String> = permissions.iter().map(ToString::to_string).collect();
        drop(tx);
        let what = format!("{} ({})", needed.join(" or "), action.as_str());
        crate::auth::principal::record_denial(state, caller, &what, &format!("order/{id}")).await;
        return Err(Error::forbidden(
            "auth.forbidden",
            format!(
                "The role {} cannot {} an order (needs {})",
                caller.role(),
                action.as_str(),
                needed.join(" or ")
            ),
        ));
    }
    // Sending an order to the lab, or asking for a remake, needs a prescription that can still
    // be ordered from (active, unexpired).
    let mut data = row.data.0.clone();
    if matches!(action, OrderAction::Submit | OrderAction::Remake) {
        let rx = prescriptions::get(
            &mut tx,
            PrescriptionId::from_uuid(row.prescription_id),
            Lock::Share,
        )
        .await?;
        rx.data.0.check_orderable(today())?;
        if action == OrderAction::Remake && data.promised_date.is_some_and(|d| d < today()) {
            // The original promise is history; the remake gets its own.
            data.promised_date = None;
        }
    }
    let updated = orders::set_status(&mut tx, id, to).await?;
    orders::record_event(
        &mut tx,
        &Event {
            order: id,
            action: action.as_str(),
            from: Some(from),
            to,
            note: note.as_deref(),
            actor: Some(caller.user_id()),
        },
    )
    .await?;
    let remake = if action == OrderAction::Remake {
        let reason = note.as_deref().unwrap_or_default();
        let remake = insert_order(&mut tx, caller, &data, Some((id, reason))).await?;
        audit::record(
            &mut tx,
            &caller.actor(),
            Entry::success("order.create", "order", remake.id)
                .with_details(json!({ "remake_of": id })),
        )
        .await?;
        Some(remake)
    } else {
        None
    };
    audit::record(
        &mut tx,
        &caller.actor(),
        Entry::success("order.transition", "order", id)
            .with_details(json!({ "action": action, "from": from, "to": to })),
    )
    .await?;
    tx.commit().await?;
    Ok(TransitionOutcome {
        order: updated,
        remake,
    })
}

pub async fn timeline(
    state: &AppState,
    caller: &Principal,
    id: OrderId,
) -> Result<Vec<OrderEventRow>> {
    let mut tx = state.db.tenant_tx(&caller.tenant()).await?;
    orders::get(&mut tx, id, false).await?;
    let events = orders::timeline(&mut tx, id).await?;
    audit::record(
        &mut tx,
        &caller.actor(),
        Entry::success("order.timeline", "order", id),
    )
    .await?;
    tx.commit().await?;
    Ok(events)
}

/// The order as a DCS record set for the lab.
pub async fn dcs_record(state: &AppState, caller: &Principal, id: OrderId) -> Result<String> {
    let mut tx = state.db.tenant_tx(&caller.tenant()).await?;
    let order = orders::get(&mut tx, id, false).await?;
    let rx = prescriptions::get(
        &mut tx,
        PrescriptionId::from_uuid(order.prescription_id),
        Lock::None,
    )
    .await?;
    let patient = patients::get(&mut tx, PatientId::from_uuid(order.patient_id), false).await?;
    let record = dcs::order_record(
        &order.order_number,
        &patient.customer_number,
        &order.data.0,
        &rx.data.0,
    );
    audit::record(
        &mut tx,
        &caller.actor(),
        Entry::success("order.export_dcs", "order", id),
    )
    .await?;
    tx.commit().await?;
    Ok(record)
}
