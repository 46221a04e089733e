//! The HTTP edge of [`Error`]: status codes, the JSON error body, and extractors whose
//! rejections speak the same format.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::Error;

/// Every 4xx/5xx body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable, machine-readable code, e.g. `user.email_taken`.
    pub code: String,
    /// A sentence a person can act on.
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

fn body(
    status: StatusCode,
    code: &str,
    message: String,
    details: Option<serde_json::Value>,
) -> Response {
    (
        status,
        axum::Json(ErrorBody {
            code: code.to_owned(),
            message,
            details,
        }),
    )
        .into_response()
}

fn retry_after(mut response: Response, wait: std::time::Duration) -> Response {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    if let Ok(value) = HeaderValue::from_str(&secs.max(1).to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let message = self.to_string();
        match self {
            Error::Validation(errors) => body(
                StatusCode::UNPROCESSABLE_ENTITY,
                errors
                    .errors
                    .first()
                    .map_or("validation.failed", |e| e.code),
                message,
                Some(serde_json::json!({ "fields": errors.errors })),
            ),
            Error::BadRequest { code, .. } => {
                let status = match code {
                    "request.body_too_large" => StatusCode::PAYLOAD_TOO_LARGE,
                    "request.unsupported_media_type" => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "request.timeout" => StatusCode::REQUEST_TIMEOUT,
                    _ => StatusCode::BAD_REQUEST,
                };
                body(status, code, message, None)
            }
            Error::Unauthorized { code, .. } => {
                let mut response = body(StatusCode::UNAUTHORIZED, code, message, None);
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                response
            }
            Error::Forbidden { code, .. } => body(StatusCode::FORBIDDEN, code, message, None),
            Error::NotFound { resource } => body(
                StatusCode::NOT_FOUND,
                &format!("{resource}.not_found"),
                message,
                None,
            ),
            Error::Conflict { code, .. } => body(StatusCode::CONFLICT, code, message, None),
            Error::RateLimited {
                code,
                retry_after: wait,
            } => retry_after(
                body(StatusCode::TOO_MANY_REQUESTS, code, message, None),
                wait,
            ),
            Error::LockedOut { retry_after: wait } => retry_after(
                body(
                    StatusCode::TOO_MANY_REQUESTS,
                    "auth.locked_out",
                    message,
                    None,
                ),
                wait,
            ),
            Error::ModelUnavailable { .. } => body(
                StatusCode::SERVICE_UNAVAILABLE,
                "ai.unavailable",
                message,
                None,
            ),
            Error::Unavailable(source) => {
                tracing::error!(error = %source, "database unavailable");
                body(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "service.unavailable",
                    "The service is temporarily unavailable; try again shortly".into(),
                    None,
                )
            }
            Error::Database(source) => {
                tracing::error!(error = %source, "database error");
                internal()
            }
            Error::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                internal()
            }
        }
    }
}

fn internal() -> Response {
    body(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "Something went wrong on our side; it has been logged".into(),
        None,
    )
}

impl From<JsonRejection> for Error {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonDataError(e) => Error::BadRequest {
                code: "request.invalid_body",
                message: format!(
                    "The request body does not match the expected shape: {}",
                    e.body_text()
                ),
            },
            JsonRejection::JsonSyntaxError(e) => Error::BadRequest {
                code: "request.malformed_json",
                message: format!("The request body is not valid JSON: {}", e.body_text()),
            },
            JsonRejection::MissingJsonContentType(_) => Error::BadRequest {
                code: "request.unsupported_media_type",
                message: "Send the body as JSON with Content-Type: application/json".into(),
            },
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => Error::BadRequest {
                code: "request.body_too_large",
                message: "The request body is too large".into(),
            },
            other => Error::BadRequest {
                code: "request.unreadable_body",
                message: other.body_text(),
            },
        }
    }
}

impl From<QueryRejection> for Error {
    fn from(rejection: QueryRejection) -> Self {
        Error::BadRequest {
            code: "request.invalid_query",
            message: format!("The query string is invalid: {}", rejection.body_text()),
        }
    }
}

impl From<PathRejection> for Error {
    fn from(rejection: PathRejection) -> Self {
        Error::BadRequest {
            code: "request.invalid_path",
            message: format!("The address is invalid: {}", rejection.body_text()),
        }
    }
}

/// `axum::Json` with JSON error bodies, for object bodies only: every request body of this API
/// is an object, and serde would otherwise read an array into a struct's fields by position.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiRejection;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(ObjectOnly(value)) =
            axum::Json::<ObjectOnly<T>>::from_request(req, state).await?;
        Ok(Json(value))
    }
}

/// Deserialises `T` only from a JSON object (a map), never from an array.
struct ObjectOnly<T>(T);

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for ObjectOnly<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for Visitor<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        deserializer
            .deserialize_map(Visitor(std::marker::PhantomData))
            .map(ObjectOnly)
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// `axum::extract::Query` with JSON error bodies.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiRejection))]
pub struct Query<T>(pub T);

/// `axum::extract::Path` with JSON error bodies.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiRejection))]
pub struct Path<T>(pub T);

/// Rejections of the extractors above, answered with the JSON error format.
#[derive(Debug)]
pub struct ApiRejection(Error);

impl<R> From<R> for ApiRejection
where
    Error: From<R>,
{
    fn from(rejection: R) -> Self {
        Self(Error::from(rejection))
    }
}

impl IntoResponse for ApiRejection {
    fn into_response(self) -> Response {
        self.0.into_response()
    }
}
