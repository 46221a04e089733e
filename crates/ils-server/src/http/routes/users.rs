//! `/api/me` and `/api/users`: the caller's own account and the company's users.

use axum::extract::State;
use axum::http::StatusCode;
use ils_core::UserId;
use uuid::Uuid;

use super::{next_cursor, page_limit};
use crate::accounts::{self, NewUserInput, UserUpdate};
use crate::app::AppState;
use crate::error::Result;
use crate::http::dto::{
    AuditDto, AuditParams, ChangePasswordRequest, CreateUserRequest, Page, PageParams,
    SetPasswordRequest, UpdateUserRequest, UserDto,
};
use crate::http::error::{ErrorBody, Json, Path, Query};
use crate::http::extract::{Auth, Authorized, need};
use crate::store::audit::Filter;

/// The signed-in user.
#[utoipa::path(get, path = "/api/me", tag = "users",
    responses((status = 200, body = UserDto), (status = 401, body = ErrorBody)))]
pub async fn me(State(state): State<AppState>, Auth(p): Auth) -> Result<Json<UserDto>> {
    let user = accounts::get(&state, &p, p.user_id()).await?;
    Ok(Json(user.into()))
}

/// Changes the signed-in user's password; their other sessions end.
#[utoipa::path(post, path = "/api/me/password", tag = "users", request_body = ChangePasswordRequest,
    responses((status = 204), (status = 422, body = ErrorBody)))]
pub async fn change_password(
    State(state): State<AppState>,
    Auth(p): Auth,
    Json(body): Json<ChangePasswordRequest>,
) -> Result<StatusCode> {
    accounts::change_own_password(&state, &p, body.current_password, body.new_password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The company's users, oldest first.
#[utoipa::path(get, path = "/api/users", tag = "users", params(PageParams),
    responses((status = 200, body = Page<UserDto>), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::UsersRead>,
    Query(page): Query<PageParams>,
) -> Result<Json<Page<UserDto>>> {
    let limit = page_limit(page.limit, state.settings.http.max_page_size)?;
    let users = accounts::list(&state, &p, page.after.map(UserId::from_uuid), limit).await?;
    let next = next_cursor(&users, limit, |u| u.id.into_uuid());
    Ok(Json(Page {
        items: users.into_iter().map(UserDto::from).collect(),
        next,
    }))
}

/// Adds a user to the company.
#[utoipa::path(post, path = "/api/users", tag = "users", request_body = CreateUserRequest,
    responses((status = 201, body = UserDto), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::UsersCreate>,
    Json(body): Json<CreateUserRequest>,
) -> Result<(StatusCode, Json<UserDto>)> {
    let user = accounts::create(
        &state,
        &p,
        NewUserInput {
            email: body.email,
            password: body.password,
            first_name: body.first_name,
            last_name: body.last_name,
            role: body.role,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(user.into())))
}

#[utoipa::path(get, path = "/api/users/{id}", tag = "users", params(("id" = Uuid, Path)),
    responses((status = 200, body = UserDto), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::UsersRead>,
    Path(id): Path<Uuid>,
) -> Result<Json<UserDto>> {
    let user = accounts::get(&state, &p, UserId::from_uuid(id)).await?;
    Ok(Json(user.into()))
}

/// Changes a user's names, role or status (disabling ends their sessions).
#[utoipa::path(patch, path = "/api/users/{id}", tag = "users", params(("id" = Uuid, Path)),
    request_body = UpdateUserRequest,
    responses((status = 200, body = UserDto), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::UsersUpdate>,
    Path(id): Path<Uuid>,
    Json(body): Json<UpdateUserRequest>,
) -> Result<Json<UserDto>> {
    let user = accounts::update(
        &state,
        &p,
        UserId::from_uuid(id),
        UserUpdate {
            first_name: body.first_name,
            last_name: body.last_name,
            role: body.role,
            status: body.status,
        },
    )
    .await?;
    Ok(Json(user.into()))
}

#[utoipa::path(delete, path = "/api/users/{id}", tag = "users", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::UsersDelete>,
    Path(id): Path<Uuid>,
) -> Result<StatusCode> {
    accounts::delete(&state, &p, UserId::from_uuid(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sets a new password for a user, lifts any lockout and ends their sessions.
#[utoipa::path(post, path = "/api/users/{id}/password", tag = "users", params(("id" = Uuid, Path)),
    request_body = SetPasswordRequest,
    responses((status = 204), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_password(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::UsersUpdate>,
    Path(id): Path<Uuid>,
    Json(body): Json<SetPasswordRequest>,
) -> Result<StatusCode> {
    accounts::reset_password(&state, &p, UserId::from_uuid(id), body.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The company's audit trail, newest first.
#[utoipa::path(get, path = "/api/audit", tag = "audit", params(AuditParams),
    responses((status = 200, body = Page<AuditDto>), (status = 403, body = ErrorBody)))]
pub async fn audit(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::AuditRead>,
    Query(q): Query<AuditParams>,
) -> Result<Json<Page<AuditDto>>> {
    let limit = page_limit(q.limit, state.settings.http.max_page_size)?;
    let filter = Filter {
        resource_type: q.resource_type.as_deref(),
        resource_id: q.resource_id.as_deref(),
        actor_user_id: q.actor_user_id,
        action: q.action.as_deref(),
        before: q.before,
    };
    let rows = accounts::audit_trail(&state, &p, &filter, limit).await?;
    let next = next_cursor(&rows, limit, |r| r.id);
    Ok(Json(Page {
        items: rows.into_iter().map(AuditDto::from).collect(),
        next,
    }))
}
