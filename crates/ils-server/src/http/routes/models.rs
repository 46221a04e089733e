//! `/api/master-ai/fine-tuned-models`: a practice's fine-tuned models (company administrators
//! register and move them; the assistant routes to the ready ones).

use axum::extract::State;
use axum::http::StatusCode;
use ils_core::fine_tune::{FineTuneStatus, FineTunedModel, NewFineTunedModel};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Created, created};
use crate::app::AppState;
use crate::error::Result;
use crate::fine_tuning;
use crate::http::error::{ErrorBody, Json, Path};
use crate::http::extract::{Authorized, need};

/// A new status: `ready` (deployed: the practice's requests for its purpose go to it) or
/// `failed` (with the reason; a ready model becomes failed when it is withdrawn).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"status": "ready"}))]
pub struct StatusChange {
    pub status: FineTuneStatus,
    /// Required when the status becomes failed; at most 1,000 characters.
    pub failure_reason: Option<String>,
}

/// The practice's fine-tuned models, newest first.
#[utoipa::path(get, path = "/api/master-ai/fine-tuned-models", tag = "assistant",
    responses((status = 200, body = Vec<FineTunedModel>), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::CompanyRead>,
) -> Result<Json<Vec<FineTunedModel>>> {
    let mut tx = state.db.tenant_tx(&p.tenant()).await?;
    let models = fine_tuning::list(&mut tx, &p.caller()).await?;
    tx.end_read();
    Ok(Json(models))
}

/// Registers a model the provider is training for the practice (status `training`). The
/// provider must be one this service is set up with.
#[utoipa::path(post, path = "/api/master-ai/fine-tuned-models", tag = "assistant",
    request_body = NewFineTunedModel,
    responses((status = 201, body = FineTunedModel, headers(("location" = String))),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn register(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::CompanyUpdate>,
    Json(body): Json<NewFineTunedModel>,
) -> Result<Created<FineTunedModel>> {
    let mut tx = state.db.tenant_tx(&p.tenant()).await?;
    let model = fine_tuning::register(&state, &mut tx, &p.caller(), &body).await?;
    tx.commit().await?;
    Ok(created(
        format!("/api/master-ai/fine-tuned-models/{}", model.id),
        model,
    ))
}

/// Moves a model: training → ready or failed; ready → failed.
#[utoipa::path(patch, path = "/api/master-ai/fine-tuned-models/{id}", tag = "assistant",
    params(("id" = Uuid, Path)), request_body = StatusChange,
    responses((status = 200, body = FineTunedModel), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn change_status(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::CompanyUpdate>,
    Path(id): Path<Uuid>,
    Json(body): Json<StatusChange>,
) -> Result<Json<FineTunedModel>> {
    let mut tx = state.db.tenant_tx(&p.tenant()).await?;
    let model = fine_tuning::change_status(
        &mut tx,
        &p.caller(),
        id,
        body.status,
        body.failure_reason.as_deref(),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(model))
}

/// Removes a registration; a ready model stops being used at once.
#[utoipa::path(delete, path = "/api/master-ai/fine-tuned-models/{id}", tag = "assistant",
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::CompanyUpdate>,
    Path(id): Path<Uuid>,
) -> Result<StatusCode> {
    let mut tx = state.db.tenant_tx(&p.tenant()).await?;
    fine_tuning::delete(&mut tx, &p.caller(), id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
