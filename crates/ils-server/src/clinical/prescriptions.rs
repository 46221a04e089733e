//! Prescriptions: carried out from `ils_core::decide::prescriptions`. Form, API and FHIR input
//! all pass the same Rx rules.

use ils_core::decide::prescriptions as decide;
pub use ils_core::decide::prescriptions::Source;
use ils_core::rx::{RxData, RxStatus};
use ils_core::{PatientId, PrescriptionId, fhir};

use super::{Caller, record};
use crate::db::TenantTx;
use crate::error::{Error, Result};
use crate::store::orders;
use crate::store::patients::{self, PatientRow};
use crate::store::prescriptions::{self, Lock, PrescriptionRow};

fn not_found() -> Error {
    Error::NotFound {
        resource: "prescription",
    }
}

pub async fn create(
    tx: &mut TenantTx,
    caller: &Caller,
    patient: PatientId,
    rx: &RxData,
    source: Source,
) -> Result<PrescriptionRow> {
    let patient = patients::find(tx, patient, patients::Lock::Update).await?;
    let plan = decide::create(
        &caller.ctx(),
        patient.as_ref().map(PatientRow::record).as_ref(),
        rx,
        source,
    )?;
    let row = prescriptions::insert(tx, &plan.record).await?;
    record(tx, caller, &plan.audit).await?;
    tx.stage(plan.change, caller.actor.user_id);
    Ok(row)
}

/// A FHIR R4 `VisionPrescription`, read into the ILS form and then created like any other.
pub async fn import_fhir(
    tx: &mut TenantTx,
    caller: &Caller,
    patient: PatientId,
    resource: &serde_json::Value,
) -> Result<PrescriptionRow> {
    let rx = fhir::import(resource)?;
    create(tx, caller, patient, &rx, Source::Fhir).await
}

pub async fn get(
    tx: &mut TenantTx,
    caller: &Caller,
    id: PrescriptionId,
) -> Result<PrescriptionRow> {
    let row = prescriptions::find(tx, id, Lock::None).await?;
    let event = decide::read(
        &caller.ctx(),
        row.as_ref().map(PrescriptionRow::record).as_ref(),
    )?;
    record(tx, caller, &event).await?;
    row.ok_or_else(not_found)
}

/// The prescription as a FHIR R4 `VisionPrescription` (audited as an export).
pub async fn export_fhir(
    tx: &mut TenantTx,
    caller: &Caller,
    id: PrescriptionId,
) -> Result<serde_json::Value> {
    let row = prescriptions::find(tx, id, Lock::None).await?;
    let rx = row.as_ref().map(PrescriptionRow::record);
    let event = decide::export(&caller.ctx(), rx.as_ref())?;
    record(tx, caller, &event).await?;
    let rx = rx.ok_or_else(not_found)?;
    Ok(fhir::export(rx.id, rx.patient_id, &rx.data))
}

pub async fn list_for_patient(
    tx: &mut TenantTx,
    caller: &Caller,
    patient: PatientId,
) -> Result<Vec<PrescriptionRow>> {
    let found = patients::find(tx, patient, patients::Lock::Read).await?;
    let rows = match &found {
        Some(_) => prescriptions::list_for_patient(tx, patient).await?,
        None => Vec::new(),
    };
    let event = decide::list(
        &caller.ctx(),
        found.as_ref().map(PatientRow::record).as_ref(),
        rows.len(),
    )?;
    record(tx, caller, &event).await?;
    Ok(rows)
}

/// Replaces the content of a draft prescription.
pub async fn update(
    tx: &mut TenantTx,
    caller: &Caller,
    id: PrescriptionId,
    rx: &RxData,
) -> Result<PrescriptionRow> {
    let current = prescriptions::find(tx, id, Lock::Update).await?;
    let plan = decide::update(
        &caller.ctx(),
        current.as_ref().map(PrescriptionRow::record).as_ref(),
        rx,
    )?;
    let row = prescriptions::update(tx, &plan.record).await?;
    record(tx, caller, &plan.audit).await?;
    tx.stage(plan.change, caller.actor.user_id);
    Ok(row)
}

pub async fn set_status(
    tx: &mut TenantTx,
    caller: &Caller,
    id: PrescriptionId,
    status: RxStatus,
) -> Result<PrescriptionRow> {
    // The row lock keeps orders from being made from it until this commits.
    let current = prescriptions::find(tx, id, Lock::Update).await?;
    let open_orders = match &current {
        Some(row) => orders::open_for_prescription(tx, row.id).await?,
        None => 0,
    };
    let plan = decide::set_status(
        &caller.ctx(),
        current.as_ref().map(PrescriptionRow::record).as_ref(),
        status,
        u64::try_from(open_orders).unwrap_or(0),
    )?;
    let row = prescriptions::update(tx, &plan.record).await?;
    record(tx, caller, &plan.audit).await?;
    tx.stage(plan.change, caller.actor.user_id);
    Ok(row)
}
