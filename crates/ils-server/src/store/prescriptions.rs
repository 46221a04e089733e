//! `prescriptions`: the whole RxData in `data`, with status and dates as columns for queries.

use chrono::{DateTime, Utc};
use ils_core::record::PrescriptionRecord;
use ils_core::rx::RxData;
use ils_core::{PatientId, PrescriptionId, UserId};
use sqlx::types::Json;
use uuid::Uuid;

use crate::db::TenantTx;
use crate::error::{Error, Result};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PrescriptionRow {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub data: Json<RxData>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl PrescriptionRow {
    /// The row as the domain's decisions see it.
    pub fn record(&self) -> PrescriptionRecord {
        PrescriptionRecord {
            id: PrescriptionId::from_uuid(self.id),
            patient_id: PatientId::from_uuid(self.patient_id),
            data: self.data.0.clone(),
            created_by: self.created_by.map(UserId::from_uuid),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

const COLUMNS: &str = "id, patient_id, data, created_by, created_at, updated_at";

fn not_found() -> Error {
    Error::NotFound {
        resource: "prescription",
    }
}

fn kind(rx: &RxData) -> &'static str {
    match rx.kind {
        ils_core::rx::RxKind::Spectacle => "spectacle",
        ils_core::rx::RxKind::ContactLens => "contact_lens",
    }
}

pub async fn insert(tx: &mut TenantTx, record: &PrescriptionRecord) -> Result<PrescriptionRow> {
    let tenant = tx.tenant();
    let rx = &record.data;
    let row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO prescriptions (company_id, id, patient_id, kind, status, issue_date, expiry_date, data, created_by,
                                    created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING {COLUMNS}"
    )))
    .bind(tenant)
    .bind(record.id.into_uuid())
    .bind(record.patient_id.into_uuid())
    .bind(kind(rx))
    .bind(rx.status.as_str())
    .bind(rx.issue_date)
    .bind(rx.expiry_date)
    .bind(Json(rx))
    .bind(record.created_by.map(UserId::into_uuid))
    .bind(record.created_at)
    .bind(record.updated_at)
    .fetch_one(tx.conn())
    .await?;
    Ok(row)
}

/// How a read locks the prescription row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lock {
    /// Only the patient row, weakly (see `patients::get`).
    None,
    /// The prescription cannot change status until the transaction ends (order creation).
    Share,
    /// The prescription is about to change (status changes).
    Update,
}

/// A prescription of a live patient.
pub async fn get(tx: &mut TenantTx, id: PrescriptionId, lock: Lock) -> Result<PrescriptionRow> {
    find(tx, id, lock).await?.ok_or_else(not_found)
}

/// A prescription of a live patient, if there is one.
pub async fn find(
    tx: &mut TenantTx,
    id: PrescriptionId,
    lock: Lock,
) -> Result<Option<PrescriptionRow>> {
    let tenant = tx.tenant();
    let clause = match lock {
        Lock::None => " FOR KEY SHARE OF p",
        Lock::Share => " FOR KEY SHARE OF p FOR SHARE OF r",
        Lock::Update => " FOR KEY SHARE OF p FOR UPDATE OF r",
    };
    let row: Option<PrescriptionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT r.id, r.patient_id, r.data, r.created_by, r.created_at, r.updated_at
         FROM prescriptions r JOIN patients p ON p.company_id = r.company_id AND p.id = r.patient_id
         WHERE r.company_id = $1 AND r.id = $2 AND p.deleted_at IS NULL{clause}"
    )))
    .bind(tenant)
    .bind(id.into_uuid())
    .fetch_optional(tx.conn())
    .await?;
    Ok(row)
}

pub async fn list_for_patient(
    tx: &mut TenantTx,
    patient: PatientId,
) -> Result<Vec<PrescriptionRow>> {
    let tenant = tx.tenant();
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM prescriptions WHERE company_id = $1 AND patient_id = $2
         ORDER BY issue_date DESC, id DESC"
    )))
    .bind(tenant)
    .bind(patient.into_uuid())
    .fetch_all(tx.conn())
    .await?;
    Ok(rows)
}

/// Writes the record's content and status.
pub async fn update(tx: &mut TenantTx, record: &PrescriptionRecord) -> Result<PrescriptionRow> {
    let tenant = tx.tenant();
    let rx = &record.data;
    let row: Option<PrescriptionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE prescriptions SET kind = $3, status = $4, issue_date = $5, expiry_date = $6, data = $7,
                updated_at = $8
         WHERE company_id = $1 AND id = $2 RETURNING {COLUMNS}"
    )))
    .bind(tenant)
    .bind(record.id.into_uuid())
    .bind(kind(rx))
    .bind(rx.status.as_str())
    .bind(rx.issue_date)
    .bind(rx.expiry_date)
    .bind(Json(rx))
    .bind(record.updated_at)
    .fetch_optional(tx.conn())
    .await?;
    row.ok_or_else(not_found)
}
