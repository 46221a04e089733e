//! Searching the knowledge base: vector, keyword, or both fused by reciprocal rank.
//!
//! - Vector: the query's 1-bit quantisation finds candidates by Hamming distance in
//!   sqlite-vec (`chunk_vectors`), then the full-precision vectors of those candidates are
//!   rescored by cosine similarity. `oversample` candidates per wanted result keep recall
//!   close to exact search (the benchmark reports recall@10 against an exact scan).
//! - Keyword: SQLite FTS5 with BM25 (the heading weighs twice the body), over the query's
//!   words joined with OR, common English words left out.
//! - Hybrid: both lists, fused by weighted reciprocal rank: a chunk's score is the sum of
//!   weight / (k + rank) over the lists it appears in (k = 5; keyword weight 0.5, vector 1).

use ils_ai::embed::Embedder;
use rusqlite::params;
use serde::{Deserialize, Serialize};

use ils_core::DomainError;

use super::{KbError, model_tag};
use crate::store::{Store, quantize_binary};

pub use ils_ai::retrieval::{KEYWORD_WEIGHT, RRF_K, rrf_fuse};

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
    /// Candidates fetched by Hamming distance per result wanted, before rescoring.
    pub oversample: usize,
    /// Hybrid: the weight of the keyword list's reciprocal ranks (the vector list's is 1).
    pub keyword_weight: f64,
    /// Hybrid: the RRF constant k.
    pub rrf_k: f64,
}

impl Default for SearchOptions {
    fn default() -> Self {
        Self {
            mode: SearchMode::Hybrid,
            limit: 5,
            oversample: 20,
            keyword_weight: KEYWORD_WEIGHT,
            rrf_k: RRF_K,
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
    /// Rank (from 1) in the vector and keyword lists, where it appeared.
    pub vector_rank: Option<usize>,
    pub keyword_rank: Option<usize>,
}

/// The FTS5 query for a person's words: each word quoted (so nothing is read as FTS syntax),
/// joined with OR. `None` when no searchable word is left.
pub fn fts_query(text: &str) -> Option<String> {
    let words = ils_ai::retrieval::query_words(text);
    (!words.is_empty()).then(|| {
        words
            .iter()
            .map(|w| format!("\"{w}\""))
            .collect::<Vec<_>>()
            .join(" OR ")
    })
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Vector search: `candidates` nearest by Hamming distance, rescored at full precision; the
/// best `limit` as (chunk id, cosine).
pub fn vector_ids(
    store: &Store,
    model: &str,
    query: &[f32],
    limit: usize,
    candidates: usize,
) -> Result<Vec<(i64, f64)>, KbError> {
    let candidates = candidates.clamp(limit, 4096);
    let mut stmt = store.conn().prepare_cached(
        "WITH knn AS (
             SELECT chunk_id FROM chunk_vectors WHERE embedding MATCH vec_bit(?1) AND k = ?2)
         SELECT c.id, c.embedding FROM knn
         JOIN chunks c ON c.id = knn.chunk_id
         JOIN documents d ON d.id = c.document_id AND d.model = ?3",
    )?;
    let mut scored: Vec<(i64, f64)> = stmt
        .query_map(
            params![quantize_binary(query), candidates as i64, model],
            |r| {
                let id: i64 = r.get(0)?;
                let blob: Vec<u8> = r.get(1)?;
                Ok((id, blob))
            },
        )?
        .filter_map(|row| {
            row.map(|(id, blob)| {
                crate::store::blob_to_embedding(&blob).map(|v| (id, f64::from(dot(query, &v))))
            })
            .transpose()
        })
        .collect::<Result<_, _>>()?;
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    scored.truncate(limit);
    Ok(scored)
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

/// Keyword search: (chunk id, BM25 with higher better), best first.
pub fn keyword_ids(store: &Store, text: &str, limit: usize) -> Result<Vec<(i64, f64)>, KbError> {
    let Some(q) = fts_query(text) else {
        return Ok(Vec::new());
    };
    let mut stmt = store.conn().prepare_cached(
        "SELECT rowid, bm25(chunks_fts, 2.0, 1.0) AS rank FROM chunks_fts
         WHERE chunks_fts MATCH ?1 ORDER BY rank LIMIT ?2",
    )?;
    let rows = stmt
        .query_map(params![q, limit as i64], |r| {
            Ok((r.get::<_, i64>(0)?, -r.get::<_, f64>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
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
    // Each list is deeper than the result so fusion can lift what both lists rank well.
    let depth = (opts.limit * 4).max(40);
    let need_vector = || {
        vector.ok_or_else(|| KbError::BadQuery {
            message: "Vector search needs the query's embedding".into(),
        })
    };
    let ranked: Vec<(i64, f64, Option<usize>, Option<usize>)> = match opts.mode {
        SearchMode::Vector => {
            let candidates = opts.limit * opts.oversample;
            vector_ids(store, model, need_vector()?, opts.limit, candidates)?
                .into_iter()
                .enumerate()
                .map(|(i, (id, s))| (id, s, Some(i + 1), None))
                .collect()
        }
        SearchMode::Keyword => keyword_ids(store, text, opts.limit)?
            .into_iter()
            .enumerate()
            .map(|(i, (id, s))| (id, s, None, Some(i + 1)))
            .collect(),
        SearchMode::Hybrid => {
            // The fused list needs the vector list's order only near its top: the same number
            // of candidates as a plain vector search, and at least twice the depth.
            let candidates = (opts.limit * opts.oversample).max(depth * 2);
            let v: Vec<i64> = vector_ids(store, model, need_vector()?, depth, candidates)?
                .into_iter()
                .map(|(id, _)| id)
                .collect();
            let k: Vec<i64> = keyword_ids(store, text, depth)?
                .into_iter()
                .map(|(id, _)| id)
                .collect();
            let rank_in = |list: &[i64], id| list.iter().position(|x| *x == id).map(|p| p + 1);
            rrf_fuse(opts.rrf_k, &[(&v, 1.0), (&k, opts.keyword_weight)])
                .into_iter()
                .take(opts.limit)
                .map(|(id, s)| (id, s, rank_in(&v, id), rank_in(&k, id)))
                .collect()
        }
    };
    let mut stmt = store.conn().prepare_cached(
        // A chunk's text is its document's between the chunk's byte offsets.
        "SELECT c.document_id, d.source, d.title, c.heading,
                CAST(substr(CAST(d.text AS BLOB), c.byte_start + 1, c.byte_end - c.byte_start) AS TEXT),
                c.ordinal, c.byte_start, c.byte_end
         FROM chunks c JOIN documents d ON d.id = c.document_id WHERE c.id = ?1",
    )?;
    let mut hits = Vec::with_capacity(ranked.len());
    for (id, score, vector_rank, keyword_rank) in ranked {
        let hit = stmt.query_row([id], |r| {
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
                score,
                vector_rank,
                keyword_rank,
            })
        })?;
        hits.push(hit);
    }
    Ok(hits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fts_queries_quote_words_and_drop_common_ones() {
        assert_eq!(
            fts_query("What is the POL-REF-07 policy?").as_deref(),
            Some("\"pol\" OR \"ref\" OR \"07\" OR \"policy\"")
        );
        assert_eq!(fts_query("\"the\" AND (is)"), None);
        assert_eq!(
            fts_query("NEAR(x y)").as_deref(),
            Some("\"near\" OR \"x\" OR \"y\"")
        );
    }

    #[test]
    fn rrf_rewards_agreement() {
        // With k = 60, 3 (second in both lists) beats 1 and 2, each first in one list only.
        let fused = rrf_fuse(60.0, &[(&[1, 3, 4], 1.0), (&[2, 3, 5], 1.0)]);
        assert_eq!(fused[0].0, 3);
        assert_eq!(fused[1].0, 1, "ties between 1 and 2 go to the smaller id");
        assert!((fused[0].1 - 2.0 / 62.0).abs() < 1e-12);
        assert_eq!(fused.len(), 5);
        // A weight scales a list's say: 3, fifth in both, beats the first of each list at equal
        // weights, but not once the second list counts half.
        let (a, b): (&[i64], &[i64]) = (&[1, 4, 6, 7, 3], &[2, 8, 9, 10, 3]);
        assert_eq!(rrf_fuse(5.0, &[(a, 1.0), (b, 1.0)])[0].0, 3);
        let weighted = rrf_fuse(5.0, &[(a, 1.0), (b, 0.5)]);
        assert_eq!(weighted[0].0, 1);
        assert!((weighted[0].1 - 1.0 / 6.0).abs() < 1e-12);
    }
}
