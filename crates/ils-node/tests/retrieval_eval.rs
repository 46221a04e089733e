//! Retrieval quality on the committed evaluation set (tests/fixtures/kb): 74 questions a
//! clinic's staff would ask of eleven optical-practice documents, each with the passage that
//! answers it. A result is relevant when its chunk contains the expected quote.
//!
//! Prints recall@5 and MRR@10 for vector, keyword and hybrid search, overall and by kind of
//! question. Hybrid must rank better than both (higher MRR) and find at least as much in its
//! top 5 (recall@5).

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use ils_ai::embed::Embedder;
use ils_node::Store;
use ils_node::kb::{self, SearchMode, SearchOptions};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct EvalSet {
    question: Vec<Question>,
}

#[derive(Debug, Deserialize)]
struct Question {
    q: String,
    doc: String,
    expect: String,
    kind: String,
}

#[derive(Debug, Default, Clone, Copy)]
struct Scores {
    hits_at_5: usize,
    reciprocal_ranks: f64,
}

fn fixtures() -> PathBuf {
    PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()),
    )
    .join("tests/fixtures/kb")
}

#[test]
fn hybrid_search_beats_vector_and_keyword_alone() {
    let set: EvalSet = toml::from_str(
        &std::fs::read_to_string(fixtures().join("questions.toml")).expect("questions"),
    )
    .expect("questions.toml parses");
    assert!(set.question.len() >= 30);
    let embedder = Embedder::load(
        &PathBuf::from(
            std::env::var("CARGO_MANIFEST_DIR")
                .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()),
        )
        .join("../../models/all-MiniLM-L6-v2"),
    )
    .expect("model");
    let dir = tempfile::tempdir().expect("dir");
    let mut store: Store = common::open(&dir.path().join("ils.db"));
    store.sign_in(common::ADMIN).expect("signs in");
    let mut docs: Vec<&str> = set.question.iter().map(|q| q.doc.as_str()).collect();
    docs.sort_unstable();
    docs.dedup();
    for doc in &docs {
        kb::ingest_file(
            &mut store,
            &embedder,
            &fixtures().join(doc),
            &mut |_| {},
            &AtomicBool::new(false),
        )
        .expect("ingests");
    }
    let model = kb::model_tag(&embedder);
    let modes = [SearchMode::Vector, SearchMode::Keyword, SearchMode::Hybrid];
    let mut scores = [Scores::default(); 3];
    let mut misses: Vec<String> = Vec::new();
    let mut by_kind: std::collections::BTreeMap<String, [Scores; 3]> = Default::default();
    for q in &set.question {
        let vector = embedder.embed(&[&q.q]).expect("embeds").remove(0);
        for (i, mode) in modes.iter().enumerate() {
            let hits = kb::search_with_vector(
                &store,
                &model,
                &q.q,
                Some(&vector),
                SearchOptions {
                    mode: *mode,
                    limit: 10,
                    keyword_weight: std::env::var("KW")
                        .ok()
                        .and_then(|w| w.parse().ok())
                        .unwrap_or(kb::search::KEYWORD_WEIGHT),
                    rrf_k: std::env::var("RK")
                        .ok()
                        .and_then(|w| w.parse().ok())
                        .unwrap_or(kb::search::RRF_K),
                    ..SearchOptions::default()
                },
            )
            .expect("search");
            let rank = hits
                .iter()
                .position(|h| h.text.contains(&q.expect) && Path::new(&h.source).ends_with(&q.doc));
            if let Some(r) = rank {
                scores[i].reciprocal_ranks += 1.0 / (r as f64 + 1.0);
                if r < 5 {
                    scores[i].hits_at_5 += 1;
                }
            }
            let kind = by_kind
                .entry(q.kind.clone())
                .or_insert([Scores::default(); 3]);
            if rank.is_some_and(|r| r < 5) {
                kind[i].hits_at_5 += 1;
            }
            if *mode == SearchMode::Hybrid && rank.is_none_or(|r| r >= 5) {
                misses.push(format!("[{}] {}", q.kind, q.q));
            }
        }
    }
    let n = set.question.len() as f64;
    println!("retrieval over {} questions:", set.question.len());
    println!("  mode     recall@5  MRR@10");
    for (mode, s) in modes.iter().zip(&scores) {
        println!(
            "  {:<8} {:>8.3}  {:>6.3}",
            format!("{mode:?}").to_lowercase(),
            s.hits_at_5 as f64 / n,
            s.reciprocal_ranks / n
        );
    }
    for (kind, s) in &by_kind {
        let n = set.question.iter().filter(|q| &q.kind == kind).count();
        println!(
            "  {kind:<10} ({n:>2}) recall@5 vector {} keyword {} hybrid {}",
            s[0].hits_at_5, s[1].hits_at_5, s[2].hits_at_5
        );
    }
    println!("  hybrid misses at 5: {misses:#?}");
    let [vector, keyword, hybrid] = scores;
    for (name, other) in [("vector", vector), ("keyword", keyword)] {
        assert!(
            hybrid.hits_at_5 >= other.hits_at_5 && hybrid.reciprocal_ranks > other.reciprocal_ranks,
            "hybrid ({hybrid:?}) must beat {name} ({other:?})"
        );
    }
}
