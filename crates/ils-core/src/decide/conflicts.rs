//! Resolving an entry of the conflict log: a person keeps the version that won, or restores the
//! version that lost.
//!
//! A restore is the API's own edit of the record back to the lost version, made now by the
//! person who restores it: the edit's rules and permissions apply, it is audited and it syncs
//! like any edit (so every replica sees the restored version, and nothing is rewritten behind
//! anyone's back). Only what an edit can do can be restored: a patient's details and a draft
//! prescription. An order's status follows its transitions and a timeline entry never changes,
//! so their lost versions are shown, never restored; a lost deletion is done again by deleting.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Ctx;
use crate::access::perm;
use crate::audit::{AuditAction, AuditEvent, resource};
use crate::change::{Change, Entity, Operation, Record};
use crate::error::{DomainError, Resource, code};
use crate::ids::{PatientId, PrescriptionId};
use crate::patient::{PatientChanges, PatientData};
use crate::rx::RxData;

/// What a person decided about a conflict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Resolution {
    /// The version that won stays.
    Kept,
    /// The version that lost is made the record's version again, as a new edit.
    Restored,
}

impl Resolution {
    pub const fn as_str(self) -> &'static str {
        match self {
            Resolution::Kept => "kept",
            Resolution::Restored => "restored",
        }
    }
}

/// The edit a restore amounts to.
#[derive(Clone, Debug, PartialEq)]
pub enum Restore {
    /// The patient's fields that differ from the lost version, set back to it.
    Patient(PatientId, PatientChanges),
    /// The draft prescription's content set back to the lost version.
    Prescription(PrescriptionId, RxData),
    /// The record already equals the lost version: nothing to write.
    Nothing,
}

/// Whether the person may resolve a conflict about this record: who may edit it.
pub fn authorize(ctx: &Ctx<'_>, lost: &Change) -> Result<(), DomainError> {
    ctx.actor.require(match lost.entity {
        Entity::Patient => perm::PATIENTS_UPDATE,
        Entity::Prescription => perm::PRESCRIPTIONS_WRITE,
        Entity::Order | Entity::OrderEvent => perm::ORDERS_UPDATE,
        Entity::Document => perm::KNOWLEDGE_MANAGE,
    })
}

/// A conflict already resolved.
pub fn already_resolved() -> DomainError {
    DomainError::conflict(
        code::SYNC_CONFLICT_RESOLVED,
        "This conflict has been resolved already; the log shows how and by whom",
    )
}

fn cannot(message: impl Into<String>) -> DomainError {
    DomainError::conflict(code::SYNC_CANNOT_RESTORE, message)
}

/// Works out the edit that restores `lost` over the record as it is now (`current`). The
/// caller carries it out with its ordinary edit use case (which checks the permission and the
/// record's rules) and then marks the conflict resolved in the same transaction.
pub fn restore(lost: &Change, current: Option<&Record>) -> Result<Restore, DomainError> {
    if lost.operation != Operation::Upsert {
        return Err(cannot(
            "The version that lost was a deletion; delete the record again if that is still wanted",
        ));
    }
    match (&lost.record, current) {
        (Some(Record::Patient(was)), Some(Record::Patient(now))) => {
            if now.deleted_at.is_some() {
                return Err(DomainError::NotFound(Resource::Patient));
            }
            let changes = patient_changes(&now.data, &was.data);
            Ok(if changes == PatientChanges::default() {
                Restore::Nothing
            } else {
                Restore::Patient(now.id, changes)
            })
        }
        (Some(Record::Prescription(was)), Some(Record::Prescription(now))) => {
            let mut content = was.data.clone();
            // The status is not content: it moves by its own actions.
            content.status = now.data.status;
            Ok(if content == now.data {
                Restore::Nothing
            } else {
                Restore::Prescription(now.id, content)
            })
        }
        (Some(Record::Patient(_)), _) => Err(DomainError::NotFound(Resource::Patient)),
        (Some(Record::Prescription(_)), _) => Err(DomainError::NotFound(Resource::Prescription)),
        (Some(Record::Order(_)), _) => Err(cannot(
            "An order's status follows its transitions; make the transition instead of restoring",
        )),
        _ => Err(cannot("This kind of record cannot be restored")),
    }
}

/// The fields of `now` that differ from `was`, set to `was`'s values.
fn patient_changes(now: &PatientData, was: &PatientData) -> PatientChanges {
    fn differs<T: PartialEq + Clone>(now: &T, was: &T) -> Option<T> {
        (now != was).then(|| was.clone())
    }
    PatientChanges {
        customer_number: differs(&now.customer_number, &was.customer_number),
        first_name: differs(&now.first_name, &was.first_name),
        last_name: differs(&now.last_name, &was.last_name),
        date_of_birth: differs(&now.date_of_birth, &was.date_of_birth),
        email: differs(&now.email, &was.email),
        phone: differs(&now.phone, &was.phone),
        address: differs(&now.address, &was.address),
        notes: differs(&now.notes, &was.notes),
    }
}

/// The audit event of a resolution (the restore's own edit is audited by its use case).
pub fn resolved(conflict: uuid::Uuid, lost: &Change, resolution: Resolution) -> AuditEvent {
    AuditEvent::new(AuditAction::SyncConflictResolve, resource::CHANGE, lost.id).with_details(
        json!({
            "conflict_id": conflict,
            "entity": lost.entity.as_str(),
            "entity_id": lost.entity_id,
            "resolution": resolution.as_str(),
        }),
    )
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone, Utc};

    use super::*;
    use crate::change::ChangeDraft;
    use crate::hlc::HlcStamp;
    use crate::ids::{ChangeId, DeviceId, UserId};
    use crate::record::PatientRecord;

    fn patient(phone: Option<&str>, notes: Option<&str>) -> PatientRecord {
        PatientRecord {
            id: PatientId::from(uuid::Uuid::from_u128(7)),
            data: PatientData {
                customer_number: "C-1".into(),
                first_name: "Ada".into(),
                last_name: "Lovelace".into(),
                date_of_birth: NaiveDate::from_ymd_opt(1990, 12, 10).expect("date"),
                email: None,
                phone: phone.map(str::to_owned),
                address: None,
                notes: notes.map(str::to_owned),
            },
            created_at: Utc.timestamp_opt(0, 0).single().expect("time"),
            updated_at: Utc.timestamp_opt(0, 0).single().expect("time"),
            deleted_at: None,
        }
    }

    fn change(record: Record, operation: Operation) -> Change {
        let draft = ChangeDraft::upsert(record);
        let mut change = Change::stamp(
            draft,
            ChangeId::new(),
            HlcStamp {
                wall_ms: 1,
                counter: 0,
                device: 1,
            },
            DeviceId::new(1).expect("device"),
            UserId::from(uuid::Uuid::from_u128(1)),
        );
        change.operation = operation;
        change
    }

    #[test]
    fn a_lost_patient_version_comes_back_as_an_edit_of_only_what_differs() {
        let lost = change(
            Record::Patient(patient(Some("+44 1"), Some("prefers mornings"))),
            Operation::Upsert,
        );
        let now = Record::Patient(patient(Some("+44 2"), Some("prefers mornings")));
        let Restore::Patient(id, changes) = restore(&lost, Some(&now)).expect("restore") else {
            panic!("an edit");
        };
        assert_eq!(id, PatientId::from(uuid::Uuid::from_u128(7)));
        assert_eq!(
            changes,
            PatientChanges {
                phone: Some(Some("+44 1".into())),
                ..Default::default()
            }
        );
        let same = Record::Patient(patient(Some("+44 1"), Some("prefers mornings")));
        assert_eq!(restore(&lost, Some(&same)), Ok(Restore::Nothing));
    }

    #[test]
    fn what_an_edit_cannot_do_is_not_restored() {
        let deletion = change(Record::Patient(patient(None, None)), Operation::Delete);
        let now = Record::Patient(patient(None, None));
        assert_eq!(
            restore(&deletion, Some(&now))
                .expect_err("a deletion")
                .code(),
            code::SYNC_CANNOT_RESTORE
        );
        let lost = change(
            Record::Patient(patient(Some("+44 1"), None)),
            Operation::Upsert,
        );
        assert_eq!(
            restore(&lost, None).expect_err("gone").code(),
            "patient.not_found"
        );
        let mut deleted = patient(None, None);
        deleted.deleted_at = Some(Utc.timestamp_opt(5, 0).single().expect("time"));
        assert_eq!(
            restore(&lost, Some(&Record::Patient(deleted)))
                .expect_err("deleted")
                .code(),
            "patient.not_found"
        );
        assert_eq!(lost.entity, Entity::Patient);
    }
}
