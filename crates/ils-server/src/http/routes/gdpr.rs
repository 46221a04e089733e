//! GDPR export and erasure.

use axum::extract::State;
use ils_core::{CompanyId, PatientId};
use uuid::Uuid;

use crate::app::AppState;
use crate::clinical::gdpr;
use crate::error::Result;
use crate::http::dto::ErasureDto;
use crate::http::error::{ErrorBody, Json, Path};
use crate::http::extract::{Authorized, need};

/// Everything held about one patient, as JSON, table by table.
#[utoipa::path(get, path = "/api/patients/{id}/export", tag = "gdpr", params(("id" = Uuid, Path)),
    responses((status = 200, body = gdpr::ExportDocument), (status = 404, body = ErrorBody)))]
pub async fn export_patient(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::GdprExport>,
    Path(id): Path<Uuid>,
) -> Result<Json<gdpr::ExportDocument>> {
    Ok(Json(
        gdpr::export_patient(&state, &p, PatientId::from_uuid(id)).await?,
    ))
}

/// Everything the company holds, as JSON, table by table.
#[utoipa::path(get, path = "/api/company/export", tag = "gdpr",
    responses((status = 200, body = gdpr::ExportDocument), (status = 403, body = ErrorBody)))]
pub async fn export_company(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::GdprExport>,
) -> Result<Json<gdpr::ExportDocument>> {
    Ok(Json(gdpr::export_company(&state, &p).await?))
}

/// Erases the patient and everything referring to them, in one transaction.
#[utoipa::path(post, path = "/api/patients/{id}/erasure", tag = "gdpr", params(("id" = Uuid, Path)),
    responses((status = 200, body = ErasureDto), (status = 404, body = ErrorBody)))]
pub async fn erase_patient(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::GdprErase>,
    Path(id): Path<Uuid>,
) -> Result<Json<ErasureDto>> {
    let erasure_id = gdpr::erase_patient(&state, &p, PatientId::from_uuid(id)).await?;
    Ok(Json(ErasureDto { erasure_id }))
}

/// Erases a whole tenant (platform operator), in one transaction.
#[utoipa::path(post, path = "/api/platform/companies/{id}/erasure", tag = "platform", params(("id" = Uuid, Path)),
    responses((status = 200, body = ErasureDto), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn erase_company(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::PlatformTenants>,
    Path(id): Path<Uuid>,
) -> Result<Json<ErasureDto>> {
    let erasure_id = gdpr::erase_tenant(&state, &p, CompanyId::from_uuid(id)).await?;
    Ok(Json(ErasureDto { erasure_id }))
}
