//! Prescriptions: entered by form, API or FHIR import, always through the same Rx rules.

use ils_core::rx::{RxData, RxStatus};
use ils_core::{PatientId, PrescriptionId, fhir};
use serde_json::json;

use crate::app::AppState;
use crate::auth::Principal;
use crate::error::{Error, Result};
use crate::store::audit::{self, Entry};
use crate::store::prescriptions::{self, Lock, PrescriptionRow};
use crate::store::{orders, patients};

/// Where a prescription came from, for the audit trail.
#[derive(Clone, Copy, Debug)]
pub enum Source {
    Form,
    Fhir,
}

pub async fn create(
    state: &AppState,
    caller: &Principal,
    patient: PatientId,
    rx: RxData,
    source: Source,
) -> Result<PrescriptionRow> {
    rx.validate()?;
    rx.check_issue_date(super::today())?;
    let mut tx = state.db.tenant_tx(&caller.tenant()).await?;
    patients::get(&mut tx, patient, true).await?;
    let row = prescriptions::insert(
        &mut tx,
        PrescriptionId::new(),
        patient,
        &rx,
        Some(caller.user_id()),
    )
    .await?;
    audit::record(
        &mut tx,
        &caller.actor(),
        Entry::success("prescription.create", "prescription", row.id).with_details(json!({
            "source": match source { Source::Form => "form", Source::Fhir => "fhir" },
            "status": rx.status,
        })),
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}

pub async fn import_fhir(
    state: &AppState,
    caller: &Principal,
    patient: PatientId,
    resource: &serde_json::Value,
) -> Result<PrescriptionRow> {
    let rx = fhir::import(resource)?;
    create(state, caller, patient, rx, Source::Fhir).await
}

pub async fn get(
    state: &AppState,
    caller: &Principal,
    id: PrescriptionId,
) -> Result<PrescriptionRow> {
    let mut tx = state.db.tenant_tx(&caller.tenant()).await?;
    let row = prescriptions::get(&mut tx, id, Lock::None).await?;
    audit::record(
        &mut tx,
        &caller.actor(),
        Entry::success("prescription.read", "prescription", row.id),
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}

pub async fn list_for_patient(
    state: &AppState,
    caller: &Principal,
    patient: PatientId,
) -> Result<Vec<PrescriptionRow>> {
    let mut tx = state.db.tenant_tx(&caller.tenant()).await?;
    patients::get(&mut tx, patient, false).await?;
    let rows = prescriptions::list_for_patient(&mut tx, patient).await?;
    audit::record(
        &mut tx,
        &caller.actor(),
        Entry::success("prescription.list", "patient", patient)
            .with_details(json!({ "count": rows.len() })),
    )
    .await?;
    tx.commit().await?;
    Ok(rows)
}

/// Status changes allowed after entry: a draft becomes active or is cancelled; an active one is
/// cancelled or marked entered-in-error; the two end states are final.
pub async fn set_status(
    state: &AppState,
    caller: &Principal,
    id: PrescriptionId,
    status: RxStatus,
) -> Result<PrescriptionRow> {
    let mut tx = state.db.tenant_tx(&caller.tenant()).await?;
    let row = prescriptions::get(&mut tx, id, Lock::Update).await?;
    let from = row.data.0.status;
    let allowed = matches!(
        (from, status),
        (
            RxStatus::Draft,
            RxStatus::Active | RxStatus::Cancelled | RxStatus::EnteredInError
        ) | (
            RxStatus::Active,
            RxStatus::Cancelled | RxStatus::EnteredInError
        )
    );
    if !allowed {
        return Err(Error::conflict(
            "rx.status_change_not_allowed",
            format!(
                "A {} prescription cannot become {}",
                from.as_str(),
                status.as_str()
            ),
        ));
    }
    if matches!(status, RxStatus::Cancelled | RxStatus::EnteredInError)
        && orders::open_for_prescription(&mut tx, row.id).await? > 0
    {
        return Err(Error::conflict(
            "rx.has_open_orders",
            "Cancel or finish the open orders made from this prescription first",
        ));
    }
    let updated = prescriptions::set_status(&mut tx, id, &row.data.0, status).await?;
    audit::record(
        &mut tx,
        &caller.actor(),
        Entry::success("prescription.status", "prescription", id)
            .with_details(json!({ "from": from, "to": status })),
    )
    .await?;
    tx.commit().await?;
    Ok(updated)
}
