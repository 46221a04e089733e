//! A practice's fine-tuned models on ILS Central: registered by its administrators once the
//! provider has started training, moved to ready (deployed) or failed, deleted; each change
//! audited. The assistant routes the practice's requests for a purpose to its latest ready
//! model (`ils_core::fine_tune::route`), before the shared models.

use ils_core::decide::assistant as decide;
use ils_core::fine_tune::{FineTuneStatus, FineTunedModel, NewFineTunedModel};
use uuid::Uuid;

use crate::app::AppState;
use crate::clinical::{Caller, record};
use crate::db::TenantTx;
use crate::error::{Error, Result};
use crate::store::fine_tuned;

pub async fn list(tx: &mut TenantTx, caller: &Caller) -> Result<Vec<FineTunedModel>> {
    decide::read_models(&caller.actor)?;
    fine_tuned::list(tx).await
}

pub async fn register(
    state: &AppState,
    tx: &mut TenantTx,
    caller: &Caller,
    input: &NewFineTunedModel,
) -> Result<FineTunedModel> {
    let (model, event) = decide::register_model(
        &caller.actor,
        Uuid::now_v7(),
        input,
        &state.providers.names(),
        caller.now,
    )?;
    if !fine_tuned::insert(tx, &model).await? {
        return Err(Error::Conflict {
            code: "fine_tune.already_registered",
            message: format!(
                "{} of {} is registered already",
                model.provider_model_id, model.provider
            ),
        });
    }
    record(tx, caller, &event).await?;
    Ok(model)
}

pub async fn change_status(
    tx: &mut TenantTx,
    caller: &Caller,
    id: Uuid,
    next: FineTuneStatus,
    failure_reason: Option<&str>,
) -> Result<FineTunedModel> {
    let current = fine_tuned::find_for_update(tx, id).await?;
    let (model, event) = decide::change_model_status(
        &caller.actor,
        current.as_ref(),
        next,
        failure_reason,
        caller.now,
    )?;
    fine_tuned::update_status(tx, &model).await?;
    record(tx, caller, &event).await?;
    Ok(model)
}

pub async fn delete(tx: &mut TenantTx, caller: &Caller, id: Uuid) -> Result<()> {
    let current = fine_tuned::find_for_update(tx, id).await?;
    let event = decide::delete_model(&caller.actor, current.as_ref())?;
    fine_tuned::delete(tx, id).await?;
    record(tx, caller, &event).await
}
