//! Prescriptions: validated by ils-core's Rx rules, stored whole, exported as FHIR.

use chrono::NaiveDate;
use ils_core::rx::RxData;
use ils_core::{PatientId, PrescriptionId, fhir};
use rusqlite::{OptionalExtension, Row, Transaction, params};
use serde::Serialize;

use super::{Store, StoreError, audit, now_text, patients};

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StoredPrescription {
    pub id: PrescriptionId,
    pub patient_id: PatientId,
    #[serde(flatten)]
    pub data: RxData,
    pub created_by: String,
    pub created_at: String,
}

const COLUMNS: &str = "id, patient_id, data, created_by, created_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<StoredPrescription> {
    let bad = super::bad_column;
    let id: String = r.get(0)?;
    let patient: String = r.get(1)?;
    let data: String = r.get(2)?;
    Ok(StoredPrescription {
        id: id.parse().map_err(|e| bad(0, Box::new(e)))?,
        patient_id: patient.parse().map_err(|e| bad(1, Box::new(e)))?,
        data: serde_json::from_str(&data).map_err(|e| bad(2, Box::new(e)))?,
        created_by: r.get(3)?,
        created_at: r.get(4)?,
    })
}

pub(crate) fn require(
    tx: &Transaction<'_>,
    id: PrescriptionId,
) -> Result<StoredPrescription, StoreError> {
    tx.query_row(
        &format!("SELECT {COLUMNS} FROM prescriptions WHERE id = ?1"),
        [id.to_string()],
        from_row,
    )
    .optional()?
    .ok_or_else(|| StoreError::NotFound {
        what: "prescription",
        id: id.to_string(),
    })
}

impl Store {
    /// Adds a prescription for a patient: every Rx rule of ils-core, and an issue date that is
    /// neither in the future nor implausibly old.
    pub fn add_prescription(
        &mut self,
        patient: PatientId,
        rx: &RxData,
        today: NaiveDate,
    ) -> Result<PrescriptionId, StoreError> {
        rx.validate()?;
        rx.check_issue_date(today)
            .map_err(|e| ils_core::validation::ValidationErrors { errors: vec![e] })?;
        let id = PrescriptionId::new();
        let now = now_text();
        let mut w = self.begin_write()?;
        patients::require(&w, patient)?;
        let data = serde_json::to_string(rx).map_err(|e| StoreError::Encoding(e.to_string()))?;
        w.execute(
            "INSERT INTO prescriptions (id, patient_id, kind, status, issue_date, data, created_by, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
            params![
                id.to_string(),
                patient.to_string(),
                serde_json::to_value(rx.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned)),
                rx.status.as_str(),
                rx.issue_date.to_string(),
                data,
                w.actor.as_str(),
                now,
            ],
        )?;
        let row = serde_json::json!({ "id": id, "patient_id": patient, "prescription": rx, "created_at": now });
        w.change("prescription", &id.to_string(), "upsert", &row)?;
        w.audit(
            "prescription.create",
            "prescription",
            Some(&id.to_string()),
            Some(&serde_json::json!({ "patient_id": patient })),
        )?;
        w.commit()?;
        Ok(id)
    }

    /// One prescription (audited as a read of the patient's record).
    pub fn prescription(&mut self, id: PrescriptionId) -> Result<StoredPrescription, StoreError> {
        self.audited_read(|tx, actor| {
            let rx = require(tx, id)?;
            audit::record(
                tx,
                actor,
                "prescription.read",
                "prescription",
                Some(&id.to_string()),
                Some(&serde_json::json!({ "patient_id": rx.patient_id })),
            )?;
            Ok(rx)
        })
    }

    /// A patient's prescriptions, newest issue date first.
    pub fn prescriptions_of(
        &mut self,
        patient: PatientId,
    ) -> Result<Vec<StoredPrescription>, StoreError> {
        self.audited_read(|tx, actor| {
            patients::require(tx, patient)?;
            let mut stmt = tx.prepare(&format!(
                "SELECT {COLUMNS} FROM prescriptions WHERE patient_id = ?1
                 ORDER BY issue_date DESC, created_at DESC"
            ))?;
            let rows = stmt
                .query_map([patient.to_string()], from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            audit::record(
                tx,
                actor,
                "prescription.list",
                "patient",
                Some(&patient.to_string()),
                None,
            )?;
            Ok(rows)
        })
    }

    /// The prescription as a FHIR R4 VisionPrescription (audited as an export).
    pub fn prescription_fhir(
        &mut self,
        id: PrescriptionId,
    ) -> Result<serde_json::Value, StoreError> {
        self.audited_read(|tx, actor| {
            let rx = require(tx, id)?;
            audit::record(
                tx,
                actor,
                "prescription.export_fhir",
                "prescription",
                Some(&id.to_string()),
                Some(&serde_json::json!({ "patient_id": rx.patient_id })),
            )?;
            Ok(fhir::export(rx.id, rx.patient_id, &rx.data))
        })
    }
}
