//! `/api/platform/*`: the platform operator's administration of tenants and signing keys.

use axum::extract::State;
use axum::http::StatusCode;
use ils_core::{CompanyId, CompanyStatus, Role};
use uuid::Uuid;

use super::{next_cursor, page_limit};
use crate::accounts::NewUserInput;
use crate::app::AppState;
use crate::error::Result;
use crate::http::dto::{
    CompanyDto, CreateCompanyRequest, Page, PageParams, RotatedKeyDto, UpdateCompanyRequest,
};
use crate::http::error::{ErrorBody, Json, Path, Query};
use crate::http::extract::{Authorized, need};
use crate::tenants::{self, NewTenantInput, TenantUpdate};

#[utoipa::path(get, path = "/api/platform/companies", tag = "platform", params(PageParams),
    responses((status = 200, body = Page<CompanyDto>), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::PlatformTenants>,
    Query(page): Query<PageParams>,
) -> Result<Json<Page<CompanyDto>>> {
    let limit = page_limit(page.limit, state.settings.http.max_page_size)?;
    let rows = tenants::list(&state, &p, page.after.map(CompanyId::from_uuid), limit).await?;
    let next = next_cursor(&rows, limit, |c| c.id.into_uuid());
    Ok(Json(Page {
        items: rows.into_iter().map(CompanyDto::from).collect(),
        next,
    }))
}

/// Creates a tenant, optionally with its first company administrator.
#[utoipa::path(post, path = "/api/platform/companies", tag = "platform", request_body = CreateCompanyRequest,
    responses((status = 201, body = CompanyDto), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::PlatformTenants>,
    Json(body): Json<CreateCompanyRequest>,
) -> Result<(StatusCode, Json<CompanyDto>)> {
    let company = tenants::create(
        &state,
        &p,
        NewTenantInput {
            name: body.name,
            domain: body.domain,
            tier: body.tier,
            status: body.status.unwrap_or(CompanyStatus::Active),
            ai_config: body.ai_config.unwrap_or_default(),
            admin: body.admin.map(|a| NewUserInput {
                email: a.email,
                password: a.password,
                first_name: a.first_name,
                last_name: a.last_name,
                role: Role::CompanyAdmin,
            }),
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(company.into())))
}

#[utoipa::path(get, path = "/api/platform/companies/{id}", tag = "platform", params(("id" = Uuid, Path)),
    responses((status = 200, body = CompanyDto), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::PlatformTenants>,
    Path(id): Path<Uuid>,
) -> Result<Json<CompanyDto>> {
    let company = tenants::get(&state, &p, CompanyId::from_uuid(id)).await?;
    Ok(Json(company.into()))
}

/// Changes a tenant: name, domain, tier, status (suspend / reactivate), AI configuration.
#[utoipa::path(patch, path = "/api/platform/companies/{id}", tag = "platform", params(("id" = Uuid, Path)),
    request_body = UpdateCompanyRequest,
    responses((status = 200, body = CompanyDto), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::PlatformTenants>,
    Path(id): Path<Uuid>,
    Json(body): Json<UpdateCompanyRequest>,
) -> Result<Json<CompanyDto>> {
    let company = tenants::update(
        &state,
        &p,
        CompanyId::from_uuid(id),
        TenantUpdate {
            name: body.name,
            domain: body.domain,
            tier: body.tier,
            status: body.status,
            ai_config: body.ai_config,
        },
    )
    .await?;
    Ok(Json(company.into()))
}

/// Starts signing with a new key; the previous key stays published until its tokens expire.
#[utoipa::path(post, path = "/api/platform/signing-keys/rotate", tag = "platform",
    responses((status = 200, body = RotatedKeyDto), (status = 403, body = ErrorBody)))]
pub async fn rotate_keys(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::PlatformKeys>,
) -> Result<Json<RotatedKeyDto>> {
    let kid = tenants::rotate_signing_key(&state, &p).await?;
    Ok(Json(RotatedKeyDto { kid }))
}
