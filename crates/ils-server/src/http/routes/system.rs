//! Health, metrics, JWKS and the OpenAPI document.

use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::app::AppState;
use crate::auth::keys::Jwks;
use crate::http::dto::HealthDto;
use crate::http::error::{ErrorBody, Json};

/// 200 when the service can reach PostgreSQL, 503 otherwise. A replica without its Redis is still
/// healthy (it serves on its own limits) and says `"redis": "degraded"`.
#[utoipa::path(get, path = "/api/health", tag = "system",
    responses((status = 200, body = HealthDto), (status = 503, body = ErrorBody)))]
pub async fn health(State(state): State<AppState>) -> Response {
    match state.db.ping(Duration::from_secs(2)).await {
        Ok(()) => Json(HealthDto {
            status: "ok",
            database: "ok",
            redis: match &state.redis {
                None => "off",
                Some(redis) if redis.is_up() => "ok",
                Some(_) => "degraded",
            },
            version: env!("CARGO_PKG_VERSION"),
        })
        .into_response(),
        Err(error) => {
            tracing::warn!(%error, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(ErrorBody {
                    code: "health.database_unavailable".into(),
                    message: "PostgreSQL is unreachable".into(),
                    details: None,
                }),
            )
                .into_response()
        }
    }
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "system",
    responses((status = 200, content_type = "text/plain", body = String), (status = 401, body = ErrorBody)))]
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(expected) = &state.settings.http.metrics_token {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        // Compare digests so the time taken does not depend on how much of the token matched.
        let matches =
            Sha256::digest(presented.as_bytes()) == Sha256::digest(expected.expose().as_bytes());
        if !matches {
            return crate::error::Error::unauthorized(
                "metrics.unauthorized",
                "Send the metrics token as Authorization: Bearer <token>",
            )
            .into_response();
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

/// The public keys that verify access tokens (RFC 7517), for desktops verifying offline.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "system",
    responses((status = 200, body = Jwks)))]
pub async fn jwks(State(state): State<AppState>) -> Response {
    (
        [(header::CACHE_CONTROL, "public, max-age=60")],
        axum::Json(state.tokens.keys().jwks()),
    )
        .into_response()
}

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "system",
    responses((status = 200, content_type = "application/json", body = Object)))]
pub async fn openapi() -> Response {
    axum::Json(crate::http::openapi::document_json()).into_response()
}
