//! Patients: carried out from `ils_core::decide::patients`.

use ils_core::PatientId;
use ils_core::decide::patients::{self as decide, PatientQuery};
use ils_core::patient::{PatientChanges, PatientData};
use uuid::Uuid;

use super::{Caller, record};
use crate::db::TenantTx;
use crate::error::{Error, Result};
use crate::store::patients::{self, Lock, PatientRow, Search};

pub async fn create(tx: &mut TenantTx, caller: &Caller, input: &PatientData) -> Result<PatientRow> {
    let plan = decide::create(&caller.ctx(), input)?;
    let row = patients::insert(tx, &plan.record).await?;
    record(tx, caller, &plan.audit).await?;
    tx.stage(plan.change, caller.actor.user_id);
    Ok(row)
}

pub async fn get(tx: &mut TenantTx, caller: &Caller, id: PatientId) -> Result<PatientRow> {
    let row = patients::find(tx, id, Lock::Read).await?;
    let event = decide::read(&caller.ctx(), row.as_ref().map(PatientRow::record).as_ref())?;
    record(tx, caller, &event).await?;
    row.ok_or(Error::NotFound {
        resource: "patient",
    })
}

pub async fn update(
    tx: &mut TenantTx,
    caller: &Caller,
    id: PatientId,
    changes: &PatientChanges,
) -> Result<PatientRow> {
    let current = patients::find(tx, id, Lock::Update).await?;
    let plan = decide::update(&caller.ctx(), current.map(|r| r.record()).as_ref(), changes)?;
    let row = patients::update(tx, &plan.record).await?;
    record(tx, caller, &plan.audit).await?;
    tx.stage(plan.change, caller.actor.user_id);
    Ok(row)
}

/// Soft delete (GDPR erasure, which removes everything, is `gdpr::erase_patient`).
pub async fn delete(tx: &mut TenantTx, caller: &Caller, id: PatientId) -> Result<()> {
    let current = patients::find(tx, id, Lock::Update).await?;
    let open_orders = match &current {
        Some(_) => patients::open_orders(tx, id).await?,
        None => 0,
    };
    let plan = decide::delete(
        &caller.ctx(),
        current.map(|r| r.record()).as_ref(),
        u64::try_from(open_orders).unwrap_or(0),
    )?;
    patients::soft_delete(tx, &plan.record).await?;
    record(tx, caller, &plan.audit).await?;
    tx.stage(plan.change, caller.actor.user_id);
    Ok(())
}

#[derive(Debug, Default)]
pub struct SearchInput {
    pub query: PatientQuery,
    /// Cursor: the last patient of the previous page.
    pub after: Option<Uuid>,
    pub limit: u32,
}

pub async fn search(
    tx: &mut TenantTx,
    caller: &Caller,
    input: &SearchInput,
) -> Result<Vec<PatientRow>> {
    let query = decide::search(&caller.ctx(), &input.query)?;
    // A search shows (and audits) patients: never one an erasure is removing.
    crate::store::gdpr::lock_for_listing(tx).await?;
    let after = match input.after {
        Some(id) => Some(
            patients::sort_key(tx, PatientId::from_uuid(id))
                .await?
                .ok_or_else(|| {
                    Error::bad_request(
                        ils_core::error::code::PAGINATION_INVALID_CURSOR,
                        "The cursor does not name a patient of this practice",
                    )
                })?,
        ),
        None => None,
    };
    let search = Search {
        name_prefix: query.name_prefix.as_deref(),
        customer_number: query.customer_number.as_deref(),
        date_of_birth: query.date_of_birth,
    };
    let rows = patients::search(tx, &search, after, input.limit).await?;
    // Seeing a list of patients is a read of each of them.
    let shown: Vec<PatientId> = rows.iter().map(|r| PatientId::from_uuid(r.id)).collect();
    record(tx, caller, &decide::searched(&query, &shown)).await?;
    Ok(rows)
}
