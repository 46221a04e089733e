//! Sync benchmark (`make bench-sync`): ILS Central in this process on a real PostgreSQL, desktop
//! engines on real SQLite files, real HTTP on loopback.
//!
//! 1. Initial sync of a new device: the practice's feed holds `ILS_BENCH_SYNC_RECORDS` patient
//!    changes (default 1,000,000, about 250 bytes of record each), written straight into the
//!    feed; the device connects and pulls everything. Goal: 1M records in at most 30 s.
//! 2. Steady push: a device records `ILS_BENCH_SYNC_PUSH` patients offline (default 20,000),
//!    then pushes them.
//! 3. Visibility: device A changes a patient and syncs; device B, waiting on a long poll, has
//!    the change applied. p50 and p99 over `ILS_BENCH_SYNC_ROUNDS` rounds (default 50).
//!    Goal: p50 under 1 s.
//! 4. Knowledge base: ILS Central holds `ILS_BENCH_SYNC_PASSAGES` passages with vectors
//!    (default 100,000, in documents of 100), written straight into its knowledge base and
//!    feed; a new device pulls them all with their vectors. The baseline is what the device
//!    would do without vectors in sync: embed every passage itself with the same model (the
//!    rate measured on 512 passages in the same run, extrapolated).
//!
//! Peers for scale: PowerSync and atuin document 2,000–20,000 operations/s per client; the
//! ratios printed are against the upper figure. The CPU model is printed with the figures.

#[path = "../../crates/ils-server/tests/api/common.rs"]
mod common;
#[path = "../desk.rs"]
mod desk;

use std::time::{Duration, Instant};

use ils_core::change::{Change, ChangeDraft, Record};
use ils_core::hlc::HlcStamp;
use ils_core::patient::{PatientChanges, PatientData};
use ils_core::record::{DocumentFormat, DocumentRecord, PatientRecord};
use ils_core::{ChangeId, DeviceId, PatientId, Role, SubscriptionTier, UserId};
use ils_testkit::cpu_model;
use serde_json::json;

use common::{PASSWORD, Tenant, TestApp};
use desk::{Desk, connect};

const PEER_OPS_PER_SEC: f64 = 20_000.0;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn user(app: &TestApp, tenant: &Tenant, name: &str) -> (String, String) {
    let email = format!("{name}@{}", tenant.domain);
    let reply = app
        .post(
            "/api/users",
            &tenant.admin_token,
            json!({"email": email, "password": PASSWORD, "first_name": name, "last_name": "Bench", "role": Role::Ecp.as_str()}),
        )
        .await;
    assert!(reply.status.is_success(), "{:?}", reply.body);
    (reply.body["id"].as_str().expect("id").to_owned(), email)
}

fn patient_data(i: u64) -> PatientData {
    serde_json::from_value(json!({
        "customer_number": format!("B-{i:08}"), "first_name": "Grace", "last_name": format!("Bench{}", i % 9973),
        "date_of_birth": "1956-12-09", "email": format!("p{i}@example.org"), "phone": "+44 20 7946 0000",
        "address": "1 Lens Lane, London", "notes": null
    }))
    .expect("patient")
}

/// Writes `n` patient changes straight into the practice's feed, as another device made them.
async fn seed_feed(app: &TestApp, company: &str, user: &str, n: u64) -> Duration {
    let started = Instant::now();
    let owner = app.owner_pool().await;
    let device = DeviceId::new(0xbe4c_0000_0000_0002).expect("device");
    let user: UserId = user.parse().expect("user");
    let now = chrono::Utc::now();
    let batch = 20_000u64;
    let mut i = 0u64;
    while i < n {
        let end = (i + batch).min(n);
        let mut ids = Vec::new();
        let mut entity_ids = Vec::new();
        let mut stamps = Vec::new();
        let mut texts = Vec::new();
        let mut seqs = Vec::new();
        for k in i..end {
            let record = PatientRecord {
                id: PatientId::new(),
                data: patient_data(k),
                created_at: now,
                updated_at: now,
                deleted_at: None,
            };
            let change = Change::stamp(
                ChangeDraft::upsert(Record::Patient(record)),
                ChangeId::new(),
                HlcStamp {
                    wall_ms: 1_764_000_000_000 + k,
                    counter: 0,
                    device: device.get(),
                },
                device,
                user,
            );
            ids.push(change.id.into_uuid());
            entity_ids.push(change.entity_id);
            stamps.push(change.hlc.to_string());
            texts.push(change.encode());
            seqs.push(i64::try_from(k + 1).unwrap_or(i64::MAX));
        }
        sqlx::query(
            "INSERT INTO sync_feed (company_id, seq, change_id, device, entity, entity_id, operation, hlc, change)
             SELECT $1::uuid, s, c, $2, 'patient', e, 'upsert', h, t
             FROM unnest($3::bigint[], $4::uuid[], $5::uuid[], $6::text[], $7::text[]) AS x(s, c, e, h, t)",
        )
        .bind(company)
        .bind(device.to_string())
        .bind(&seqs)
        .bind(&ids)
        .bind(&entity_ids)
        .bind(&stamps)
        .bind(&texts)
        .execute(&owner)
        .await
        .expect("seed");
        i = end;
    }
    sqlx::query(
        "INSERT INTO sync_heads (company_id, seq, hlc) VALUES ($1::uuid, $2, '')
         ON CONFLICT (company_id) DO UPDATE SET seq = excluded.seq",
    )
    .bind(company)
    .bind(i64::try_from(n).unwrap_or(i64::MAX))
    .execute(&owner)
    .await
    .expect("head");
    sqlx::query("VACUUM ANALYZE sync_feed")
        .execute(&owner)
        .await
        .expect("analyze");
    started.elapsed()
}

/// A passage of about 600 bytes, different for every `i`.
fn passage_text(i: u64) -> String {
    const WORDS: [&str; 16] = [
        "lens",
        "frame",
        "coating",
        "progressive",
        "titanium",
        "acetate",
        "solution",
        "cornea",
        "prism",
        "axis",
        "sphere",
        "cylinder",
        "hinge",
        "bridge",
        "tint",
        "warranty",
    ];
    let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = format!("Passage {i}:");
    while out.len() < 600 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push(' ');
        out.push_str(WORDS[usize::try_from(x % 16).unwrap_or(0)]);
    }
    out
}

/// A unit vector, different for every `i`, as pgvector's text form.
fn vector_text(i: u64) -> String {
    let mut x = i.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1;
    let mut v = Vec::with_capacity(ils_core::record::EMBEDDING_DIMENSIONS);
    for _ in 0..ils_core::record::EMBEDDING_DIMENSIONS {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.push((x % 2001) as f32 / 1000.0 - 1.0);
    }
    let norm = v.iter().map(|a| a * a).sum::<f32>().sqrt().max(1e-6);
    let parts: Vec<String> = v.iter().map(|a| format!("{:.6}", a / norm)).collect();
    format!("[{}]", parts.join(","))
}

/// Writes `passages` passages with vectors straight into ILS Central's knowledge base, in
/// documents of 100, and a change for each document into the feed after `after`.
async fn seed_kb(app: &TestApp, company: &str, user: &str, model: &str, passages: u64) -> Duration {
    let started = Instant::now();
    let owner = app.owner_pool().await;
    let device = DeviceId::new(0xbe4c_0000_0000_0004).expect("device");
    let user: UserId = user.parse().expect("user");
    let now = chrono::Utc::now();
    let per_document = 100u64;
    let documents = passages.div_ceil(per_document);
    let mut seq = 0i64;
    for d in 0..documents {
        let n = per_document.min(passages - d * per_document);
        let record = DocumentRecord {
            id: ils_core::DocumentId::new(),
            source: format!("manuals/manual-{d:05}.md"),
            title: format!("Manual {d}"),
            format: DocumentFormat::Markdown,
            sha256: format!("{d:064x}"),
            byte_size: n * 601,
            model: model.to_owned(),
            chunks: u32::try_from(n).expect("n"),
            ingested_by: Some(user),
            created_at: now,
            updated_at: now,
            passages: None,
        };
        let id = record.id.into_uuid();
        sqlx::query(
            "INSERT INTO kb_documents (company_id, id, source, title, format, content_sha256, bytes, chunks, model, created_by)
             VALUES ($1::uuid, $2, $3, $4, 'markdown', $5, $6, $7, $8, $9)",
        )
        .bind(company)
        .bind(id)
        .bind(&record.source)
        .bind(&record.title)
        .bind(&record.sha256)
        .bind(i64::try_from(record.byte_size).expect("size"))
        .bind(i32::try_from(n).expect("n"))
        .bind(model)
        .bind(user.into_uuid())
        .execute(&owner)
        .await
        .expect("document");
        let ordinals: Vec<i32> = (0..n).map(|k| i32::try_from(k).expect("k")).collect();
        let texts: Vec<String> = (0..n).map(|k| passage_text(d * per_document + k)).collect();
        let starts: Vec<i32> = (0..n).map(|k| i32::try_from(k * 601).expect("k")).collect();
        let ends: Vec<i32> = texts
            .iter()
            .zip(&starts)
            .map(|(t, s)| s + i32::try_from(t.len()).expect("len"))
            .collect();
        let vectors: Vec<String> = (0..n).map(|k| vector_text(d * per_document + k)).collect();
        sqlx::query(
            "INSERT INTO kb_chunks (company_id, id, document_id, ordinal, heading, text, byte_start, byte_end, embedding)
             SELECT $1::uuid, gen_random_uuid(), $2, o, 'Manual', t, s, e, v::vector
             FROM unnest($3::int[], $4::text[], $5::int[], $6::int[], $7::text[]) AS x(o, t, s, e, v)",
        )
        .bind(company)
        .bind(id)
        .bind(&ordinals)
        .bind(&texts)
        .bind(&starts)
        .bind(&ends)
        .bind(&vectors)
        .execute(&owner)
        .await
        .expect("chunks");
        sqlx::query(ils_server::store::kb::COUNT_DOCUMENT)
            .bind(uuid::Uuid::parse_str(company).expect("company id"))
            .bind(id)
            .execute(&owner)
            .await
            .expect("word counts");
        let change = Change::stamp(
            ChangeDraft::upsert(Record::Document(record)),
            ChangeId::new(),
            HlcStamp {
                wall_ms: 1_764_000_000_000 + d,
                counter: 0,
                device: device.get(),
            },
            device,
            user,
        );
        seq += 1;
        sqlx::query(
            "INSERT INTO sync_feed (company_id, seq, change_id, device, entity, entity_id, operation, hlc, change)
             VALUES ($1::uuid, $2, $3, $4, 'document', $5, 'upsert', $6, $7)",
        )
        .bind(company)
        .bind(seq)
        .bind(change.id.into_uuid())
        .bind(device.to_string())
        .bind(change.entity_id)
        .bind(change.hlc.to_string())
        .bind(change.encode())
        .execute(&owner)
        .await
        .expect("feed");
    }
    sqlx::query(
        "INSERT INTO sync_heads (company_id, seq, hlc) VALUES ($1::uuid, $2, '')
         ON CONFLICT (company_id) DO UPDATE SET seq = excluded.seq",
    )
    .bind(company)
    .bind(seq)
    .execute(&owner)
    .await
    .expect("head");
    started.elapsed()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(bench());
}

async fn bench() {
    let records = env_or("ILS_BENCH_SYNC_RECORDS", 1_000_000);
    let pushed = env_or("ILS_BENCH_SYNC_PUSH", 20_000);
    let rounds = env_or("ILS_BENCH_SYNC_ROUNDS", 50);
    println!(
        "sync benchmark on {} ({} CPUs)",
        cpu_model(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let app = TestApp::spawn_with(|s| {
        s.rate_limits.api_per_minute.enterprise = 100_000_000;
    })
    .await;
    let tenant = app
        .create_tenant("syncbench", SubscriptionTier::Enterprise)
        .await;
    let company = app.get("/api/me", &tenant.admin_token).await.body["company_id"]
        .as_str()
        .expect("company")
        .to_owned();
    let (user_id, email) = user(&app, &tenant, "ada").await;

    // 1. Initial sync of a new device.
    let seeded = seed_feed(&app, &company, &user_id, records).await;
    println!(
        "seeded {records} patient changes into the feed in {:.1} s",
        seeded.as_secs_f64()
    );
    let first = Desk::new();
    connect(&app, &tenant, &first, &email, "First").await;
    // The server's part alone: every page fetched and parsed, nothing applied.
    let device = first.run(|e| e.sync_state().expect("state").device).await;
    let token = app.login(&tenant.domain, &email, PASSWORD).await;
    let started = Instant::now();
    let (mut cursor, mut fetched) = (0i64, 0usize);
    loop {
        let page = app
            .get(
                &format!("/api/sync/pull?device={device}&cursor={cursor}&limit=1000"),
                &token,
            )
            .await;
        fetched += page.body["changes"].as_array().map_or(0, Vec::len);
        cursor = page.body["cursor"].as_i64().expect("cursor");
        if !page.body["more"].as_bool().unwrap_or(false) {
            break;
        }
    }
    let took = started.elapsed();
    println!(
        "pull, server side only (pages of 1,000 fetched and parsed, not applied): {fetched} in {:.2} s = {:.0} records/s",
        took.as_secs_f64(),
        fetched as f64 / took.as_secs_f64()
    );
    let started = Instant::now();
    let report = first.run(|e| e.sync_now()).await.expect("initial sync");
    let took = started.elapsed();
    let rate = report.pulled.applied as f64 / took.as_secs_f64();
    println!(
        "initial sync: {} records in {:.2} s = {:.0} records/s ({:.2}x the peers' 20,000 ops/s; goal: 1M in 30 s = 33,333/s)",
        report.pulled.applied,
        took.as_secs_f64(),
        rate,
        rate / PEER_OPS_PER_SEC
    );
    drop(first);

    // 2. Steady push.
    let pusher = Desk::new();
    connect(&app, &tenant, &pusher, &email, "Pusher").await;
    // Caught up first, so that the push is measured alone.
    pusher.run(|e| e.sync_now()).await.expect("caught up");
    let started = Instant::now();
    pusher
        .run(move |e| {
            for i in 0..pushed {
                e.add_patient(&patient_data(10_000_000 + i))
                    .expect("patient");
            }
        })
        .await;
    let local = started.elapsed();
    let started = Instant::now();
    let report = pusher.run(|e| e.sync_now()).await.expect("push");
    let took = started.elapsed();
    let rate = report.pushed.applied as f64 / took.as_secs_f64();
    println!(
        "offline writes: {pushed} patients in {:.2} s = {:.0}/s; push: {} changes in {:.2} s = {:.0} changes/s ({:.2}x the peers' 20,000 ops/s)",
        local.as_secs_f64(),
        pushed as f64 / local.as_secs_f64(),
        report.pushed.applied,
        took.as_secs_f64(),
        rate,
        rate / PEER_OPS_PER_SEC
    );

    // 3. Visibility of a change on another device.
    let a = pusher;
    let b = Desk::new();
    connect(&app, &tenant, &b, &email, "B").await;
    b.run(|e| e.sync_now()).await.expect("b catches up");
    let target = a
        .run(|e| {
            e.add_patient(&patient_data(20_000_000))
                .expect("patient")
                .id
        })
        .await;
    a.run(|e| e.sync_now()).await.expect("a");
    b.run(|e| e.sync_now()).await.expect("b");
    let mut seen = Vec::new();
    for round in 0..rounds {
        let waiting = b.spawn(|e| e.sync_wait(Duration::from_secs(10)));
        // B's long poll reaches ILS Central before A changes anything.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let started = Instant::now();
        let phone = format!("+44 20 7946 {:04}", round % 10_000);
        let expected = phone.clone();
        a.run(move |e| {
            let changes: PatientChanges =
                serde_json::from_value(json!({"phone": phone})).expect("changes");
            e.update_patient(target, &changes).expect("update");
            e.sync_now().expect("push")
        })
        .await;
        waiting.await.expect("b's task").expect("b pulled");
        let applied = b
            .run(move |e| e.patient(target).expect("patient").data.phone)
            .await;
        seen.push(started.elapsed());
        assert_eq!(applied.as_deref(), Some(expected.as_str()), "round {round}");
    }
    seen.sort();
    println!(
        "a change on device A visible on device B (long poll): p50 {:.1} ms, p99 {:.1} ms over {rounds} rounds (goal: p50 < 1 s)",
        percentile(&seen, 0.5).as_secs_f64() * 1000.0,
        percentile(&seen, 0.99).as_secs_f64() * 1000.0
    );
    drop(a);
    drop(b);

    // 4. The knowledge base of a new device, with its vectors.
    let passages = env_or("ILS_BENCH_SYNC_PASSAGES", 100_000);
    let kb_tenant = app
        .create_tenant("kbbench", SubscriptionTier::Enterprise)
        .await;
    let kb_company = app.get("/api/me", &kb_tenant.admin_token).await.body["company_id"]
        .as_str()
        .expect("company")
        .to_owned();
    let (kb_user, kb_email) = user(&app, &kb_tenant, "kb").await;
    let model_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../models")
        .join(ils_node::engine::MODEL_FOLDER);
    let embedder = ils_ai::Embedder::load(&model_dir).expect("the model (make setup)");
    let model = ils_node::kb::model_tag(&embedder);
    let seeded = seed_kb(&app, &kb_company, &kb_user, &model, passages).await;
    println!(
        "seeded {passages} passages with vectors into ILS Central's knowledge base in {:.1} s",
        seeded.as_secs_f64()
    );
    let device = Desk::new();
    connect(&app, &kb_tenant, &device, &kb_email, "Librarian").await;
    let started = Instant::now();
    let report = device.run(|e| e.sync_now()).await.expect("kb sync");
    let took = started.elapsed();
    let held: i64 = device
        .run(|e| {
            e.documents()
                .expect("documents")
                .iter()
                .map(|d| d.chunks)
                .sum()
        })
        .await;
    assert_eq!(u64::try_from(held).unwrap_or(0), passages, "{report:?}");
    // The baseline: embedding every passage on the device instead.
    let sample: Vec<String> = (0..512).map(passage_text).collect();
    let refs: Vec<&str> = sample.iter().map(String::as_str).collect();
    let embed_started = Instant::now();
    for batch in refs.chunks(32) {
        embedder.embed(batch).expect("embed");
    }
    let per_second = 512.0 / embed_started.elapsed().as_secs_f64();
    let embedding = passages as f64 / per_second;
    println!(
        "knowledge base: {passages} passages with vectors synced to a new device in {:.2} s = {:.0} passages/s; embedding them on the device instead ({per_second:.0} passages/s measured on 512) would take {embedding:.0} s: sync is {:.1}x faster",
        took.as_secs_f64(),
        passages as f64 / took.as_secs_f64(),
        embedding / took.as_secs_f64()
    );
}
