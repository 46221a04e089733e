//! Prescriptions: carried out from `ils_core::decide::prescriptions`, stored whole, exported
//! as FHIR.

use ils_core::decide::prescriptions::{self as decide, Source};
use ils_core::record::PrescriptionRecord;
use ils_core::rx::{RxData, RxStatus};
use ils_core::{DomainError, PatientId, PrescriptionId, Resource, fhir};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{
    OrdersOf, Store, StoreError, bad_column, now_text, open_orders, patients, time_column,
};

const COLUMNS: &str = "r.id, r.patient_id, r.data, r.created_by, r.created_at, r.updated_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<PrescriptionRecord> {
    let id: String = r.get(0)?;
    let patient: String = r.get(1)?;
    let data: String = r.get(2)?;
    let created_by: String = r.get(3)?;
    Ok(PrescriptionRecord {
        id: id.parse().map_err(|e| bad_column(0, Box::new(e)))?,
        patient_id: patient.parse().map_err(|e| bad_column(1, Box::new(e)))?,
        data: serde_json::from_str(&data).map_err(|e| bad_column(2, Box::new(e)))?,
        // Rows written before schema 3 name the user by the text given then.
        created_by: created_by.parse().ok(),
        created_at: time_column(r, 4)?,
        updated_at: time_column(r, 5)?,
    })
}

/// A prescription of a live patient.
pub(crate) fn find(
    conn: &Connection,
    id: PrescriptionId,
) -> Result<Option<PrescriptionRecord>, StoreError> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {COLUMNS} FROM prescriptions r JOIN patients p ON p.id = r.patient_id
                 WHERE r.id = ?1 AND p.deleted_at IS NULL"
            ),
            [id.to_string()],
            from_row,
        )
        .optional()?)
}

pub(crate) fn write(w: &Connection, rx: &PrescriptionRecord) -> Result<(), StoreError> {
    let data = serde_json::to_string(&rx.data).map_err(|e| StoreError::Encoding(e.to_string()))?;
    let kind = match rx.data.kind {
        ils_core::rx::RxKind::Spectacle => "spectacle",
        ils_core::rx::RxKind::ContactLens => "contact_lens",
    };
    w.execute(
        "INSERT INTO prescriptions (id, patient_id, kind, status, issue_date, data, created_by, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, status = excluded.status,
             issue_date = excluded.issue_date, data = excluded.data, updated_at = excluded.updated_at",
        params![
            rx.id.to_string(),
            rx.patient_id.to_string(),
            kind,
            rx.data.status.as_str(),
            rx.data.issue_date.to_string(),
            data,
            rx.created_by.map(|u| u.to_string()).unwrap_or_default(),
            now_text(rx.created_at),
            now_text(rx.updated_at),
        ],
    )?;
    Ok(())
}

fn not_found() -> StoreError {
    StoreError::Domain(DomainError::NotFound(Resource::Prescription))
}

impl Store {
    /// Adds a prescription for a patient: every Rx rule of ils-core (the form's, the API's and
    /// FHIR import's alike).
    pub fn add_prescription(
        &mut self,
        patient: PatientId,
        rx: &RxData,
        source: Source,
    ) -> Result<PrescriptionRecord, StoreError> {
        let w = self.begin_write()?;
        let found = patients::find(&w, patient)?;
        let plan = decide::create(&w.ctx(), found.as_ref(), rx, source)?;
        write(&w, &plan.record)?;
        w.change(plan.change)?;
        w.audit(&plan.audit)?;
        w.commit()?;
        Ok(plan.record)
    }

    /// Replaces the content of a draft prescription.
    pub fn update_prescription(
        &mut self,
        id: PrescriptionId,
        rx: &RxData,
    ) -> Result<PrescriptionRecord, StoreError> {
        let w = self.begin_write()?;
        let record = update_in(&w, id, rx)?;
        w.commit()?;
        Ok(record)
    }

    /// Activates, cancels or marks a prescription entered in error.
    pub fn set_prescription_status(
        &mut self,
        id: PrescriptionId,
        status: RxStatus,
    ) -> Result<PrescriptionRecord, StoreError> {
        let w = self.begin_write()?;
        let current = find(&w, id)?;
        let open = match &current {
            Some(_) => open_orders(&w, OrdersOf::Prescription, &id.to_string())?,
            None => 0,
        };
        let plan = decide::set_status(&w.ctx(), current.as_ref(), status, open)?;
        write(&w, &plan.record)?;
        w.change(plan.change)?;
        w.audit(&plan.audit)?;
        w.commit()?;
        Ok(plan.record)
    }

    /// One prescription (audited as a read).
    pub fn prescription(&mut self, id: PrescriptionId) -> Result<PrescriptionRecord, StoreError> {
        let w = self.begin_write()?;
        let found = find(&w, id)?;
        let event = decide::read(&w.ctx(), found.as_ref())?;
        w.audit(&event)?;
        w.commit()?;
        found.ok_or_else(not_found)
    }

    /// A patient's prescriptions, newest issue date first.
    pub fn prescriptions_of(
        &mut self,
        patient: PatientId,
    ) -> Result<Vec<PrescriptionRecord>, StoreError> {
        let w = self.begin_write()?;
        let found = patients::find(&w, patient)?;
        let rows = match &found {
            Some(_) => {
                let mut stmt = w.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM prescriptions r WHERE r.patient_id = ?1
                     ORDER BY r.issue_date DESC, r.id DESC"
                ))?;
                stmt.query_map([patient.to_string()], from_row)?
                    .collect::<Result<Vec<_>, _>>()?
            }
            None => Vec::new(),
        };
        let event = decide::list(&w.ctx(), found.as_ref(), rows.len())?;
        w.audit(&event)?;
        w.commit()?;
        Ok(rows)
    }

    /// The prescription as a FHIR R4 VisionPrescription (audited as an export).
    pub fn prescription_fhir(
        &mut self,
        id: PrescriptionId,
    ) -> Result<serde_json::Value, StoreError> {
        let w = self.begin_write()?;
        let found = find(&w, id)?;
        let event = decide::export(&w.ctx(), found.as_ref())?;
        w.audit(&event)?;
        w.commit()?;
        let rx = found.ok_or_else(not_found)?;
        Ok(fhir::export(rx.id, rx.patient_id, &rx.data))
    }
}

/// A prescription's edit, in `w`.
pub(crate) fn update_in(
    w: &super::Write<'_>,
    id: PrescriptionId,
    rx: &RxData,
) -> Result<PrescriptionRecord, StoreError> {
    let current = find(w, id)?;
    let plan = decide::update(&w.ctx(), current.as_ref(), rx)?;
    write(w, &plan.record)?;
    w.change(plan.change)?;
    w.audit(&plan.audit)?;
    Ok(plan.record)
}
