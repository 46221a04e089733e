//! The assistant on ILS Central against the loopback provider server: answers streamed as
//! server-sent events from the practice's own passages and recorded with the provider's usage;
//! another tenant's passages never reach a prompt or an answer; refusals before the stream.

use base64::Engine as _;
use ils_core::{Role, SubscriptionTier};
use ils_llm::ApiKey;
use ils_llm::config::ProviderSettings;
use ils_llm::loopback::{Failure, LoopbackServer, Script};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::TestApp;
use crate::kb::urlencode;

const KEY: &str = "sk-central-test";

async fn app_with(server: &LoopbackServer) -> TestApp {
    let base = server.openai_base();
    TestApp::spawn_with(move |s| {
        s.ai.providers = vec![ProviderSettings {
            name: "loopback".into(),
            kind: "openai".into(),
            base_url: base,
            api_key: Some(ApiKey::new(KEY)),
            api_key_env: None,
            models: vec!["gpt-central".into()],
            vision_models: vec![],
            first_token_timeout_secs: Some(5),
            total_timeout_secs: Some(20),
        }];
    })
    .await
}

/// The practice's document about children's sports glasses, added by its administrator.
async fn add_sports_document(app: &TestApp, admin_token: &str) {
    let added = app
        .post(
            "/api/kb/documents",
            admin_token,
            upload("sports.md", SPORTS),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{:?}", added.body);
}

fn upload(source: &str, text: &str) -> Value {
    json!({"source": source, "content_base64": base64::engine::general_purpose::STANDARD.encode(text)})
}

/// The events of a chat: (name, data).
async fn chat(app: &TestApp, token: &str, body: Value) -> (StatusCode, Vec<(String, Value)>) {
    let response = app
        .client
        .post(format!("{}/api/master-ai/chat", app.base))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("sent");
    let status = response.status();
    let bytes = response.bytes().await.expect("body");
    if status != StatusCode::OK {
        return (
            status,
            vec![(
                "error".into(),
                serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            )],
        );
    }
    let mut decoder = ils_llm::sse::Decoder::new();
    let mut events: Vec<(String, Value)> = decoder
        .feed(&bytes)
        .expect("event stream")
        .into_iter()
        .map(|e| {
            (
                e.event.unwrap_or_default(),
                serde_json::from_str(&e.data).expect("json"),
            )
        })
        .collect();
    if let Some(e) = decoder.finish().expect("end") {
        events.push((
            e.event.unwrap_or_default(),
            serde_json::from_str(&e.data).expect("json"),
        ));
    }
    (status, events)
}

fn text_of(events: &[(String, Value)]) -> String {
    events
        .iter()
        .filter(|(name, _)| name == "delta")
        .filter_map(|(_, d)| d["text"].as_str())
        .collect()
}

/// role, model, prompt tokens, outcome, passages.
type MessageRow = (String, Option<String>, Option<i32>, Option<String>, i32);

const SPORTS: &str = "# Children's sports glasses\n\nFor children's sports glasses we fit polycarbonate or Trivex lenses: they resist impact and block UV.\n";

#[tokio::test]
async fn an_answer_streams_from_the_practices_passages_and_is_recorded() {
    let server = LoopbackServer::start(Some(KEY)).await.expect("loopback");
    let app = app_with(&server).await;
    let tenant = app.create_tenant("chat", SubscriptionTier::Pro).await;
    let (_, ecp) = app.add_user(&tenant, Role::Ecp).await;
    add_sports_document(&app, &tenant.admin_token).await;
    server.script(
        "gpt-central",
        Script::answer("Polycarbonate or Trivex [1]."),
    );

    let (status, events) = chat(
        &app,
        &ecp,
        json!({"question": "Which lenses for children's sports glasses?"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{events:?}");
    assert_eq!(events.first().map(|e| e.0.as_str()), Some("passages"));
    let conversation = events[0].1["conversation_id"]
        .as_str()
        .expect("conversation")
        .to_owned();
    assert_eq!(
        events[0].1["citations"][0]["document"],
        "Children's sports glasses"
    );
    assert_eq!(events[0].1["answerability"]["verdict"], "answered");
    assert_eq!(text_of(&events), "Polycarbonate or Trivex [1].");
    let done = &events.last().expect("done").1;
    assert_eq!(events.last().expect("done").0, "done");
    assert_eq!(done["outcome"], "answered");
    assert_eq!(done["cited"], json!([1]), "the answer cites its passage");
    assert_eq!(done["model"], "gpt-central");
    assert_eq!(done["usage"]["input_tokens"], 42);

    let sent = server.received();
    assert_eq!(
        sent[0].headers["authorization"],
        format!("Bearer {KEY}").as_str()
    );
    let user = sent[0].body["messages"]
        .as_array()
        .expect("messages")
        .last()
        .expect("user")["content"]
        .as_str()
        .expect("text")
        .to_owned();
    assert!(
        user.contains("<passage n=\"1\" source=\"Children's sports glasses\">")
            && user.contains("Trivex"),
        "{user}"
    );

    let owner = app.owner_pool().await;
    let rows: Vec<MessageRow> = sqlx::query_as(
        "SELECT role, model, prompt_tokens, outcome, cardinality(passage_ids) FROM ai_messages
         WHERE conversation_id = $1::uuid ORDER BY created_at, id",
    )
    .bind(&conversation)
    .fetch_all(&owner)
    .await
    .expect("messages");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].0, "user");
    assert_eq!(
        rows[1],
        (
            "assistant".into(),
            Some("gpt-central".into()),
            Some(42),
            Some("answered".into()),
            1
        )
    );

    // The conversation continues with its history; another user of the practice cannot.
    server.script("gpt-central", Script::answer("Yes, with a strap."));
    let (_, again) = chat(
        &app,
        &ecp,
        json!({"question": "And for football?", "conversation_id": conversation}),
    )
    .await;
    assert_eq!(text_of(&again), "Yes, with a strap.");
    assert_eq!(
        server.received()[1].body["messages"]
            .as_array()
            .map(Vec::len),
        Some(4)
    );
    let (_, other) = app.add_user(&tenant, Role::Ecp).await;
    let (status, _) = chat(
        &app,
        &other,
        json!({"question": "And?", "conversation_id": conversation}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, lab) = app.add_user(&tenant, Role::LabTech).await;
    assert_eq!(
        chat(&app, &lab, json!({"question": "Hello?"})).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        chat(&app, &ecp, json!({"question": "  "})).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[tokio::test]
async fn another_tenants_passages_never_reach_a_prompt_or_an_answer() {
    let server = LoopbackServer::start(Some(KEY)).await.expect("loopback");
    let app = app_with(&server).await;
    let a = app.create_tenant("alpha", SubscriptionTier::Pro).await;
    let b = app.create_tenant("beta", SubscriptionTier::Pro).await;
    let (_, a_ecp) = app.add_user(&a, Role::Ecp).await;
    let (_, b_ecp) = app.add_user(&b, Role::Ecp).await;
    add_sports_document(&app, &a.admin_token).await;
    // B's documents speak of what A asks about, each with a string found nowhere else.
    let markers = ["WOMBAT-4417-HERON", "QUOKKA-2093-EGRET", "NUMBAT-7781-IBIS"];
    let topics = [
        "lens cleaner for children's sports glasses",
        "polycarbonate lenses and Trivex for football",
        "anti-reflective coating on sports frames",
    ];
    for (i, (marker, topic)) in markers.iter().zip(topics).enumerate() {
        let text = format!(
            "# House notes {i}\n\nOur {topic}: always ask for {marker}. {marker} is our \
             practice's own choice for {topic}.\n"
        );
        let added = app
            .post(
                "/api/kb/documents",
                &b.admin_token,
                upload(&format!("house-{i}.md"), &text),
            )
            .await;
        assert_eq!(added.status, StatusCode::CREATED, "{:?}", added.body);
    }
    let mut questions: Vec<String> = markers.iter().map(|m| (*m).to_owned()).collect();
    questions.extend(topics.iter().map(|t| (*t).to_owned()));
    questions.extend(
        [
            "House notes",
            "What does our practice always ask for?",
            "Which lenses for children's sports glasses?",
            "our own choice",
            "cleaner",
            "Trivex football coating frames",
        ]
        .map(str::to_owned),
    );
    let foreign =
        |text: &str| markers.iter().any(|m| text.contains(m)) || text.contains("House notes");
    let mut conversations = 0;
    for question in &questions {
        for mode in ["hybrid", "vector", "keyword"] {
            let url = format!(
                "/api/kb/search?q={}&mode={mode}&limit=20",
                urlencode(question)
            );
            let hits = app.get(&url, &a_ecp).await;
            assert_eq!(hits.status, StatusCode::OK, "{:?}", hits.body);
            assert!(
                !foreign(&hits.body.to_string()),
                "{mode} {question}: {}",
                hits.body
            );
        }
        let (status, mut events) = chat(&app, &a_ecp, json!({"question": question})).await;
        assert_eq!(status, StatusCode::OK);
        conversations += 1;
        // The judgement of whether A's documents answer names only codes of the question A
        // typed, and B's documents do not vouch for B's markers: unknown to A.
        let judged = events[0].1["answerability"].take();
        for id in judged["identifiers"].as_array().into_iter().flatten() {
            assert!(question.contains(id.as_str().expect("text")), "{judged}");
        }
        if markers.contains(&question.as_str()) {
            assert_eq!(judged["verdict"], "unknown_identifiers", "{question}");
        }
        // Only the passages and the answer: the question A typed is not in these events.
        assert!(
            !foreign(&serde_json::to_string(&events).expect("json")),
            "{events:?}"
        );
    }
    let sent = server.received();
    assert_eq!(sent.len(), conversations);
    for (request, question) in sent.iter().zip(&questions) {
        // The prompt holds A's question as typed and nothing else of B's.
        let prompt = request.body["messages"].to_string().replace(question, "");
        assert!(!foreign(&prompt), "{prompt}");
    }
    // A's records of those turns: messages, audit trail, export.
    let owner = app.owner_pool().await;
    let answers: Vec<(String,)> = sqlx::query_as(
        "SELECT content FROM ai_messages WHERE company_id = $1::uuid AND role = 'assistant'",
    )
    .bind(&a.id)
    .fetch_all(&owner)
    .await
    .expect("messages");
    assert_eq!(answers.len(), conversations);
    assert!(answers.iter().all(|(text,)| !foreign(text)));
    let audit: Vec<(String,)> =
        sqlx::query_as("SELECT to_jsonb(t)::text FROM audit_log t WHERE company_id = $1::uuid")
            .bind(&a.id)
            .fetch_all(&owner)
            .await
            .expect("audit");
    assert!(audit.iter().all(|(row,)| !foreign(row)));
    let export = app.get("/api/company/export", &a.admin_token).await;
    assert!(
        !export.body["tables"]["kb_chunks"]
            .to_string()
            .contains("WOMBAT")
    );

    // B's conversation is not A's to continue.
    let (_, b_events) = chat(&app, &b_ecp, json!({"question": "Which cleaner?"})).await;
    let b_conversation = b_events[0].1["conversation_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (status, _) = chat(
        &app,
        &a_ecp,
        json!({"question": "And?", "conversation_id": b_conversation}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        foreign(&b_events[0].1.to_string()),
        "B's own passages do reach B, so the checks above could fail"
    );
}

#[tokio::test]
async fn without_a_model_the_passages_are_shown_and_said_so() {
    let server = LoopbackServer::start(Some(KEY)).await.expect("loopback");
    let app = app_with(&server).await;
    let tenant = app.create_tenant("down", SubscriptionTier::Pro).await;
    let (_, ecp) = app.add_user(&tenant, Role::Ecp).await;
    add_sports_document(&app, &tenant.admin_token).await;
    server.set_default(Script::failing(Failure::Status {
        status: 400,
        retry_after: None,
    }));
    let (_, events) = chat(&app, &ecp, json!({"question": "Which lenses for sports?"})).await;
    assert_eq!(events.last().expect("done").1["outcome"], "unreachable");
    let text = text_of(&events);
    assert!(
        text.starts_with("No model could be reached")
            && text.contains("[1] Children's sports glasses"),
        "{text}"
    );

    // A service with no model set up answers from the passages too.
    let offline = TestApp::spawn().await;
    let t = offline
        .create_tenant("offline", SubscriptionTier::Pro)
        .await;
    let (_, ecp) = offline.add_user(&t, Role::Ecp).await;
    add_sports_document(&offline, &t.admin_token).await;
    let (_, events) = chat(
        &offline,
        &ecp,
        json!({"question": "Which lenses for sports?"}),
    )
    .await;
    assert_eq!(events.last().expect("done").1["outcome"], "offline");
    assert!(text_of(&events).contains("polycarbonate"));
}

#[tokio::test]
async fn each_change_of_the_configuration_is_a_version_the_answers_record() {
    let server = LoopbackServer::start(Some(KEY)).await.expect("loopback");
    let app = app_with(&server).await;
    let tenant = app.create_tenant("versions", SubscriptionTier::Pro).await;
    let (_, ecp) = app.add_user(&tenant, Role::Ecp).await;
    let company = app.get("/api/company", &tenant.admin_token).await;
    assert_eq!(company.body["ai_config_version"], 1);
    let (_, first) = chat(&app, &ecp, json!({"question": "Hello?"})).await;
    let first_conversation = first[0].1["conversation_id"]
        .as_str()
        .expect("id")
        .to_owned();

    let mut config = company.body["ai_config"].clone();
    config["system_prompt"] = json!("Answer in two sentences at most.");
    let changed = app
        .patch(
            "/api/company",
            &tenant.admin_token,
            json!({"ai_config": config}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{:?}", changed.body);
    assert_eq!(changed.body["ai_config_version"], 2);
    let same = app
        .patch(
            "/api/company",
            &tenant.admin_token,
            json!({"ai_config": config}),
        )
        .await;
    assert_eq!(
        same.body["ai_config_version"], 2,
        "the same configuration again is no new version"
    );
    let renamed = app
        .patch(
            "/api/company",
            &tenant.admin_token,
            json!({"name": "Renamed"}),
        )
        .await;
    assert_eq!(renamed.body["ai_config_version"], 2);

    let (_, second) = chat(&app, &ecp, json!({"question": "Hello again?"})).await;
    let second_conversation = second[0].1["conversation_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let sent = server.received();
    let system = sent.last().expect("sent").body["messages"][0]["content"]
        .as_str()
        .expect("system")
        .to_owned();
    assert!(
        system.ends_with("Answer in two sentences at most."),
        "{system}"
    );
    let owner = app.owner_pool().await;
    for (conversation, version) in [(first_conversation, 1), (second_conversation, 2)] {
        let (recorded,): (Option<i32>,) = sqlx::query_as(
            "SELECT config_version FROM ai_messages WHERE conversation_id = $1::uuid AND role = 'assistant'",
        )
        .bind(&conversation)
        .fetch_one(&owner)
        .await
        .expect("message");
        assert_eq!(recorded, Some(version));
    }
}

#[tokio::test]
async fn a_ready_fine_tuned_model_takes_its_practices_requests_and_no_one_elses() {
    let server = LoopbackServer::start(Some(KEY)).await.expect("loopback");
    let app = app_with(&server).await;
    let tenant = app.create_tenant("tuned", SubscriptionTier::Pro).await;
    let other = app.create_tenant("untuned", SubscriptionTier::Pro).await;
    let (_, ecp) = app.add_user(&tenant, Role::Ecp).await;
    let (_, other_ecp) = app.add_user(&other, Role::Ecp).await;
    let admin = &tenant.admin_token;
    let tuned = "ft:gpt-central:tuned::a1";
    // Every model answers this unless scripted otherwise for one request.
    server.set_default(Script::answer("From the shared model."));
    let path = "/api/master-ai/fine-tuned-models";

    // Refusals first: every field named, the providers listed; only administrators.
    let bad = app
        .post(
            path,
            admin,
            json!({"base_model": "", "provider": "azure", "provider_model_id": "has spaces",
                   "purpose": "prescription_capture"}),
        )
        .await;
    assert_eq!(
        bad.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        bad.body
    );
    let mut fields = bad.fields();
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["base_model", "provider", "provider_model_id", "vision"]
    );
    assert!(bad.body.to_string().contains("loopback"), "{}", bad.body);
    let body = json!({"base_model": "gpt-central", "provider": "loopback",
                      "provider_model_id": tuned, "purpose": "chat"});
    assert_eq!(
        app.post(path, &ecp, body.clone()).await.status,
        StatusCode::FORBIDDEN
    );

    let registered = app.post(path, admin, body.clone()).await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{:?}",
        registered.body
    );
    assert_eq!(registered.body["status"], "training");
    let id = registered.body["id"].as_str().expect("id").to_owned();
    let location = format!("{path}/{id}");
    assert_eq!(registered.headers["location"], location.as_str());
    assert_eq!(
        app.post(path, admin, body).await.status,
        StatusCode::CONFLICT
    );

    // Training: the shared model answers.
    let (_, events) = chat(&app, &ecp, json!({"question": "Hello?"})).await;
    assert_eq!(text_of(&events), "From the shared model.");

    // Another practice cannot see, move or delete it.
    let foreign = app.get(path, &other.admin_token).await;
    assert_eq!(foreign.body, json!([]));
    let moved = app
        .patch(&location, &other.admin_token, json!({"status": "ready"}))
        .await;
    assert_eq!(moved.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.delete(&location, &other.admin_token).await.status,
        StatusCode::NOT_FOUND
    );

    // Ready: this practice's questions go to it, the other practice's do not.
    let ready = app
        .patch(&location, admin, json!({"status": "ready"}))
        .await;
    assert_eq!(ready.status, StatusCode::OK, "{:?}", ready.body);
    assert!(ready.body["deployed_at"].is_string());
    server.script(tuned, Script::answer("From the practice's own model."));
    let (_, events) = chat(&app, &ecp, json!({"question": "Hello?"})).await;
    assert_eq!(text_of(&events), "From the practice's own model.");
    assert_eq!(events.last().expect("done").1["model"], tuned);
    assert_eq!(server.received().last().expect("sent").body["model"], tuned);
    let (_, events) = chat(&app, &other_ecp, json!({"question": "Hello?"})).await;
    assert_eq!(text_of(&events), "From the shared model.");

    // When the provider refuses it, the shared model still answers.
    server.script(
        tuned,
        Script::failing(Failure::Status {
            status: 404,
            retry_after: None,
        }),
    );
    let (_, events) = chat(&app, &ecp, json!({"question": "Hello?"})).await;
    assert_eq!(text_of(&events), "From the shared model.");
    assert_eq!(events.last().expect("done").1["model"], "gpt-central");

    // Withdrawn, with a reason; a failed model cannot come back.
    let no_reason = app
        .patch(&location, admin, json!({"status": "failed"}))
        .await;
    assert_eq!(no_reason.status, StatusCode::UNPROCESSABLE_ENTITY);
    let failed = app
        .patch(
            &location,
            admin,
            json!({"status": "failed", "failure_reason": "deleted at the provider"}),
        )
        .await;
    assert_eq!(failed.status, StatusCode::OK, "{:?}", failed.body);
    let back = app
        .patch(&location, admin, json!({"status": "ready"}))
        .await;
    assert_eq!(back.status, StatusCode::CONFLICT);
    assert_eq!(back.code(), "fine_tune.transition_invalid");
    let (_, events) = chat(&app, &ecp, json!({"question": "Hello?"})).await;
    assert_eq!(events.last().expect("done").1["model"], "gpt-central");

    let list = app.get(path, admin).await;
    assert_eq!(list.body[0]["status"], "failed");
    assert_eq!(list.body[0]["failure_reason"], "deleted at the provider");
    assert_eq!(
        app.delete(&location, admin).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.get(path, admin).await.body, json!([]));

    let audit = app.get("/api/audit?limit=100", admin).await;
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .filter(|a| a.starts_with("ai.model"))
        .collect();
    assert_eq!(
        actions.len(),
        4,
        "register, ready, failed, delete: {actions:?}"
    );
}

#[tokio::test]
async fn no_patient_identifier_reaches_the_provider_and_the_answer_names_them_again() {
    let server = LoopbackServer::start(Some(KEY)).await.expect("loopback");
    let app = app_with(&server).await;
    let tenant = app.create_tenant("private", SubscriptionTier::Pro).await;
    let (_, ecp) = app.add_user(&tenant, Role::Ecp).await;
    let patient = app
        .post(
            "/api/patients",
            &ecp,
            json!({
                "customer_number": "C-77120", "first_name": "Winifred", "last_name": "Okonkwo-Hale",
                "date_of_birth": "1948-03-17", "email": "winnie.oh@example.org",
                "phone": "+44 20 7946 0312", "address": "14 Heron Crescent, Leeds LS6 3HN"
            }),
        )
        .await;
    assert_eq!(patient.status, StatusCode::CREATED, "{:?}", patient.body);
    let planted = [
        "Winifred",
        "Okonkwo",
        "C-77120",
        "17/03/1948",
        "winnie.oh@example.org",
        "7946 0312",
        "Heron Crescent",
        "LS6 3HN",
    ];
    let question = "Draft a recall letter for Winifred Okonkwo-Hale (C-77120, born 17/03/1948) \
                    at 14 Heron Crescent, LS6 3HN; she asked on +44 20 7946 0312 and \
                    winnie.oh@example.org whether Trivex suits her -2.50 / -0.75 x 180.";
    server.script(
        "gpt-central",
        Script {
            text: "Dear [PATIENT_1], Trivex suits -2.50 / -0.75 x 180. We will call [PHONE_1]."
                .into(),
            chunk_chars: 5,
            ..Script::default()
        },
    );
    let (status, events) = chat(&app, &ecp, json!({ "question": question })).await;
    assert_eq!(status, StatusCode::OK, "{events:?}");
    let sent = server.received();
    let prompt = sent.last().expect("sent").body["messages"].to_string();
    for secret in planted {
        assert!(
            !prompt.contains(secret),
            "{secret} reached the provider: {prompt}"
        );
    }
    assert!(
        prompt.contains("Trivex") && prompt.contains("-2.50 / -0.75 x 180"),
        "{prompt}"
    );
    // The answer names the patient again, pieces split mid-placeholder included.
    assert_eq!(
        text_of(&events),
        "Dear Winifred Okonkwo-Hale, Trivex suits -2.50 / -0.75 x 180. We will call +44 20 7946 0312."
    );

    // The next turn names no one, but its history does: still nothing leaves.
    let conversation = events[0].1["conversation_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (_, next) = chat(
        &app,
        &ecp,
        json!({"question": "Is the phone number still right?", "conversation_id": conversation}),
    )
    .await;
    assert_eq!(next.last().expect("done").0, "done");
    let prompt = server.received().last().expect("sent").body["messages"].to_string();
    for secret in planted {
        assert!(
            !prompt.contains(secret),
            "{secret} reached the provider in the history: {prompt}"
        );
    }

    // Turned off, explicitly: the audit row says so, and the prompt goes as written.
    let company = app.get("/api/company", &tenant.admin_token).await;
    let mut config = company.body["ai_config"].clone();
    config["redact_patient_data"] = json!(false);
    let off = app
        .patch(
            "/api/company",
            &tenant.admin_token,
            json!({"ai_config": config}),
        )
        .await;
    assert_eq!(off.status, StatusCode::OK, "{:?}", off.body);
    let audit = app
        .get(
            "/api/audit?action=company.update&limit=5",
            &tenant.admin_token,
        )
        .await;
    assert!(
        audit.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|r| r["details"]["redaction_of_patient_data"] == "off"),
        "{:?}",
        audit.body
    );
    let _ = chat(&app, &ecp, json!({ "question": question })).await;
    let prompt = server.received().last().expect("sent").body["messages"].to_string();
    assert!(
        prompt.contains("Winifred"),
        "redaction off sends the text as written"
    );
}

/// Retrieval's "your documents do not answer this" on ILS Central, by the desktop's rule: said
/// in the passages event, told to the model in our system message; a code that no passage of
/// this practice holds is unknown here even when another practice's documents hold it.
#[tokio::test]
async fn a_question_the_documents_do_not_answer_is_recognised_and_the_model_told() {
    let server = LoopbackServer::start(Some(KEY)).await.expect("loopback");
    let app = app_with(&server).await;
    let tenant = app.create_tenant("unanswered", SubscriptionTier::Pro).await;
    let other = app
        .create_tenant("unanswered-other", SubscriptionTier::Pro)
        .await;
    add_sports_document(&app, &tenant.admin_token).await;
    let added = app
        .post(
            "/api/kb/documents",
            &other.admin_token,
            upload(
                "codes.md",
                "# Lab codes\n\nRejection R77 means the frame was too big for the lens blank.\n",
            ),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{:?}", added.body);
    server.script(
        "gpt-central",
        Script::answer("Your documents do not answer this."),
    );

    let (status, events) = chat(
        &app,
        &tenant.admin_token,
        json!({"question": "When is the next train to London?"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{events:?}");
    assert_eq!(events[0].1["answerability"]["verdict"], "nothing_close");
    let sent = server.received();
    let system = sent.last().expect("sent").body["messages"][0]["content"]
        .as_str()
        .expect("system")
        .to_owned();
    assert!(system.contains(ils_llm::prompt::NOT_ANSWERED), "{system}");

    let (_, events) = chat(
        &app,
        &tenant.admin_token,
        json!({"question": "what does lab rejection R77 mean"}),
    )
    .await;
    assert_eq!(
        events[0].1["answerability"],
        json!({"verdict": "unknown_identifiers", "identifiers": ["R77"]})
    );
    let (_, events) = chat(
        &app,
        &other.admin_token,
        json!({"question": "what does lab rejection R77 mean"}),
    )
    .await;
    assert_eq!(events[0].1["answerability"]["verdict"], "answered");
}

/// Whatever the model writes (a planted instruction obeyed), no link, image or HTML reaches the
/// client, nor our instructions to the model.
#[tokio::test]
async fn a_models_links_images_and_markup_never_reach_the_client() {
    let server = LoopbackServer::start(Some(KEY)).await.expect("loopback");
    let app = app_with(&server).await;
    let tenant = app.create_tenant("guarded", SubscriptionTier::Pro).await;
    add_sports_document(&app, &tenant.admin_token).await;
    server.script(
        "gpt-central",
        Script {
            text: format!(
                "Trivex [1]. [Renew](https://attacker.example/r?d=x) ![p](https://attacker.example/p.png) \
                 <img src=x> {}",
                ils_llm::prompt::GROUNDING
            ),
            chunk_chars: 3,
            ..Script::default()
        },
    );
    let (status, events) = chat(
        &app,
        &tenant.admin_token,
        json!({"question": "Which lenses for children's sports glasses?"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{events:?}");
    assert_eq!(
        text_of(&events),
        format!(
            "Trivex [1]. Renew {} &lt;img src=x> {}",
            ils_llm::guard::IMAGE_REMOVED,
            ils_llm::guard::WITHHELD
        )
    );
}
