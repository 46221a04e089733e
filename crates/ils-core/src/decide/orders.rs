//! Lens orders: placing one from a prescription, moving it through the status machine with its
//! timeline, remakes, reading, listing, the lab's export.

use serde_json::json;

use super::{Ctx, found};
use crate::access::perm;
use crate::audit::{AuditAction, AuditEvent, resource};
use crate::change::{ChangeDraft, Record};
use crate::error::{DomainError, Resource};
use crate::ids::{OrderEventId, OrderId, PatientId};
use crate::order::{OrderAction, OrderData, OrderStatus, check_transition_note, transition};
use crate::record::{
    OrderEventRecord, OrderRecord, PatientRecord, PrescriptionRecord, TimelineAction,
};

/// A new order (placed, or made as a remake) with its first timeline entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewOrderPlan {
    /// Its `order_number` is empty: the store gives the number ([`NewOrderPlan::number`]).
    pub order: OrderRecord,
    pub event: OrderEventRecord,
    pub audit: AuditEvent,
}

impl NewOrderPlan {
    /// Gives the order the number the store allotted.
    pub fn number(&mut self, number: String) {
        self.order.order_number = number;
    }

    pub fn changes(&self) -> Vec<ChangeDraft> {
        vec![
            ChangeDraft::upsert(Record::Order(self.order.clone())),
            ChangeDraft::upsert(Record::OrderEvent(self.event.clone())),
        ]
    }
}

/// A status change: the order, its timeline entry, and for a remake the new linked order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransitionPlan {
    pub order: OrderRecord,
    pub event: OrderEventRecord,
    pub remake: Option<NewOrderPlan>,
    pub audit: AuditEvent,
}

impl TransitionPlan {
    /// The changes of the order itself: its new state and its timeline entry. A remake's own
    /// changes are `remake.changes()`.
    pub fn changes(&self) -> Vec<ChangeDraft> {
        vec![
            ChangeDraft::upsert(Record::Order(self.order.clone())),
            ChangeDraft::upsert(Record::OrderEvent(self.event.clone())),
        ]
    }

    /// The audit events: the remake's creation first, then the transition.
    pub fn audit_events(&self) -> Vec<&AuditEvent> {
        self.remake
            .iter()
            .map(|r| &r.audit)
            .chain(std::iter::once(&self.audit))
            .collect()
    }
}

fn new_order(ctx: &Ctx<'_>, data: OrderData, remake_of: Option<(OrderId, String)>) -> NewOrderPlan {
    let id = OrderId::new();
    let (action, note, details) = match &remake_of {
        Some((original, reason)) => (
            TimelineAction::CreateRemake,
            Some(reason.clone()),
            json!({ "remake_of": original }),
        ),
        None => (
            TimelineAction::Create,
            None,
            json!({ "lens_type": data.lens_type }),
        ),
    };
    let (remake_of, remake_reason) = remake_of.unzip();
    NewOrderPlan {
        event: OrderEventRecord {
            id: OrderEventId::new(),
            order_id: id,
            action,
            from_status: None,
            to_status: OrderStatus::Draft,
            note,
            actor: Some(ctx.actor.user_id),
            at: ctx.now,
        },
        order: OrderRecord {
            id,
            order_number: String::new(),
            status: OrderStatus::Draft,
            remake_of,
            remake_reason,
            data,
            created_by: Some(ctx.actor.user_id),
            created_at: ctx.now,
            updated_at: ctx.now,
        },
        audit: AuditEvent::new(AuditAction::OrderCreate, resource::ORDER, id).with_details(details),
    }
}

/// Places an order (status draft) from one of the patient's spectacle prescriptions that can
/// still be ordered from.
pub fn create(
    ctx: &Ctx<'_>,
    patient: Option<&PatientRecord>,
    rx: Option<&PrescriptionRecord>,
    input: &OrderData,
) -> Result<NewOrderPlan, DomainError> {
    ctx.actor.require(perm::ORDERS_CREATE)?;
    let patient = found(
        patient.filter(|p| p.deleted_at.is_none()),
        Resource::Patient,
    )?;
    let rx = found(rx, Resource::Prescription)?;
    if rx.patient_id != patient.id || input.patient_id != patient.id {
        return Err(DomainError::validation(
            "prescription_id",
            "order.prescription_of_other_patient",
            "The prescription belongs to another patient",
        ));
    }
    input.validate(&rx.data, ctx.today)?;
    Ok(new_order(ctx, input.clone(), None))
}

/// Whether `action` needs the order's prescription (sending it to the lab and remaking check
/// that it can still be ordered from).
pub const fn needs_prescription(action: OrderAction) -> bool {
    matches!(action, OrderAction::Submit | OrderAction::Remake)
}

/// Takes `action` on an order. The checks, in order: the order is visible to the actor
/// (`orders:read`), a reason where one is needed, the order exists, the action exists for its
/// status (said to everyone), the actor may take it, and for submit and remake the prescription
/// can still be ordered from. A remake marks the order `remade` and makes a linked draft copy;
/// a promised date that has passed is dropped from the copy.
pub fn apply(
    ctx: &Ctx<'_>,
    order: Option<&OrderRecord>,
    rx: Option<&PrescriptionRecord>,
    action: OrderAction,
    note: Option<&str>,
) -> Result<TransitionPlan, DomainError> {
    ctx.actor.require(perm::ORDERS_READ)?;
    let note = check_transition_note(action, note)?;
    let order = found(order, Resource::Order)?;
    let from = order.status;
    let to = transition(from, action)?;
    ctx.actor.require_any(
        action.permissions(from),
        &format!("{} an order", action.as_str()),
    )?;
    let mut data = order.data.clone();
    if needs_prescription(action) {
        let rx = found(rx, Resource::Prescription)?;
        rx.data.check_orderable(ctx.today)?;
        if action == OrderAction::Remake && data.promised_date.is_some_and(|d| d < ctx.today) {
            // The original promise is history; the remake gets its own.
            data.promised_date = None;
        }
    }
    let updated = OrderRecord {
        status: to,
        updated_at: ctx.now,
        ..order.clone()
    };
    let remake = (action == OrderAction::Remake).then(|| {
        new_order(
            ctx,
            data,
            Some((order.id, note.clone().unwrap_or_default())),
        )
    });
    Ok(TransitionPlan {
        event: OrderEventRecord {
            id: OrderEventId::new(),
            order_id: order.id,
            action: TimelineAction::Took(action),
            from_status: Some(from),
            to_status: to,
            note,
            actor: Some(ctx.actor.user_id),
            at: ctx.now,
        },
        audit: AuditEvent::new(AuditAction::OrderTransition, resource::ORDER, order.id)
            .with_details(json!({ "action": action, "from": from, "to": to })),
        order: updated,
        remake,
    })
}

fn order_read(
    ctx: &Ctx<'_>,
    order: Option<&OrderRecord>,
    action: AuditAction,
) -> Result<AuditEvent, DomainError> {
    ctx.actor.require(perm::ORDERS_READ)?;
    let order = found(order, Resource::Order)?;
    Ok(AuditEvent::new(action, resource::ORDER, order.id))
}

/// Opening an order.
pub fn read(ctx: &Ctx<'_>, order: Option<&OrderRecord>) -> Result<AuditEvent, DomainError> {
    order_read(ctx, order, AuditAction::OrderRead)
}

/// Reading an order's timeline.
pub fn timeline(ctx: &Ctx<'_>, order: Option<&OrderRecord>) -> Result<AuditEvent, DomainError> {
    order_read(ctx, order, AuditAction::OrderTimeline)
}

/// The order as the lab's DCS record (it names the patient by customer number only).
pub fn export_dcs(ctx: &Ctx<'_>, order: Option<&OrderRecord>) -> Result<AuditEvent, DomainError> {
    order_read(ctx, order, AuditAction::OrderExportDcs)
}

/// May the actor list orders?
pub fn authorize_list(ctx: &Ctx<'_>) -> Result<(), DomainError> {
    ctx.actor.require(perm::ORDERS_READ)
}

/// The audit of an order list: whom it showed.
pub fn listed(shown: &[OrderId]) -> AuditEvent {
    AuditEvent::unbound(
        AuditAction::OrderList,
        resource::ORDER,
        json!({ "order_ids": shown }),
    )
}

/// Whether an order list may name each order's patient: only for a role that reads patients
/// (a lab technician works on orders without learning whose they are).
pub fn list_shows_patients(ctx: &Ctx<'_>) -> bool {
    ctx.actor.allows(perm::PATIENTS_READ)
}

/// The audit of an order list that named patients: which orders and whose.
pub fn listed_with_patients(shown: &[OrderId], patients: &[PatientId]) -> AuditEvent {
    if patients.is_empty() {
        return listed(shown);
    }
    AuditEvent::unbound(
        AuditAction::OrderList,
        resource::ORDER,
        json!({ "order_ids": shown, "patient_ids": patients }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::Role;
    use crate::decide::fixtures::{actor, ctx, order_data, patient, prescription};
    use crate::order::OrderAction as A;
    use crate::order::OrderStatus as S;

    fn placed() -> OrderRecord {
        let ecp = actor(Role::Ecp);
        let p = patient();
        let rx = prescription(&p);
        let mut plan = create(&ctx(&ecp), Some(&p), Some(&rx), &order_data(&p, &rx)).expect("o");
        plan.number("ORD-000001".into());
        plan.order
    }

    #[test]
    fn the_lab_produces_and_the_practice_submits() {
        let p = patient();
        let rx = prescription(&p);
        let (ecp, lab, engineer) = (
            actor(Role::Ecp),
            actor(Role::LabTech),
            actor(Role::Engineer),
        );
        let mut order = placed();
        let steps = [
            (&lab, A::Submit, Err("auth.forbidden")),
            (&ecp, A::Submit, Ok(S::Submitted)),
            (&ecp, A::StartProduction, Err("auth.forbidden")),
            (&engineer, A::StartProduction, Err("auth.forbidden")),
            (&lab, A::Ship, Err("order.transition_not_allowed")),
            (&lab, A::StartProduction, Ok(S::InProduction)),
            (&ecp, A::Cancel, Err("order.reason_required")),
            (&lab, A::SendToQualityCheck, Ok(S::QualityCheck)),
            (&lab, A::Ship, Ok(S::Shipped)),
            (&ecp, A::Deliver, Ok(S::Delivered)),
        ];
        for (who, action, expected) in steps {
            let note = (action == A::Cancel).then_some("");
            let got = apply(&ctx(who), Some(&order), Some(&rx), action, note);
            match (got, expected) {
                (Ok(plan), Ok(status)) => {
                    assert_eq!(plan.order.status, status, "{action:?}");
                    assert_eq!(plan.event.from_status, Some(order.status));
                    order = plan.order;
                }
                (Err(e), Err(code)) => assert_eq!(e.code(), code, "{:?} {action:?}", who.role),
                (got, expected) => panic!("{action:?}: {got:?} but expected {expected:?}"),
            }
        }
        let remake = apply(
            &ctx(&ecp),
            Some(&order),
            Some(&rx),
            A::Remake,
            Some(" wrong axis "),
        )
        .expect("remade");
        assert_eq!(remake.order.status, S::Remade);
        let copy = remake.remake.as_ref().expect("a linked copy");
        assert_eq!(copy.order.remake_of, Some(order.id));
        assert_eq!(copy.order.remake_reason.as_deref(), Some("wrong axis"));
        assert_eq!(copy.event.action, TimelineAction::CreateRemake);
        assert_eq!(remake.changes().len(), 2);
        assert_eq!(copy.changes().len(), 2);
        assert_eq!(remake.audit_events().len(), 2);
    }

    #[test]
    fn an_order_needs_an_orderable_prescription_of_its_patient() {
        let ecp = actor(Role::Ecp);
        let c = ctx(&ecp);
        let p = patient();
        let other = patient();
        let rx = prescription(&p);
        let err = create(&c, Some(&other), Some(&rx), &order_data(&other, &rx))
            .expect_err("other patient");
        assert_eq!(err.code(), "order.prescription_of_other_patient");
        let mut cancelled = rx.clone();
        cancelled.data.status = crate::rx::RxStatus::Cancelled;
        let err = create(&c, Some(&p), Some(&cancelled), &order_data(&p, &rx)).expect_err("no");
        assert_eq!(err.code(), "order.prescription_not_active");
        // Submitting re-checks it.
        let order = placed();
        let err = apply(&c, Some(&order), Some(&cancelled), A::Submit, None).expect_err("no");
        assert_eq!(err.code(), "order.prescription_not_active");
    }
}
