//! `/api/kb/...`: the practice's knowledge base (documents in, passages out).

use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{Created, created};
use crate::app::AppState;
use crate::error::{Error, Result};
use crate::http::error::{ErrorBody, Json, Path, Query};
use crate::http::extract::{Authorized, need};
use crate::knowledge::{self, Hit, SearchMode};
use crate::store::kb::DocumentRow;

/// A file for the knowledge base: its name (the extension says the format: .txt, .md, .pdf)
/// and its bytes, base64.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"source": "handbook/sports-glasses.md", "content_base64": "IyBTcG9ydHMgZ2xhc3NlcwoKUG9seWNhcmJvbmF0ZSBsZW5zZXMgZm9yIGNoaWxkcmVuLgo="}))]
pub struct IngestRequest {
    /// The document's name in the practice; a second upload under the same name replaces it.
    #[schema(min_length = 1, max_length = 4096)]
    pub source: String,
    #[schema(format = Byte)]
    pub content_base64: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentDto {
    pub id: Uuid,
    pub source: String,
    pub title: String,
    /// text, markdown or pdf.
    pub format: String,
    pub sha256: String,
    pub bytes: i64,
    pub chunks: i32,
    /// The embedding model, `name@version`.
    pub model: String,
    pub created_by: Option<Uuid>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<DocumentRow> for DocumentDto {
    fn from(d: DocumentRow) -> Self {
        Self {
            id: d.id,
            source: d.source,
            title: d.title,
            format: d.format,
            sha256: d.content_sha256,
            bytes: d.bytes,
            chunks: d.chunks,
            model: d.model,
            created_by: d.created_by,
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// The question or words to look for (1–1,000 characters).
    pub q: String,
    /// hybrid (default), vector or keyword.
    #[param(value_type = Option<SearchMode>)]
    pub mode: Option<SearchMode>,
    /// 1 to 100 (default 5).
    pub limit: Option<u32>,
}

/// Adds a document, or replaces the one with the same source: read, split and embedded as on
/// the desktop, then written whole.
#[utoipa::path(post, path = "/api/kb/documents", tag = "kb", request_body = IngestRequest,
    responses((status = 201, body = DocumentDto, headers(("location" = String))),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn ingest(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::KnowledgeManage>,
    Json(body): Json<IngestRequest>,
) -> Result<Created<DocumentDto>> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(body.content_base64.trim())
        .map_err(|_| {
            Error::Validation(ils_core::ValidationErrors::single(
                "content_base64",
                "kb.content_invalid",
                "content_base64 is not base64 (standard alphabet, padded)",
            ))
        })?;
    let caller = p.caller();
    let prepared = knowledge::prepare(&state, &body.source, bytes).await?;
    let mut tx = state.db.tenant_tx(&p.tenant()).await?;
    let row = knowledge::ingest(&mut tx, &caller, prepared).await?;
    tx.commit().await?;
    Ok(created(format!("/api/kb/documents/{}", row.id), row.into()))
}

/// The practice's documents, by title.
#[utoipa::path(get, path = "/api/kb/documents", tag = "kb",
    responses((status = 200, body = Vec<DocumentDto>), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::AiChat>,
) -> Result<Json<Vec<DocumentDto>>> {
    let mut tx = state.db.tenant_tx(&p.tenant()).await?;
    let rows = knowledge::list(&mut tx, &p.caller()).await?;
    tx.end_read();
    Ok(Json(rows.into_iter().map(DocumentDto::from).collect()))
}

/// Removes a document with its passages.
#[utoipa::path(delete, path = "/api/kb/documents/{id}", tag = "kb", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::KnowledgeManage>,
    Path(id): Path<Uuid>,
) -> Result<StatusCode> {
    let mut tx = state.db.tenant_tx(&p.tenant()).await?;
    knowledge::delete(&mut tx, &p.caller(), id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The passages that best match, this practice's only, best first.
#[utoipa::path(get, path = "/api/kb/search", tag = "kb", params(SearchParams),
    responses((status = 200, body = Vec<Hit>), (status = 422, body = ErrorBody)))]
pub async fn search(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::AiChat>,
    Query(q): Query<SearchParams>,
) -> Result<Json<Vec<Hit>>> {
    let limit = q.limit.map_or(5, |n| n as usize);
    let hits = knowledge::search(
        &state,
        &p.tenant(),
        &p.caller(),
        &q.q,
        q.mode.unwrap_or(SearchMode::Hybrid),
        limit,
    )
    .await?;
    Ok(Json(hits))
}
