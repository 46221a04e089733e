//! Prescriptions: create (form, API, FHIR import, sync: all through the same Rx rules), edit a
//! draft, change status, read.

use serde_json::json;

use super::{Ctx, Plan, found};
use crate::access::perm;
use crate::audit::{AuditAction, AuditEvent, resource};
use crate::change::{ChangeDraft, Record};
use crate::error::{DomainError, Resource, code};
use crate::ids::PrescriptionId;
use crate::record::{PatientRecord, PrescriptionRecord};
use crate::rx::{RxData, RxStatus};

/// Where a prescription came from, for the audit trail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Form,
    Fhir,
}

impl Source {
    pub const fn as_str(self) -> &'static str {
        match self {
            Source::Form => "form",
            Source::Fhir => "fhir",
        }
    }
}

/// Who may have a photo of a paper prescription read, and whether the practice allows it: the
/// image goes to the practice's vision model as it is (an image cannot be redacted), so the
/// practice must have turned prescription capture on (`AiConfig::prescription_capture`, an
/// audited change). Checked before any image leaves.
pub fn authorize_capture(
    actor: &crate::identity::Actor,
    config: &crate::tenant::AiConfig,
) -> Result<(), DomainError> {
    actor.require(perm::PRESCRIPTIONS_WRITE)?;
    if !config.prescription_capture {
        return Err(DomainError::conflict(
            code::RX_CAPTURE_NOT_ALLOWED,
            "This practice does not allow prescriptions to be read from photos: an administrator \
             can turn on prescription capture in the AI configuration (the photo then goes to the \
             practice's vision model as it is)",
        ));
    }
    Ok(())
}

/// The audit row of a capture: which model read it and how much it could not, never a value.
pub fn capture_audited(
    capture_id: impl ToString,
    model: &str,
    provider: &str,
    draft: &crate::rx::capture::CaptureDraft,
) -> AuditEvent {
    AuditEvent::new(
        AuditAction::PrescriptionCapture,
        resource::PRESCRIPTION_CAPTURE,
        capture_id,
    )
    .with_details(json!({
        "model": model,
        "provider": provider,
        "unread_fields": draft.unread.len(),
        "problems": draft.problems.errors.len(),
        "reply_readable": draft.reply_readable,
    }))
}

fn live_patient(patient: Option<&PatientRecord>) -> Result<&PatientRecord, DomainError> {
    found(
        patient.filter(|p| p.deleted_at.is_none()),
        Resource::Patient,
    )
}

/// Every Rx rule, and an issue date that is neither in the future nor implausibly old.
fn checked(rx: &RxData, ctx: &Ctx<'_>) -> Result<(), DomainError> {
    Ok(rx.problems(ctx.today).into_result()?)
}

pub fn create(
    ctx: &Ctx<'_>,
    patient: Option<&PatientRecord>,
    rx: &RxData,
    source: Source,
) -> Result<Plan<PrescriptionRecord>, DomainError> {
    ctx.actor.require(perm::PRESCRIPTIONS_WRITE)?;
    let patient = live_patient(patient)?;
    checked(rx, ctx)?;
    let record = PrescriptionRecord {
        id: PrescriptionId::new(),
        patient_id: patient.id,
        data: rx.clone(),
        created_by: Some(ctx.actor.user_id),
        created_at: ctx.now,
        updated_at: ctx.now,
    };
    Ok(Plan {
        audit: AuditEvent::new(
            AuditAction::PrescriptionCreate,
            resource::PRESCRIPTION,
            record.id,
        )
        .with_details(json!({ "source": source.as_str(), "status": rx.status })),
        change: ChangeDraft::upsert(Record::Prescription(record.clone())),
        record,
    })
}

/// Replaces the content of a draft. Once active, a prescription is what the patient was given:
/// it is corrected by marking it entered in error and writing a new one. The status is changed
/// by [`set_status`] only, never by an edit.
pub fn update(
    ctx: &Ctx<'_>,
    current: Option<&PrescriptionRecord>,
    rx: &RxData,
) -> Result<Plan<PrescriptionRecord>, DomainError> {
    ctx.actor.require(perm::PRESCRIPTIONS_WRITE)?;
    let current = found(current, Resource::Prescription)?;
    if current.data.status != RxStatus::Draft {
        return Err(DomainError::conflict(
            code::RX_NOT_EDITABLE,
            format!(
                "A {} prescription cannot be edited; mark it entered in error and write a new one",
                current.data.status.as_str()
            ),
        ));
    }
    let data = RxData {
        status: current.data.status,
        ..rx.clone()
    };
    checked(&data, ctx)?;
    let record = PrescriptionRecord {
        data,
        updated_at: ctx.now,
        ..current.clone()
    };
    Ok(Plan {
        audit: AuditEvent::new(
            AuditAction::PrescriptionUpdate,
            resource::PRESCRIPTION,
            record.id,
        ),
        change: ChangeDraft::upsert(Record::Prescription(record.clone())),
        record,
    })
}

/// Status changes after entry: a draft becomes active or is cancelled (or entered in error); an
/// active one is cancelled or marked entered in error; the two end states are final. A
/// prescription with open orders is not withdrawn under them.
pub fn set_status(
    ctx: &Ctx<'_>,
    current: Option<&PrescriptionRecord>,
    to: RxStatus,
    open_orders: u64,
) -> Result<Plan<PrescriptionRecord>, DomainError> {
    ctx.actor.require(perm::PRESCRIPTIONS_WRITE)?;
    let current = found(current, Resource::Prescription)?;
    let from = current.data.status;
    if !from.may_become(to) {
        return Err(DomainError::conflict(
            code::RX_STATUS_CHANGE_NOT_ALLOWED,
            format!(
                "A {} prescription cannot become {}",
                from.as_str(),
                to.as_str()
            ),
        ));
    }
    if matches!(to, RxStatus::Cancelled | RxStatus::EnteredInError) && open_orders > 0 {
        return Err(DomainError::conflict(
            code::RX_HAS_OPEN_ORDERS,
            "Cancel or finish the open orders made from this prescription first",
        ));
    }
    let mut record = current.clone();
    record.data.status = to;
    record.updated_at = ctx.now;
    Ok(Plan {
        audit: AuditEvent::new(
            AuditAction::PrescriptionStatus,
            resource::PRESCRIPTION,
            record.id,
        )
        .with_details(json!({ "from": from, "to": to })),
        change: ChangeDraft::upsert(Record::Prescription(record.clone())),
        record,
    })
}

/// Opening a prescription.
pub fn read(ctx: &Ctx<'_>, rx: Option<&PrescriptionRecord>) -> Result<AuditEvent, DomainError> {
    ctx.actor.require(perm::PRESCRIPTIONS_READ)?;
    let rx = found(rx, Resource::Prescription)?;
    Ok(AuditEvent::new(
        AuditAction::PrescriptionRead,
        resource::PRESCRIPTION,
        rx.id,
    ))
}

/// Exporting a prescription (FHIR): a read that leaves the practice's software.
pub fn export(ctx: &Ctx<'_>, rx: Option<&PrescriptionRecord>) -> Result<AuditEvent, DomainError> {
    ctx.actor.require(perm::PRESCRIPTIONS_READ)?;
    let rx = found(rx, Resource::Prescription)?;
    Ok(AuditEvent::new(
        AuditAction::PrescriptionExportFhir,
        resource::PRESCRIPTION,
        rx.id,
    ))
}

/// Listing a patient's prescriptions; `shown` is how many the list holds.
pub fn list(
    ctx: &Ctx<'_>,
    patient: Option<&PatientRecord>,
    shown: usize,
) -> Result<AuditEvent, DomainError> {
    ctx.actor.require(perm::PRESCRIPTIONS_READ)?;
    let patient = live_patient(patient)?;
    Ok(
        AuditEvent::new(AuditAction::PrescriptionList, resource::PATIENT, patient.id)
            .with_details(json!({ "count": shown })),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::Role;
    use crate::decide::fixtures::{actor, ctx, patient, rx_data};

    #[test]
    fn every_rule_is_reported_at_once() {
        let ecp = actor(Role::Ecp);
        let c = ctx(&ecp);
        let mut rx = rx_data();
        rx.right.axis = Some(190);
        rx.issue_date = c.today.succ_opt().and_then(|d| d.succ_opt()).expect("date");
        let err = create(&c, Some(&patient()), &rx, Source::Form).expect_err("refused");
        let fields: Vec<(&str, &str)> = err
            .fields()
            .iter()
            .map(|f| (f.field.as_str(), f.code))
            .collect();
        assert_eq!(
            fields,
            [
                ("right.axis", "rx.axis_out_of_range"),
                ("issue_date", "rx.issue_date_out_of_range")
            ]
        );
    }

    #[test]
    fn status_machine() {
        use RxStatus::*;
        let ecp = actor(Role::Ecp);
        let c = ctx(&ecp);
        let all = [Draft, Active, Cancelled, EnteredInError];
        let allowed = [
            (Draft, Active),
            (Draft, Cancelled),
            (Draft, EnteredInError),
            (Active, Cancelled),
            (Active, EnteredInError),
        ];
        for from in all {
            for to in all {
                let mut rx = create(&c, Some(&patient()), &rx_data(), Source::Form)
                    .expect("rx")
                    .record;
                rx.data.status = from;
                let got = set_status(&c, Some(&rx), to, 0).map(|p| p.record.data.status);
                if allowed.contains(&(from, to)) {
                    assert_eq!(got, Ok(to), "{from:?} -> {to:?}");
                } else {
                    assert_eq!(
                        got.expect_err("refused").code(),
                        "rx.status_change_not_allowed",
                        "{from:?} -> {to:?}"
                    );
                }
            }
        }
        let rx = create(&c, Some(&patient()), &rx_data(), Source::Form).expect("rx");
        assert_eq!(
            set_status(&c, Some(&rx.record), Cancelled, 2)
                .expect_err("open orders")
                .code(),
            "rx.has_open_orders"
        );
    }

    #[test]
    fn only_drafts_are_edited() {
        let ecp = actor(Role::Ecp);
        let c = ctx(&ecp);
        let active = create(&c, Some(&patient()), &rx_data(), Source::Form).expect("rx");
        assert_eq!(
            update(&c, Some(&active.record), &rx_data())
                .expect_err("active")
                .code(),
            "rx.not_editable"
        );
        let mut draft = active.record.clone();
        draft.data.status = RxStatus::Draft;
        let mut edited = rx_data();
        edited.prescriber = "Dr. Other".into();
        edited.status = RxStatus::Active;
        let plan = update(&c, Some(&draft), &edited).expect("a draft is edited");
        assert_eq!(plan.record.data.prescriber, "Dr. Other");
        assert_eq!(
            plan.record.data.status,
            RxStatus::Draft,
            "an edit never changes the status"
        );
        let admin = actor(Role::CompanyAdmin);
        assert_eq!(
            update(&ctx(&admin), Some(&draft), &edited)
                .expect_err("admins read only")
                .code(),
            "auth.forbidden"
        );
    }
}
