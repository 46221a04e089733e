//! The knowledge base on ILS Central: documents in, passages out, per tenant only; a small
//! tenant gets its full top k from the shared index; refusals are clear.

use base64::Engine as _;
use ils_core::{Role, SubscriptionTier};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{Tenant, TestApp};

fn upload(source: &str, text: &str) -> Value {
    json!({
        "source": source,
        "content_base64": base64::engine::general_purpose::STANDARD.encode(text),
    })
}

const SPORTS: &str = "# Children's sports glasses\n\nFor children's sports glasses we fit \
polycarbonate or Trivex lenses: they resist impact and block UV. Frames with a strap stay on \
during football.\n\n# Opening hours\n\nThe practice opens at nine on weekdays and at ten on \
Saturdays.\n";

async fn search(app: &TestApp, token: &str, q: &str, mode: &str) -> Vec<Value> {
    let reply = app
        .get(
            &format!("/api/kb/search?q={}&mode={mode}&limit=5", urlencode(q)),
            token,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    reply.body.as_array().expect("hits").clone()
}

/// A query-string value, percent-encoded.
pub fn urlencode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn tenant_with_ecp(app: &TestApp, label: &str) -> (Tenant, String) {
    let tenant = app.create_tenant(label, SubscriptionTier::Pro).await;
    let (_, ecp) = app.add_user(&tenant, Role::Ecp).await;
    (tenant, ecp)
}

#[tokio::test]
async fn documents_in_passages_out_replaced_and_removed() {
    let app = TestApp::spawn().await;
    let (t, ecp) = tenant_with_ecp(&app, "kb").await;
    let added = app
        .post(
            "/api/kb/documents",
            &t.admin_token,
            upload("handbook/sports.md", SPORTS),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{:?}", added.body);
    let id = added.body["id"].as_str().expect("id").to_owned();
    assert_eq!(added.body["title"], "Children's sports glasses");
    assert_eq!(added.body["format"], "markdown");
    assert!(added.body["chunks"].as_i64().expect("chunks") >= 1);
    assert!(
        added.body["model"]
            .as_str()
            .expect("model")
            .starts_with("all-MiniLM-L6-v2@")
    );

    for mode in ["hybrid", "vector", "keyword"] {
        let hits = search(
            &app,
            &ecp,
            "Which lenses suit children's sports glasses?",
            mode,
        )
        .await;
        assert!(!hits.is_empty(), "{mode}");
        assert_eq!(hits[0]["document_id"], id.as_str(), "{mode}");
        assert!(
            hits[0]["text"]
                .as_str()
                .expect("text")
                .contains("polycarbonate"),
            "{mode}"
        );
    }
    // A paraphrase with no shared word still finds it by meaning.
    let hits = search(
        &app,
        &ecp,
        "impact resistant eyewear for kids playing football",
        "vector",
    )
    .await;
    assert!(hits[0]["text"].as_str().expect("text").contains("Trivex"));

    // The same source replaces the document, keeping its id.
    let replaced = app
        .post(
            "/api/kb/documents",
            &t.admin_token,
            upload(
                "handbook/sports.md",
                "# Sports\n\nWe now recommend Trivex only.\n",
            ),
        )
        .await;
    assert_eq!(replaced.status, StatusCode::CREATED, "{:?}", replaced.body);
    assert_eq!(replaced.body["id"], id.as_str());
    let hits = search(&app, &ecp, "polycarbonate", "keyword").await;
    assert!(hits.is_empty(), "the old text is gone: {hits:?}");
    let listed = app.get("/api/kb/documents", &ecp).await;
    assert_eq!(listed.body.as_array().map(Vec::len), Some(1));
    assert_terms_match_passages(&app).await;

    assert_eq!(
        app.delete(&format!("/api/kb/documents/{id}"), &t.admin_token)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert!(search(&app, &ecp, "Trivex", "hybrid").await.is_empty());
    let trail = app
        .get("/api/audit?resource_type=document&limit=10", &t.admin_token)
        .await;
    let actions: Vec<&str> = trail.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|r| r["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "kb.document_delete",
            "kb.document_replace",
            "kb.document_add"
        ]
    );
    assert_terms_match_passages(&app).await;
}

/// `kb_terms` (kept by `store::kb`) says exactly how many passages hold each word.
async fn assert_terms_match_passages(app: &TestApp) {
    let owner = app.owner_pool().await;
    let (differences,): (i64,) = sqlx::query_as(
        "WITH kept AS (SELECT company_id, term, passages FROM kb_terms WHERE passages > 0),
              actual AS (SELECT c.company_id, t.term, count(*)::integer AS passages
                           FROM kb_chunks c, unnest(tsvector_to_array(c.tsv)) AS t(term)
                          GROUP BY 1, 2)
         SELECT count(*) FROM ((TABLE kept EXCEPT TABLE actual) UNION ALL
                               (TABLE actual EXCEPT TABLE kept)) d",
    )
    .fetch_one(&owner)
    .await
    .expect("terms");
    assert_eq!(differences, 0, "kb_terms and the passages disagree");
}

#[tokio::test]
async fn refusals_are_clear_and_write_nothing() {
    let app = TestApp::spawn().await;
    let (t, ecp) = tenant_with_ecp(&app, "kbbad").await;
    let (_, lab) = app.add_user(&t, Role::LabTech).await;
    let not_base64 = app
        .post(
            "/api/kb/documents",
            &t.admin_token,
            json!({"source": "a.md", "content_base64": "%%%"}),
        )
        .await;
    assert_eq!(not_base64.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(not_base64.fields(), ["content_base64"]);
    let docx = app
        .post("/api/kb/documents", &t.admin_token, upload("a.docx", "PK"))
        .await;
    assert_eq!(docx.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        docx.body["details"]["fields"][0]["code"],
        "kb.unsupported_file"
    );
    let binary = app
        .post(
            "/api/kb/documents",
            &t.admin_token,
            upload("a.txt", "ELF\u{0}\u{1}"),
        )
        .await;
    assert_eq!(
        binary.body["details"]["fields"][0]["code"],
        "kb.unreadable_file"
    );
    assert_eq!(
        app.post("/api/kb/documents", &ecp, upload("a.md", SPORTS))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/api/kb/search?q=lens", &lab).await.status,
        StatusCode::FORBIDDEN
    );
    let empty = app.get("/api/kb/search?q=%20", &ecp).await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    let too_many = app.get("/api/kb/search?q=lens&limit=500", &ecp).await;
    assert_eq!(too_many.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(too_many.fields(), ["limit"]);
    assert_eq!(app.get("/api/kb/documents", &ecp).await.body, json!([]));
}

#[tokio::test]
async fn another_tenants_passages_never_appear_and_a_small_tenant_gets_its_full_top_k() {
    // Embedding the large tenant's 150 passages takes about 20 s in a test build, alone on two
    // cores, and more beside the rest of the suite: more than the 30 s request deadline allows
    // at times. This test is about whose passages a search returns, not about speed.
    let app = TestApp::spawn_with(|s| s.http.request_timeout_ms = 180_000).await;
    let (small, small_ecp) = tenant_with_ecp(&app, "small").await;
    let (large, large_ecp) = tenant_with_ecp(&app, "large").await;
    // The large tenant: many passages closer to the question than any of the small tenant's,
    // so that the shared index's first candidates are all the large tenant's.
    let mut text = String::from("# Lens library\n\n");
    for i in 0..150 {
        text.push_str(&format!(
            "Progressive lenses with anti-reflective coating, case {i}. We fit progressive \
             lenses with an anti-reflective coating for presbyopia; the progressive corridor, the \
             anti-reflective coating on both surfaces and the fitting height are checked for \
             every progressive lens. Anti-reflective coating reduces glare on progressive lenses \
             when driving at night, and the progressive design is chosen for the wearer's \
             reading distance, intermediate distance and far distance. Progressive lenses with \
             anti-reflective coating are the practice's most common order, case {i} of many.\n\n"
        ));
    }
    text.push_str("The secret house blend is QUOKKA-7731-ZEBRA lens cleaner.\n");
    let big = app
        .post(
            "/api/kb/documents",
            &large.admin_token,
            upload("library.md", &text),
        )
        .await;
    assert_eq!(big.status, StatusCode::CREATED, "{:?}", big.body);
    let big_id = big.body["id"].as_str().expect("id").to_owned();
    assert!(
        big.body["chunks"].as_i64().expect("chunks") >= 100,
        "{:?}",
        big.body
    );
    // The small tenant: six short documents on other things.
    for (i, topic) in [
        "frame repairs",
        "opening hours",
        "parking",
        "gift vouchers",
        "staff rota",
        "cleaning cloths",
    ]
    .iter()
    .enumerate()
    {
        let doc = format!("# {topic}\n\nOur practice's notes on {topic}, number {i}.\n");
        let r = app
            .post(
                "/api/kb/documents",
                &small.admin_token,
                upload(&format!("n{i}.md"), &doc),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    for mode in ["vector", "hybrid"] {
        let hits = search(
            &app,
            &small_ecp,
            "progressive lenses with anti-reflective coating",
            mode,
        )
        .await;
        assert_eq!(
            hits.len(),
            5,
            "{mode}: the small tenant's full top 5 from the shared index"
        );
    }
    // Nothing of the large tenant reaches the small one, whatever it asks.
    for (q, mode) in [
        ("QUOKKA-7731-ZEBRA", "keyword"),
        ("QUOKKA-7731-ZEBRA", "hybrid"),
        ("secret house blend lens cleaner", "vector"),
    ] {
        for hit in search(&app, &small_ecp, q, mode).await {
            let text = hit["text"].as_str().expect("text");
            assert!(
                !text.contains("QUOKKA") && !text.contains("Lens note"),
                "{mode}: {text}"
            );
        }
    }
    let theirs = search(&app, &large_ecp, "QUOKKA-7731-ZEBRA", "keyword").await;
    assert!(
        theirs[0]["text"]
            .as_str()
            .expect("text")
            .contains("QUOKKA-7731-ZEBRA")
    );
    assert_eq!(
        app.delete(&format!("/api/kb/documents/{big_id}"), &small.admin_token)
            .await
            .status,
        StatusCode::NOT_FOUND,
        "another tenant's document is not found"
    );
    assert_eq!(
        app.get("/api/kb/documents", &small_ecp)
            .await
            .body
            .as_array()
            .map(Vec::len),
        Some(6)
    );

    // At this size the planner may scan the table exactly; on a large one it walks the shared
    // HNSW graph, whose first candidates here are all the large tenant's. Forced onto the
    // index, the service's query finds the small tenant's rows only with the iterative scan
    // it turns on.
    let owner = app.owner_pool().await;
    let probe: Vec<f32> = {
        let hits = search(
            &app,
            &large_ecp,
            "progressive lenses with anti-reflective coating",
            "vector",
        )
        .await;
        assert!(!hits.is_empty());
        let mut conn = owner.acquire().await.expect("conn");
        let (v,): (pgvector::Vector,) =
            sqlx::query_as("SELECT embedding FROM kb_chunks WHERE id = $1::uuid")
                .bind(hits[0]["chunk_id"].as_str().expect("id"))
                .fetch_one(&mut *conn)
                .await
                .expect("embedding");
        v.to_vec()
    };
    for (scan, expected_full) in [("off", false), ("relaxed_order", true)] {
        if scan == "off" && ils_testkit::on_citus() {
            // Each shard has a graph of its own, holding a few tenants: the small tenant's
            // passages are found even without the iterative scan.
            continue;
        }
        let mut tx = owner.begin().await.expect("tx");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "SET LOCAL enable_seqscan = off; SET LOCAL enable_sort = off; SET LOCAL enable_bitmapscan = off; SET LOCAL hnsw.iterative_scan = {scan}"
        )))
        .execute(&mut *tx)
        .await
        .expect("settings");
        let rows: Vec<(uuid::Uuid, f64)> = sqlx::query_as(ils_server::store::kb::VECTOR_SEARCH)
            .bind(uuid::Uuid::parse_str(&small.id).expect("uuid"))
            .bind(pgvector::Vector::from(probe.clone()))
            .bind(5_i64)
            .fetch_all(&mut *tx)
            .await
            .expect("search");
        assert_eq!(
            rows.len() == 5,
            expected_full,
            "iterative scan {scan}: {} rows",
            rows.len()
        );
    }
}

#[tokio::test]
async fn common_words_weigh_in_but_the_rare_ones_choose_the_passages() {
    let app = TestApp::spawn().await;
    let (tenant, ecp) = tenant_with_ecp(&app, "common").await;
    // 700 passages that all say "lenses" (more than COMMON_WORD_PASSAGES), written in bulk, and
    // one that also names a rare coating.
    let owner = app.owner_pool().await;
    let document = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO kb_documents (company_id, id, source, title, format, content_sha256, bytes, chunks, model)
         VALUES ($1::uuid, $2, 'bulk.txt', 'Bulk', 'text', repeat('0', 64), 0, 701, 'test')",
    )
    .bind(&tenant.id)
    .bind(document)
    .execute(&owner)
    .await
    .expect("document");
    sqlx::query(
        "INSERT INTO kb_chunks (company_id, id, document_id, ordinal, heading, text, byte_start, byte_end, embedding)
         SELECT $1::uuid, gen_random_uuid(), $2, n, '',
                CASE WHEN n = 350 THEN 'Our lenses take the Zircoat hard coating.'
                     ELSE 'Lenses number ' || n || ' for everyday glasses.' END,
                0, 10, array_fill(0.05, ARRAY[384])::vector
         FROM generate_series(0, 700) n",
    )
    .bind(&tenant.id)
    .bind(document)
    .execute(&owner)
    .await
    .expect("chunks");
    // What `store::kb` does after writing a document's passages.
    sqlx::query(ils_server::store::kb::COUNT_DOCUMENT)
        .bind(uuid::Uuid::parse_str(&tenant.id).expect("uuid"))
        .bind(document)
        .execute(&owner)
        .await
        .expect("word counts");

    let hits = search(&app, &ecp, "lenses zircoat", "keyword").await;
    assert_eq!(
        hits.len(),
        1,
        "only the passage with the rare word is ranked: {hits:?}"
    );
    assert!(hits[0]["text"].as_str().expect("text").contains("Zircoat"));
    // Every word common: the passages holding all of them, still ranked.
    let hits = search(&app, &ecp, "lenses glasses", "keyword").await;
    assert_eq!(hits.len(), 5);
    assert!(
        hits.iter()
            .all(|h| h["text"].as_str().is_some_and(|t| t.contains("glasses")))
    );
    let hits = search(&app, &ecp, "lenses", "keyword").await;
    assert_eq!(hits.len(), 5);
    assert_terms_match_passages(&app).await;
}

#[tokio::test]
async fn the_keyword_search_function_serves_the_transactions_tenant_only() {
    let app = TestApp::spawn().await;
    let (a, _) = tenant_with_ecp(&app, "kw-a").await;
    let (b, _) = tenant_with_ecp(&app, "kw-b").await;
    assert_eq!(
        app.post("/api/kb/documents", &b.admin_token, upload("b.md", SPORTS))
            .await
            .status,
        StatusCode::CREATED
    );
    let service = app.service_pool(1).await;
    let call = |tenant: Option<String>, company: String| {
        let service = service.clone();
        async move {
            let mut tx = service.begin().await.expect("begin");
            if let Some(t) = tenant {
                sqlx::query("SELECT set_config('ils.company_id', $1, true)")
                    .bind(t)
                    .execute(&mut *tx)
                    .await
                    .expect("tenant");
            }
            sqlx::query_as::<_, (uuid::Uuid, f32)>(
                "SELECT * FROM ils_kb_keyword_search($1::uuid, ARRAY['children'], 5, 500, 2000)",
            )
            .bind(company)
            .fetch_all(&mut *tx)
            .await
        }
    };
    // As B, B's passages; as A (or as no one) asking for B's: refused, not empty.
    assert!(
        !call(Some(b.id.clone()), b.id.clone())
            .await
            .expect("own")
            .is_empty()
    );
    for tenant in [Some(a.id.clone()), None] {
        let refused = call(tenant, b.id.clone())
            .await
            .expect_err("another tenant's");
        assert!(
            refused
                .to_string()
                .contains("not this transaction's tenant"),
            "{refused}"
        );
    }
}
