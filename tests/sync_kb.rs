//! The knowledge base syncs: end to end, ILS Central on a real PostgreSQL over real HTTP, the
//! desktops on real SQLite files with the real embedding model.
//! - A document ingested on one device reaches ILS Central and the practice's other devices
//!   with its passages and vectors, and all three find it; nobody embeds it again (same model).
//! - A document added or deleted through the API reaches the devices.
//! - A document pushed in another model is embedded again on ILS Central: one practice's
//!   vectors never mix two models.
//! - A document that is malformed, or pushed by someone who does not manage the knowledge base,
//!   is refused with the API's codes.

#[path = "../crates/ils-server/tests/api/common.rs"]
mod common;
mod desk;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use base64::Engine as _;
use ils_core::change::{Change, ChangeDraft, Record};
use ils_core::record::{DocumentFormat, DocumentRecord, EMBEDDING_DIMENSIONS, Passage};
use ils_core::{ChangeId, DeviceId, DocumentId, Role, SubscriptionTier, UserId};
use ils_node::kb::SearchOptions;
use reqwest::StatusCode;
use serde_json::{Value, json};

use common::{Tenant, TestApp};
use desk::{Desk, connect, user};

const CARE: &str = "# Contact lens care\n\n## Cleaning\n\nRub and rinse soft lenses with fresh multipurpose solution every evening; never use tap water, which carries Acanthamoeba.\n\n## Storage\n\nReplace the lens case every three months and leave it open to air-dry.\n";

const FRAMES: &str = "# Frame adjustments\n\nTitanium frames are adjusted cold; acetate frames are warmed first in the frame heater at 60 degrees.\n";

async fn sync(desk: &Desk) -> ils_node::engine::SyncReport {
    desk.run(|e| e.sync_now()).await.expect("sync")
}

/// The sources a device's knowledge base holds.
async fn sources(desk: &Desk) -> Vec<String> {
    let mut s: Vec<String> = desk
        .run(|e| e.documents())
        .await
        .expect("documents")
        .into_iter()
        .map(|d| d.source)
        .collect();
    s.sort();
    s
}

/// The top passage a device finds for `q`.
async fn top(desk: &Desk, q: &'static str) -> Option<String> {
    desk.run(move |e| e.search_documents(q, SearchOptions::default()))
        .await
        .expect("search")
        .into_iter()
        .next()
        .map(|h| h.text)
}

async fn central_top(app: &TestApp, token: &str, q: &str) -> Option<String> {
    let reply = app
        .get(
            &format!("/api/kb/search?q={}&mode=vector", q.replace(' ', "+")),
            token,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    reply.body[0]["text"].as_str().map(str::to_owned)
}

/// A device registered by hand, to push changes a desktop would not make.
async fn raw_device(app: &TestApp, tenant: &Tenant, token: &str) -> DeviceId {
    let device = DeviceId::new(0x5eed_0000_0000_0001).expect("device");
    let code = app
        .post("/api/sync/device-codes", &tenant.admin_token, json!({}))
        .await;
    let reply = app
        .post(
            "/api/sync/devices",
            token,
            json!({"device": device.to_string(), "name": "Script", "code": code.body["code"]}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    device
}

fn document(model: &str, passages: &[&str], vector: &[f32]) -> DocumentRecord {
    let now = chrono::Utc::now();
    let mut at = 0u32;
    let passages: Vec<Passage> = passages
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let len = u32::try_from(text.len()).expect("len");
            let p = Passage {
                ordinal: u32::try_from(i).expect("i"),
                heading: "Returns".into(),
                text: (*text).to_owned(),
                byte_start: at,
                byte_end: at + len,
                vector: Passage::encode_vector(vector),
            };
            at += len + 1;
            p
        })
        .collect();
    DocumentRecord {
        id: DocumentId::new(),
        source: "policies/returns.md".into(),
        title: "Returns".into(),
        format: DocumentFormat::Markdown,
        sha256: "cd".repeat(32),
        byte_size: u64::from(at),
        model: model.into(),
        chunks: u32::try_from(passages.len()).expect("n"),
        ingested_by: None,
        created_at: now,
        updated_at: now,
        passages: Some(passages),
    }
}

async fn push_raw(
    app: &TestApp,
    token: &str,
    device: DeviceId,
    user: &str,
    d: DocumentRecord,
) -> Value {
    let change = Change::stamp(
        ChangeDraft::upsert(Record::Document(d)),
        ChangeId::new(),
        ils_core::hlc::HlcStamp {
            wall_ms: u64::try_from(chrono::Utc::now().timestamp_millis()).expect("now"),
            counter: 0,
            device: device.get(),
        },
        device,
        UserId::from(uuid::Uuid::parse_str(user).expect("user id")),
    );
    let wire: Value = serde_json::from_str(&change.encode()).expect("json");
    let reply = app
        .post(
            "/api/sync/push",
            token,
            json!({"protocol": 1, "device": device.to_string(), "changes": [wire]}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    reply.body["results"][0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_reach_ils_central_and_every_device_with_their_vectors() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("kb-sync", SubscriptionTier::Pro).await;
    let boss = user(&app, &tenant, Role::CompanyAdmin, "boss").await;
    let ecp = user(&app, &tenant, Role::Ecp, "ecp").await;
    let boss_token = app.login(&tenant.domain, &boss, common::PASSWORD).await;
    let a = Desk::new();
    let b = Desk::new();
    connect(&app, &tenant, &a, &boss, "Front desk").await;
    connect(&app, &tenant, &b, &ecp, "Exam room").await;

    // Ingested on A: ILS Central and B get it whole and find the same passage.
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("care.md");
    std::fs::write(&file, CARE).expect("write");
    let paths: Vec<PathBuf> = vec![file.clone()];
    let report = a
        .run(move |e| e.ingest(&paths, &mut |_| {}, &AtomicBool::new(false)))
        .await
        .expect("ingested");
    assert_eq!(report.ingested.len(), 1);
    let pushed = sync(&a).await;
    assert_eq!(
        (pushed.pushed.applied, pushed.pushed.rejected),
        (1, 0),
        "{pushed:?}"
    );
    let q = "what cleans soft lenses at night";
    let expected = top(&a, q).await.expect("A finds it");
    assert!(expected.contains("multipurpose solution"), "{expected}");
    assert_eq!(
        central_top(&app, &boss_token, q).await.as_deref(),
        Some(expected.as_str())
    );
    let pulled = sync(&b).await;
    assert_eq!(pulled.pulled.applied, 1, "{pulled:?}");
    assert_eq!(top(&b, q).await.as_deref(), Some(expected.as_str()));
    let on_a = a.run(|e| e.documents()).await.expect("docs");
    let on_b = b.run(|e| e.documents()).await.expect("docs");
    assert_eq!(
        (on_b[0].id.as_str(), on_b[0].chunks, on_b[0].model.as_str()),
        (on_a[0].id.as_str(), on_a[0].chunks, on_a[0].model.as_str()),
        "the same document, passages and model"
    );
    // The vectors came with it: ILS Central holds A's, to the last bit.
    let owner = app.owner_pool().await;
    let (vectors, same): (i64, bool) = sqlx::query_as(
        "SELECT count(*), bool_and(embedding IS NOT NULL) FROM kb_chunks WHERE company_id = $1::uuid",
    )
    .bind(&tenant.id)
    .fetch_one(&owner)
    .await
    .expect("chunks");
    assert_eq!(vectors, on_a[0].chunks);
    assert!(same);

    // Added and then deleted through the API: the devices follow.
    let added = app
        .post(
            "/api/kb/documents",
            &boss_token,
            json!({"source": "frames.md",
                   "content_base64": base64::engine::general_purpose::STANDARD.encode(FRAMES)}),
        )
        .await;
    assert!(added.status.is_success(), "{:?}", added.body);
    sync(&a).await;
    sync(&b).await;
    let all = vec!["frames.md".to_owned(), file.display().to_string()];
    let mut all_sorted = all.clone();
    all_sorted.sort();
    assert_eq!(sources(&a).await, all_sorted);
    assert_eq!(sources(&b).await, all_sorted);
    let heater = top(&b, "how are acetate frames warmed")
        .await
        .expect("found");
    assert!(heater.contains("frame heater"), "{heater}");
    let id = added.body["id"].as_str().expect("id").to_owned();
    let gone = app
        .send(
            reqwest::Method::DELETE,
            &format!("/api/kb/documents/{id}"),
            Some(&boss_token),
            None,
        )
        .await;
    assert!(gone.status.is_success(), "{:?}", gone.body);
    sync(&a).await;
    sync(&b).await;
    assert_eq!(sources(&a).await, vec![file.display().to_string()]);
    assert_eq!(sources(&b).await, vec![file.display().to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_in_another_model_is_embedded_again_and_a_bad_one_is_refused() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("kb-model", SubscriptionTier::Pro).await;
    let (boss_id, boss_token) = app.add_user(&tenant, Role::CompanyAdmin).await;
    let (ecp_id, ecp_token) = app.add_user(&tenant, Role::Ecp).await;
    let device = raw_device(&app, &tenant, &boss_token).await;

    // Another model's vectors (all 0.1): ILS Central embeds the passages again in its own.
    let doc = document(
        "another-model@7",
        &["Returns are accepted within 30 days with the receipt."],
        &[0.1; EMBEDDING_DIMENSIONS],
    );
    let id = doc.id.into_uuid();
    let result = push_raw(&app, &boss_token, device, &boss_id, doc.clone()).await;
    assert_eq!(result["status"], "applied", "{result}");
    let owner = app.owner_pool().await;
    let (model,): (String,) =
        sqlx::query_as("SELECT model FROM kb_documents WHERE company_id = $1::uuid AND id = $2")
            .bind(&tenant.id)
            .bind(id)
            .fetch_one(&owner)
            .await
            .expect("document");
    assert!(model.starts_with("all-MiniLM-L6-v2"), "{model}");
    let (first,): (f32,) = sqlx::query_as(
        "SELECT (embedding::real[])[1] FROM kb_chunks WHERE company_id = $1::uuid AND document_id = $2",
    )
    .bind(&tenant.id)
    .bind(id)
    .fetch_one(&owner)
    .await
    .expect("chunk");
    assert!(
        (first - 0.1).abs() > 1e-6,
        "embedded again, not taken as sent"
    );
    let found = central_top(&app, &boss_token, "can I bring glasses back after a month").await;
    assert!(found.is_some_and(|t| t.contains("30 days")));

    // A vector of the wrong length, or a document from someone who does not manage the
    // knowledge base: refused with the API's codes, nothing written.
    let mut bad = document(
        "all-MiniLM-L6-v2@x",
        &["Short."],
        &[0.1; EMBEDDING_DIMENSIONS],
    );
    bad.source = "bad.md".into();
    if let Some(p) = bad.passages.as_mut() {
        p[0].vector = Passage::encode_vector(&[0.1; 3]);
    }
    bad.model = model.clone();
    let result = push_raw(&app, &boss_token, device, &boss_id, bad).await;
    assert_eq!(result["status"], "rejected", "{result}");
    assert_eq!(result["code"], "kb.passages_invalid");
    let ecp_device = {
        let device = DeviceId::new(0x5eed_0000_0000_0003).expect("device");
        let code = app
            .post("/api/sync/device-codes", &tenant.admin_token, json!({}))
            .await;
        let reply = app
            .post(
                "/api/sync/devices",
                &ecp_token,
                json!({"device": device.to_string(), "name": "Exam", "code": code.body["code"]}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
        device
    };
    let mut theirs = document(&model, &["Frames."], &[0.2; EMBEDDING_DIMENSIONS]);
    theirs.source = "theirs.md".into();
    let result = push_raw(&app, &ecp_token, ecp_device, &ecp_id, theirs).await;
    assert_eq!(result["status"], "rejected", "{result}");
    assert_eq!(result["code"], "auth.forbidden");
    let (count,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM kb_documents WHERE company_id = $1::uuid")
            .bind(&tenant.id)
            .fetch_one(&owner)
            .await
            .expect("count");
    assert_eq!(count, 1);
}
