//! GDPR: export of one patient's or the whole company's data, erasure of a patient, and
//! erasure of a whole tenant. Each runs in one transaction; an erasure leaves an audit record
//! that it happened, and a tombstone for the desktops, but nothing of the erased data.

use crate::shared::Invalidation;
use ils_core::{CompanyId, PatientId};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::Principal;
use crate::error::Result;
use crate::store::audit::{self, Entry};
use crate::store::{gdpr, patients};

/// A GDPR export: every row held, table by table, each row as the table holds it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ExportDocument {
    /// `patient` or `company`.
    #[schema(example = "patient")]
    pub kind: &'static str,
    pub exported_at: chrono::DateTime<chrono::Utc>,
    /// The document's format and version.
    #[schema(example = "ils.gdpr-export.v1")]
    pub format: &'static str,
    /// Table name → its rows (columns as the table names them).
    #[schema(value_type = std::collections::BTreeMap<String, Vec<Object>>)]
    pub tables: Map<String, Value>,
}

fn document(kind: &'static str, tables: Vec<(&'static str, Vec<Value>)>) -> ExportDocument {
    let mut map = Map::new();
    for (name, rows) in tables {
        map.insert(name.to_owned(), Value::Array(rows));
    }
    ExportDocument {
        kind,
        exported_at: chrono::Utc::now(),
        format: "ils.gdpr-export.v1",
        tables: map,
    }
}

/// The hash a tombstone names its subject by: SHA-256 of "<company>:<entity>:<id>".
pub fn subject_hash(company: CompanyId, entity: &str, id: Uuid) -> Vec<u8> {
    Sha256::digest(format!("{company}:{entity}:{id}").as_bytes()).to_vec()
}

pub async fn export_patient(
    state: &AppState,
    caller: &Principal,
    id: PatientId,
) -> Result<ExportDocument> {
    let mut tx = state.db.tenant_tx(&caller.tenant()).await?;
    // Soft-deleted patients are kept for the retention period, and can still be exported.
    if !patients::exists_including_deleted(&mut tx, id).await? {
        return Err(crate::error::Error::NotFound {
            resource: "patient",
        });
    }
    let tables = gdpr::patient_export(&mut tx, id.into_uuid()).await?;
    audit::record(
        &mut tx,
        &caller.actor(),
        Entry::success("gdpr.export_patient", "patient", id),
    )
    .await?;
    tx.commit().await?;
    Ok(document("patient", tables))
}

pub async fn export_company(state: &AppState, caller: &Principal) -> Result<ExportDocument> {
    let mut tx = state.db.tenant_tx(&caller.tenant()).await?;
    audit::record(
        &mut tx,
        &caller.actor(),
        Entry::success("gdpr.export_company", "company", caller.company_id()),
    )
    .await?;
    let tables = gdpr::tenant_export(&mut tx).await?;
    tx.commit().await?;
    Ok(document("company", tables))
}

/// Erases a patient and everything that refers to them.
pub async fn erase_patient(state: &AppState, caller: &Principal, id: PatientId) -> Result<Uuid> {
    let mut tx = state.db.tenant_tx(&caller.tenant()).await?;
    // Lists and searches wait for the erasure, and it for those already running.
    gdpr::lock_for_erasure(&mut tx).await?;
    // Soft-deleted patients are erased too: erasure is about the data, not the list.
    if !patients::lock_including_deleted(&mut tx, id).await? {
        return Err(crate::error::Error::NotFound {
            resource: "patient",
        });
    }
    let tombstone = Uuid::now_v7();
    let replacement = format!("erased:{tombstone}");
    let (_, redacted) = gdpr::erase_patient(&mut tx, id.into_uuid(), &replacement).await?;
    gdpr::insert_tombstone(
        &mut tx,
        tombstone,
        "patient",
        &subject_hash(caller.company_id(), "patient", id.into_uuid()),
    )
    .await?;
    // Every device erases the patient too, when it pulls this; the feed names them only by
    // their erased subject, never by their id.
    tx.stage(
        ils_core::change::ChangeDraft::erase(
            ils_core::change::Entity::Patient,
            ils_core::change::erased_subject(
                caller.company_id(),
                ils_core::change::Entity::Patient,
                id.into_uuid(),
            ),
        ),
        caller.user_id(),
    );
    audit::record(
        &mut tx,
        &caller.actor(),
        Entry::success("gdpr.erase_patient", "tombstone", tombstone)
            .with_details(json!({ "redacted_audit_rows": redacted })),
    )
    .await?;
    tx.commit().await?;
    Ok(tombstone)
}

/// Erases a whole tenant (platform operator only).
pub async fn erase_tenant(
    state: &AppState,
    caller: &Principal,
    company: CompanyId,
) -> Result<Uuid> {
    let platform = caller.platform()?;
    if company == platform.home() {
        return Err(crate::error::Error::conflict(
            "company.cannot_erase_platform",
            "The platform operator's own company cannot be erased",
        ));
    }
    let mut tx = state.db.platform_tx(&platform).await?;
    crate::store::companies::platform_get(&mut tx, company).await?;
    let erasure = Uuid::now_v7();
    let audit_rows = gdpr::erase_tenant(&mut tx, company.into_uuid(), erasure).await?;
    let home = tx.enter_home().await?;
    audit::record_erasure(
        home,
        platform.actor(),
        Entry::success("platform.company.erase", "company", company)
            .with_details(json!({ "erasure_id": erasure, "deleted_audit_rows": audit_rows })),
    )
    .await?;
    tx.commit().await?;
    state.standing_changed(Invalidation::Company(company)).await;
    Ok(erasure)
}
