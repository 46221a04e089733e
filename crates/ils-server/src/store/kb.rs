//! The knowledge base's tables: documents and their chunks with embeddings (pgvector) and a
//! full-text vector.

use chrono::{DateTime, Utc};
use ils_core::record::{DocumentFormat, DocumentRecord, Passage};
use ils_core::{DocumentId, UserId};
use pgvector::Vector;
use uuid::Uuid;

use crate::db::TenantTx;
use crate::error::{Error, Result};

#[derive(Debug, sqlx::FromRow)]
pub struct DocumentRow {
    pub id: Uuid,
    pub source: String,
    pub title: String,
    pub format: String,
    pub content_sha256: String,
    pub bytes: i64,
    pub chunks: i32,
    pub model: String,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl DocumentRow {
    pub fn record(&self) -> Result<DocumentRecord> {
        Ok(DocumentRecord {
            id: DocumentId::from_uuid(self.id),
            source: self.source.clone(),
            title: self.title.clone(),
            format: DocumentFormat::parse(&self.format)
                .ok_or_else(|| Error::Internal(format!("unknown format {}", self.format)))?,
            sha256: self.content_sha256.clone(),
            byte_size: u64::try_from(self.bytes).unwrap_or(0),
            model: self.model.clone(),
            chunks: u32::try_from(self.chunks).unwrap_or(0),
            ingested_by: self.created_by.map(UserId::from_uuid),
            created_at: self.created_at,
            updated_at: self.updated_at,
            passages: None,
        })
    }
}

const COLUMNS: &str = "id, source, title, format, content_sha256, bytes, chunks, model, created_by, created_at, updated_at";

pub async fn find_by_source(tx: &mut TenantTx, source: &str) -> Result<Option<DocumentRow>> {
    let tenant = tx.tenant();
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM kb_documents WHERE company_id = $1 AND source = $2 FOR UPDATE"
    )))
    .bind(tenant)
    .bind(source)
    .fetch_optional(tx.conn())
    .await?)
}

pub async fn find(tx: &mut TenantTx, id: Uuid) -> Result<Option<DocumentRow>> {
    let tenant = tx.tenant();
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM kb_documents WHERE company_id = $1 AND id = $2 FOR UPDATE"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?)
}

pub async fn list(tx: &mut TenantTx) -> Result<Vec<DocumentRow>> {
    let tenant = tx.tenant();
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM kb_documents WHERE company_id = $1 ORDER BY title, id"
    )))
    .bind(tenant)
    .fetch_all(tx.conn())
    .await?)
}

/// Writes the document (insert, or update in place keeping its id).
pub async fn upsert(tx: &mut TenantTx, d: &DocumentRecord) -> Result<DocumentRow> {
    let tenant = tx.tenant();
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO kb_documents (company_id, id, source, title, format, content_sha256, bytes,
                                   chunks, model, created_by, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (company_id, id) DO UPDATE SET
             title = excluded.title, format = excluded.format,
             content_sha256 = excluded.content_sha256, bytes = excluded.bytes,
             chunks = excluded.chunks, model = excluded.model, created_by = excluded.created_by,
             updated_at = excluded.updated_at
         RETURNING {COLUMNS}"
    )))
    .bind(tenant)
    .bind(d.id.into_uuid())
    .bind(&d.source)
    .bind(&d.title)
    .bind(d.format.as_str())
    .bind(&d.sha256)
    .bind(i64::try_from(d.byte_size).unwrap_or(i64::MAX))
    .bind(i32::try_from(d.chunks).unwrap_or(i32::MAX))
    .bind(&d.model)
    .bind(d.ingested_by.map(UserId::into_uuid))
    .bind(d.created_at)
    .bind(d.updated_at)
    .fetch_one(tx.conn())
    .await?)
}

/// A chunk to write.
#[derive(Debug)]
pub struct NewChunk {
    pub ordinal: i32,
    pub heading: String,
    pub text: String,
    pub byte_start: i32,
    pub byte_end: i32,
    pub embedding: Vec<f32>,
}

/// Takes the words of `document`'s passages out of the tenant's counts (`kb_terms`), before
/// the passages are deleted. Terms are locked in order, so concurrent writers of one practice
/// wait for each other instead of deadlocking.
const UNCOUNT_DOCUMENT: &str = "UPDATE kb_terms k SET passages = greatest(k.passages - d.n, 0)
     FROM (SELECT t.term, count(*)::integer AS n
             FROM kb_chunks c, unnest(tsvector_to_array(c.tsv)) AS t(term)
            WHERE c.company_id = $1 AND c.document_id = $2
            GROUP BY t.term ORDER BY t.term) d
    WHERE k.company_id = $1 AND k.term = d.term";

/// Adds the words of `document`'s passages to the tenant's counts, after they are written.
pub const COUNT_DOCUMENT: &str = "INSERT INTO kb_terms (company_id, term, passages)
     SELECT c.company_id, t.term, count(*)
       FROM kb_chunks c, unnest(tsvector_to_array(c.tsv)) AS t(term)
      WHERE c.company_id = $1 AND c.document_id = $2
      GROUP BY c.company_id, t.term ORDER BY t.term
     ON CONFLICT (company_id, term) DO UPDATE SET passages = kb_terms.passages + excluded.passages";

/// Replaces a document's chunks with `chunks`, in batches of one statement each, and keeps the
/// tenant's word counts (`kb_terms`) exact in the same transaction.
pub async fn replace_chunks(
    tx: &mut TenantTx,
    document: Uuid,
    chunks: Vec<NewChunk>,
) -> Result<()> {
    let tenant = tx.tenant();
    sqlx::query(UNCOUNT_DOCUMENT)
        .bind(tenant)
        .bind(document)
        .execute(tx.conn())
        .await?;
    sqlx::query("DELETE FROM kb_chunks WHERE company_id = $1 AND document_id = $2")
        .bind(tenant)
        .bind(document)
        .execute(tx.conn())
        .await?;
    for batch in chunks.chunks(200) {
        let mut q = sqlx::QueryBuilder::<sqlx::Postgres>::new(
            "INSERT INTO kb_chunks (company_id, id, document_id, ordinal, heading, text, byte_start, byte_end, embedding) ",
        );
        q.push_values(batch, |mut row, c| {
            row.push_bind(tenant)
                .push_bind(Uuid::now_v7())
                .push_bind(document)
                .push_bind(c.ordinal)
                .push_bind(c.heading.clone())
                .push_bind(c.text.clone())
                .push_bind(c.byte_start)
                .push_bind(c.byte_end)
                .push_bind(Vector::from(c.embedding.clone()));
        });
        q.build().execute(tx.conn()).await?;
    }
    if !chunks.is_empty() {
        sqlx::query(COUNT_DOCUMENT)
            .bind(tenant)
            .bind(document)
            .execute(tx.conn())
            .await?;
    }
    Ok(())
}

/// Deletes a document with its passages (foreign key), taking their words out of the counts.
pub async fn delete(tx: &mut TenantTx, id: Uuid) -> Result<()> {
    let tenant = tx.tenant();
    sqlx::query(UNCOUNT_DOCUMENT)
        .bind(tenant)
        .bind(id)
        .execute(tx.conn())
        .await?;
    sqlx::query("DELETE FROM kb_documents WHERE company_id = $1 AND id = $2")
        .bind(tenant)
        .bind(id)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// The nearest chunks of tenant `$1` to `$2`, at most `$3`, as (id, cosine similarity).
pub const VECTOR_SEARCH: &str = "SELECT id, similarity FROM (
         SELECT id, 1 - (embedding <=> $2) AS similarity
         FROM kb_chunks WHERE company_id = $1
         ORDER BY embedding <=> $2 LIMIT $3) best
     ORDER BY similarity DESC, id";

/// The `limit` chunks nearest to `query` (cosine), best first, as (id, similarity). The HNSW
/// index is shared by every tenant: pgvector's iterative scan goes on through the graph until
/// it has `limit` rows of this tenant (or `hnsw.max_scan_tuples` were visited), instead of
/// stopping at `ef_search` candidates of which a small tenant might own none.
pub async fn vector_search(
    tx: &mut TenantTx,
    query: &[f32],
    limit: i64,
) -> Result<Vec<(Uuid, f64)>> {
    sqlx::raw_sql("SET LOCAL hnsw.iterative_scan = relaxed_order")
        .execute(tx.conn())
        .await?;
    let tenant = tx.tenant();
    let rows: Vec<(Uuid, f64)> = sqlx::query_as(VECTOR_SEARCH)
        .bind(tenant)
        .bind(Vector::from(query.to_vec()))
        .bind(limit)
        .fetch_all(tx.conn())
        .await?;
    Ok(rows)
}

/// A word found in more of a practice's passages than this is common: it still counts in the
/// rank, but does not choose which passages are ranked (the question's rarer words do). The
/// desktop applies the same numbers (`ils_ai::retrieval`).
pub const COMMON_WORD_PASSAGES: i32 = ils_ai::retrieval::COMMON_WORD_PASSAGES as i32;
/// At most this many passages are ranked.
pub const MAX_RANKED: i32 = ils_ai::retrieval::MAX_RANKED as i32;

/// Of `words`, those that none of this tenant's passages holds (from `kb_terms`, so it costs
/// one index lookup a word).
pub async fn absent_words(tx: &mut TenantTx, words: &[String]) -> Result<Vec<String>> {
    if words.is_empty() {
        return Ok(Vec::new());
    }
    let tenant = tx.tenant();
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT w FROM unnest($2::text[]) WITH ORDINALITY AS u(w, n)
         WHERE NOT EXISTS (SELECT 1 FROM kb_terms t
                           WHERE t.company_id = $1 AND t.term = u.w AND t.passages > 0)
         ORDER BY n",
    )
    .bind(tenant)
    .bind(words)
    .fetch_all(tx.conn())
    .await?;
    Ok(rows.into_iter().map(|(w,)| w).collect())
}

/// The `limit` chunks that best match `words` (full text, `simple` configuration: no stemming,
/// as the desktop's FTS5), best first: ranked by all the words among the passages that hold any
/// of the rarer ones (or, when every word is common, all of them). Runs in
/// `ils_kb_keyword_search`, which can use the full-text index under row-level security and
/// refuses any company but the transaction's tenant (see its migration).
pub async fn keyword_search(
    tx: &mut TenantTx,
    words: &[String],
    limit: i64,
) -> Result<Vec<(Uuid, f64)>> {
    if words.is_empty() {
        return Ok(Vec::new());
    }
    let tenant = tx.tenant();
    let rows: Vec<(Uuid, f32)> =
        sqlx::query_as("SELECT chunk_id, rank FROM ils_kb_keyword_search($1, $2, $3, $4, $5)")
            .bind(tenant)
            .bind(words)
            .bind(i32::try_from(limit).unwrap_or(i32::MAX))
            .bind(COMMON_WORD_PASSAGES)
            .bind(MAX_RANKED)
            .fetch_all(tx.conn())
            .await?;
    Ok(rows.into_iter().map(|(id, r)| (id, f64::from(r))).collect())
}

#[derive(Debug, sqlx::FromRow)]
pub struct ChunkRow {
    pub id: Uuid,
    pub document_id: Uuid,
    pub source: String,
    pub title: String,
    pub heading: String,
    pub text: String,
    pub ordinal: i32,
}

pub async fn chunks(tx: &mut TenantTx, ids: &[Uuid]) -> Result<Vec<ChunkRow>> {
    let tenant = tx.tenant();
    Ok(sqlx::query_as(
        "SELECT c.id, c.document_id, d.source, d.title, c.heading, c.text, c.ordinal
         FROM kb_chunks c JOIN kb_documents d ON d.company_id = c.company_id AND d.id = c.document_id
         WHERE c.company_id = $1 AND c.id = ANY($2)",
    )
    .bind(tenant)
    .bind(ids)
    .fetch_all(tx.conn())
    .await?)
}

/// A document's passages with their vectors, in order: what a pulled change carries.
pub async fn passages(tx: &mut TenantTx, document: Uuid) -> Result<Vec<Passage>> {
    let tenant = tx.tenant();
    let rows: Vec<(i32, String, String, i32, i32, Vector)> = sqlx::query_as(
        "SELECT ordinal, heading, text, byte_start, byte_end, embedding FROM kb_chunks
         WHERE company_id = $1 AND document_id = $2 ORDER BY ordinal",
    )
    .bind(tenant)
    .bind(document)
    .fetch_all(tx.conn())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(ordinal, heading, text, start, end, embedding)| Passage {
            ordinal: u32::try_from(ordinal).unwrap_or(0),
            heading,
            text,
            byte_start: u32::try_from(start).unwrap_or(0),
            byte_end: u32::try_from(end).unwrap_or(0),
            vector: Passage::encode_vector(embedding.as_slice()),
        })
        .collect())
}
