//! The HTTP API: routing, middleware (request ids, tracing, metrics, body limits) and the JSON
//! error edge.

pub mod dto;
pub mod error;
pub mod extract;
pub mod openapi;
pub mod routes;

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::app::AppState;
use routes::{
    assistant, auth, capture, company, gdpr, kb, models, orders, patients, platform, sync, system,
    users,
};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Every route of the service.
pub fn router(state: AppState) -> Router {
    let body_limit = state.settings.http.body_limit_bytes;
    Router::new()
        .route("/api/health", get(system::health))
        .route("/metrics", get(system::metrics))
        .route("/.well-known/jwks.json", get(system::jwks))
        .route("/api/openapi.json", get(system::openapi))
        .route("/api/auth/login", post(auth::login))
        .route("/api/auth/refresh", post(auth::refresh))
        .route("/api/auth/logout", post(auth::logout))
        .route("/api/me", get(users::me))
        .route("/api/me/password", post(users::change_password))
        .route("/api/users", get(users::list).post(users::create))
        .route(
            "/api/users/{id}",
            get(users::get).patch(users::update).delete(users::delete),
        )
        .route("/api/users/{id}/password", post(users::set_password))
        .route("/api/audit", get(users::audit))
        .route("/api/company", get(company::get).patch(company::update))
        .route(
            "/api/platform/companies",
            get(platform::list).post(platform::create),
        )
        .route(
            "/api/platform/companies/{id}",
            get(platform::get).patch(platform::update),
        )
        .route(
            "/api/platform/signing-keys/rotate",
            post(platform::rotate_keys),
        )
        .route(
            "/api/platform/companies/{id}/erasure",
            post(gdpr::erase_company),
        )
        .route("/api/company/export", get(gdpr::export_company))
        .route(
            "/api/patients",
            get(patients::search).post(patients::create),
        )
        .route(
            "/api/patients/{id}",
            get(patients::get)
                .patch(patients::update)
                .delete(patients::delete),
        )
        .route(
            "/api/patients/{id}/prescriptions",
            get(patients::list_prescriptions).post(patients::create_prescription),
        )
        .route(
            "/api/patients/{id}/prescriptions/fhir",
            post(patients::import_fhir),
        )
        .route("/api/patients/{id}/export", get(gdpr::export_patient))
        .route("/api/patients/{id}/erasure", post(gdpr::erase_patient))
        .route(
            "/api/prescriptions/{id}",
            get(patients::get_prescription)
                .put(patients::update_prescription)
                .patch(patients::set_prescription_status),
        )
        .route("/api/prescriptions/{id}/fhir", get(patients::export_fhir))
        .route(
            PRESCRIPTION_CAPTURE,
            post(capture::capture).layer(DefaultBodyLimit::max(
                state.settings.http.upload_limit_bytes,
            )),
        )
        .route("/api/orders", get(orders::list).post(orders::create))
        .route("/api/orders/{id}", get(orders::get))
        .route("/api/orders/{id}/transitions", post(orders::transition))
        .route("/api/orders/{id}/timeline", get(orders::timeline))
        .route("/api/orders/{id}/dcs", get(orders::dcs))
        .route("/api/production/orders", get(orders::production))
        .route(
            "/api/kb/documents",
            get(kb::list).post(kb::ingest).layer(DefaultBodyLimit::max(
                state.settings.http.upload_limit_bytes,
            )),
        )
        .route("/api/kb/documents/{id}", axum::routing::delete(kb::delete))
        .route("/api/kb/search", get(kb::search))
        .route("/api/master-ai/chat", post(assistant::chat))
        .route(
            "/api/master-ai/conversations",
            get(assistant::conversations),
        )
        .route(
            "/api/master-ai/conversations/{id}",
            get(assistant::conversation),
        )
        .route("/api/master-ai/usage", get(assistant::usage))
        .route(
            "/api/master-ai/fine-tuned-models",
            get(models::list).post(models::register),
        )
        .route(
            "/api/master-ai/fine-tuned-models/{id}",
            axum::routing::patch(models::change_status).delete(models::delete),
        )
        .route("/api/sync/practice", get(sync::practice))
        .route("/api/sync/devices", get(sync::list).post(sync::register))
        .route("/api/sync/devices/{id}/approval", post(sync::approve))
        .route("/api/sync/devices/{id}/revocation", post(sync::revoke))
        .route("/api/sync/device-codes", post(sync::create_code))
        .route(
            SYNC_PUSH,
            post(sync::push)
                .layer(DefaultBodyLimit::max(
                    state.settings.http.upload_limit_bytes,
                ))
                .layer(
                    ServiceBuilder::new()
                        .layer(axum::error_handling::HandleErrorLayer::new(
                            |_: tower::BoxError| async { undecodable_body() },
                        ))
                        .layer(tower_http::decompression::RequestDecompressionLayer::new()),
                ),
        )
        .route(
            "/api/sync/pull",
            // The fastest level: most of the gain (changes are repetitive JSON) for a fraction
            // of the CPU.
            get(sync::pull).layer(
                tower_http::compression::CompressionLayer::new()
                    .quality(tower_http::CompressionLevel::Fastest),
            ),
        )
        .route("/api/sync/conflicts", get(sync::conflicts))
        .route("/api/sync/erasures/{company_id}", get(sync::tenant_erasure))
        .route(
            "/api/sync/conflicts/{id}/resolution",
            post(sync::resolve_conflict),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(
            ServiceBuilder::new()
                .layer(middleware::from_fn(sanitize_request_id))
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(
                    // One access-log line per request at INFO: method, route template (never
                    // the raw URI, which may carry identifiers), status, latency, request id,
                    // and the tenant and user once authenticated.
                    TraceLayer::new_for_http()
                        .make_span_with(make_span)
                        .on_request(())
                        .on_response(DefaultOnResponse::new().level(Level::INFO)),
                )
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(middleware::from_fn_with_state(
                    state.clone(),
                    record_metrics,
                ))
                .layer(middleware::from_fn_with_state(
                    state.clone(),
                    within_deadline,
                ))
                .layer(middleware::from_fn_with_state(state.clone(), read_body))
                .layer(DefaultBodyLimit::max(body_limit)),
        )
        .with_state(state)
}

/// A compressed body that does not decompress.
fn undecodable_body() -> Response {
    crate::error::Error::bad_request(
        "request.undecodable_body",
        "The request body is not valid gzip; send it again (or uncompressed)",
    )
    .into_response()
}

fn timeout() -> Response {
    crate::error::Error::bad_request(
        "request.timeout",
        "The request took too long to arrive or to answer; send it again",
    )
    .into_response()
}

/// The per-request deadline: a request that has not been answered in time gets 408, and its
/// work is dropped (an open transaction rolls back).
async fn within_deadline(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let deadline = Duration::from_millis(state.settings.http.request_timeout_ms);
    match tokio::time::timeout(deadline, next.run(request)).await {
        Ok(response) => response,
        Err(_) => timeout(),
    }
}

/// The routes whose bodies carry a whole file and may be larger: knowledge-base uploads and
/// photos of prescriptions.
const KB_UPLOAD: &str = "/api/kb/documents";
const PRESCRIPTION_CAPTURE: &str = "/api/prescriptions/capture";
/// A push carries up to `ils_core::sync::MAX_PUSH_CHANGES` whole records.
const SYNC_PUSH: &str = "/api/sync/push";

/// Reads the whole body before any handler runs, within the body-read timeout and the size
/// limit: a client that announces more than it sends, or sends it too slowly, gets 408 instead
/// of holding a worker. (Every body of this API is a small JSON document.)
async fn read_body(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let http = &state.settings.http;
    let (parts, body) = request.into_parts();
    // Knowledge-base uploads and photos carry a whole file; every other body is a small
    // document.
    let limit = if parts
        .extensions
        .get::<MatchedPath>()
        .is_some_and(|p| [KB_UPLOAD, PRESCRIPTION_CAPTURE, SYNC_PUSH].contains(&p.as_str()))
    {
        http.upload_limit_bytes
    } else {
        http.body_limit_bytes
    };
    let read = axum::body::to_bytes(body, limit);
    let bytes =
        match tokio::time::timeout(Duration::from_millis(http.body_read_timeout_ms), read).await {
            Err(_) => return timeout(),
            Ok(Err(_)) => {
                return crate::error::Error::bad_request(
                    "request.body_too_large",
                    "The request body is too large, or could not be read",
                )
                .into_response();
            }
            Ok(Ok(bytes)) => bytes,
        };
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await
}

/// Serves `router` on `listener` until `shutdown` completes, closing connections whose request
/// headers do not arrive within `header_read_timeout` (axum's own `serve` has no such limit, so
/// a half-sent request would hold a connection open for as long as the client liked). In-flight
/// requests get up to ten seconds to finish after `shutdown`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    header_read_timeout: Duration,
    shutdown: impl std::future::Future<Output = ()> + Send,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(%error, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        // The client's address reaches the handlers as `ConnectInfo` (sign-in throttling).
        let service =
            hyper_util::service::TowerToHyperService::new(tower::ServiceExt::map_request(
                router.clone(),
                move |mut request: axum::http::Request<hyper::body::Incoming>| {
                    request
                        .extensions_mut()
                        .insert(axum::extract::ConnectInfo(peer));
                    request
                },
            ));
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(header_read_timeout);
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(10)) => {
            tracing::warn!("requests still running ten seconds after shutdown were dropped");
        }
    }
}

fn make_span(request: &Request) -> tracing::Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info_span!(
        "request",
        method = %request.method(),
        route,
        request_id,
        company_id = tracing::field::Empty,
        user_id = tracing::field::Empty,
    )
}

/// A client may send its own request id for correlation, but only a short, plain one: anything
/// else is replaced so that it cannot forge log lines.
async fn sanitize_request_id(mut request: Request, next: Next) -> Response {
    let ok = request.headers().get(REQUEST_ID).is_none_or(|v| {
        v.to_str().is_ok_and(|s| {
            !s.is_empty()
                && s.len() <= 64
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
    });
    if !ok {
        request.headers_mut().remove(REQUEST_ID);
    }
    next.run(request).await
}

async fn record_metrics(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    state.metrics.observe_request(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(error::ErrorBody {
            code: "route.not_found".into(),
            message: "There is no such endpoint; see /api/openapi.json".into(),
            details: None,
        }),
    )
        .into_response()
}

async fn method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        axum::Json(error::ErrorBody {
            code: "route.method_not_allowed".into(),
            message: "This endpoint does not accept this method; see /api/openapi.json".into(),
            details: None,
        }),
    )
        .into_response()
}

/// Used by tests to check that a header value is a request id this service would keep.
pub fn is_plain_request_id(value: &HeaderValue) -> bool {
    value
        .to_str()
        .is_ok_and(|s| s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
}
