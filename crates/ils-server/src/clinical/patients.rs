//! Patients.

use chrono::NaiveDate;
use ils_core::PatientId;
use ils_core::patient::{PatientChanges, PatientData};
use serde_json::json;
use uuid::Uuid;

use super::today;
use crate::app::AppState;
use crate::auth::Principal;
use crate::error::{Error, Result};
use crate::store::audit::{self, Entry};
use crate::store::patients::{self, PatientRow, Search};

pub async fn create(
    state: &AppState,
    caller: &Principal,
    input: PatientData,
) -> Result<PatientRow> {
    let data = input.validate(today())?;
    let mut tx = state.db.tenant_tx(&caller.tenant()).await?;
    let row = patients::insert(&mut tx, PatientId::new(), &data).await?;
    audit::record(
        &mut tx,
        &caller.actor(),
        Entry::success("patient.create", "patient", row.id),
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}

pub async fn get(state: &AppState, caller: &Principal, id: PatientId) -> Result<PatientRow> {
    let mut tx = state.db.tenant_tx(&caller.tenant()).await?;
    let row = patients::get(&mut tx, id, false).await?;
    audit::record(
        &mut tx,
        &caller.actor(),
        Entry::success("patient.read", "patient", row.id),
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}

pub async fn update(
    state: &AppState,
    caller: &Principal,
    id: PatientId,
    changes: PatientChanges,
) -> Result<PatientRow> {
    let mut tx = state.db.tenant_tx(&caller.tenant()).await?;
    let before = patients::get(&mut tx, id, true).await?;
    let after = changes.apply(&before.data()).validate(today())?;
    let row = patients::update(&mut tx, id, &after).await?;
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
    audit::record(
        &mut tx,
        &caller.actor(),
        Entry::success("patient.update", "patient", row.id)
            .with_details(json!({ "fields": changed })),
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}

/// Soft delete: the record leaves every list and lookup but stays for the retention period.
/// (GDPR erasure, which removes everything, is `gdpr::erase_patient`.)
pub async fn delete(state: &AppState, caller: &Principal, id: PatientId) -> Result<()> {
    let mut tx = state.db.tenant_tx(&caller.tenant()).await?;
    patients::get(&mut tx, id, true).await?;
    if patients::open_orders(&mut tx, id).await? > 0 {
        return Err(Error::conflict(
            "patient.has_open_orders",
            "The patient has orders in progress; finish or cancel them first",
        ));
    }
    patients::soft_delete(&mut tx, id).await?;
    audit::record(
        &mut tx,
        &caller.actor(),
        Entry::success("patient.delete", "patient", id),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[derive(Debug, Default)]
pub struct SearchInput {
    pub name_prefix: Option<String>,
    pub customer_number: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    /// Cursor: the last patient of the previous page.
    pub after: Option<Uuid>,
    pub limit: u32,
}

pub async fn search(
    state: &AppState,
    caller: &Principal,
    input: SearchInput,
) -> Result<Vec<PatientRow>> {
    if let Some(prefix) = &input.name_prefix
        && (prefix.trim().is_empty()
            || prefix.chars().count() > 100
            || prefix.chars().any(char::is_control))
    {
        return Err(Error::bad_request(
            "patient.search_invalid",
            "q must be 1–100 printable characters",
        ));
    }
    if let Some(number) = &input.customer_number {
        ils_core::patient::customer_number("customer_number", number)?;
    }
    let mut tx = state.db.tenant_tx(&caller.tenant()).await?;
    let after = match input.after {
        Some(id) => Some(
            patients::sort_key(&mut tx, PatientId::from_uuid(id))
                .await?
                .ok_or_else(|| {
                    Error::bad_request(
                        "pagination.invalid_cursor",
                        "The cursor does not name a patient of this practice",
                    )
                })?,
        ),
        None => None,
    };
    let search = Search {
        name_prefix: input.name_prefix.as_deref().map(str::trim),
        customer_number: input.customer_number.as_deref().map(str::trim),
        date_of_birth: input.date_of_birth,
    };
    let rows = patients::search(&mut tx, &search, after, input.limit).await?;
    // Seeing a list of patients is a read of each of them.
    audit::record(
        &mut tx,
        &caller.actor(),
        Entry {
            action: "patient.search",
            resource_type: "patient",
            resource_id: None,
            outcome: audit::Outcome::Success,
            details: json!({
                "filters": {
                    "name_prefix": search.name_prefix.is_some(),
                    "customer_number": search.customer_number.is_some(),
                    "date_of_birth": search.date_of_birth.is_some(),
                },
                "patient_ids": rows.iter().map(|r| r.id).collect::<Vec<_>>(),
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(rows)
}
