//! Searching the knowledge base: vector, keyword, or both fused by reciprocal rank; and whether
//! the documents answer a question at all.
//!
//! - Vector: the in-memory index (`kb::index`: 8-bit codes of every chunk's vector, consistent
//!   with the file) gives `oversample` candidates per result wanted, rescored at full precision
//!   by cosine similarity (the benchmark reports recall@10 against an exact scan).
//! - Keyword: SQLite FTS5 with BM25 (the heading weighs twice the body), over the question's
//!   words, common English words left out; words held by very many passages do not choose
//!   the passages ranked (`ils_ai::retrieval::COMMON_WORD_PASSAGES`).
//! - Hybrid: both lists, fused by weighted reciprocal rank (`ils_ai::retrieval::fuse`: the
//!   keyword list counts fully when the question names an identifier, little otherwise).
//! - Every search runs in one read transaction, so the index, both lists and the passages'
//!   text see the same file whatever another process writes meanwhile.

use ils_ai::embed::Embedder;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use ils_core::DomainError;

use super::{KbError, model_tag};
use crate::store::Store;

pub use ils_ai::retrieval::{Answerability, Candidate, Fusion};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SearchMode {
    #[default]
    Hybrid,
    Vector,
    Keyword,
}

impl std::str::FromStr for SearchMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "hybrid" => Ok(SearchMode::Hybrid),
            "vector" => Ok(SearchMode::Vector),
            "keyword" => Ok(SearchMode::Keyword),
            other => Err(format!(
                "unknown search mode {other:?}; use hybrid, vector or keyword"
            )),
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct SearchOptions {
    pub mode: SearchMode,
    /// Results wanted (1–100).
    pub limit: usize,
    /// Candidates taken from the vector index per result wanted, before rescoring at full
    /// precision.
    pub oversample: usize,
    /// Hybrid: how the two lists are fused.
    pub fusion: Fusion,
}

impl Default for SearchOptions {
    fn default() -> Self {
        Self {
            mode: SearchMode::Hybrid,
            limit: 5,
            oversample: 4,
            fusion: Fusion::default(),
        }
    }
}

/// One result, with what a citation needs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Hit {
    pub chunk_id: i64,
    pub document_id: String,
    pub source: String,
    pub title: String,
    pub heading: String,
    pub text: String,
    pub ordinal: i64,
    pub byte_start: i64,
    pub byte_end: i64,
    /// Cosine similarity (vector), BM25 (keyword, higher is better) or the RRF score (hybrid).
    pub score: f64,
    /// The passage's cosine similarity with the question, where the vector list holds it.
    pub cosine: Option<f64>,
    /// Rank (from 1) in the vector and keyword lists, where it appeared.
    pub vector_rank: Option<usize>,
    pub keyword_rank: Option<usize>,
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The full-precision cosine of each chunk in `ids` with `query` (chunks gone are left out).
fn exact_cosines(
    conn: &Connection,
    query: &[f32],
    ids: impl IntoIterator<Item = i64>,
) -> Result<Vec<(i64, f64)>, KbError> {
    let mut stmt = conn.prepare_cached("SELECT embedding FROM chunks WHERE id = ?1")?;
    let mut out = Vec::new();
    for id in ids {
        let blob: Option<Vec<u8>> = stmt.query_row([id], |r| r.get(0)).optional()?;
        if let Some(v) = blob.as_deref().and_then(crate::store::blob_to_embedding) {
            out.push((id, f64::from(dot(query, &v))));
        }
    }
    Ok(out)
}

/// Vector search inside a read transaction: the in-memory index (`kb::index`, brought up to
/// date first) gives `candidates` by 8-bit codes, rescored at full precision; the best `limit`
/// as (chunk id, cosine).
fn vector_in(
    store: &Store,
    conn: &Connection,
    model: &str,
    query: &[f32],
    limit: usize,
    candidates: usize,
) -> Result<Vec<(i64, f64)>, KbError> {
    let candidates = candidates.clamp(limit, 4096);
    let approx = {
        // A panic while refreshing leaves no index behind (it is rebuilt), so a poisoned lock
        // holds nothing half-made.
        let mut index = store
            .kb_index
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        index.refresh(conn, model)?;
        index.nearest(query, candidates)
    };
    let mut scored = exact_cosines(conn, query, approx.into_iter().map(|(id, _)| id))?;
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    scored.truncate(limit);
    Ok(scored)
}

/// Vector search: `candidates` nearest by the index's 8-bit codes, rescored at full precision;
/// the best `limit` as (chunk id, cosine).
pub fn vector_ids(
    store: &Store,
    model: &str,
    query: &[f32],
    limit: usize,
    candidates: usize,
) -> Result<Vec<(i64, f64)>, KbError> {
    let tx = store.conn().unchecked_transaction()?;
    vector_in(store, &tx, model, query, limit, candidates)
}

/// Chunks the in-memory vector index holds (after bringing it up to date for `model`).
pub fn indexed_chunks(store: &Store, model: &str) -> Result<usize, KbError> {
    let tx = store.conn().unchecked_transaction()?;
    let mut index = store
        .kb_index
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    index.refresh(&tx, model)?;
    Ok(index.len())
}

/// Exact vector search: every chunk's full vector scored (the benchmark's reference).
pub fn exact_vector_ids(
    store: &Store,
    model: &str,
    query: &[f32],
    limit: usize,
) -> Result<Vec<(i64, f64)>, KbError> {
    let mut stmt = store.conn().prepare_cached(
        "SELECT c.id, c.embedding FROM chunks c
         JOIN documents d ON d.id = c.document_id AND d.model = ?1",
    )?;
    let mut rows = stmt.query([model])?;
    let mut scored: Vec<(i64, f64)> = Vec::new();
    while let Some(r) = rows.next()? {
        let blob = r.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?;
        if let Some(v) = crate::store::blob_to_embedding(blob) {
            scored.push((r.get(0)?, f64::from(dot(query, &v))));
        }
    }
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    scored.truncate(limit);
    Ok(scored)
}

/// How many chunks hold `word` (an FTS5 query of one quoted word), counted up to `cap`: the
/// doclist is read in rowid order and the count stops at the cap, so a common word costs no
/// more than a rare one.
fn passages_with(conn: &Connection, word: &str, cap: usize) -> Result<usize, KbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT count(*) FROM (SELECT 1 FROM chunks_fts WHERE chunks_fts MATCH ?1 LIMIT ?2)",
    )?;
    let n: i64 = stmt.query_row(params![format!("\"{word}\""), cap as i64], |r| r.get(0))?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// Keyword search inside a read transaction: (chunk id, BM25 with higher better), best first.
///
/// The rule both halves apply (`ils_ai::retrieval::COMMON_WORD_PASSAGES`, `MAX_RANKED`): a word
/// held by more passages than that is common and does not choose which passages are ranked;
/// those holding any rarer word are, or, when every word is common, those holding all of
/// them; at most `MAX_RANKED` are ranked. (FTS5 ranks by the words that choose, so here a
/// common word does not add to the rank either.)
fn keyword_in(conn: &Connection, text: &str, limit: usize) -> Result<Vec<(i64, f64)>, KbError> {
    use ils_ai::retrieval::{COMMON_WORD_PASSAGES, MAX_RANKED};
    let words = ils_ai::retrieval::query_words(text);
    if words.is_empty() {
        return Ok(Vec::new());
    }
    let mut rare = Vec::new();
    let mut present = 0usize;
    for w in &words {
        let n = passages_with(conn, w, COMMON_WORD_PASSAGES + 1)?;
        if n > 0 {
            present += 1;
        }
        if (1..=COMMON_WORD_PASSAGES).contains(&n) {
            rare.push(w.as_str());
        }
    }
    if present == 0 {
        return Ok(Vec::new());
    }
    let quoted = |ws: &[&str], op: &str| {
        ws.iter()
            .map(|w| format!("\"{w}\""))
            .collect::<Vec<_>>()
            .join(op)
    };
    let query = if rare.is_empty() {
        quoted(
            &words.iter().map(String::as_str).collect::<Vec<_>>(),
            " AND ",
        )
    } else {
        quoted(&rare, " OR ")
    };
    let mut stmt = conn.prepare_cached(
        "SELECT id, rank FROM (
             SELECT rowid AS id, bm25(chunks_fts, 2.0, 1.0) AS rank FROM chunks_fts
             WHERE chunks_fts MATCH ?1 LIMIT ?2)
         ORDER BY rank, id LIMIT ?3",
    )?;
    let rows = stmt
        .query_map(params![query, MAX_RANKED as i64, limit as i64], |r| {
            Ok((r.get::<_, i64>(0)?, -r.get::<_, f64>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Whether the documents answer `text`, judged from its `hits` (their best cosine) and the
/// question's words no passage holds, by the rule both halves share
/// (`ils_ai::retrieval::judge`).
pub fn answerability(store: &Store, text: &str, hits: &[Hit]) -> Result<Answerability, KbError> {
    let best = hits.iter().filter_map(|h| h.cosine).reduce(f64::max);
    Ok(ils_ai::retrieval::judge(
        text,
        best,
        &absent_words(store, text)?,
    ))
}

/// Of the question's words (`ils_ai::retrieval::query_words`), those no passage holds.
pub fn absent_words(store: &Store, text: &str) -> Result<Vec<String>, KbError> {
    let mut out = Vec::new();
    for w in ils_ai::retrieval::query_words(text) {
        if passages_with(store.conn(), &w, 1)? == 0 {
            out.push(w);
        }
    }
    Ok(out)
}

/// Keyword search: (chunk id, BM25 with higher better), best first.
pub fn keyword_ids(store: &Store, text: &str, limit: usize) -> Result<Vec<(i64, f64)>, KbError> {
    let tx = store.conn().unchecked_transaction()?;
    keyword_in(&tx, text, limit)
}

fn check_query(text: &str, opts: &SearchOptions) -> Result<(), KbError> {
    // The rule both halves apply (ils-core); its message, as this engine words refusals.
    ils_core::decide::documents::check_search(text, opts.limit).map_err(|e| {
        let message = match &e {
            DomainError::Validation(v) => v
                .errors
                .iter()
                .map(|f| f.message.clone())
                .collect::<Vec<_>>()
                .join("; "),
            other => other.to_string(),
        };
        KbError::BadQuery { message }
    })?;
    Ok(())
}

/// Searches with the query's text (and, for vector and hybrid, its embedding by `embedder`).
pub fn search(
    store: &Store,
    embedder: &Embedder,
    text: &str,
    opts: SearchOptions,
) -> Result<Vec<Hit>, KbError> {
    ils_core::decide::documents::authorize_search(store.actor()?)?;
    check_query(text, &opts)?;
    let vector = match opts.mode {
        SearchMode::Keyword => None,
        _ => Some(
            embedder
                .embed(&[text])?
                .pop()
                .ok_or_else(|| KbError::BadQuery {
                    message: "The query could not be embedded".into(),
                })?,
        ),
    };
    search_with_vector(store, &model_tag(embedder), text, vector.as_deref(), opts)
}

/// The candidates of a hybrid search: the vector list's and the keyword list's chunks (`depth`
/// each), with their scores and ranks. Fusion weighs ranks only, so a chunk only the keyword list
/// holds has no cosine (as on ILS Central): reading its vector would cost a read per chunk for
/// nothing.
fn hybrid_candidates(
    store: &Store,
    conn: &Connection,
    model: &str,
    text: &str,
    vector: &[f32],
    depth: usize,
    candidates: usize,
) -> Result<Vec<Candidate<i64>>, KbError> {
    let v = vector_in(store, conn, model, vector, depth, candidates)?;
    let k = keyword_in(conn, text, depth)?;
    Ok(ils_ai::retrieval::candidates(&v, &k))
}

/// `search` with the query's vector already computed (benchmarks and the evaluation use it).
pub fn search_with_vector(
    store: &Store,
    model: &str,
    text: &str,
    vector: Option<&[f32]>,
    opts: SearchOptions,
) -> Result<Vec<Hit>, KbError> {
    ils_core::decide::documents::authorize_search(store.actor()?)?;
    check_query(text, &opts)?;
    // One snapshot of the file for the index, the lists and the passages' text, whatever
    // another process writes meanwhile.
    let tx = store.conn().unchecked_transaction()?;
    // Each list is deeper than the result so fusion can lift what both lists rank well.
    let depth = (opts.limit * 4).max(40);
    let need_vector = || {
        vector.ok_or_else(|| KbError::BadQuery {
            message: "Vector search needs the query's embedding".into(),
        })
    };
    type Ranked = (i64, f64, Option<f64>, Option<usize>, Option<usize>);
    let ranked: Vec<Ranked> = match opts.mode {
        SearchMode::Vector => {
            let candidates = opts.limit * opts.oversample;
            vector_in(store, &tx, model, need_vector()?, opts.limit, candidates)?
                .into_iter()
                .enumerate()
                .map(|(i, (id, s))| (id, s, Some(s), Some(i + 1), None))
                .collect()
        }
        SearchMode::Keyword => keyword_in(&tx, text, opts.limit)?
            .into_iter()
            .enumerate()
            .map(|(i, (id, s))| (id, s, None, None, Some(i + 1)))
            .collect(),
        SearchMode::Hybrid => {
            let candidates = (opts.limit * opts.oversample).max(depth * 2);
            let found =
                hybrid_candidates(store, &tx, model, text, need_vector()?, depth, candidates)?;
            ils_ai::retrieval::fuse(text, found, opts.fusion)
                .into_iter()
                .take(opts.limit)
                .map(|(c, s)| {
                    let cosine = c.vector_rank.map(|_| c.cosine);
                    (c.id, s, cosine, c.vector_rank, c.keyword_rank)
                })
                .collect()
        }
    };
    let mut hits = Vec::with_capacity(ranked.len());
    for (id, score, cosine, vector_rank, keyword_rank) in ranked {
        // Absent only if the chunk went between the lists and now, which one snapshot rules out.
        if let Some(mut hit) = passage_in(&tx, id)? {
            hit.score = score;
            hit.cosine = cosine;
            hit.vector_rank = vector_rank;
            hit.keyword_rank = keyword_rank;
            hits.push(hit);
        }
    }
    Ok(hits)
}

/// One passage with what a citation needs (score and ranks empty).
fn passage_in(conn: &Connection, id: i64) -> Result<Option<Hit>, KbError> {
    let mut stmt = conn.prepare_cached(
        // A chunk's text is its document's between the chunk's byte offsets.
        "SELECT c.document_id, d.source, d.title, c.heading,
                CAST(substr(CAST(d.text AS BLOB), c.byte_start + 1, c.byte_end - c.byte_start) AS TEXT),
                c.ordinal, c.byte_start, c.byte_end
         FROM chunks c JOIN documents d ON d.id = c.document_id WHERE c.id = ?1",
    )?;
    Ok(stmt
        .query_row([id], |r| {
            Ok(Hit {
                chunk_id: id,
                document_id: r.get(0)?,
                source: r.get(1)?,
                title: r.get(2)?,
                heading: r.get(3)?,
                text: r.get(4)?,
                ordinal: r.get(5)?,
                byte_start: r.get(6)?,
                byte_end: r.get(7)?,
                score: 0.0,
                cosine: None,
                vector_rank: None,
                keyword_rank: None,
            })
        })
        .optional()?)
}
