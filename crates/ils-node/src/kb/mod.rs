//! The practice's knowledge base: documents split into chunks, embedded on the device, stored
//! with their text in FTS5 and their vectors in sqlite-vec, and searched by vector, keyword or
//! both fused (see `search`).
//!
//! Ingesting a document is all or nothing: the text is extracted and checked, every chunk
//! embedded, and only then are the document, its chunks, their vectors, the outbox change and
//! the audit row written in one transaction, replacing the previous version of the same source.
//! A cancelled or failed ingest leaves nothing behind.

pub(crate) mod index;
pub mod search;
pub(crate) mod synced;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use ils_ai::chunk::{ChunkOptions, chunk};
use ils_ai::embed::{EmbedError, Embedder};
use ils_core::decide::documents::{self as decide, DocumentInput};
use ils_core::record::{DocumentFormat, DocumentRecord};
use ils_core::{DocumentId, DomainError, Resource};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::store::{Store, StoreError};

pub use ils_ai::extract::{Extracted, Format, MAX_FILE_BYTES, extract};
pub use search::{
    Answerability, Hit, SearchMode, SearchOptions, answerability, search, search_with_vector,
};

/// Chunks embedded per forward pass.
pub const EMBED_BATCH: usize = 32;

impl From<ils_ai::ExtractError> for KbError {
    fn from(e: ils_ai::ExtractError) -> Self {
        match e {
            ils_ai::ExtractError::Unsupported { source_name } => {
                KbError::Unsupported { source_name }
            }
            ils_ai::ExtractError::Unreadable {
                source_name,
                reason,
            } => KbError::Unreadable {
                source_name,
                reason,
            },
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KbError {
    #[error(
        "{source_name}: unsupported kind of file; the knowledge base reads text (.txt), Markdown (.md) and PDF (.pdf) files"
    )]
    Unsupported { source_name: String },
    #[error("{source_name} cannot be added: {reason}")]
    Unreadable { source_name: String, reason: String },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the ingest was cancelled; nothing of {source_name} was written")]
    Cancelled { source_name: String },
    #[error("no document {0} in the knowledge base")]
    NotFound(String),
    #[error("{message}")]
    BadQuery { message: String },
    #[error("{source_name}: the knowledge base cannot take it: {message}")]
    Refused {
        source_name: String,
        message: String,
    },
    #[error(transparent)]
    Embed(#[from] EmbedError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for KbError {
    fn from(e: rusqlite::Error) -> Self {
        KbError::Store(StoreError::Sqlite(e))
    }
}

impl From<DomainError> for KbError {
    fn from(e: DomainError) -> Self {
        KbError::Store(StoreError::Domain(e))
    }
}

impl KbError {
    /// The stable code clients branch on.
    pub fn code(&self) -> &'static str {
        match self {
            KbError::Unsupported { .. } => "kb.unsupported_file",
            KbError::Unreadable { .. } | KbError::Refused { .. } => "kb.unreadable_file",
            KbError::Io { .. } => "file.unreadable",
            KbError::Cancelled { .. } => "kb.cancelled",
            KbError::NotFound(_) => Resource::Document.not_found_code(),
            KbError::BadQuery { .. } => "kb.bad_query",
            KbError::Embed(_) => "model.unavailable",
            KbError::Store(e) => e.code(),
        }
    }

    /// Whether the person using ILS can fix it (a file, a query, a permission).
    pub fn is_user_error(&self) -> bool {
        match self {
            KbError::Embed(e) => {
                matches!(e, EmbedError::Missing { .. } | EmbedError::Corrupt { .. })
            }
            KbError::Store(e) => e.is_user_error(),
            _ => true,
        }
    }

    /// Whether this refusal concerns one file only (the others of an ingest go on).
    pub fn is_file_refusal(&self) -> bool {
        matches!(
            self,
            KbError::Unsupported { .. }
                | KbError::Unreadable { .. }
                | KbError::Refused { .. }
                | KbError::Io { .. }
        )
    }
}

/// What an ingest is doing, for a progress bar.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Progress {
    /// A document's text is extracted and split: `chunks` to embed.
    Started { source: String, chunks: usize },
    /// `done` of the document's chunks are embedded.
    Embedded {
        source: String,
        done: usize,
        total: usize,
    },
    /// The document is written (or was unchanged and skipped).
    Finished { source: String, outcome: Outcome },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Added,
    Replaced,
    Unchanged,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Ingested {
    pub document_id: String,
    pub source: String,
    pub title: String,
    pub chunks: usize,
    pub outcome: Outcome,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Document {
    pub id: String,
    pub source: String,
    pub title: String,
    pub format: String,
    pub byte_size: i64,
    pub chunks: i64,
    pub model: String,
    pub updated_at: String,
}

/// A document's identity in the knowledge base: its path as given, made absolute.
fn source_name(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_owned())
        .display()
        .to_string()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The model's id as stored with every document: vectors of different models never mix.
pub fn model_tag(embedder: &Embedder) -> String {
    let id = embedder.id();
    format!("{}@{}", id.name, id.version)
}

/// Ingests one file (see the module documentation). `cancel` is checked between batches.
pub fn ingest_file(
    store: &mut Store,
    embedder: &Embedder,
    path: &Path,
    progress: &mut dyn FnMut(&Progress),
    cancel: &AtomicBool,
) -> Result<Ingested, KbError> {
    let prepared = prepare_file(path)?;
    ingest_text(
        store,
        embedder,
        &prepared.source,
        &prepared.bytes,
        &prepared.extracted,
        progress,
        cancel,
    )
}

fn format_of(format: Format) -> DocumentFormat {
    match format {
        Format::Text => DocumentFormat::Text,
        Format::Markdown => DocumentFormat::Markdown,
        Format::Pdf => DocumentFormat::Pdf,
    }
}

/// The stored document of `source`, if any.
fn by_source(store: &Store, source: &str) -> Result<Option<DocumentRecord>, KbError> {
    Ok(store
        .conn()
        .query_row(
            &format!("SELECT {RECORD_COLUMNS} FROM documents d WHERE d.source = ?1"),
            [source],
            record_row,
        )
        .optional()?)
}

/// A file read and its text extracted, ready to be embedded.
#[derive(Debug)]
pub struct Prepared {
    pub source: String,
    pub bytes: Vec<u8>,
    pub extracted: Extracted,
}

/// Reads a file and extracts its text, refusing what the knowledge base cannot take (too big,
/// empty, binary, not UTF-8, a PDF without text, another kind of file).
pub fn prepare_file(path: &Path) -> Result<Prepared, KbError> {
    let source = source_name(path);
    let meta = std::fs::metadata(path).map_err(|e| KbError::Io {
        path: path.to_owned(),
        source: e,
    })?;
    if meta.len() > MAX_FILE_BYTES {
        // Refused before reading it into memory.
        return Err(KbError::Unreadable {
            source_name: source,
            reason: format!(
                "it is {} MiB; the knowledge base takes files up to {} MiB, so split it first",
                meta.len() / (1024 * 1024),
                MAX_FILE_BYTES / (1024 * 1024)
            ),
        });
    }
    let bytes = std::fs::read(path).map_err(|e| KbError::Io {
        path: path.to_owned(),
        source: e,
    })?;
    let extracted = extract(path, &bytes)?;
    Ok(Prepared {
        source,
        bytes,
        extracted,
    })
}

impl Prepared {
    /// Ingests the prepared file, taking the store (through `store`) only to check and then to
    /// write: the embedding runs without it.
    pub fn ingest<S: std::ops::DerefMut<Target = Store>>(
        &self,
        store: impl Fn() -> S,
        embedder: &Embedder,
        progress: &mut dyn FnMut(&Progress),
        cancel: &AtomicBool,
    ) -> Result<Ingested, KbError> {
        let sha = hex(&Sha256::digest(&self.bytes));
        let model = model_tag(embedder);
        if let Some(unchanged) = unchanged(&store(), &self.source, &sha, &model)? {
            progress(&Progress::Finished {
                source: self.source.clone(),
                outcome: Outcome::Unchanged,
            });
            return Ok(unchanged);
        }
        let (chunks, vectors) =
            embed_text(embedder, &self.source, &self.extracted, progress, cancel)?;
        let written = write_document(
            &mut store(),
            &Embedded {
                source: &self.source,
                sha256: &sha,
                byte_size: self.bytes.len(),
                doc: &self.extracted,
                chunks: &chunks,
                vectors: &vectors,
                model: &model,
            },
        )?;
        progress(&Progress::Finished {
            source: self.source.clone(),
            outcome: written.outcome,
        });
        Ok(written)
    }
}

/// Ingests extracted text under `source` into a store the caller holds.
pub fn ingest_text(
    store: &mut Store,
    embedder: &Embedder,
    source: &str,
    original: &[u8],
    doc: &Extracted,
    progress: &mut dyn FnMut(&Progress),
    cancel: &AtomicBool,
) -> Result<Ingested, KbError> {
    let cell = std::cell::RefCell::new(store);
    let prepared = Prepared {
        source: source.to_owned(),
        bytes: original.to_vec(),
        extracted: doc.clone(),
    };
    prepared.ingest(
        || std::cell::RefMut::map(cell.borrow_mut(), |s| &mut **s),
        embedder,
        progress,
        cancel,
    )
}

/// The unchanged document, when `source` already holds this content embedded by this model.
/// Asks first whether the signed-in user may manage documents: refused before anything else,
/// even for an unchanged file.
fn unchanged(
    store: &Store,
    source: &str,
    sha: &str,
    model: &str,
) -> Result<Option<Ingested>, KbError> {
    decide::authorize_manage(store.actor()?)?;
    let existing = by_source(store, source)?;
    Ok(existing
        .filter(|e| decide::is_unchanged(Some(e), sha, model))
        .map(|e| Ingested {
            document_id: e.id.to_string(),
            source: source.to_owned(),
            title: e.title,
            chunks: e.chunks as usize,
            outcome: Outcome::Unchanged,
        }))
}

/// Splits the text into chunks and embeds them, batch by batch, checking `cancel` between
/// batches.
fn embed_text(
    embedder: &Embedder,
    source: &str,
    doc: &Extracted,
    progress: &mut dyn FnMut(&Progress),
    cancel: &AtomicBool,
) -> Result<(Vec<ils_ai::chunk::Chunk>, Vec<Vec<f32>>), KbError> {
    let chunks = chunk(&doc.text, ChunkOptions::default());
    progress(&Progress::Started {
        source: source.to_owned(),
        chunks: chunks.len(),
    });
    let texts: Vec<String> = chunks
        .iter()
        .map(ils_ai::chunk::Chunk::embedding_text)
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let cancelled = || KbError::Cancelled {
        source_name: source.to_owned(),
    };
    if cancel.load(Ordering::Relaxed) {
        return Err(cancelled());
    }
    let vectors = embedder
        .embed_many(&refs, EMBED_BATCH, &mut |done| {
            progress(&Progress::Embedded {
                source: source.to_owned(),
                done,
                total: chunks.len(),
            });
            !cancel.load(Ordering::Relaxed)
        })?
        .ok_or_else(cancelled)?;
    Ok((chunks, vectors))
}

/// A document ready to be written: its text split and every chunk embedded.
#[derive(Debug)]
pub struct Embedded<'a> {
    pub source: &'a str,
    pub sha256: &'a str,
    pub byte_size: usize,
    pub doc: &'a Extracted,
    pub chunks: &'a [ils_ai::chunk::Chunk],
    pub vectors: &'a [Vec<f32>],
    pub model: &'a str,
}

/// Writes a document with its chunks, vectors, full-text entries, change and audit row in one
/// transaction, replacing the previous version of the same source (what `ingest_text` does
/// once everything is embedded; benchmarks call it directly). The text is stored once, in the
/// document's row; chunks keep their byte ranges into it.
pub fn write_document(store: &mut Store, e: &Embedded<'_>) -> Result<Ingested, KbError> {
    if e.chunks.len() != e.vectors.len() {
        return Err(KbError::BadQuery {
            message: format!("{} chunks but {} vectors", e.chunks.len(), e.vectors.len()),
        });
    }
    let existing = by_source(store, e.source)?;
    let outcome = if existing.is_some() {
        Outcome::Replaced
    } else {
        Outcome::Added
    };
    let w = store.begin_write()?;
    let plan = decide::ingest(
        &w.ctx(),
        existing.as_ref(),
        DocumentInput {
            source: e.source.to_owned(),
            title: e.doc.title.clone(),
            format: format_of(e.doc.format),
            sha256: e.sha256.to_owned(),
            byte_size: e.byte_size as u64,
            model: e.model.to_owned(),
            chunks: u32::try_from(e.chunks.len()).unwrap_or(u32::MAX),
        },
    )
    .map_err(|err| match err {
        DomainError::Validation(v) => KbError::Refused {
            source_name: e.source.to_owned(),
            message: v.to_string(),
        },
        other => other.into(),
    })?;
    let d = &plan.record;
    let id = d.id.to_string();
    // Replacing: the old chunks go (their full-text entries and vectors with them, by trigger).
    w.execute("DELETE FROM chunks WHERE document_id = ?1", [&id])?;
    synced::write_row(&w, d, &e.doc.text)?;
    for (c, v) in e.chunks.iter().zip(e.vectors) {
        let heading = c.headings.join(" > ");
        synced::write_chunk(
            &w,
            &id,
            &synced::ChunkRow {
                ordinal: c.ordinal as i64,
                heading: &heading,
                text: &c.text,
                start: c.start as i64,
                end: c.end as i64,
                vector: v,
            },
        )?;
    }
    w.change(plan.change.clone())?;
    w.audit(&plan.audit)?;
    w.commit()?;
    Ok(Ingested {
        document_id: id,
        source: e.source.to_owned(),
        title: plan.record.title,
        chunks: e.chunks.len(),
        outcome,
    })
}

/// Files under `path` the knowledge base reads, in name order (`path` itself if a file).
pub fn files_to_ingest(path: &Path) -> Result<Vec<PathBuf>, KbError> {
    let io = |e| KbError::Io {
        path: path.to_owned(),
        source: e,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let p = entry.path();
            let kind = entry.file_type().map_err(io)?;
            if kind.is_dir() {
                stack.push(p);
            } else if kind.is_file() && Format::from_path(&p).is_some() {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Removes a document (by id or source path) with its chunks and vectors.
pub fn delete_document(store: &mut Store, id_or_source: &str) -> Result<Document, KbError> {
    decide::authorize_manage(store.actor()?)?;
    let doc = find_document(store, id_or_source)?;
    let record = by_source(store, &doc.source)?;
    let w = store.begin_write()?;
    let plan = decide::delete(&w.ctx(), record.as_ref())?;
    w.execute("DELETE FROM documents WHERE id = ?1", [&doc.id])?;
    w.change(plan.change.clone())?;
    w.audit(&plan.audit)?;
    w.commit()?;
    Ok(doc)
}

const RECORD_COLUMNS: &str = "d.id, d.source, d.title, d.format, d.sha256, d.byte_size, d.model, \
     (SELECT count(*) FROM chunks c WHERE c.document_id = d.id), d.ingested_by, d.created_at, d.updated_at";

fn record_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DocumentRecord> {
    use crate::store::{bad_column, time_column};
    let id: String = r.get(0)?;
    let format: String = r.get(3)?;
    let size: i64 = r.get(5)?;
    let chunks: i64 = r.get(7)?;
    let by: String = r.get(8)?;
    Ok(DocumentRecord {
        id: id
            .parse::<DocumentId>()
            .map_err(|e| bad_column(0, Box::new(e)))?,
        source: r.get(1)?,
        title: r.get(2)?,
        format: DocumentFormat::parse(&format)
            .ok_or_else(|| bad_column(3, format!("unknown format {format:?}").into()))?,
        sha256: r.get(4)?,
        byte_size: u64::try_from(size).unwrap_or(0),
        model: r.get(6)?,
        chunks: u32::try_from(chunks).unwrap_or(0),
        ingested_by: by.parse().ok(),
        created_at: time_column(r, 9)?,
        updated_at: time_column(r, 10)?,
        passages: None,
    })
}

const DOCUMENT_COLUMNS: &str = "d.id, d.source, d.title, d.format, d.byte_size, \
     (SELECT count(*) FROM chunks c WHERE c.document_id = d.id), d.model, d.updated_at";

fn document_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Document> {
    Ok(Document {
        id: r.get(0)?,
        source: r.get(1)?,
        title: r.get(2)?,
        format: r.get(3)?,
        byte_size: r.get(4)?,
        chunks: r.get(5)?,
        model: r.get(6)?,
        updated_at: r.get(7)?,
    })
}

pub fn find_document(store: &Store, id_or_source: &str) -> Result<Document, KbError> {
    let absolute = source_name(Path::new(id_or_source));
    store
        .conn()
        .query_row(
            &format!(
                "SELECT {DOCUMENT_COLUMNS} FROM documents d WHERE d.id = ?1 OR d.source = ?1 OR d.source = ?2"
            ),
            params![id_or_source, absolute],
            document_row,
        )
        .optional()?
        .ok_or_else(|| KbError::NotFound(id_or_source.to_owned()))
}

pub fn documents(store: &Store) -> Result<Vec<Document>, KbError> {
    decide::authorize_search(store.actor()?)?;
    let mut stmt = store.conn().prepare(&format!(
        "SELECT {DOCUMENT_COLUMNS} FROM documents d ORDER BY d.title, d.source"
    ))?;
    let rows = stmt
        .query_map([], document_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}
