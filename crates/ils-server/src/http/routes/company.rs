//! `/api/company`: the caller's own company.

use axum::extract::State;

use crate::app::AppState;
use crate::error::Result;
use crate::http::dto::{CompanyDto, UpdateOwnCompanyRequest};
use crate::http::error::{ErrorBody, Json};
use crate::http::extract::{Authorized, need};
use crate::tenants::{self, OwnCompanyUpdate};

#[utoipa::path(get, path = "/api/company", tag = "company",
    responses((status = 200, body = CompanyDto), (status = 403, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::CompanyRead>,
) -> Result<Json<CompanyDto>> {
    Ok(Json(tenants::own(&state, &p).await?.into()))
}

/// Renames the company or changes its AI configuration.
#[utoipa::path(patch, path = "/api/company", tag = "company", request_body = UpdateOwnCompanyRequest,
    responses((status = 200, body = CompanyDto), (status = 422, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::CompanyUpdate>,
    Json(body): Json<UpdateOwnCompanyRequest>,
) -> Result<Json<CompanyDto>> {
    let company = tenants::update_own(
        &state,
        &p,
        OwnCompanyUpdate {
            name: body.name,
            ai_config: body.ai_config,
            time_zone: body.time_zone,
        },
    )
    .await?;
    Ok(Json(company.into()))
}
