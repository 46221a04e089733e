//! The practice's knowledge base: documents split into chunks, embedded on the device, stored
//! with their text in FTS5 and their vectors in sqlite-vec, and searched by vector, keyword or
//! both fused (see `search`).
//!
//! Ingesting a document is all or nothing: the text is extracted and checked, every chunk
//! embedded, and only then are the document, its chunks, their vectors, the outbox change and
//! the audit row written in one transaction, replacing the previous version of the same source.
//! A cancelled or failed ingest leaves nothing behind.

mod extract;
pub mod search;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use ils_ai::chunk::{ChunkOptions, chunk};
use ils_ai::embed::{EmbedError, Embedder};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::store::{Store, StoreError, embedding_to_blob, now_text, quantize_binary};

pub use extract::{Extracted, Format, MAX_FILE_BYTES, extract};
pub use search::{Hit, SearchMode, SearchOptions, search, search_with_vector};

/// Chunks embedded per forward pass.
pub const EMBED_BATCH: usize = 32;

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
    ingest_text(
        store, embedder, &source, &bytes, &extracted, progress, cancel,
    )
}

/// Ingests extracted text under `source` (the part of `ingest_file` after reading the file).
pub fn ingest_text(
    store: &mut Store,
    embedder: &Embedder,
    source: &str,
    original: &[u8],
    doc: &Extracted,
    progress: &mut dyn FnMut(&Progress),
    cancel: &AtomicBool,
) -> Result<Ingested, KbError> {
    // Nobody signed in: refused before anything else, even an unchanged file.
    store.actor()?;
    let sha = hex(&Sha256::digest(original));
    let model = model_tag(embedder);
    let existing: Option<(String, String, String)> = store
        .conn()
        .query_row(
            "SELECT id, sha256, model FROM documents WHERE source = ?1",
            [source],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    if let Some((id, old_sha, old_model)) = &existing
        && *old_sha == sha
        && *old_model == model
    {
        let chunks: i64 = store.conn().query_row(
            "SELECT count(*) FROM chunks WHERE document_id = ?1",
            [id],
            |r| r.get(0),
        )?;
        progress(&Progress::Finished {
            source: source.to_owned(),
            outcome: Outcome::Unchanged,
        });
        return Ok(Ingested {
            document_id: id.clone(),
            source: source.to_owned(),
            title: doc.title.clone(),
            chunks: usize::try_from(chunks).unwrap_or(0),
            outcome: Outcome::Unchanged,
        });
    }
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
    let existing_id = existing.map(|(id, _, _)| id);
    let written = write_document(
        store,
        &Embedded {
            existing_id,
            source,
            sha256: &sha,
            byte_size: original.len(),
            doc,
            chunks: &chunks,
            vectors: &vectors,
            model: &model,
        },
    )?;
    progress(&Progress::Finished {
        source: source.to_owned(),
        outcome: written.outcome,
    });
    Ok(written)
}

/// A document ready to be written: its text split and every chunk embedded.
#[derive(Debug)]
pub struct Embedded<'a> {
    /// The id of the version it replaces, if any.
    pub existing_id: Option<String>,
    pub source: &'a str,
    pub sha256: &'a str,
    pub byte_size: usize,
    pub doc: &'a Extracted,
    pub chunks: &'a [ils_ai::chunk::Chunk],
    pub vectors: &'a [Vec<f32>],
    pub model: &'a str,
}

/// Writes a document with its chunks, vectors, outbox change and audit row in one transaction
/// (what `ingest_text` does once everything is embedded; benchmarks call it directly).
pub fn write_document(store: &mut Store, e: &Embedded<'_>) -> Result<Ingested, KbError> {
    if e.chunks.len() != e.vectors.len() {
        return Err(KbError::BadQuery {
            message: format!("{} chunks but {} vectors", e.chunks.len(), e.vectors.len()),
        });
    }
    let (source, doc, chunks, vectors, model, sha) =
        (e.source, e.doc, e.chunks, e.vectors, e.model, e.sha256);
    let id = e
        .existing_id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let outcome = if e.existing_id.is_some() {
        Outcome::Replaced
    } else {
        Outcome::Added
    };
    let now = now_text();
    let mut w = store.begin_write()?;
    // Replacing: the old chunks go (their FTS rows and vectors with them, by trigger).
    w.execute("DELETE FROM chunks WHERE document_id = ?1", [&id])?;
    w.execute(
        "INSERT INTO documents (id, source, title, format, sha256, byte_size, text, model, ingested_by, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)
         ON CONFLICT (id) DO UPDATE SET title = excluded.title, format = excluded.format,
             sha256 = excluded.sha256, byte_size = excluded.byte_size, text = excluded.text,
             model = excluded.model, ingested_by = excluded.ingested_by, updated_at = excluded.updated_at",
        params![
            id,
            source,
            doc.title,
            doc.format.as_str(),
            sha,
            e.byte_size as i64,
            doc.text,
            model,
            w.actor.as_str(),
            now
        ],
    )?;
    let mut chunk_rows = Vec::with_capacity(chunks.len());
    {
        let mut insert_chunk = w.prepare_cached(
            "INSERT INTO chunks (document_id, ordinal, heading, text, byte_start, byte_end, embedding)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        let mut insert_vector = w.prepare_cached(
            "INSERT INTO chunk_vectors (chunk_id, embedding) VALUES (?1, vec_bit(?2))",
        )?;
        for (c, v) in chunks.iter().zip(vectors) {
            let heading = c.headings.join(" > ");
            insert_chunk.execute(params![
                id,
                c.ordinal as i64,
                heading,
                c.text,
                c.start as i64,
                c.end as i64,
                embedding_to_blob(v)
            ])?;
            let chunk_id = w.last_insert_rowid();
            insert_vector.execute(params![chunk_id, quantize_binary(v)])?;
            chunk_rows.push(serde_json::json!({
                "ordinal": c.ordinal,
                "heading": heading,
                "byte_start": c.start,
                "byte_end": c.end,
            }));
        }
    }
    // Sync carries the document with its text, chunk positions and the model that embedded
    // it; a device with the same model re-derives identical chunks and vectors.
    let row = serde_json::json!({
        "id": id, "source": source, "title": doc.title, "format": doc.format,
        "sha256": sha, "model": model, "text": doc.text, "chunks": chunk_rows,
    });
    w.change("kb_document", &id, "upsert", &row)?;
    w.audit(
        match outcome {
            Outcome::Replaced => "kb.document_replace",
            _ => "kb.document_add",
        },
        "kb_document",
        Some(&id),
        Some(&serde_json::json!({ "source": source, "chunks": chunks.len() })),
    )?;
    w.commit()?;
    Ok(Ingested {
        document_id: id,
        source: source.to_owned(),
        title: doc.title.clone(),
        chunks: chunks.len(),
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
    let doc = find_document(store, id_or_source)?;
    let mut w = store.begin_write()?;
    w.execute("DELETE FROM documents WHERE id = ?1", [&doc.id])?;
    w.change(
        "kb_document",
        &doc.id,
        "delete",
        &serde_json::json!({ "id": doc.id, "source": doc.source }),
    )?;
    w.audit(
        "kb.document_delete",
        "kb_document",
        Some(&doc.id),
        Some(&serde_json::json!({ "source": doc.source })),
    )?;
    w.commit()?;
    Ok(doc)
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
    let mut stmt = store.conn().prepare(&format!(
        "SELECT {DOCUMENT_COLUMNS} FROM documents d ORDER BY d.title, d.source"
    ))?;
    let rows = stmt
        .query_map([], document_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}
