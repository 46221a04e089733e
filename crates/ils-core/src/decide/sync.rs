//! Changes pushed by a device: checked by the same rules as the API before a store applies
//! them.
//!
//! A change carries a whole record, not an action; [`check`] works out which action of the API
//! the change amounts to (a new patient is a creation, a prescription whose status moved is a
//! status change, an order whose status moved is the transition that leads there) and applies
//! that action's rules under the role of the user who made the change, at the moment they made
//! it. A change refused here is answered with the code the API would give.
//!
//! Which version of a record survives when two devices changed it is not decided here but by
//! [`crate::change::merge`]; a store checks the change that wins against the state it holds.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{Ctx, found};
use crate::access::perm;
use crate::audit::{AuditAction, AuditEvent, resource};
use crate::change::{Change, Entity, Operation, Record};
use crate::error::{DomainError, Resource, code};
use crate::ids::{OrderId, PatientId, PrescriptionId};
use crate::order::{OrderAction, transition};
use crate::record::{
    DocumentRecord, OrderEventRecord, OrderRecord, PatientRecord, PrescriptionRecord,
};
use crate::rx::RxStatus;

/// Whose open orders a check needs counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenOrdersOf {
    Patient(PatientId),
    Prescription(PrescriptionId),
}

/// What a store must load before [`check`]: the records a change refers to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Needs {
    pub patient: Option<PatientId>,
    pub prescription: Option<PrescriptionId>,
    /// The order of a timeline entry, or the original of a remake.
    pub order: Option<OrderId>,
    pub open_orders: Option<OpenOrdersOf>,
}

/// The state a store holds, loaded as [`needs`] asked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Loaded {
    /// The record as the store holds it now (a deleted patient included).
    pub current: Option<Record>,
    pub patient: Option<PatientRecord>,
    pub prescription: Option<PrescriptionRecord>,
    pub order: Option<OrderRecord>,
    pub open_orders: u64,
}

/// The records `change` refers to.
pub fn needs(change: &Change) -> Needs {
    match &change.record {
        Some(Record::Patient(p)) => Needs {
            open_orders: (change.operation == Operation::Delete)
                .then_some(OpenOrdersOf::Patient(p.id)),
            ..Needs::default()
        },
        Some(Record::Prescription(rx)) => Needs {
            patient: Some(rx.patient_id),
            open_orders: matches!(
                rx.data.status,
                RxStatus::Cancelled | RxStatus::EnteredInError
            )
            .then_some(OpenOrdersOf::Prescription(rx.id)),
            ..Needs::default()
        },
        Some(Record::Order(o)) => Needs {
            patient: Some(o.data.patient_id),
            prescription: Some(o.data.prescription_id),
            order: o.remake_of,
            open_orders: None,
        },
        Some(Record::OrderEvent(e)) => Needs {
            order: Some(e.order_id),
            ..Needs::default()
        },
        Some(Record::Document(_)) | None => Needs::default(),
    }
}

/// When the change's maker acted, as its record says (the time a check's rules are applied
/// at; a store clamps it to its own clock so that a device from the future gains nothing).
pub fn acted_at(change: &Change) -> Option<DateTime<Utc>> {
    match &change.record {
        Some(Record::Patient(p)) => Some(p.updated_at),
        Some(Record::Prescription(rx)) => Some(rx.updated_at),
        Some(Record::Order(o)) => Some(o.updated_at),
        Some(Record::OrderEvent(e)) => Some(e.at),
        Some(Record::Document(d)) => Some(d.updated_at),
        None => None,
    }
}

fn not_allowed(change: &Change, why: &str) -> DomainError {
    DomainError::invalid(
        code::SYNC_OPERATION_NOT_ALLOWED,
        format!(
            "A device cannot {} a {}: {why}",
            change.operation.as_str(),
            change.entity.as_str().replace('_', " ")
        ),
    )
}

fn immutable(what: &str) -> DomainError {
    DomainError::conflict(
        code::SYNC_RECORD_IMMUTABLE,
        format!("The change alters {what}, which never changes once written"),
    )
}

fn via_sync(event: AuditEvent, change: &Change) -> AuditEvent {
    let mut details = event.details;
    if let Some(object) = details.as_object_mut() {
        object.insert("via".into(), json!("sync"));
        object.insert("change_id".into(), json!(change.id));
        object.insert("device".into(), json!(change.device));
    }
    AuditEvent { details, ..event }
}

/// Checks a pushed change as the API would check the action it amounts to, under `ctx` (the
/// change's maker, at the moment they acted). Returns the audit event of that action, or `None`
/// for a timeline entry (its order's change is audited).
pub fn check(
    ctx: &Ctx<'_>,
    change: &Change,
    loaded: &Loaded,
) -> Result<Option<AuditEvent>, DomainError> {
    if change.operation == Operation::Erase {
        return Err(not_allowed(
            change,
            "erasure is done on ILS Central (GDPR erasure), which sends it to every device",
        ));
    }
    let event = match (&change.record, &loaded.current) {
        (Some(Record::Patient(incoming)), current) => {
            let current = match current {
                Some(Record::Patient(p)) => Some(p),
                _ => None,
            };
            patient(ctx, change.operation, current, incoming, loaded.open_orders)?
        }
        (Some(Record::Prescription(incoming)), current) => {
            if change.operation != Operation::Upsert {
                return Err(not_allowed(
                    change,
                    "a prescription is withdrawn by its status (cancelled, entered in error)",
                ));
            }
            let current = match current {
                Some(Record::Prescription(rx)) => Some(rx),
                _ => None,
            };
            prescription(ctx, current, incoming, loaded)?
        }
        (Some(Record::Order(incoming)), current) => {
            if change.operation != Operation::Upsert {
                return Err(not_allowed(
                    change,
                    "an order is withdrawn by cancelling it",
                ));
            }
            let current = match current {
                Some(Record::Order(o)) => Some(o),
                _ => None,
            };
            order(ctx, current, incoming, loaded)?
        }
        (Some(Record::OrderEvent(incoming)), current) => {
            if change.operation != Operation::Upsert {
                return Err(not_allowed(change, "a timeline is never rewritten"));
            }
            let current = match current {
                Some(Record::OrderEvent(e)) => Some(e),
                _ => None,
            };
            order_event(ctx, current, incoming, loaded)?;
            return Ok(None);
        }
        (Some(Record::Document(incoming)), current) => {
            let current = match current {
                Some(Record::Document(d)) => Some(d),
                _ => None,
            };
            document(ctx, change.operation, current, incoming)?
        }
        (None, _) => return Err(not_allowed(change, "the change carries no record")),
    };
    Ok(Some(via_sync(event, change)))
}

fn patient(
    ctx: &Ctx<'_>,
    operation: Operation,
    current: Option<&PatientRecord>,
    incoming: &PatientRecord,
    open_orders: u64,
) -> Result<AuditEvent, DomainError> {
    if let Some(current) = current
        && current.created_at != incoming.created_at
    {
        return Err(immutable("the patient's creation time"));
    }
    let action = match operation {
        Operation::Upsert => {
            if incoming.deleted_at.is_some() {
                return Err(DomainError::invalid(
                    code::SYNC_OPERATION_NOT_ALLOWED,
                    "An upsert carries a deleted patient; deletion travels as a delete",
                ));
            }
            match current {
                None => {
                    ctx.actor.require(perm::PATIENTS_CREATE)?;
                    AuditAction::PatientCreate
                }
                Some(current) => {
                    ctx.actor.require(perm::PATIENTS_UPDATE)?;
                    found(
                        Some(current).filter(|p| p.deleted_at.is_none()),
                        Resource::Patient,
                    )?;
                    AuditAction::PatientUpdate
                }
            }
        }
        Operation::Delete => {
            ctx.actor.require(perm::PATIENTS_DELETE)?;
            if incoming.deleted_at.is_none() {
                return Err(DomainError::invalid(
                    code::SYNC_OPERATION_NOT_ALLOWED,
                    "A delete carries a patient without its deletion time",
                ));
            }
            let current = found(current, Resource::Patient)?;
            // Deleted on two devices: the later deletion's version wins everywhere.
            if current.deleted_at.is_none() && open_orders > 0 {
                return Err(DomainError::conflict(
                    code::PATIENT_HAS_OPEN_ORDERS,
                    "The patient has orders in progress; finish or cancel them first",
                ));
            }
            AuditAction::PatientDelete
        }
        Operation::Erase => {
            return Err(DomainError::invalid(
                code::SYNC_OPERATION_NOT_ALLOWED,
                "Erasure is done on ILS Central",
            ));
        }
    };
    incoming.data.validate(ctx.today)?;
    Ok(AuditEvent::new(action, resource::PATIENT, incoming.id))
}

fn prescription(
    ctx: &Ctx<'_>,
    current: Option<&PrescriptionRecord>,
    incoming: &PrescriptionRecord,
    loaded: &Loaded,
) -> Result<AuditEvent, DomainError> {
    ctx.actor.require(perm::PRESCRIPTIONS_WRITE)?;
    let Some(current) = current else {
        // A new prescription: the API's creation, from its patient.
        let plan = super::prescriptions::create(
            ctx,
            loaded.patient.as_ref(),
            &incoming.data,
            super::prescriptions::Source::Form,
        )?;
        if plan.record.patient_id != incoming.patient_id {
            return Err(DomainError::NotFound(Resource::Patient));
        }
        return Ok(AuditEvent {
            resource_id: Some(incoming.id.to_string()),
            ..plan.audit
        });
    };
    if current.patient_id != incoming.patient_id
        || current.created_at != incoming.created_at
        || current.created_by != incoming.created_by
    {
        return Err(immutable("the prescription's patient or creation"));
    }
    let from = current.data.status;
    let to = incoming.data.status;
    let content_changed = {
        let mut same_status = incoming.data.clone();
        same_status.status = from;
        same_status != current.data
    };
    let mut audit = None;
    if content_changed {
        // Only a draft's content is edited; an edit keeps the status it had.
        let plan = super::prescriptions::update(ctx, Some(current), &incoming.data)?;
        audit = Some(plan.audit);
    }
    if from != to {
        let plan = super::prescriptions::set_status(ctx, Some(current), to, loaded.open_orders)?;
        audit = Some(plan.audit);
    }
    Ok(audit.unwrap_or_else(|| {
        AuditEvent::new(
            AuditAction::PrescriptionUpdate,
            resource::PRESCRIPTION,
            incoming.id,
        )
    }))
}

fn order(
    ctx: &Ctx<'_>,
    current: Option<&OrderRecord>,
    incoming: &OrderRecord,
    loaded: &Loaded,
) -> Result<AuditEvent, DomainError> {
    let Some(current) = current else {
        return new_order(ctx, incoming, loaded);
    };
    if current.data != incoming.data
        || current.remake_of != incoming.remake_of
        || current.remake_reason != incoming.remake_reason
        || current.created_by != incoming.created_by
        || current.created_at != incoming.created_at
    {
        return Err(immutable("the order's content"));
    }
    ctx.actor.require(perm::ORDERS_READ)?;
    let (from, to) = (current.status, incoming.status);
    if from == to {
        return Ok(
            AuditEvent::new(AuditAction::OrderTransition, resource::ORDER, incoming.id)
                .with_details(json!({ "from": from, "to": to })),
        );
    }
    // The action that leads from the current status to the pushed one.
    let Some(action) = OrderAction::ALL
        .into_iter()
        .find(|a| transition(from, *a).is_ok_and(|s| s == to))
    else {
        return Err(DomainError::validation(
            "status",
            "order.transition_not_allowed",
            format!(
                "An order that is {} cannot become {}",
                from.as_str(),
                to.as_str()
            ),
        ));
    };
    let note = (action == OrderAction::Remake)
        .then_some("remade on a device")
        .or((action == OrderAction::Cancel).then_some("cancelled on a device"));
    let plan = super::orders::apply(
        ctx,
        Some(current),
        loaded.prescription.as_ref(),
        action,
        note,
    )?;
    Ok(plan.audit)
}

fn new_order(
    ctx: &Ctx<'_>,
    incoming: &OrderRecord,
    loaded: &Loaded,
) -> Result<AuditEvent, DomainError> {
    if incoming.status != crate::order::OrderStatus::Draft {
        return Err(DomainError::conflict(
            code::SYNC_OPERATION_NOT_ALLOWED,
            format!(
                "A new order starts as a draft, not {}; its later steps travel as changes of \
                 their own",
                incoming.status.as_str()
            ),
        ));
    }
    let plan = match incoming.remake_of {
        None => super::orders::create(
            ctx,
            loaded.patient.as_ref(),
            loaded.prescription.as_ref(),
            &incoming.data,
        )?,
        Some(original) => {
            // A remake is made by the transition of its original, which comes first.
            ctx.actor.require(perm::ORDERS_READ)?;
            let original = found(
                loaded.order.as_ref().filter(|o| o.id == original),
                Resource::Order,
            )?;
            if original.status != crate::order::OrderStatus::Remade {
                return Err(DomainError::conflict(
                    code::SYNC_OPERATION_NOT_ALLOWED,
                    format!(
                        "A remake is made when its original is remade; the original is {}",
                        original.status.as_str()
                    ),
                ));
            }
            return Ok(
                AuditEvent::new(AuditAction::OrderCreate, resource::ORDER, incoming.id)
                    .with_details(json!({ "remake_of": original.id })),
            );
        }
    };
    Ok(AuditEvent {
        resource_id: Some(incoming.id.to_string()),
        ..plan.audit
    })
}

fn order_event(
    ctx: &Ctx<'_>,
    current: Option<&OrderEventRecord>,
    incoming: &OrderEventRecord,
    loaded: &Loaded,
) -> Result<(), DomainError> {
    ctx.actor.require(perm::ORDERS_READ)?;
    if let Some(current) = current {
        return if current == incoming {
            Ok(())
        } else {
            Err(immutable("a timeline entry"))
        };
    }
    found(
        loaded.order.as_ref().filter(|o| o.id == incoming.order_id),
        Resource::Order,
    )?;
    Ok(())
}

/// The entities a device may push today.
pub const PUSHED: [Entity; 4] = [
    Entity::Patient,
    Entity::Prescription,
    Entity::Order,
    Entity::OrderEvent,
];

/// A knowledge-base document, as the API's ingest and delete: the maker manages the knowledge
/// base; a version carries its passages whole, each with a vector of the right length.
fn document(
    ctx: &Ctx<'_>,
    operation: Operation,
    current: Option<&DocumentRecord>,
    incoming: &DocumentRecord,
) -> Result<AuditEvent, DomainError> {
    super::documents::authorize_manage(ctx.actor)?;
    if operation == Operation::Delete {
        return Ok(AuditEvent::new(
            AuditAction::DocumentDelete,
            resource::DOCUMENT,
            incoming.id,
        ));
    }
    let invalid = |message: String| DomainError::invalid(code::KB_PASSAGES_INVALID, message);
    let Some(passages) = &incoming.passages else {
        return Err(invalid(
            "A document arrives with its passages and their vectors".to_owned(),
        ));
    };
    if incoming.title.trim().is_empty() || incoming.source.trim().is_empty() {
        return Err(invalid("A document has a title and a source".to_owned()));
    }
    if passages.is_empty() || passages.len() != incoming.chunks as usize {
        return Err(invalid(format!(
            "The document says it has {} passages and carries {}",
            incoming.chunks,
            passages.len()
        )));
    }
    for (i, p) in passages.iter().enumerate() {
        if p.ordinal as usize != i {
            return Err(invalid(format!("Passage {i} is numbered {}", p.ordinal)));
        }
        if p.text.trim().is_empty() || p.byte_end <= p.byte_start {
            return Err(invalid(format!("Passage {i} has no text or no place")));
        }
        if p.decode_vector().is_none() {
            return Err(invalid(format!(
                "Passage {i}'s vector is not {} finite numbers",
                crate::record::EMBEDDING_DIMENSIONS
            )));
        }
    }
    let action = if current.is_some() {
        AuditAction::DocumentReplace
    } else {
        AuditAction::DocumentAdd
    };
    Ok(AuditEvent::new(action, resource::DOCUMENT, incoming.id)
        .with_details(json!({ "chunks": incoming.chunks })))
}

#[cfg(test)]
mod tests;
