//! The practice's knowledge base on ILS Central: documents read, split and embedded exactly as
//! on the desktop (`ils_ai`: the same extraction, chunker and model, so one vector space), kept
//! per tenant in PostgreSQL (pgvector and full text), searched with the desktop's fusion.
//!
//! Reading and embedding happen before the transaction opens (on the blocking pool: the model
//! is CPU work); the document and its chunks are then written whole, or not at all.

use std::path::Path;
use std::sync::Arc;

use ils_ai::retrieval::{Answerability, Fusion};
use ils_ai::{ChunkOptions, Embedder, chunk};
use ils_core::decide::documents::{self as decide, DocumentInput};
use ils_core::record::DocumentFormat;
use ils_core::validation::ValidationErrors;
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::app::AppState;
use crate::clinical::Caller;
use crate::db::TenantTx;
use crate::error::{Error, Result};
use crate::store::kb::{self, DocumentRow, NewChunk};

/// The embedding model, loaded on first use (a missing model is a clear error, not a crash).
pub async fn embedder(state: &AppState) -> Result<Arc<Embedder>> {
    let dir = state.settings.ai.model_path();
    state
        .embedder
        .get_or_try_init(|| async move {
            tokio::task::spawn_blocking(move || Embedder::load(&dir))
                .await
                .map_err(|e| Error::Internal(format!("loading the embedding model: {e}")))?
                .map(Arc::new)
                .map_err(|e| Error::Internal(format!("the embedding model cannot be loaded: {e}")))
        })
        .await
        .cloned()
}

fn model_tag(embedder: &Embedder) -> String {
    let id = embedder.id();
    format!("{}@{}", id.name, id.version)
}

async fn embed(embedder: Arc<Embedder>, texts: Vec<String>) -> Result<Vec<Vec<f32>>> {
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        embedder.embed(&refs)
    })
    .await
    .map_err(|e| Error::Internal(format!("embedding: {e}")))?
    .map_err(|e| Error::Internal(format!("embedding: {e}")))
}

/// Documents pushed by a device whose model is not this service's are embedded again here, so
/// that one practice's knowledge base never mixes two models' vectors (no transaction is open
/// meanwhile; `spend` charges each document's passages to the practice's sync budget first). A document's passages whose shape is wrong are left for the push's own checks
/// to refuse.
pub async fn embed_foreign_documents<Spent>(
    state: &AppState,
    changes: &mut [serde_json::Value],
    spend: impl Fn(usize) -> Spent,
) -> Result<()>
where
    Spent: std::future::Future<Output = Result<()>>,
{
    let foreign = |c: &serde_json::Value| {
        c["entity"] == "document"
            && c["operation"] == "upsert"
            && c["record"]["passages"].is_array()
    };
    if !changes.iter().any(foreign) {
        return Ok(());
    }
    let embedder = embedder(state).await?;
    let tag = model_tag(&embedder);
    for change in changes.iter_mut().filter(|c| foreign(c)) {
        if change["record"]["model"] == tag.as_str() {
            continue;
        }
        let texts: Vec<String> = change["record"]["passages"]
            .as_array()
            .map(|ps| {
                // What the chunker embeds: the heading path, then the text.
                ps.iter()
                    .map(|p| {
                        let text = p["text"].as_str().unwrap_or_default();
                        match p["heading"].as_str().unwrap_or_default() {
                            "" => text.to_owned(),
                            heading => format!("{heading}\n{text}"),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        // Embedding is the costly part: each passage is drawn from the practice's sync budget
        // before any work is done.
        spend(texts.len()).await?;
        let vectors = embed(Arc::clone(&embedder), texts).await?;
        if let Some(passages) = change["record"]["passages"].as_array_mut() {
            for (p, v) in passages.iter_mut().zip(vectors) {
                p["vector"] =
                    serde_json::Value::String(ils_core::record::Passage::encode_vector(&v));
            }
        }
        change["record"]["model"] = serde_json::Value::String(tag.clone());
    }
    Ok(())
}

/// A file read, split and embedded, ready to be written.
#[derive(Debug)]
pub struct Prepared {
    pub input: DocumentInput,
    pub chunks: Vec<NewChunk>,
}

fn refusal(e: ils_ai::ExtractError) -> Error {
    let code = match e {
        ils_ai::ExtractError::Unsupported { .. } => "kb.unsupported_file",
        ils_ai::ExtractError::Unreadable { .. } => "kb.unreadable_file",
    };
    Error::Validation(ValidationErrors::single("content", code, e.to_string()))
}

/// Reads, splits and embeds a file (no transaction is open meanwhile).
pub async fn prepare(state: &AppState, source: &str, bytes: Vec<u8>) -> Result<Prepared> {
    let name = source.to_owned();
    let extracted = tokio::task::spawn_blocking({
        let bytes = bytes.clone();
        move || ils_ai::extract(Path::new(&name), &bytes)
    })
    .await
    .map_err(|e| Error::Internal(format!("extraction: {e}")))?
    .map_err(refusal)?;
    let pieces = chunk(&extracted.text, ChunkOptions::default());
    let embedder = embedder(state).await?;
    let vectors = embed(
        embedder.clone(),
        pieces.iter().map(ils_ai::Chunk::embedding_text).collect(),
    )
    .await?;
    let chunks = pieces
        .iter()
        .zip(vectors)
        .enumerate()
        .map(|(i, (c, embedding))| NewChunk {
            ordinal: i32::try_from(i).unwrap_or(i32::MAX),
            heading: c.headings.join(" > "),
            text: c.text.clone(),
            byte_start: i32::try_from(c.start).unwrap_or(i32::MAX),
            byte_end: i32::try_from(c.end).unwrap_or(i32::MAX),
            embedding,
        })
        .collect::<Vec<_>>();
    let format = match extracted.format {
        ils_ai::Format::Text => DocumentFormat::Text,
        ils_ai::Format::Markdown => DocumentFormat::Markdown,
        ils_ai::Format::Pdf => DocumentFormat::Pdf,
    };
    Ok(Prepared {
        input: DocumentInput {
            source: source.to_owned(),
            title: extracted.title,
            format,
            sha256: hex(&Sha256::digest(&bytes)),
            byte_size: bytes.len() as u64,
            model: model_tag(&embedder),
            chunks: u32::try_from(chunks.len()).unwrap_or(u32::MAX),
        },
        chunks,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Adds or replaces (same source) a prepared document, with its audit row.
pub async fn ingest(tx: &mut TenantTx, caller: &Caller, prepared: Prepared) -> Result<DocumentRow> {
    let existing = kb::find_by_source(tx, &prepared.input.source).await?;
    let existing_record = existing.as_ref().map(DocumentRow::record).transpose()?;
    let plan = decide::ingest(&caller.ctx(), existing_record.as_ref(), prepared.input)?;
    let row = kb::upsert(tx, &plan.record).await?;
    kb::replace_chunks(tx, row.id, prepared.chunks).await?;
    crate::clinical::record(tx, caller, &plan.audit).await?;
    // The practice's devices get it through the feed (its passages read from here when they
    // pull it).
    tx.stage(plan.change, caller.actor.user_id);
    Ok(row)
}

pub async fn list(tx: &mut TenantTx, caller: &Caller) -> Result<Vec<DocumentRow>> {
    decide::authorize_search(&caller.actor)?;
    kb::list(tx).await
}

pub async fn delete(tx: &mut TenantTx, caller: &Caller, id: Uuid) -> Result<()> {
    decide::authorize_manage(&caller.actor)?;
    let existing = kb::find(tx, id).await?;
    let record = existing.as_ref().map(DocumentRow::record).transpose()?;
    let plan = decide::delete(&caller.ctx(), record.as_ref())?;
    kb::delete(tx, id).await?;
    crate::clinical::record(tx, caller, &plan.audit).await?;
    tx.stage(plan.change, caller.actor.user_id);
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SearchMode {
    Hybrid,
    Vector,
    Keyword,
}

/// A passage found, with what a citation needs.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Hit {
    pub chunk_id: Uuid,
    pub document_id: Uuid,
    pub source: String,
    pub title: String,
    pub heading: String,
    pub text: String,
    /// Cosine similarity (vector), rank (keyword) or the fused score (hybrid).
    pub score: f64,
    /// The passage's cosine similarity with the question, where the vector list holds it.
    pub cosine: Option<f64>,
    pub vector_rank: Option<usize>,
    pub keyword_rank: Option<usize>,
}

/// Candidates taken from each list per result wanted, before fusion.
const OVERSAMPLE: usize = 4;

/// Searches this tenant's passages as the desktop does: vector (pgvector HNSW), keyword
/// (PostgreSQL full text) or both fused by weighted reciprocal rank (`ils_ai::retrieval`).
pub async fn search(
    state: &AppState,
    tenant: &crate::db::TenantCtx,
    caller: &Caller,
    query: &str,
    mode: SearchMode,
    limit: usize,
) -> Result<Vec<Hit>> {
    Ok(
        search_judged(state, tenant, caller, query, mode, limit, false)
            .await?
            .0,
    )
}

/// `search`, and whether the practice's documents answer the question at all, by the rule the
/// desktop applies (`ils_ai::retrieval::judge`: the best cosine found, and the question's words
/// that no passage holds).
pub async fn search_answerable(
    state: &AppState,
    tenant: &crate::db::TenantCtx,
    caller: &Caller,
    query: &str,
    limit: usize,
) -> Result<(Vec<Hit>, Answerability)> {
    search_judged(
        state,
        tenant,
        caller,
        query,
        SearchMode::Hybrid,
        limit,
        true,
    )
    .await
}

async fn search_judged(
    state: &AppState,
    tenant: &crate::db::TenantCtx,
    caller: &Caller,
    query: &str,
    mode: SearchMode,
    limit: usize,
    judge: bool,
) -> Result<(Vec<Hit>, Answerability)> {
    decide::authorize_search(&caller.actor)?;
    let query = decide::check_search(query, limit)?;
    let query = query.as_str();
    let depth = i64::try_from(limit * OVERSAMPLE).unwrap_or(400);
    // The question is embedded before the transaction opens, so that no database connection
    // waits on the model.
    let embedded = if mode == SearchMode::Keyword {
        None
    } else {
        let embedder = embedder(state).await?;
        Some(
            embed(embedder, vec![query.to_owned()])
                .await?
                .pop()
                .unwrap_or_default(),
        )
    };
    let mut tx = state.db.tenant_tx(tenant).await?;
    let hits = search_in(&mut tx, query, embedded.as_deref(), mode, limit, depth).await?;
    let answerability = if judge {
        let absent = kb::absent_words(&mut tx, &ils_ai::retrieval::query_words(query)).await?;
        let best = hits.iter().filter_map(|h| h.cosine).reduce(f64::max);
        ils_ai::retrieval::judge(query, best, &absent)
    } else {
        Answerability::Answered
    };
    tx.end_read();
    Ok((hits, answerability))
}

async fn search_in(
    tx: &mut TenantTx,
    query: &str,
    embedded: Option<&[f32]>,
    mode: SearchMode,
    limit: usize,
    depth: i64,
) -> Result<Vec<Hit>> {
    let vector = match embedded {
        Some(v) => kb::vector_search(tx, v, depth).await?,
        None => Vec::new(),
    };
    let keyword = if mode == SearchMode::Vector {
        Vec::new()
    } else {
        kb::keyword_search(tx, &ils_ai::retrieval::query_words(query), depth).await?
    };
    let v_ids: Vec<Uuid> = vector.iter().map(|(id, _)| *id).collect();
    let k_ids: Vec<Uuid> = keyword.iter().map(|(id, _)| *id).collect();
    let ranked: Vec<(Uuid, f64)> = match mode {
        SearchMode::Vector => vector.clone(),
        SearchMode::Keyword => keyword.clone(),
        SearchMode::Hybrid => {
            // Fusion weighs ranks only; a passage only the keyword list holds has no cosine
            // here (it is not needed to fuse).
            let candidates = ils_ai::retrieval::candidates(&vector, &keyword);
            ils_ai::retrieval::fuse(query, candidates, Fusion::default())
                .into_iter()
                .map(|(c, s)| (c.id, s))
                .collect()
        }
    };
    let ranked: Vec<(Uuid, f64)> = ranked.into_iter().take(limit).collect();
    let ids: Vec<Uuid> = ranked.iter().map(|(id, _)| *id).collect();
    let rows = kb::chunks(tx, &ids).await?;
    Ok(ranked
        .into_iter()
        .filter_map(|(id, score)| {
            let row = rows.iter().find(|r| r.id == id)?;
            Some(Hit {
                chunk_id: id,
                document_id: row.document_id,
                source: row.source.clone(),
                title: row.title.clone(),
                heading: row.heading.clone(),
                text: row.text.clone(),
                score,
                cosine: vector.iter().find(|(v, _)| *v == id).map(|(_, c)| *c),
                vector_rank: v_ids.iter().position(|x| *x == id).map(|p| p + 1),
                keyword_rank: k_ids.iter().position(|x| *x == id).map(|p| p + 1),
            })
        })
        .collect())
}
