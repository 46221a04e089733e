//! `/api/sync/*`: devices, push, pull and the conflict log (`docs/sync-protocol.md`).

use axum::extract::State;
use chrono::{DateTime, Utc};
use ils_core::DeviceId;
use ils_core::sync::{DEFAULT_PULL_LIMIT, MAX_PULL_LIMIT, PullPage, PushRequest, PushResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{Created, created, page_limit};
use crate::app::AppState;
use crate::auth::Principal;
use crate::error::{Error, Result};
use crate::http::error::{ErrorBody, Json, Path, Query};
use crate::http::extract::{Auth, Authorized, need};
use crate::rate_limit::LimitClass;
use crate::store::sync::{ConflictRow, DeviceRow};
use crate::sync;

/// The longest a pull waits for news (under the per-request deadline).
const MAX_WAIT_SECS: u32 = 25;

/// A device id from a path or a query: 16 hexadecimal digits, never 0.
fn device_id(text: &str) -> Result<DeviceId> {
    text.parse().map_err(|_| {
        Error::bad_request(
            "device.invalid_id",
            format!("{text:?} is not a device id (16 hexadecimal digits)"),
        )
    })
}

/// The practice and the signed-in user, as a device keeps them.
#[utoipa::path(get, path = "/api/sync/practice", tag = "sync",
    responses((status = 200, body = ils_core::sync::PracticeInfo), (status = 401, body = ErrorBody)))]
pub async fn practice(
    State(state): State<AppState>,
    Auth(p): Auth,
) -> Result<Json<ils_core::sync::PracticeInfo>> {
    let company = crate::tenants::own(&state, &p).await?;
    let user = crate::accounts::get(&state, &p, p.user_id()).await?;
    Ok(Json(ils_core::sync::PracticeInfo {
        company_id: company.id,
        name: company.name,
        domain: company.domain,
        time_zone: company.time_zone.name().to_owned(),
        user: ils_core::sync::PracticeUser {
            id: user.id,
            email: user.email,
            first_name: user.first_name,
            last_name: user.last_name,
            role: user.role,
        },
    }))
}

/// A device's registration. With a registration code from an administrator the device is
/// approved at once; without, it waits for an administrator's approval.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"device": "1f3a5c7e9b2d4f61", "name": "Front desk", "code": "7KQ2-M9XP-4TRW"}))]
pub struct NewDevice {
    /// The device's id: 16 hexadecimal digits, made once by the installation.
    #[schema(value_type = String)]
    pub device: String,
    /// What people call it: 1–100 printable characters.
    pub name: String,
    pub code: Option<String>,
}

/// Registers this device with the caller's practice.
#[utoipa::path(post, path = "/api/sync/devices", tag = "sync", request_body = NewDevice,
    responses((status = 201, body = DeviceRow, headers(("location" = String))),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn register(
    State(state): State<AppState>,
    Auth(p): Auth,
    Json(body): Json<NewDevice>,
) -> Result<Created<DeviceRow>> {
    let registration = sync::Registration {
        device: device_id(&body.device)?,
        name: body.name,
        code: body.code,
    };
    let mut tx = state.db.tenant_tx(&p.tenant()).await?;
    let row = sync::register(&mut tx, &p.caller(), &registration).await?;
    tx.commit().await?;
    Ok(created(format!("/api/sync/devices/{}", row.id), row))
}

/// The practice's devices (company administrators).
#[utoipa::path(get, path = "/api/sync/devices", tag = "sync",
    responses((status = 200, body = Vec<DeviceRow>), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::CompanyUpdate>,
) -> Result<Json<Vec<DeviceRow>>> {
    let mut tx = state.db.tenant_tx(&p.tenant()).await?;
    let rows = sync::list(&mut tx, &p.caller()).await?;
    tx.end_read();
    Ok(Json(rows))
}

/// Approves a pending device.
#[utoipa::path(post, path = "/api/sync/devices/{id}/approval", tag = "sync",
    params(("id" = String, Path, description = "16 hexadecimal digits")),
    responses((status = 200, body = DeviceRow), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn approve(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::CompanyUpdate>,
    Path(id): Path<String>,
) -> Result<Json<DeviceRow>> {
    let device = device_id(&id)?;
    let mut tx = state.db.tenant_tx(&p.tenant()).await?;
    let row = sync::approve(&mut tx, &p.caller(), device).await?;
    tx.commit().await?;
    Ok(Json(row))
}

/// Revokes a device: its pushes and pulls are refused from now on.
#[utoipa::path(post, path = "/api/sync/devices/{id}/revocation", tag = "sync",
    params(("id" = String, Path, description = "16 hexadecimal digits")),
    responses((status = 200, body = DeviceRow), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn revoke(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::CompanyUpdate>,
    Path(id): Path<String>,
) -> Result<Json<DeviceRow>> {
    let device = device_id(&id)?;
    let mut tx = state.db.tenant_tx(&p.tenant()).await?;
    let row = sync::revoke(&mut tx, &p.caller(), device).await?;
    tx.commit().await?;
    Ok(Json(row))
}

/// A one-time registration code, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceCode {
    pub code: String,
    pub expires_at: DateTime<Utc>,
}

/// Makes a one-time registration code (valid 24 hours).
#[utoipa::path(post, path = "/api/sync/device-codes", tag = "sync",
    responses((status = 201, body = DeviceCode), (status = 403, body = ErrorBody)))]
pub async fn create_code(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::CompanyUpdate>,
) -> Result<Created<DeviceCode>> {
    let mut tx = state.db.tenant_tx(&p.tenant()).await?;
    let (code, expires_at) = sync::create_code(&mut tx, &p.caller()).await?;
    tx.commit().await?;
    Ok(created(
        "/api/sync/devices".into(),
        DeviceCode { code, expires_at },
    ))
}

/// Pushes a batch of the device's changes; each is answered: applied, duplicate or rejected.
#[utoipa::path(post, path = "/api/sync/push", tag = "sync", request_body = PushRequest,
    responses((status = 200, body = PushResponse), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn push(
    State(state): State<AppState>,
    Auth(p): Auth,
    Json(mut body): Json<PushRequest>,
) -> Result<Json<PushResponse>> {
    spend_sync_budget(&state, &p, body.changes.len().max(1)).await?;
    crate::knowledge::embed_foreign_documents(&state, &mut body.changes, |passages| {
        spend_sync_budget(&state, &p, passages)
    })
    .await?;
    let mut tx = state.db.tenant_tx(&p.tenant()).await?;
    let response = sync::push(&mut tx, &p.caller(), p.time_zone, &body).await?;
    tx.commit().await?;
    Ok(Json(response))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PullQuery {
    /// The pulling device (16 hexadecimal digits).
    pub device: String,
    /// The cursor of the last page (0 for the first).
    #[serde(default)]
    pub cursor: i64,
    /// At most 1,000; 500 when absent.
    pub limit: Option<u32>,
    /// A long poll: when nothing follows the cursor, wait up to this many seconds (at most 25)
    /// for the practice's next change before answering.
    pub wait: Option<u32>,
}

/// The practice's changes made elsewhere after the cursor, in order, a page at a time.
#[utoipa::path(get, path = "/api/sync/pull", tag = "sync", params(PullQuery),
    responses((status = 200, body = PullPage), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn pull(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::PatientsRead>,
    Query(query): Query<PullQuery>,
) -> Result<axum::response::Response> {
    let device = device_id(&query.device)?;
    if query.cursor < 0 {
        return Err(Error::bad_request(
            "pagination.invalid_cursor",
            "The cursor is 0 or a cursor a pull returned",
        ));
    }
    let limit = match query.limit {
        None => DEFAULT_PULL_LIMIT,
        some => page_limit(some, MAX_PULL_LIMIT)?,
    };
    let wait = match query.wait {
        None | Some(0) => None,
        Some(s) if s <= MAX_WAIT_SECS => Some(std::time::Duration::from_secs(u64::from(s))),
        Some(s) => {
            return Err(Error::bad_request(
                "sync.wait_out_of_range",
                format!("wait is at most {MAX_WAIT_SECS} seconds, got {s}"),
            ));
        }
    };
    // Subscribed before reading, so that a change committed in between still wakes the wait.
    let mut news = wait.map(|_| state.feed_news.subscribe());
    let mut tx = state.db.tenant_tx(&p.tenant()).await?;
    sync::authorize(&mut tx, device).await?;
    let page = sync::pull(&mut tx, device, query.cursor, limit).await?;
    tx.commit().await?;
    if let (Some(wait), Some(news)) = (wait, news.as_mut())
        && page.cursor == query.cursor
    {
        sync::notify::wait(news, p.company_id(), wait).await;
        let mut tx = state.db.tenant_tx(&p.tenant()).await?;
        let page = sync::pull(&mut tx, device, query.cursor, limit).await?;
        tx.end_read();
        spend_sync_budget(&state, &p, page.changes.len()).await?;
        return Ok(page_response(page));
    }
    spend_sync_budget(&state, &p, page.changes.len()).await?;
    Ok(page_response(page))
}

/// Draws `changes` from the tenant's sync budget (`rate_limits.sync_changes_per_minute`): one
/// practice's devices moving millions of changes do not slow another's. Refused with 429
/// `rate_limit.sync` and Retry-After when spent; a refused page is not sent (the device asks
/// again from the same cursor).
async fn spend_sync_budget(state: &AppState, p: &Principal, changes: usize) -> Result<()> {
    let cost = u32::try_from(changes).unwrap_or(u32::MAX);
    if let Err(wait) = state
        .limiter
        .check_n(p.company_id(), p.tier, LimitClass::Sync, cost)
        .await
    {
        state
            .metrics
            .rate_limited(&p.company_id().to_string(), LimitClass::Sync.as_str());
        return Err(Error::RateLimited {
            code: "rate_limit.sync",
            retry_after: wait,
        });
    }
    Ok(())
}

/// A pulled page as JSON (see `sync::Page::into_json`).
fn page_response(page: sync::Page) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        page.into_json(),
    )
        .into_response()
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ConflictQuery {
    /// Only the conflicts nobody has resolved (default true).
    pub open: Option<bool>,
    pub after: Option<Uuid>,
    pub limit: Option<u32>,
}

/// The conflict log: versions of records that lost to a concurrent one, oldest first.
#[utoipa::path(get, path = "/api/sync/conflicts", tag = "sync", params(ConflictQuery),
    responses((status = 200, body = Vec<ConflictRow>), (status = 403, body = ErrorBody)))]
pub async fn conflicts(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::PatientsRead>,
    Query(query): Query<ConflictQuery>,
) -> Result<Json<Vec<ConflictRow>>> {
    let limit = page_limit(query.limit, 200)?;
    // A list of records' contents: it waits for an erasure in progress.
    let mut tx = state.db.tenant_tx_for_listing(&p.tenant()).await?;
    let rows = sync::conflicts(
        &mut tx,
        &p.caller(),
        query.open.unwrap_or(true),
        query.after,
        limit,
    )
    .await?;
    tx.commit().await?;
    Ok(Json(rows))
}

/// What a person decided about a conflict.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConflictResolution {
    /// `kept`: the version that won stays. `restored`: the version that lost becomes the
    /// record's version again, as an edit by the caller (a patient's details, a draft
    /// prescription; an order or a deletion cannot be restored).
    pub resolution: ils_core::decide::conflicts::Resolution,
}

/// Resolves a conflict: keeps the version that won, or restores the one that lost.
#[utoipa::path(post, path = "/api/sync/conflicts/{id}/resolution", tag = "sync",
    request_body = ConflictResolution,
    responses((status = 200, body = ConflictRow), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn resolve_conflict(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::PatientsRead>,
    Path(id): Path<Uuid>,
    Json(body): Json<ConflictResolution>,
) -> Result<Json<ConflictRow>> {
    let mut tx = state.db.tenant_tx(&p.tenant()).await?;
    let row = sync::resolve_conflict(&mut tx, &p.caller(), id, body.resolution).await?;
    tx.commit().await?;
    Ok(Json(row))
}

/// A practice's erasure, as a device learns of it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantErasure {
    pub company_id: Uuid,
    pub erased_at: DateTime<Utc>,
}

/// Whether ILS Central erased a practice (GDPR): how a device whose sign-in stopped working
/// learns that it must remove the practice's records. Without a token (the practice's users
/// went with it); it answers about the one id asked, which only the practice's devices hold.
#[utoipa::path(get, path = "/api/sync/erasures/{company_id}", tag = "sync",
    params(("company_id" = Uuid, Path, description = "the practice's id")),
    responses((status = 200, body = TenantErasure), (status = 404, body = ErrorBody)))]
pub async fn tenant_erasure(
    State(state): State<AppState>,
    Path(company): Path<Uuid>,
) -> Result<Json<TenantErasure>> {
    match crate::store::gdpr::tenant_erased(state.db.pool(), company).await? {
        Some(erased_at) => Ok(Json(TenantErasure {
            company_id: company,
            erased_at,
        })),
        None => Err(Error::NotFound {
            resource: "tenant_erasure",
        }),
    }
}
