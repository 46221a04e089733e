//! Patients: create, update, soft delete, read, search.

use chrono::NaiveDate;
use serde_json::json;

use super::{Ctx, Plan, found};
use crate::access::perm;
use crate::audit::{AuditAction, AuditEvent, resource};
use crate::change::{ChangeDraft, Record};
use crate::error::{DomainError, Resource, code};
use crate::ids::PatientId;
use crate::patient::{PatientChanges, PatientData, customer_number};
use crate::record::PatientRecord;

/// A patient who exists and is not deleted, or `patient.not_found`.
fn live(patient: Option<&PatientRecord>) -> Result<&PatientRecord, DomainError> {
    found(
        patient.filter(|p| p.deleted_at.is_none()),
        Resource::Patient,
    )
}

pub fn create(ctx: &Ctx<'_>, input: &PatientData) -> Result<Plan<PatientRecord>, DomainError> {
    ctx.actor.require(perm::PATIENTS_CREATE)?;
    let data = input.validate(ctx.today)?;
    let record = PatientRecord {
        id: PatientId::new(),
        data,
        created_at: ctx.now,
        updated_at: ctx.now,
        deleted_at: None,
    };
    Ok(Plan {
        audit: AuditEvent::new(AuditAction::PatientCreate, resource::PATIENT, record.id),
        change: ChangeDraft::upsert(Record::Patient(record.clone())),
        record,
    })
}

pub fn update(
    ctx: &Ctx<'_>,
    current: Option<&PatientRecord>,
    changes: &PatientChanges,
) -> Result<Plan<PatientRecord>, DomainError> {
    ctx.actor.require(perm::PATIENTS_UPDATE)?;
    let current = live(current)?;
    let data = changes.apply(&current.data).validate(ctx.today)?;
    let changed: Vec<&str> = [
        ("customer_number", changes.customer_number.is_some()),
        ("first_name", changes.first_name.is_some()),
        ("last_name", changes.last_name.is_some()),
        ("date_of_birth", changes.date_of_birth.is_some()),
        ("email", changes.email.is_some()),
        ("phone", changes.phone.is_some()),
        ("address", changes.address.is_some()),
        ("notes", changes.notes.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, changed)| changed.then_some(name))
    .collect();
    let record = PatientRecord {
        data,
        updated_at: ctx.now,
        ..current.clone()
    };
    Ok(Plan {
        audit: AuditEvent::new(AuditAction::PatientUpdate, resource::PATIENT, record.id)
            .with_details(json!({ "fields": changed })),
        change: ChangeDraft::upsert(Record::Patient(record.clone())),
        record,
    })
}

/// Soft delete: the record leaves every list and lookup but stays for the retention period
/// (erasure, which removes everything, is GDPR's). Refused while orders are open, since the
/// lab would lose the job.
pub fn delete(
    ctx: &Ctx<'_>,
    current: Option<&PatientRecord>,
    open_orders: u64,
) -> Result<Plan<PatientRecord>, DomainError> {
    ctx.actor.require(perm::PATIENTS_DELETE)?;
    let current = live(current)?;
    if open_orders > 0 {
        return Err(DomainError::conflict(
            code::PATIENT_HAS_OPEN_ORDERS,
            "The patient has orders in progress; finish or cancel them first",
        ));
    }
    let record = PatientRecord {
        deleted_at: Some(ctx.now),
        updated_at: ctx.now,
        ..current.clone()
    };
    Ok(Plan {
        audit: AuditEvent::new(AuditAction::PatientDelete, resource::PATIENT, record.id),
        change: ChangeDraft::delete(Record::Patient(record.clone())),
        record,
    })
}

/// Opening a patient's record.
pub fn read(ctx: &Ctx<'_>, patient: Option<&PatientRecord>) -> Result<AuditEvent, DomainError> {
    ctx.actor.require(perm::PATIENTS_READ)?;
    let patient = live(patient)?;
    Ok(AuditEvent::new(
        AuditAction::PatientRead,
        resource::PATIENT,
        patient.id,
    ))
}

/// A search for patients; every filter is optional, and none lists them all.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PatientQuery {
    /// The start of the first or last name, any case.
    pub name_prefix: Option<String>,
    /// The whole customer number.
    pub customer_number: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
}

/// Checks a search and returns it trimmed. A name prefix is 1–100 printable characters.
pub fn search(ctx: &Ctx<'_>, query: &PatientQuery) -> Result<PatientQuery, DomainError> {
    ctx.actor.require(perm::PATIENTS_READ)?;
    let name_prefix = match query.name_prefix.as_deref().map(str::trim) {
        Some(prefix)
            if prefix.is_empty()
                || prefix.chars().count() > 100
                || prefix.chars().any(char::is_control) =>
        {
            return Err(DomainError::invalid(
                code::PATIENT_SEARCH_INVALID,
                "A name search must be 1–100 printable characters",
            ));
        }
        other => other.map(str::to_owned),
    };
    let customer_number = query
        .customer_number
        .as_deref()
        .map(|n| customer_number("customer_number", n))
        .transpose()?;
    Ok(PatientQuery {
        name_prefix,
        customer_number,
        date_of_birth: query.date_of_birth,
    })
}

/// The audit of a search: which filters were used (never their values) and whom it showed.
pub fn searched(query: &PatientQuery, shown: &[PatientId]) -> AuditEvent {
    AuditEvent::unbound(
        AuditAction::PatientSearch,
        resource::PATIENT,
        json!({
            "filters": {
                "name_prefix": query.name_prefix.is_some(),
                "customer_number": query.customer_number.is_some(),
                "date_of_birth": query.date_of_birth.is_some(),
            },
            "patient_ids": shown,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::Role;
    use crate::decide::fixtures::{actor, ctx, patient_data};

    #[test]
    fn create_update_delete() {
        let ecp = actor(Role::Ecp);
        let c = ctx(&ecp);
        let plan = create(&c, &patient_data()).expect("an ECP adds patients");
        assert_eq!(plan.audit.action, AuditAction::PatientCreate);
        assert_eq!(plan.change.entity_id, plan.record.id.into_uuid());
        let changes: PatientChanges =
            serde_json::from_str(r#"{"phone": null, "first_name": "Ada Augusta"}"#).expect("json");
        let updated = update(&c, Some(&plan.record), &changes).expect("updated");
        assert_eq!(updated.record.data.first_name, "Ada Augusta");
        assert_eq!(
            updated.audit.details,
            json!({"fields": ["first_name", "phone"]})
        );
        assert_eq!(
            delete(&c, Some(&plan.record), 1)
                .expect_err("open orders")
                .code(),
            "patient.has_open_orders"
        );
        let deleted = delete(&c, Some(&plan.record), 0).expect("deleted");
        assert_eq!(deleted.change.operation, crate::change::Operation::Delete);
        assert_eq!(
            read(&c, Some(&deleted.record)).expect_err("gone").code(),
            "patient.not_found"
        );
    }

    #[test]
    fn who_may_do_what() {
        let cases = [
            (Role::CompanyAdmin, true, false),
            (Role::Ecp, true, true),
            (Role::LabTech, false, false),
            (Role::Engineer, false, false),
        ];
        for (role, may_read, may_write) in cases {
            let a = actor(role);
            let c = ctx(&a);
            let p = create(&ctx(&actor(Role::Ecp)), &patient_data()).expect("p");
            assert_eq!(read(&c, Some(&p.record)).is_ok(), may_read, "{role} reads");
            assert_eq!(
                create(&c, &patient_data()).is_ok(),
                may_write,
                "{role} adds"
            );
            // Permission is checked before existence: no probing for ids.
            if !may_read {
                assert_eq!(read(&c, None).expect_err("no").code(), "auth.forbidden");
            }
        }
    }

    #[test]
    fn search_rules() {
        let ecp = actor(Role::Ecp);
        let c = ctx(&ecp);
        let q = |name: &str| PatientQuery {
            name_prefix: Some(name.into()),
            ..PatientQuery::default()
        };
        assert_eq!(
            search(&c, &q("  love "))
                .expect("ok")
                .name_prefix
                .as_deref(),
            Some("love")
        );
        for bad in ["", "   ", &"x".repeat(101), "a\u{7}"] {
            assert_eq!(
                search(&c, &q(bad)).expect_err("refused").code(),
                "patient.search_invalid",
                "{bad:?}"
            );
        }
        let audit = searched(&q("Lovelace"), &[]);
        assert!(
            !audit.details.to_string().contains("Lovelace"),
            "the audit never holds the typed text"
        );
    }
}
