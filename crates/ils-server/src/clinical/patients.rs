//! Patients: carried out from `ils_core::decide::patients`.

use ils_core::PatientId;
use ils_core::decide::patients::{self as decide, PatientQuery};
use ils_core::patient::{PatientChanges, PatientData};
use uuid::Uuid;

use super::{Caller, entry, record};
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
    // The audit row the decision plans for a read it allows is written by the read itself (one
    // statement); the decision then allows or refuses, and a refusal returns an error, so the
    // transaction and the row with it are never committed.
    let planned = decide::read_event(id);
    let row = patients::find_audited(tx, id, &caller.audit, entry(&planned)).await?;
    let event = decide::read(&caller.ctx(), row.as_ref().map(PatientRow::record).as_ref())?;
    if event != planned {
        return Err(Error::Internal(format!(
            "the read of patient {id} was audited as {planned:?}, but decided as {event:?}"
        )));
    }
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
    // Seeing a list of patients is a read of each of them: the audit row, listing them, is
    // written by the search itself (one statement).
    let planned = decide::searched(&query, &[]);
    let rows = patients::search(
        tx,
        &search,
        after,
        input.limit,
        (&caller.audit, entry(&planned)),
    )
    .await?;
    let shown: Vec<PatientId> = rows.iter().map(|r| PatientId::from_uuid(r.id)).collect();
    let mut written = planned;
    written.details["patient_ids"] = serde_json::json!(shown);
    let event = decide::searched(&query, &shown);
    if event != written {
        return Err(Error::Internal(format!(
            "a patient search was audited as {written:?}, but decided as {event:?}"
        )));
    }
    Ok(rows)
}
