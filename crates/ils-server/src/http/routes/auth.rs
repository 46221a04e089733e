//! `/api/auth/*`: sign-in, refresh, sign-out.

use axum::extract::State;
use axum::http::StatusCode;

use crate::app::AppState;
use crate::auth::session::{self, TokenPair};
use crate::error::Result;
use crate::http::dto::{LoginRequest, RefreshRequest};
use crate::http::error::{ErrorBody, Json};
use crate::http::extract::RequestOrigin;

/// Signs in with the company's domain, an e-mail address and a password.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenPair), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    RequestOrigin(origin): RequestOrigin,
    Json(body): Json<LoginRequest>,
) -> Result<Json<TokenPair>> {
    session::login(&state, &body.domain, &body.email, body.password, origin)
        .await
        .map(Json)
}

/// Exchanges a refresh token for a new pair; the old refresh token stops working.
#[utoipa::path(post, path = "/api/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenPair), (status = 401, body = ErrorBody)))]
pub async fn refresh(
    State(state): State<AppState>,
    RequestOrigin(origin): RequestOrigin,
    Json(body): Json<RefreshRequest>,
) -> Result<Json<TokenPair>> {
    session::refresh(&state, &body.refresh_token, origin)
        .await
        .map(Json)
}

/// Ends the sign-in the refresh token belongs to.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", request_body = RefreshRequest,
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn logout(
    State(state): State<AppState>,
    RequestOrigin(origin): RequestOrigin,
    Json(body): Json<RefreshRequest>,
) -> Result<StatusCode> {
    session::logout(&state, &body.refresh_token, origin).await?;
    Ok(StatusCode::NO_CONTENT)
}
