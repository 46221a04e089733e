//! The desktop engine's benchmarks, outside the product binary: embedding throughput against
//! sentence-transformers, search latency over 10k and 100k chunks against exact and plain-vec0
//! search, and ingest throughput with peak memory. `make bench-node` runs them with the peer
//! side by side: `cargo bench -p ils-node --bench node -- embed|search|ingest [options]`.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::anyhow;
use clap::{Parser, Subcommand};
use ils_ai::chunk::Chunk;
use ils_ai::embed::Embedder;
use ils_core::Role;
use ils_node::Store;
use ils_node::kb::{self, SearchMode, SearchOptions};
use ils_node::store::{NewPractice, NewUser, embedding_to_blob};
use serde::Serialize;

type CliResult<T = ()> = anyhow::Result<T>;

/// The workspace's root (benchmarks read its data files wherever cargo runs them from).
fn root() -> PathBuf {
    Path::new(
        &std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()),
    )
    .join("../..")
}

#[derive(Debug, Parser)]
#[command(name = "node-bench")]
struct Args {
    /// The embedding model's folder (default: models/all-MiniLM-L6-v2 of the checkout).
    #[arg(long, global = true)]
    model: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    which: BenchCmd,
}

struct Context {
    model: PathBuf,
    json: bool,
}

impl Context {
    fn embedder(&self) -> CliResult<Embedder> {
        Ok(Embedder::load(&self.model)?)
    }

    fn emit<T: Serialize>(&self, value: &T, human: impl FnOnce(&T) -> String) {
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(value).unwrap_or_default()
            );
        } else {
            println!("{}", human(value).trim_end());
        }
    }
}

/// A store with a practice whose administrator (who may manage and search documents) is
/// signed in.
fn bench_store(path: &Path) -> CliResult<Store> {
    let mut store = Store::open(path)?;
    store.create_practice(&NewPractice {
        name: "Bench Optics".into(),
        time_zone: None,
        admin: NewUser {
            email: "bench@bench.ils.local".into(),
            first_name: "Bench".into(),
            last_name: "Runner".into(),
            role: Role::CompanyAdmin,
        },
    })?;
    Ok(store)
}

fn main() {
    // `cargo bench` passes `--bench`; the rest is ours.
    let args = std::env::args().filter(|a| a != "--bench");
    let args = Args::parse_from(args);
    let ctx = Context {
        model: args
            .model
            .unwrap_or_else(|| root().join("models/all-MiniLM-L6-v2")),
        json: args.json,
    };
    if let Err(e) = run(&ctx, args.which) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

const QUERY: &str = "what lens material suits a child's sports glasses?";

#[derive(Debug, Subcommand)]
enum BenchCmd {
    /// Sentences per second (batch 32) and single-query latency, against a peer's JSON result
    /// (scripts/bench-embed-peer.sh) when given.
    Embed {
        #[arg(long)]
        sentences: Option<PathBuf>,
        #[arg(long, default_value_t = 32)]
        batch: usize,
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        /// The peer's one-line JSON result, for ratios.
        #[arg(long)]
        peer_json: Option<PathBuf>,
    },
    /// Search latency p50/p99 over synthetic knowledge bases of the given sizes.
    Search {
        #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
        chunks: Vec<usize>,
        #[arg(long, default_value_t = 200)]
        queries: usize,
        #[arg(long)]
        sentences: Option<PathBuf>,
    },
    /// End-to-end ingest (extract, chunk, embed, write) of a folder, copied `copies` times.
    Ingest {
        #[arg(long)]
        docs: Option<PathBuf>,
        #[arg(long, default_value_t = 4)]
        copies: usize,
    },
}

fn run(ctx: &Context, cmd: BenchCmd) -> CliResult {
    if cfg!(debug_assertions) {
        eprintln!("warning: this is a debug build; figures mean nothing (use --release)");
    }
    match cmd {
        BenchCmd::Embed {
            sentences,
            batch,
            repeat,
            peer_json,
        } => embed(
            ctx,
            &sentences.unwrap_or_else(|| root().join("benches/data/sentences.txt")),
            batch,
            repeat,
            peer_json.as_deref(),
        ),
        BenchCmd::Search {
            chunks,
            queries,
            sentences,
        } => search(
            ctx,
            &chunks,
            queries,
            &sentences.unwrap_or_else(|| root().join("benches/data/sentences.txt")),
        ),
        BenchCmd::Ingest { docs, copies } => ingest(
            ctx,
            &docs.unwrap_or_else(|| root().join("crates/ils-node/tests/fixtures/kb")),
            copies,
        ),
    }
}

fn read_lines(path: &Path) -> CliResult<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow!(format!("cannot read {}: {e}", path.display())))?;
    let lines: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if lines.is_empty() {
        return Err(anyhow!(format!("{} has no lines", path.display())));
    }
    Ok(lines)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let k = (sorted.len() - 1) as f64 * p / 100.0;
    let (lo, hi) = (k.floor() as usize, k.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (k - lo as f64)
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

#[derive(Debug, Serialize, serde::Deserialize)]
struct EmbedFigures {
    #[serde(rename = "impl")]
    implementation: String,
    threads: usize,
    batch: usize,
    sentences: usize,
    sentences_per_s_best: f64,
    sentences_per_s_median: f64,
    single_query_p50_ms: f64,
    single_query_p99_ms: f64,
}

fn threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
}

fn embed(
    ctx: &Context,
    sentences: &Path,
    batch: usize,
    repeat: usize,
    peer: Option<&Path>,
) -> CliResult {
    let lines = read_lines(sentences)?;
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let load = Instant::now();
    let embedder = ctx.embedder()?;
    eprintln!("model loaded in {:.2} s", load.elapsed().as_secs_f64());
    embedder.embed_many(&refs[..64.min(refs.len())], batch, &mut |_| true)?;
    let mut rates = Vec::new();
    for _ in 0..repeat.max(1) {
        let t = Instant::now();
        embedder.embed_many(&refs, batch, &mut |_| true)?;
        rates.push(lines.len() as f64 / t.elapsed().as_secs_f64());
    }
    let mut single = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        embedder.embed(&[QUERY])?;
        single.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let rates = sorted(rates);
    let single = sorted(single);
    let ours = EmbedFigures {
        implementation: "ils-ai (candle)".into(),
        threads: threads(),
        batch,
        sentences: lines.len(),
        sentences_per_s_best: rates[rates.len() - 1],
        sentences_per_s_median: percentile(&rates, 50.0),
        single_query_p50_ms: percentile(&single, 50.0),
        single_query_p99_ms: percentile(&single, 99.0),
    };
    let peer: Option<EmbedFigures> = match peer {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| anyhow!(format!("cannot read {}: {e}", p.display())))?;
            Some(
                serde_json::from_str(text.trim())
                    .map_err(|e| anyhow!(format!("{} is not the peer's JSON: {e}", p.display())))?,
            )
        }
        None => None,
    };
    #[derive(Serialize)]
    struct Report<'a> {
        ours: &'a EmbedFigures,
        peer: Option<&'a EmbedFigures>,
        throughput_ratio: Option<f64>,
        single_query_ratio: Option<f64>,
    }
    let report = Report {
        ours: &ours,
        peer: peer.as_ref(),
        throughput_ratio: peer
            .as_ref()
            .map(|p| ours.sentences_per_s_best / p.sentences_per_s_best),
        single_query_ratio: peer
            .as_ref()
            .map(|p| p.single_query_p50_ms / ours.single_query_p50_ms),
    };
    ctx.emit(&report, |r| {
        let row = |f: &EmbedFigures| {
            format!(
                "{:<24} {:>8.1} {:>8.1} {:>9.2} {:>9.2}",
                f.implementation,
                f.sentences_per_s_best,
                f.sentences_per_s_median,
                f.single_query_p50_ms,
                f.single_query_p99_ms
            )
        };
        let mut s = format!(
            "embedding {} sentences, batch {}, {} threads\n{:<24} {:>8} {:>8} {:>9} {:>9}\n{}",
            ours.sentences,
            ours.batch,
            ours.threads,
            "",
            "best/s",
            "median/s",
            "1q p50 ms",
            "1q p99 ms",
            row(r.ours)
        );
        if let Some(p) = r.peer {
            s.push_str(&format!("\n{}", row(p)));
        }
        if let (Some(t), Some(q)) = (r.throughput_ratio, r.single_query_ratio) {
            s.push_str(&format!(
                "\nthroughput {t:.2}x the peer; single query {q:.2}x as fast"
            ));
        }
        s
    });
    Ok(())
}

/// A small deterministic generator (xorshift), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Roughly normal, mean 0, deviation 1 (sum of uniforms).
    fn gauss(&mut self) -> f32 {
        let s: f64 = (0..6)
            .map(|_| (self.next() >> 11) as f64 / (1u64 << 53) as f64)
            .sum();
        ((s - 3.0) * std::f64::consts::SQRT_2) as f32
    }
}

fn normalise(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

#[derive(Debug, Serialize)]
struct SearchFigures {
    chunks: usize,
    queries: usize,
    vector_p50_ms: f64,
    vector_p99_ms: f64,
    hybrid_p50_ms: f64,
    hybrid_p99_ms: f64,
    keyword_p50_ms: f64,
    exact_scan_p50_ms: f64,
    vec0_float_p50_ms: f64,
    vec0_float_p99_ms: f64,
    vector_speedup_vs_vec0_float: f64,
    recall_at_10_vs_exact: f64,
    /// The first search after opening: building the in-memory vector index from the file.
    index_build_ms: f64,
    database_mib: f64,
    trade_off: Vec<OversampleFigures>,
}

#[derive(Debug, Serialize)]
struct OversampleFigures {
    oversample: usize,
    vector_p50_ms: f64,
    recall_at_10_vs_exact: f64,
}

/// Synthetic knowledge bases: each chunk is three real sentences (from the sentences file), its
/// vector the normalised sum of their embeddings plus noise, so vectors cluster like real ones.
/// Queries are held-out sentences. Compares quantised search with an exact scan (recall@10) and
/// with plain vec0 float KNN over the same vectors (the brute-force baseline).
fn search(ctx: &Context, sizes: &[usize], queries: usize, sentences: &Path) -> CliResult {
    let lines = read_lines(sentences)?;
    let embedder = ctx.embedder()?;
    let held_out = queries.min(lines.len() / 5).max(1);
    let (query_lines, base_lines) = lines.split_at(held_out);
    let refs: Vec<&str> = base_lines.iter().map(String::as_str).collect();
    eprintln!("embedding {} base sentences...", refs.len());
    let base = embedder
        .embed_many(&refs, 32, &mut |_| true)?
        .ok_or_else(|| anyhow!("embedding stopped"))?;
    let qrefs: Vec<&str> = query_lines.iter().map(String::as_str).collect();
    let query_vectors = embedder
        .embed_many(&qrefs, 32, &mut |_| true)?
        .ok_or_else(|| anyhow!("embedding stopped"))?;
    let model = kb::model_tag(&embedder);
    let mut all = Vec::new();
    for &n in sizes {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("bench.db");
        let mut store = bench_store(&path)?;
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ n as u64);
        let t = Instant::now();
        let per_doc = 1000;
        let mut vectors_all: Vec<Vec<f32>> = Vec::with_capacity(n);
        for d in 0..n.div_ceil(per_doc) {
            let count = per_doc.min(n - d * per_doc);
            let mut text = String::new();
            let mut chunks = Vec::with_capacity(count);
            let mut vectors = Vec::with_capacity(count);
            for i in 0..count {
                let picks = [
                    rng.below(refs.len()),
                    rng.below(refs.len()),
                    rng.below(refs.len()),
                ];
                let body = picks.map(|p| refs[p]).join(" ");
                let start = text.len();
                text.push_str(&body);
                let end = text.len();
                text.push_str("\n\n");
                let mut v = vec![0f32; 384];
                for p in picks {
                    for (x, b) in v.iter_mut().zip(&base[p]) {
                        *x += b;
                    }
                }
                for x in &mut v {
                    *x += 0.05 * rng.gauss();
                }
                normalise(&mut v);
                chunks.push(Chunk {
                    ordinal: i,
                    headings: vec![format!("Synthetic document {d}")],
                    text: body,
                    start,
                    end,
                });
                vectors.push(v);
            }
            let doc = kb::Extracted {
                format: kb::Format::Text,
                title: format!("Synthetic document {d}"),
                text,
            };
            let source = format!("synthetic/{d}.txt");
            kb::write_document(
                &mut store,
                &kb::Embedded {
                    source: &source,
                    sha256: "synthetic",
                    byte_size: doc.text.len(),
                    doc: &doc,
                    chunks: &chunks,
                    vectors: &vectors,
                    model: &model,
                },
            )?;
            vectors_all.extend(vectors);
        }
        eprintln!(
            "{n} chunks written in {:.1} s; building the plain vec0 float baseline...",
            t.elapsed().as_secs_f64()
        );
        // The baseline: the same vectors, full precision, in a plain vec0 table.
        {
            let raw = rusqlite::Connection::open(&path).map_err(ils_node::StoreError::from)?;
            raw.execute_batch(
                "CREATE VIRTUAL TABLE baseline USING vec0(embedding float[384] distance_metric=cosine);
                 BEGIN;",
            )
            .map_err(ils_node::StoreError::from)?;
            {
                let mut ins = raw
                    .prepare("INSERT INTO baseline (rowid, embedding) SELECT id, embedding FROM chunks WHERE id = ?1")
                    .map_err(ils_node::StoreError::from)?;
                let ids: Vec<i64> = {
                    let mut s = raw
                        .prepare("SELECT id FROM chunks")
                        .map_err(ils_node::StoreError::from)?;
                    s.query_map([], |r| r.get(0))
                        .map_err(ils_node::StoreError::from)?
                        .collect::<Result<_, _>>()
                        .map_err(ils_node::StoreError::from)?
                };
                for id in ids {
                    ins.execute([id]).map_err(ils_node::StoreError::from)?;
                }
            }
            raw.execute_batch("COMMIT;")
                .map_err(ils_node::StoreError::from)?;
        }
        drop(vectors_all);
        // The same memory map and page cache as the store's own connection.
        let raw = rusqlite::Connection::open(&path).map_err(ils_node::StoreError::from)?;
        raw.execute_batch("PRAGMA mmap_size = 1073741824; PRAGMA cache_size = -65536;")
            .map_err(ils_node::StoreError::from)?;
        // The first search builds the in-memory vector index from the file.
        let t = Instant::now();
        kb::search::indexed_chunks(&store, &model)?;
        let index_build_ms = t.elapsed().as_secs_f64() * 1000.0;
        let mut baseline = raw
            .prepare("SELECT rowid FROM baseline WHERE embedding MATCH ?1 AND k = 10")
            .map_err(ils_node::StoreError::from)?;
        let (mut vector, mut hybrid, mut keyword, mut exact, mut plain) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut found = 0usize;
        let mut wanted = 0usize;
        let mut truths = Vec::with_capacity(query_lines.len());
        for (q, qv) in query_lines.iter().zip(&query_vectors) {
            let opts = |mode| SearchOptions {
                mode,
                limit: 10,
                ..SearchOptions::default()
            };
            let t = Instant::now();
            let approx =
                kb::search_with_vector(&store, &model, q, Some(qv), opts(SearchMode::Vector))?;
            vector.push(t.elapsed().as_secs_f64() * 1000.0);
            let t = Instant::now();
            kb::search_with_vector(&store, &model, q, Some(qv), opts(SearchMode::Hybrid))?;
            hybrid.push(t.elapsed().as_secs_f64() * 1000.0);
            let t = Instant::now();
            kb::search_with_vector(&store, &model, q, None, opts(SearchMode::Keyword))?;
            keyword.push(t.elapsed().as_secs_f64() * 1000.0);
            let t = Instant::now();
            let truth = kb::search::exact_vector_ids(&store, &model, qv, 10)?;
            exact.push(t.elapsed().as_secs_f64() * 1000.0);
            let t = Instant::now();
            let _: Vec<i64> = baseline
                .query_map([embedding_to_blob(qv)], |r| r.get(0))
                .map_err(ils_node::StoreError::from)?
                .collect::<Result<_, _>>()
                .map_err(ils_node::StoreError::from)?;
            plain.push(t.elapsed().as_secs_f64() * 1000.0);
            wanted += truth.len();
            found += truth
                .iter()
                .filter(|(id, _)| approx.iter().any(|h| h.chunk_id == *id))
                .count();
            truths.push(truth);
        }
        // The trade-off the oversampling factor makes: candidates taken from the 8-bit index
        // per result, against latency and recall.
        let mut trade_off = Vec::new();
        for oversample in [1usize, 2, 4, 8] {
            let mut times = Vec::new();
            let (mut hit, mut all) = (0usize, 0usize);
            for (qv, truth) in query_vectors.iter().zip(&truths) {
                let t = Instant::now();
                let got = kb::search::vector_ids(&store, &model, qv, 10, 10 * oversample)?;
                times.push(t.elapsed().as_secs_f64() * 1000.0);
                all += truth.len();
                hit += truth
                    .iter()
                    .filter(|(id, _)| got.iter().any(|(g, _)| g == id))
                    .count();
            }
            let times = sorted(times);
            trade_off.push(OversampleFigures {
                oversample,
                vector_p50_ms: percentile(&times, 50.0),
                recall_at_10_vs_exact: hit as f64 / all.max(1) as f64,
            });
        }
        let (vector, hybrid, keyword, exact, plain) = (
            sorted(vector),
            sorted(hybrid),
            sorted(keyword),
            sorted(exact),
            sorted(plain),
        );
        let figures = SearchFigures {
            chunks: n,
            queries: query_lines.len(),
            vector_p50_ms: percentile(&vector, 50.0),
            vector_p99_ms: percentile(&vector, 99.0),
            hybrid_p50_ms: percentile(&hybrid, 50.0),
            hybrid_p99_ms: percentile(&hybrid, 99.0),
            keyword_p50_ms: percentile(&keyword, 50.0),
            exact_scan_p50_ms: percentile(&exact, 50.0),
            vec0_float_p50_ms: percentile(&plain, 50.0),
            vec0_float_p99_ms: percentile(&plain, 99.0),
            vector_speedup_vs_vec0_float: percentile(&plain, 50.0) / percentile(&vector, 50.0),
            recall_at_10_vs_exact: found as f64 / wanted.max(1) as f64,
            index_build_ms,
            database_mib: std::fs::metadata(&path).map_or(0.0, |m| m.len() as f64 / 1048576.0),
            trade_off,
        };
        eprintln!("{figures:?}");
        all.push(figures);
    }
    ctx.emit(&all, |all| {
        let mut s = format!(
            "{:>8} {:>17} {:>17} {:>10} {:>17} {:>9} {:>8} {:>9}",
            "chunks",
            "vector p50/p99",
            "hybrid p50/p99",
            "keyword",
            "vec0 float p50/99",
            "speedup",
            "recall@10",
            "exact"
        );
        for f in all {
            s.push_str(&format!(
                "\n{:>8} {:>7.2}/{:>6.2} ms {:>7.2}/{:>6.2} ms {:>7.2} ms {:>7.2}/{:>6.2} ms {:>8.2}x {:>9.3} {:>6.1} ms",
                f.chunks,
                f.vector_p50_ms,
                f.vector_p99_ms,
                f.hybrid_p50_ms,
                f.hybrid_p99_ms,
                f.keyword_p50_ms,
                f.vec0_float_p50_ms,
                f.vec0_float_p99_ms,
                f.vector_speedup_vs_vec0_float,
                f.recall_at_10_vs_exact,
                f.exact_scan_p50_ms
            ));
        }
        for f in all {
            s.push_str(&format!(
                "\n{:>8} chunks: vector index built from the file in {:.0} ms (first search)",
                f.chunks, f.index_build_ms
            ));
        }
        s.push_str("\ncandidates per result: vector p50 and recall@10 against exact search");
        for f in all {
            let row: Vec<String> = f
                .trade_off
                .iter()
                .map(|t| {
                    format!(
                        "{}x {:.2} ms {:.3}",
                        t.oversample, t.vector_p50_ms, t.recall_at_10_vs_exact
                    )
                })
                .collect();
            s.push_str(&format!("\n{:>8}  {}", f.chunks, row.join(" | ")));
        }
        s
    });
    Ok(())
}

/// Peak resident memory of this process so far (VmHWM), in MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn ingest(ctx: &Context, docs: &Path, copies: usize) -> CliResult {
    let files = kb::files_to_ingest(docs)?;
    let files: Vec<PathBuf> = files
        .into_iter()
        .filter(|f| !f.ends_with("README.md"))
        .collect();
    let dir = tempfile::tempdir()?;
    let mut copied = Vec::new();
    for c in 0..copies.max(1) {
        for f in &files {
            let name = f
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let to = dir.path().join(format!("copy{c}-{name}"));
            std::fs::copy(f, &to)?;
            copied.push(to);
        }
    }
    let embedder = ctx.embedder()?;
    let mut store = bench_store(&dir.path().join("bench.db"))?;
    let rss_before = peak_rss_mib();
    let t = Instant::now();
    let mut chunks = 0;
    let mut bytes = 0u64;
    for f in &copied {
        bytes += std::fs::metadata(f)?.len();
        let done = kb::ingest_file(
            &mut store,
            &embedder,
            f,
            &mut |_| {},
            &AtomicBool::new(false),
        )?;
        chunks += done.chunks;
    }
    let secs = t.elapsed().as_secs_f64();
    #[derive(Serialize)]
    struct IngestFigures {
        documents: usize,
        chunks: usize,
        megabytes: f64,
        seconds: f64,
        chunks_per_s: f64,
        peak_rss_mib_before: Option<f64>,
        peak_rss_mib: Option<f64>,
    }
    let figures = IngestFigures {
        documents: copied.len(),
        chunks,
        megabytes: bytes as f64 / 1e6,
        seconds: secs,
        chunks_per_s: chunks as f64 / secs,
        peak_rss_mib_before: rss_before,
        peak_rss_mib: peak_rss_mib(),
    };
    ctx.emit(&figures, |f| {
        format!(
            "ingested {} documents ({:.2} MB) into {} chunks in {:.1} s: {:.1} chunks/s; peak RSS {:.0} MiB (model loaded: {:.0} MiB)",
            f.documents,
            f.megabytes,
            f.chunks,
            f.seconds,
            f.chunks_per_s,
            f.peak_rss_mib.unwrap_or(f64::NAN),
            f.peak_rss_mib_before.unwrap_or(f64::NAN)
        )
    });
    Ok(())
}
