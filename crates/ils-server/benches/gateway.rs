//! The AI gateway benchmark: ILS Central's assistant against a local provider server that
//! speaks the OpenAI wire format (ils-llm's loopback server), 10 practices.
//!
//! 1. Gateway only (authentication, the AI rate limit with raised budgets, the conversation
//!    and both messages recorded; knowledge base off) at 1, 100 and 1,000 concurrent streams:
//!    requests/s and time to first token, against the provider directly (the added latency is
//!    ILS minus direct) and against LiteLLM's proxy (2 workers, the same provider server), when
//!    `ILS_BENCH_LITELLM` names its `litellm` program (`scripts/bench-gateway.sh` makes the
//!    venv).
//! 2. Full retrieval-augmented chat over ILS_BENCH_PASSAGES passages per practice (10,000):
//!    requests/s against the ceiling set by embedding one question at a time on this machine;
//!    with the recall of the tenant-filtered HNSW search against exact search, and a small
//!    practice's full top k among the large ones.
//! 3. The product's load target: the provider streams 50 tokens at 20 ms each; 100 concurrent
//!    users across the 10 practices for ILS_BENCH_LOAD_SECS (60): p95 to the last token and
//!    requests/s.
//!
//! `cargo bench -p ils-server --bench gateway` (or `make bench-gateway`). Knobs: ILS_BENCH_SECS
//! per phase (10), ILS_BENCH_PASSAGES (10000), ILS_BENCH_LOAD_SECS (60), ILS_BENCH_SCENARIOS
//! (e.g. `1,3`; all by default), ILS_BENCH_DB_CONNECTIONS (16).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use ils_llm::loopback::{LoopbackServer, Script};
use rand::Rng as _;
use serde_json::{Value, json};

mod support;
use support::{Running, cpu_model, cpu_now, env_or, report_cpu};

const TENANTS: u64 = 10;
const PROVIDER_KEY: &str = "sk-bench-provider";
const LITELLM_KEY: &str = "sk-litellm-bench";
const MODEL: &str = "gpt-bench";
const QUESTION: &str = "Which lenses suit children's sports glasses?";

/// Where a stream is asked for.
#[derive(Clone)]
enum Target {
    /// The provider server itself.
    Direct { url: String },
    /// ILS Central's assistant, one ECP token per practice.
    Ils {
        url: String,
        tokens: Arc<Vec<String>>,
    },
    /// LiteLLM's proxy.
    LiteLlm { url: String },
}

impl Target {
    fn request(&self, http: &reqwest::Client, n: u64) -> reqwest::RequestBuilder {
        let openai = |url: &str, key: &str| {
            http.post(url).bearer_auth(key).json(&json!({
                "model": MODEL, "stream": true, "max_tokens": 256,
                "messages": [{"role": "user", "content": QUESTION}],
            }))
        };
        match self {
            Target::Direct { url } => openai(url, PROVIDER_KEY),
            Target::LiteLlm { url } => openai(url, LITELLM_KEY),
            Target::Ils { url, tokens } => http
                .post(url)
                .bearer_auth(&tokens[(n % tokens.len() as u64) as usize])
                .json(&json!({ "question": QUESTION })),
        }
    }

    /// Whether an event carries a piece of the answer.
    fn is_text(&self, event: &ils_llm::sse::Event) -> bool {
        match self {
            Target::Ils { .. } => event.event.as_deref() == Some("delta"),
            _ => event.data.contains("\"content\":\"") && !event.data.contains("\"content\":\"\""),
        }
    }
}

#[derive(Default)]
struct Tally {
    first: Option<Histogram<u64>>,
    last: Option<Histogram<u64>>,
    done: u64,
    errors: u64,
    first_error: Option<String>,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("bounds")
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        for (mine, theirs) in [(&mut self.first, other.first), (&mut self.last, other.last)] {
            if let Some(h) = theirs {
                mine.get_or_insert_with(histogram)
                    .add(h)
                    .expect("same bounds");
            }
        }
        self.done += other.done;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn ms(h: &Option<Histogram<u64>>, q: f64) -> f64 {
        h.as_ref()
            .map_or(f64::NAN, |h| h.value_at_quantile(q) as f64 / 1000.0)
    }
}

/// One stream: (µs to the first piece of text, µs to the end).
async fn one(http: &reqwest::Client, target: &Target, n: u64) -> anyhow::Result<(u64, u64)> {
    let started = Instant::now();
    let mut response = target.request(http, n).send().await?;
    if !response.status().is_success() {
        let status = response.status();
        bail!("{status}: {}", response.text().await.unwrap_or_default());
    }
    let mut decoder = ils_llm::sse::Decoder::new();
    let mut first = None;
    while let Some(bytes) = response.chunk().await? {
        if first.is_none() {
            for event in decoder.feed(&bytes).map_err(anyhow::Error::msg)? {
                if target.is_text(&event) {
                    first = Some(started.elapsed().as_micros() as u64);
                    break;
                }
            }
        }
    }
    let last = started.elapsed().as_micros() as u64;
    Ok((first.context("no text in the stream")?, last))
}

/// `concurrency` clients, each asking again as soon as its stream ends, for `secs`.
async fn run(
    http: &reqwest::Client,
    target: &Target,
    concurrency: u64,
    secs: u64,
) -> (Tally, Duration) {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(secs);
    let counter = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (http, target, counter) = (http.clone(), target.clone(), counter.clone());
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            while Instant::now() < deadline {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                match one(&http, &target, n).await {
                    Ok((first, last)) => {
                        tally.first.get_or_insert_with(histogram).record(first).ok();
                        tally.last.get_or_insert_with(histogram).record(last).ok();
                        tally.done += 1;
                    }
                    Err(e) => {
                        tally.errors += 1;
                        tally.first_error.get_or_insert_with(|| e.to_string());
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            tally
        }));
    }
    let mut total = Tally::default();
    for task in tasks {
        total.merge(task.await.expect("client task"));
    }
    (total, started.elapsed())
}

fn print_row(label: &str, concurrency: u64, tally: &Tally, elapsed: Duration) -> f64 {
    let rps = tally.done as f64 / elapsed.as_secs_f64();
    println!(
        "  {label:<20} {concurrency:>6} {rps:>10.0} {:>9.2} {:>9.2} {:>10.2} {:>10.2} {:>7}",
        Tally::ms(&tally.first, 0.50),
        Tally::ms(&tally.first, 0.99),
        Tally::ms(&tally.last, 0.50),
        Tally::ms(&tally.last, 0.99),
        tally.errors,
    );
    if let Some(e) = &tally.first_error {
        println!(
            "    first error: {}",
            e.chars().take(200).collect::<String>()
        );
    }
    rps
}

fn header() {
    println!(
        "  {:<20} {:>6} {:>10} {:>9} {:>9} {:>10} {:>10} {:>7}",
        "target", "conc.", "req/s", "TTFT p50", "TTFT p99", "total p50", "total p99", "errors"
    );
}

/// LiteLLM's proxy with 2 workers in front of the provider server, or `None` when no
/// `litellm` program is named.
struct LiteLlm {
    child: std::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for LiteLlm {
    fn drop(&mut self) {
        // The workers are its children: end the whole process group.
        kill_group(self.child.id());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn kill_group(pid: u32) {
    let _ = std::process::Command::new("kill")
        .args(["-TERM", "--", &format!("-{pid}")])
        .status();
}

async fn start_litellm(
    http: &reqwest::Client,
    provider_base: &str,
) -> anyhow::Result<Option<LiteLlm>> {
    let Ok(program) = std::env::var("ILS_BENCH_LITELLM") else {
        return Ok(None);
    };
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("litellm.yaml");
    std::fs::write(
        &config,
        format!(
            "model_list:\n  - model_name: {MODEL}\n    litellm_params:\n      model: openai/{MODEL}\n      api_base: {provider_base}\n      api_key: {PROVIDER_KEY}\ngeneral_settings:\n  master_key: {LITELLM_KEY}\nlitellm_settings:\n  telemetry: false\n"
        ),
    )?;
    let port = support::free_port()?;
    let log = std::fs::File::create(dir.path().join("litellm.log"))?;
    let child = {
        use std::os::unix::process::CommandExt as _;
        std::process::Command::new(&program)
            .arg("--config")
            .arg(&config)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--num_workers", "2"])
            // Offline: its model price list from the package, no telemetry, quiet logs.
            .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            .env("LITELLM_LOG", "ERROR")
            .env("LITELLM_TELEMETRY", "False")
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {program}"))?
    };
    let proxy = LiteLlm {
        child,
        url: format!("http://127.0.0.1:{port}/v1/chat/completions"),
        _dir: dir,
    };
    let started = Instant::now();
    loop {
        if http
            .get(format!("http://127.0.0.1:{port}/health/liveliness"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(Some(proxy));
        }
        if started.elapsed() > Duration::from_secs(120) {
            bail!("LiteLLM did not start within 2 minutes");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn model_dir() -> std::path::PathBuf {
    std::env::var_os("ILS_MODEL_DIR").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/all-MiniLM-L6-v2"),
        std::path::PathBuf::from,
    )
}

/// Sets every practice's knowledge base on or off.
async fn knowledge_base(running: &Running, admins: &[String], on: bool) -> anyhow::Result<()> {
    for token in admins {
        let response = running
            .http
            .patch(format!("{}/api/company", running.server.base))
            .bearer_auth(token)
            .json(&json!({"ai_config": {"knowledge_base_enabled": on}}))
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("configuration: {}", response.text().await?);
        }
    }
    Ok(())
}

/// Fills a practice's knowledge base with `count` passages: pairs of real sentences with the
/// normalised sum of their real embeddings (so the vectors cluster as text does), written in
/// bulk by the owner.
async fn seed_passages(
    owner: &sqlx::PgPool,
    company: &str,
    sentences: &[String],
    vectors: &[Vec<f32>],
    count: usize,
    rng: &mut rand::rngs::StdRng,
) -> anyhow::Result<()> {
    let company: uuid::Uuid = company.parse()?;
    let per_document = 100;
    let mut written = 0;
    let mut doc = 0;
    while written < count {
        let n = per_document.min(count - written);
        let document = uuid::Uuid::now_v7();
        sqlx::query(
            "INSERT INTO kb_documents (company_id, id, source, title, format, content_sha256, bytes, chunks, model)
             VALUES ($1, $2, $3, $4, 'text', repeat('0', 64), 0, $5, 'all-MiniLM-L6-v2@bench')",
        )
        .bind(company)
        .bind(document)
        .bind(format!("bench/doc-{doc}.txt"))
        .bind(format!("Bench document {doc}"))
        .bind(n as i32)
        .execute(owner)
        .await?;
        let mut ids = Vec::with_capacity(n);
        let mut texts = Vec::with_capacity(n);
        let mut embeddings = Vec::with_capacity(n);
        for _ in 0..n {
            let (a, b) = (
                rng.random_range(0..sentences.len()),
                rng.random_range(0..sentences.len()),
            );
            let mut v: Vec<f32> = vectors[a]
                .iter()
                .zip(&vectors[b])
                .map(|(x, y)| x + 0.6 * y)
                .collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
            v.iter_mut().for_each(|x| *x /= norm);
            ids.push(uuid::Uuid::now_v7());
            texts.push(format!("{} {}", sentences[a], sentences[b]));
            embeddings.push(format!(
                "[{}]",
                v.iter()
                    .map(|x| format!("{x:.6}"))
                    .collect::<Vec<_>>()
                    .join(",")
            ));
        }
        sqlx::query(
            "INSERT INTO kb_chunks (company_id, id, document_id, ordinal, heading, text, byte_start, byte_end, embedding)
             SELECT $1, id, $2, ord - 1, '', text, 0, length(text), embedding::vector
             FROM unnest($3::uuid[], $4::text[], $5::text[]) WITH ORDINALITY AS t(id, text, embedding, ord)",
        )
        .bind(company)
        .bind(document)
        .bind(&ids)
        .bind(&texts)
        .bind(&embeddings)
        .execute(owner)
        .await?;
        // The word counts keyword search reads, as `store::kb` keeps them.
        sqlx::query(ils_server::store::kb::COUNT_DOCUMENT)
            .bind(company)
            .bind(document)
            .execute(owner)
            .await?;
        written += n;
        doc += 1;
    }
    Ok(())
}

/// Questions per second when each is embedded alone, from `threads` threads at once.
fn embedding_ceiling(
    embedder: &Arc<ils_ai::Embedder>,
    questions: &[String],
    threads: usize,
) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(5);
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..threads {
            let (embedder, done) = (embedder.clone(), done.clone());
            scope.spawn(move || {
                let mut i = t;
                while Instant::now() < deadline {
                    let q = questions[i % questions.len()].as_str();
                    embedder.embed(&[q]).expect("embeds");
                    done.fetch_add(1, Ordering::Relaxed);
                    i += threads;
                }
            });
        }
    });
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let secs = env_or("ILS_BENCH_SECS", 10);
    let passages = env_or("ILS_BENCH_PASSAGES", 10_000) as usize;
    let load_secs = env_or("ILS_BENCH_LOAD_SECS", 60);
    let db_connections = env_or("ILS_BENCH_DB_CONNECTIONS", 16);
    let scenarios = std::env::var("ILS_BENCH_SCENARIOS").unwrap_or_else(|_| "1,2,3".into());
    let wants = |n: &str| scenarios.split(',').any(|s| s.trim() == n);

    let provider = LoopbackServer::start(Some(PROVIDER_KEY)).await?;
    provider.set_recording(false);
    let instant = Script {
        text: "Polycarbonate or Trivex lenses, in a sports frame with a strap.".into(),
        chunk_chars: 8,
        keep_alives: 0,
        ..Script::default()
    };
    provider.set_default(instant.clone());
    let settings_dir = tempfile::tempdir()?;
    let settings = settings_dir.path().join("ils.toml");
    std::fs::write(
        &settings,
        format!(
            "[[ai.providers]]\nname = \"loopback\"\nkind = \"openai\"\nbase_url = \"{}\"\napi_key = \"{PROVIDER_KEY}\"\nmodels = [\"{MODEL}\"]\n",
            provider.openai_base()
        ),
    )?;
    let running = support::start_server(
        db_connections,
        &[
            ("ILS_CONFIG".into(), settings.display().to_string()),
            (
                "ILS_AI__MODEL_DIR".into(),
                model_dir().display().to_string(),
            ),
            (
                "ILS_RATE_LIMITS__AI_PER_MINUTE__ENTERPRISE".into(),
                "10000000".into(),
            ),
        ],
    )
    .await?;
    let mut admins = Vec::new();
    let mut companies = Vec::new();
    let mut ecps = Vec::new();
    for t in 0..TENANTS {
        let (domain, password, pair) = support::create_practice(&running, t).await?;
        let admin = pair["access_token"].as_str().context("token")?.to_owned();
        ecps.push(support::add_user(&running, &domain, &password, &admin, "ecp").await?);
        companies.push(pair["company_id"].as_str().context("company")?.to_owned());
        admins.push(admin);
    }
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(4096)
        .build()?;
    let server_pid = running.server.child.id();
    let direct = Target::Direct {
        url: format!("{}/chat/completions", provider.openai_base()),
    };
    let ils = Target::Ils {
        url: format!("{}/api/master-ai/chat", running.server.base),
        tokens: Arc::new(ecps),
    };
    println!(
        "ILS Central AI gateway benchmark: {TENANTS} practices, {} cores ({})",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model()
    );

    if wants("1") {
        knowledge_base(&running, &admins, false).await?;
        let litellm = start_litellm(&http, &provider.openai_base()).await?;
        println!(
            "\n1. Gateway only (knowledge base off), provider streaming {} pieces with no delay, {secs} s per run",
            instant.text.len().div_ceil(instant.chunk_chars)
        );
        if litellm.is_none() {
            println!(
                "  (LiteLLM not measured: set ILS_BENCH_LITELLM, or run scripts/bench-gateway.sh)"
            );
        }
        header();
        for concurrency in [1, 100, 1000] {
            // Warm-up: connections and caches on every side.
            run(&http, &direct, concurrency.min(100), 1).await;
            let (d, de) = run(&http, &direct, concurrency, secs).await;
            print_row("provider directly", concurrency, &d, de);
            run(&http, &ils, concurrency.min(100), 1).await;
            statements_reset(&running).await;
            let before = cpu_now(server_pid);
            let (i, ie) = run(&http, &ils, concurrency, secs).await;
            let after = cpu_now(server_pid);
            statements_report(&running, i.done).await;
            let ils_rps = print_row("ILS Central", concurrency, &i, ie);
            report_cpu(before, after, i.done);
            println!(
                "    added time to first token (ILS − direct): p50 {:.2} ms, p99 {:.2} ms",
                Tally::ms(&i.first, 0.50) - Tally::ms(&d.first, 0.50),
                Tally::ms(&i.first, 0.99) - Tally::ms(&d.first, 0.99),
            );
            if let Some(proxy) = &litellm {
                let peer = Target::LiteLlm {
                    url: proxy.url.clone(),
                };
                run(&http, &peer, concurrency.min(100), 1).await;
                let (l, le) = run(&http, &peer, concurrency, secs).await;
                let lite_rps = print_row("LiteLLM proxy", concurrency, &l, le);
                println!(
                    "    LiteLLM added time to first token: p50 {:.2} ms, p99 {:.2} ms; ratio ILS / LiteLLM requests/s: {:.1}×",
                    Tally::ms(&l.first, 0.50) - Tally::ms(&d.first, 0.50),
                    Tally::ms(&l.first, 0.99) - Tally::ms(&d.first, 0.99),
                    ils_rps / lite_rps.max(0.001),
                );
            }
        }
        drop(litellm);
    }

    if wants("2") || wants("3") {
        println!("\nSeeding {passages} passages in each of {TENANTS} practices…");
        let seeding = Instant::now();
        let sentences: Vec<String> = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../benches/data/sentences.txt"),
        )?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
        let embedder = Arc::new(ils_ai::Embedder::load(&model_dir())?);
        let refs: Vec<&str> = sentences.iter().map(String::as_str).collect();
        let vectors = embedder.embed(&refs)?;
        let owner = sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect(&running.db.owner_url)
            .await?;
        sqlx::query("DROP INDEX kb_chunks_embedding")
            .execute(&owner)
            .await?;
        // Seeded, so every run holds the same passages.
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(0x9e37_79b9);
        for company in &companies {
            seed_passages(&owner, company, &sentences, &vectors, passages, &mut rng).await?;
        }
        // A small practice among the large ones: its 12 passages must still come back whole.
        let (small_domain, small_password, small_pair) =
            support::create_practice(&running, TENANTS).await?;
        let small_admin = small_pair["access_token"]
            .as_str()
            .context("token")?
            .to_owned();
        let small_ecp = support::add_user(
            &running,
            &small_domain,
            &small_password,
            &small_admin,
            "ecp",
        )
        .await?;
        let small_company = small_pair["company_id"]
            .as_str()
            .context("company")?
            .to_owned();
        seed_passages(&owner, &small_company, &sentences, &vectors, 12, &mut rng).await?;
        let loaded = seeding.elapsed();
        let building = Instant::now();
        let mut conn = owner.acquire().await?;
        for statement in [
            "SET maintenance_work_mem = '1GB'",
            "SET max_parallel_maintenance_workers = 1",
            "CREATE INDEX kb_chunks_embedding ON kb_chunks USING hnsw (embedding vector_cosine_ops)",
            "VACUUM ANALYZE kb_chunks",
            "VACUUM ANALYZE kb_documents",
        ] {
            sqlx::raw_sql(statement).execute(&mut *conn).await?;
        }
        drop(conn);
        println!(
            "  loaded in {:.1} s, HNSW index built in {:.1} s",
            loaded.as_secs_f64(),
            building.elapsed().as_secs_f64()
        );
        knowledge_base(&running, &admins, true).await?;
        if std::env::var("ILS_BENCH_EXPLAIN").is_ok() {
            let service = sqlx::PgPool::connect(&running.db.service_url).await?;
            for _ in 0..3 {
                explain_keyword(&service, &companies[0]).await?;
            }
        }
        let questions: Vec<String> = sentences.iter().step_by(7).take(100).cloned().collect();
        search_quality(
            &running,
            &owner,
            &ils,
            &companies[0],
            &questions,
            &small_ecp,
        )
        .await?;

        if wants("2") {
            let ceiling_1 = embedding_ceiling(&embedder, &questions, 1);
            let ceiling_2 = embedding_ceiling(&embedder, &questions, 2);
            let ceiling = ceiling_1.max(ceiling_2);
            drop(embedder);
            println!(
                "\n2. Full retrieval-augmented chat ({passages} passages per practice), {secs} s per run"
            );
            println!(
                "  ceiling: embedding one question at a time on this machine: {ceiling_1:.0}/s (1 thread), {ceiling_2:.0}/s (2 threads)"
            );
            header();
            for concurrency in [8, 32] {
                run(&http, &ils, concurrency, 2).await;
                statements_reset(&running).await;
                let before = cpu_now(server_pid);
                let (r, re) = run(&http, &ils, concurrency, secs).await;
                let after = cpu_now(server_pid);
                statements_report(&running, r.done).await;
                let rps = print_row("ILS Central (RAG)", concurrency, &r, re);
                report_cpu(before, after, r.done);
                println!(
                    "    ratio to the embedding ceiling: {:.2}×",
                    rps / ceiling.max(0.001)
                );
            }
        }

        if wants("3") {
            let paced = Script {
                text: "lens ".repeat(50),
                chunk_chars: 5,
                chunk_delay: Duration::from_millis(20),
                keep_alives: 0,
                ..Script::default()
            };
            provider.set_default(paced);
            println!(
                "\n3. Load target: 100 concurrent users across {TENANTS} practices for {load_secs} s, full chat, the provider streaming 50 tokens at 20 ms each"
            );
            header();
            let before = cpu_now(server_pid);
            let (r, re) = run(&http, &ils, 100, load_secs).await;
            let after = cpu_now(server_pid);
            let rps = print_row("ILS Central (RAG)", 100, &r, re);
            report_cpu(before, after, r.done);
            println!(
                "    p95 to the last token {:.0} ms (goal < 2000), {rps:.1} requests/s (goal > 50)",
                Tally::ms(&r.last, 0.95)
            );
            provider.set_default(instant);
        }
    }
    drop(running);
    Ok(())
}

/// Recall@10 of the tenant-filtered HNSW search (iterative scan) against exact search, over
/// the API as a practice searches; and a small practice's full top k.
async fn search_quality(
    running: &Running,
    owner: &sqlx::PgPool,
    ils: &Target,
    company: &str,
    questions: &[String],
    small_ecp: &str,
) -> anyhow::Result<()> {
    let Target::Ils { tokens, .. } = ils else {
        bail!("ILS target");
    };
    let embedder = ils_ai::Embedder::load(&model_dir())?;
    let mut found = 0usize;
    let mut wanted = 0usize;
    let mut latencies = histogram();
    for q in questions.iter().take(50) {
        let started = Instant::now();
        let hits: Value = running
            .http
            .get(search_url(running, q)?)
            .bearer_auth(&tokens[0])
            .send()
            .await?
            .json()
            .await?;
        latencies.record(started.elapsed().as_micros() as u64).ok();
        let got: Vec<String> = hits
            .as_array()
            .context("hits")?
            .iter()
            .filter_map(|h| h["chunk_id"].as_str().map(str::to_owned))
            .collect();
        let vector = embedder.embed(&[q.as_str()])?.remove(0);
        let literal = format!(
            "[{}]",
            vector
                .iter()
                .map(|x| format!("{x}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        let mut conn = owner.acquire().await?;
        sqlx::raw_sql("SET enable_indexscan = off; SET enable_bitmapscan = off;")
            .execute(&mut *conn)
            .await?;
        let exact: Vec<(uuid::Uuid,)> = sqlx::query_as(
            "SELECT id FROM kb_chunks WHERE company_id = $1::uuid
             ORDER BY embedding <=> $2::vector LIMIT 10",
        )
        .bind(company)
        .bind(&literal)
        .fetch_all(&mut *conn)
        .await?;
        sqlx::raw_sql("RESET enable_indexscan; RESET enable_bitmapscan;")
            .execute(&mut *conn)
            .await?;
        wanted += exact.len();
        found += exact
            .iter()
            .filter(|(id,)| got.contains(&id.to_string()))
            .count();
    }
    let small: Value = running
        .http
        .get(search_url(running, &questions[0])?)
        .bearer_auth(small_ecp)
        .send()
        .await?
        .json()
        .await?;
    println!(
        "  vector search through the API (one HNSW graph for all practices, iterative scan): recall@10 {:.3} against exact search over 50 questions, p50 {:.1} ms, p99 {:.1} ms (embedding included); a practice with 12 passages among them gets {} of its top 10",
        found as f64 / wanted.max(1) as f64,
        latencies.value_at_quantile(0.5) as f64 / 1000.0,
        latencies.value_at_quantile(0.99) as f64 / 1000.0,
        small.as_array().map_or(0, Vec::len),
    );
    Ok(())
}

fn search_url(running: &Running, q: &str) -> anyhow::Result<reqwest::Url> {
    Ok(reqwest::Url::parse_with_params(
        &format!("{}/api/kb/search", running.server.base),
        &[("q", q), ("mode", "vector"), ("limit", "10")],
    )?)
}

/// With ILS_BENCH_PG_STATS=1 (and `ILS_TESTKIT_PG_OPTIONS="-c shared_preload_libraries=pg_stat_statements"`),
/// the database's time per statement kind over a run: where a request's database cost goes.
async fn statements_reset(running: &Running) {
    if std::env::var("ILS_BENCH_PG_STATS").is_err() {
        return;
    }
    if let Ok(owner) = sqlx::PgPool::connect(&running.db.owner_url).await {
        let _ = sqlx::raw_sql(
            "CREATE EXTENSION IF NOT EXISTS pg_stat_statements; SELECT pg_stat_statements_reset();",
        )
        .execute(&owner)
        .await;
    }
}

async fn statements_report(running: &Running, requests: u64) {
    if std::env::var("ILS_BENCH_PG_STATS").is_err() {
        return;
    }
    let Ok(owner) = sqlx::PgPool::connect(&running.db.owner_url).await else {
        return;
    };
    let rows: Vec<(String, i64, f64, f64)> = sqlx::query_as(
        "SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), 90), calls,
                total_exec_time + total_plan_time, mean_exec_time
         FROM pg_stat_statements ORDER BY 3 DESC LIMIT 12",
    )
    .fetch_all(&owner)
    .await
    .unwrap_or_default();
    for (query, calls, total, mean) in rows {
        println!(
            "    {:>7.0} µs/request {calls:>8} calls {mean:>7.3} ms mean  {query}",
            total * 1000.0 / requests.max(1) as f64
        );
    }
}

/// ILS_BENCH_EXPLAIN=1: the plans of the keyword search's statements for the benchmark's
/// question, as the first practice.
async fn explain_keyword(pool: &sqlx::PgPool, company: &str) -> anyhow::Result<()> {
    let words = ils_ai::retrieval::query_words(QUESTION);
    let mut tx = pool.begin().await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "SET LOCAL ils.company_id = '{company}'"
    )))
    .execute(&mut *tx)
    .await?;
    let plan: Vec<(String,)> = sqlx::query_as(
        "EXPLAIN (ANALYZE, BUFFERS) SELECT w, (SELECT count(*) FROM (
                        SELECT 1 FROM kb_chunks c
                        WHERE c.company_id = $1::uuid AND c.tsv @@ to_tsquery('simple', quote_literal(w))
                        LIMIT $3) found)
         FROM unnest($2::text[]) w",
    )
    .bind(company)
    .bind(&words)
    .bind(501_i64)
    .fetch_all(&mut *tx)
    .await?;
    println!("  words {words:?}");
    for (line,) in plan {
        println!("    {line}");
    }
    Ok(())
}
