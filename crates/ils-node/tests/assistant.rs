//! The assistant on the desktop, against the loopback provider server: answers streamed from
//! the practice's documents and recorded with the provider's usage; offline and unreachable
//! answers that still show the passages; a cut stream kept as far as it came; conversations
//! that belong to their user; the practice's configuration versioned.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use common::{ADMIN, ECP, LAB};
use ils_llm::ApiKey;
use ils_llm::loopback::{Failure, LoopbackServer, Script};
use ils_node::Engine;
use ils_node::assistant::{AskEvent, AskRequest, AssistantSettings, Outcome, ProviderSettings};
use ils_node::engine::IngestEvent;

const KEY: &str = "sk-desktop-test";

fn model_dir() -> PathBuf {
    PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()),
    )
    .join("../../models/all-MiniLM-L6-v2")
}

fn settings(server: Option<&LoopbackServer>) -> AssistantSettings {
    AssistantSettings {
        providers: server
            .map(|s| {
                vec![
                    ProviderSettings {
                        name: "primary".into(),
                        kind: "openai".into(),
                        base_url: s.openai_base(),
                        api_key: Some(ApiKey::new(KEY)),
                        api_key_env: None,
                        models: vec!["gpt-test".into()],
                        vision_models: vec![],
                        first_token_timeout_secs: Some(5),
                        total_timeout_secs: Some(20),
                    },
                    ProviderSettings {
                        name: "second".into(),
                        kind: "anthropic".into(),
                        base_url: s.base_url.clone(),
                        api_key: Some(ApiKey::new(KEY)),
                        api_key_env: None,
                        models: vec!["claude-test".into()],
                        vision_models: vec![],
                        first_token_timeout_secs: Some(5),
                        total_timeout_secs: Some(20),
                    },
                ]
            })
            .unwrap_or_default(),
        ..AssistantSettings::default()
    }
}

/// A practice with one document about sports glasses, the engine signed in as the ECP.
fn practice(dir: &std::path::Path, assistant: AssistantSettings) -> Arc<Engine> {
    let store = common::open(&dir.join("ils.db"));
    let engine = Arc::new(Engine::with_store(store, model_dir()).with_assistant(assistant));
    engine.sign_in(ADMIN).expect("admin");
    let docs = dir.join("docs");
    std::fs::create_dir_all(&docs).expect("dir");
    std::fs::write(
        docs.join("sports.md"),
        "# Children's sports glasses\n\nFor children's sports glasses we fit polycarbonate or \
         Trivex lenses: they resist impact and block UV. Frames with a strap stay on during \
         football.\n\n# Opening hours\n\nThe practice opens at nine on weekdays.\n",
    )
    .expect("write");
    engine
        .ingest(
            &[docs],
            &mut |_: &IngestEvent| {},
            &std::sync::atomic::AtomicBool::new(false),
        )
        .expect("ingest");
    engine.sign_in(ECP).expect("ecp");
    engine
}

fn ask(
    engine: &Engine,
    question: &str,
    conversation: Option<String>,
) -> (ils_node::assistant::Answer, Vec<AskEvent>) {
    let mut events = Vec::new();
    let answer = engine
        .ask(
            &AskRequest {
                question: question.into(),
                conversation,
                offline: false,
            },
            &mut |e: &AskEvent| events.push(e.clone()),
        )
        .expect("answer");
    (answer, events)
}

fn server() -> (tokio::runtime::Runtime, LoopbackServer) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let server = rt
        .block_on(LoopbackServer::start(Some(KEY)))
        .expect("server");
    (rt, server)
}

fn deltas(events: &[AskEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            AskEvent::Delta { text } => Some(text.as_str()),
            AskEvent::Passages { .. } => None,
        })
        .collect()
}

#[test]
fn an_answer_comes_from_the_documents_streamed_and_recorded() {
    let dir = tempfile::tempdir().expect("dir");
    let (_rt, server) = server();
    let engine = practice(dir.path(), settings(Some(&server)));
    server.script(
        "gpt-test",
        Script::answer("Polycarbonate or Trivex lenses [1]."),
    );
    let (answer, events) = ask(&engine, "Which lenses for children's sports glasses?", None);

    assert!(matches!(
        &events[0],
        AskEvent::Passages { citations, answerability }
            if !citations.is_empty() && answerability.documents_answer()
    ));
    assert!(answer.answerability.documents_answer());
    assert_eq!(deltas(&events), "Polycarbonate or Trivex lenses [1].");
    assert_eq!(answer.text, "Polycarbonate or Trivex lenses [1].");
    assert_eq!(answer.cited, [1], "the answer cites its passage");
    assert_eq!(answer.outcome, Outcome::Answered);
    assert_eq!(answer.model.as_deref(), Some("gpt-test"));
    let usage = answer.usage.expect("usage from the provider");
    assert_eq!(usage.input_tokens, 42);
    assert_eq!(
        usage.output_tokens, 5,
        "one per chunk of the loopback's answer"
    );
    assert_eq!(answer.citations[0].document, "Children's sports glasses");
    assert!(answer.citations[0].excerpt.contains("polycarbonate"));

    // What left for the model: the key, our grounding rule, the passage quoted and numbered.
    let sent = server.received();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].headers["authorization"],
        format!("Bearer {KEY}").as_str()
    );
    let messages = sent[0].body["messages"].as_array().expect("messages");
    let system = messages[0]["content"].as_str().expect("system");
    assert!(system.starts_with("You are the assistant of an optical practice"));
    assert!(
        !system.contains(ils_llm::prompt::NOT_ANSWERED),
        "the documents answer this one"
    );
    let user = messages.last().expect("user")["content"]
        .as_str()
        .expect("text");
    assert!(
        user.contains("<passage n=\"1\" source=\"Children's sports glasses\">"),
        "{user}"
    );
    assert!(user.ends_with("Question: Which lenses for children's sports glasses?"));

    // Both messages are kept; the assistant's with model, usage, latency and the passages.
    let stored = engine
        .with_store_mut(|s| s.messages(&answer.conversation))
        .expect("messages");
    assert_eq!(stored.len(), 2);
    let reply = &stored[1];
    assert_eq!(reply.model.as_deref(), Some("gpt-test"));
    assert_eq!(reply.prompt_tokens, Some(42));
    assert_eq!(reply.output_tokens, Some(5));
    assert!(reply.latency_ms.is_some());
    let record = reply.citations.as_ref().expect("record");
    assert_eq!(record["system_prompt_version"], 1);
    assert_eq!(record["outcome"], "answered");
    assert!(!record["passages"].as_array().expect("ids").is_empty());

    // The next question carries the conversation's history.
    server.script("gpt-test", Script::answer("At nine."));
    let (again, _) = ask(
        &engine,
        "And when do you open?",
        Some(answer.conversation.clone()),
    );
    assert_eq!(again.conversation, answer.conversation);
    let sent = server.received();
    let messages = sent[1].body["messages"].as_array().expect("messages");
    assert_eq!(
        messages.len(),
        4,
        "system, the first question, its answer, the new question"
    );
    assert_eq!(
        messages[2]["content"],
        "Polycarbonate or Trivex lenses [1]."
    );
    assert_eq!(engine.conversations().expect("list").len(), 1);
}

#[test]
fn when_models_fail_the_chain_falls_back_then_says_so_with_the_passages() {
    let dir = tempfile::tempdir().expect("dir");
    let (_rt, server) = server();
    let engine = practice(dir.path(), settings(Some(&server)));
    for _ in 0..3 {
        server.script(
            "gpt-test",
            Script::failing(Failure::Status {
                status: 503,
                retry_after: None,
            }),
        );
    }
    server.script("claude-test", Script::answer("From the second provider."));
    let (answer, _) = ask(&engine, "Which lenses for sports?", None);
    assert_eq!(answer.outcome, Outcome::Answered);
    assert_eq!(answer.model.as_deref(), Some("claude-test"));

    server.script(
        "gpt-test",
        Script::failing(Failure::Status {
            status: 400,
            retry_after: None,
        }),
    );
    server.script(
        "claude-test",
        Script::failing(Failure::Status {
            status: 400,
            retry_after: None,
        }),
    );
    let (down, events) = ask(&engine, "Which lenses for sports?", None);
    assert_eq!(down.outcome, Outcome::Unreachable);
    assert!(
        down.text.starts_with("No model could be reached"),
        "{}",
        down.text
    );
    assert!(
        down.text.contains("[1] Children's sports glasses"),
        "{}",
        down.text
    );
    assert!(deltas(&events).is_empty(), "nothing was streamed");
    let stored = engine
        .with_store_mut(|s| s.messages(&down.conversation))
        .expect("messages");
    assert_eq!(stored[1].model, None);
    assert_eq!(
        stored[1].citations.as_ref().expect("record")["outcome"],
        "unreachable"
    );

    // A stream cut midway: what came is shown and kept, and said to be cut.
    server.script(
        "gpt-test",
        Script {
            text: "Polycarbonate lenses resist impact".into(),
            chunk_chars: 5,
            failure: Some(Failure::CutAfter(2)),
            ..Script::default()
        },
    );
    let (cut, events) = ask(&engine, "Which lenses for sports?", None);
    assert_eq!(cut.outcome, Outcome::Cut);
    assert!(cut.text.starts_with("Polycarbon\n"), "{}", cut.text);
    assert!(
        cut.text
            .ends_with("(The answer was cut off before it finished.)")
    );
    assert_eq!(deltas(&events), cut.text);
    let stored = engine
        .with_store_mut(|s| s.messages(&cut.conversation))
        .expect("messages");
    assert_eq!(stored[1].content, cut.text);
}

#[test]
fn offline_answers_show_the_passages_and_call_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let engine = practice(dir.path(), settings(None));
    let (answer, _) = ask(&engine, "Which lenses for children's sports glasses?", None);
    assert_eq!(answer.outcome, Outcome::Offline);
    assert!(answer.text.starts_with("Offline"), "{}", answer.text);
    assert!(answer.text.contains("polycarbonate"));

    let (_rt, server) = server();
    let dir = tempfile::tempdir().expect("dir");
    let engine = practice(dir.path(), settings(Some(&server)));
    let answer = engine
        .ask(
            &AskRequest {
                question: "Which lenses for sports?".into(),
                conversation: None,
                offline: true,
            },
            &mut |_: &AskEvent| {},
        )
        .expect("answer");
    assert_eq!(answer.outcome, Outcome::Offline);
    assert!(server.received().is_empty(), "offline calls no provider");
}

#[test]
fn who_may_ask_read_and_configure() {
    let dir = tempfile::tempdir().expect("dir");
    let (_rt, server) = server();
    let engine = practice(dir.path(), settings(Some(&server)));
    let (mine, _) = ask(&engine, "Which lenses for sports?", None);

    // The lab has no ai:chat.
    engine.sign_in(LAB).expect("lab");
    let refused = engine
        .ask(
            &AskRequest {
                question: "Hello?".into(),
                ..AskRequest::default()
            },
            &mut |_: &AskEvent| {},
        )
        .expect_err("refused");
    assert_eq!(refused.code, "auth.forbidden");

    // Another optometrist cannot continue (or see) this one's conversation.
    engine.sign_in(ADMIN).expect("admin");
    engine
        .add_user(&ils_node::store::NewUser {
            email: "second@demo.ils.local".into(),
            first_name: "Sol".into(),
            last_name: "Second".into(),
            role: ils_core::Role::Ecp,
        })
        .expect("user");
    engine.sign_in("second@demo.ils.local").expect("second");
    let other = engine
        .ask(
            &AskRequest {
                question: "And?".into(),
                conversation: Some(mine.conversation.clone()),
                offline: false,
            },
            &mut |_: &AskEvent| {},
        )
        .expect_err("not theirs");
    assert_eq!(other.code, "conversation.not_found");
    assert!(engine.conversations().expect("list").is_empty());
    assert_eq!(
        engine
            .conversation(&mine.conversation)
            .expect_err("not theirs")
            .code,
        "conversation.not_found"
    );
    // Its owner reads it (and an administrator may); each read is audited.
    engine.sign_in(ECP).expect("ecp");
    let (conversation, messages) = engine.conversation(&mine.conversation).expect("own");
    assert_eq!(conversation.id, mine.conversation);
    assert_eq!(messages.len(), 2);
    engine.sign_in(ADMIN).expect("admin");
    engine
        .conversation(&mine.conversation)
        .expect("admin reads");
    let reads = engine
        .audit_entries(Some(&mine.conversation), 50)
        .expect("audit")
        .into_iter()
        .filter(|e| e.action == "conversation.read")
        .count();
    assert_eq!(reads, 2);
    engine.sign_in(ECP).expect("ecp");

    // Only an administrator changes the configuration; each change is a new version, and the
    // next question runs under it.
    let mut config = engine.ai_config().expect("config").0;
    config.system_prompt = Some("Answer in two sentences at most.".into());
    config.knowledge_base_enabled = false;
    config.enabled_models = vec!["claude-test".into()];
    assert_eq!(
        engine
            .set_ai_config(&config)
            .expect_err("not an admin")
            .code,
        "auth.forbidden"
    );
    engine.sign_in(ADMIN).expect("admin");
    assert_eq!(engine.set_ai_config(&config).expect("set"), 2);
    // Turning the redaction of patient data off, and on again, is named in the audit trail.
    let turned = |engine: &Engine| -> Vec<String> {
        engine
            .audit_entries(Some("ai.config"), 10)
            .expect("audit")
            .into_iter()
            .filter_map(|e| {
                e.detail
                    .and_then(|d| d["redaction_of_patient_data"].as_str().map(str::to_owned))
            })
            .collect()
    };
    assert!(turned(&engine).is_empty());
    config.redact_patient_data = false;
    assert_eq!(engine.set_ai_config(&config).expect("off"), 3);
    config.redact_patient_data = true;
    assert_eq!(engine.set_ai_config(&config).expect("on"), 4);
    let mut seen = turned(&engine);
    seen.sort();
    assert_eq!(seen, ["off", "on"]);
    config.temperature = 9.0;
    assert_eq!(
        engine.set_ai_config(&config).expect_err("invalid").code,
        "ai_config.temperature_out_of_range"
    );
    engine.sign_in(ECP).expect("ecp");
    let (answer, _) = ask(&engine, "Which lenses for sports?", None);
    assert_eq!(
        answer.model.as_deref(),
        Some("claude-test"),
        "only the enabled model is used"
    );
    assert!(answer.citations.is_empty(), "the knowledge base is off");
    let sent = server.received();
    let last = sent.last().expect("sent");
    assert_eq!(last.path, "/v1/messages");
    assert!(
        last.body["system"]
            .as_str()
            .expect("system")
            .ends_with("Answer in two sentences at most.")
    );
    let stored = engine
        .with_store_mut(|s| s.messages(&answer.conversation))
        .expect("messages");
    assert_eq!(
        stored[1].citations.as_ref().expect("record")["system_prompt_version"],
        4,
        "the version the answer ran under"
    );
}

#[test]
fn no_patient_identifier_reaches_the_provider_and_the_answer_names_them_again() {
    let dir = tempfile::tempdir().expect("dir");
    let (_rt, server) = server();
    let engine = practice(dir.path(), settings(Some(&server)));
    let patient: ils_core::patient::PatientData = serde_json::from_value(serde_json::json!({
        "customer_number": "C-5521", "first_name": "Eulalie", "last_name": "Marchetti",
        "date_of_birth": "1961-07-04", "email": "eulalie.m@example.org",
        "phone": "0113 496 0871", "address": "3 Quarry Drive, Leeds", "notes": null
    }))
    .expect("patient");
    engine.add_patient(&patient).expect("patient added");
    server.script(
        "gpt-test",
        Script {
            text: "Dear [PATIENT_1], your Trivex lenses are ready; we rang [PHONE_1].".into(),
            chunk_chars: 4,
            ..Script::default()
        },
    );
    let (answer, events) = ask(
        &engine,
        "Write to Eulalie Marchetti (C-5521, 04/07/1961, 3 Quarry Drive) that her Trivex \
         lenses are ready; she called from 0113 496 0871 and wrote from eulalie.m@example.org.",
        None,
    );
    let prompt = server.received().last().expect("sent").body["messages"].to_string();
    for secret in [
        "Eulalie",
        "Marchetti",
        "C-5521",
        "04/07/1961",
        "Quarry Drive",
        "496 0871",
        "eulalie.m@",
    ] {
        assert!(
            !prompt.contains(secret),
            "{secret} reached the provider: {prompt}"
        );
    }
    let expected = "Dear Eulalie Marchetti, your Trivex lenses are ready; we rang 0113 496 0871.";
    assert_eq!(deltas(&events), expected);
    assert_eq!(answer.text, expected);
}

/// A question the practice's documents do not answer: retrieval says so, the model is told
/// (in our system message, not beside the retrieved text), the person sees it with the
/// passages, and a question naming a code no document holds is judged the same way.
#[test]
fn a_question_the_documents_do_not_answer_is_recognised_and_the_model_told() {
    let dir = tempfile::tempdir().expect("dir");
    let (_rt, server) = server();
    let engine = practice(dir.path(), settings(Some(&server)));
    server.script(
        "gpt-test",
        Script::answer("Your practice's documents do not answer this."),
    );
    let (answer, events) = ask(&engine, "When is the next train to London?", None);
    assert_eq!(
        answer.answerability,
        ils_node::assistant::Answerability::NothingClose
    );
    assert!(matches!(
        &events[0],
        AskEvent::Passages { answerability, .. } if !answerability.documents_answer()
    ));
    let sent = server.received();
    let messages = sent[0].body["messages"].as_array().expect("messages");
    let system = messages[0]["content"].as_str().expect("system");
    assert!(system.contains(ils_llm::prompt::NOT_ANSWERED), "{system}");
    let user = messages.last().expect("user")["content"]
        .as_str()
        .expect("text");
    assert!(!user.contains(ils_llm::prompt::NOT_ANSWERED));

    let (coded, _) = ask(&engine, "what does lab rejection R99 mean", None);
    assert_eq!(
        coded.answerability,
        ils_node::assistant::Answerability::UnknownIdentifiers {
            identifiers: vec!["R99".into()]
        }
    );

    // Offline, the answer says it plainly above the closest passages.
    let offline = engine
        .ask(
            &AskRequest {
                question: "When is the next train to London?".into(),
                conversation: None,
                offline: true,
            },
            &mut |_: &AskEvent| {},
        )
        .expect("offline answer");
    assert!(
        offline.text.contains(ils_llm::prompt::NOT_ANSWERED_PLAIN),
        "{}",
        offline.text
    );
}

/// Prescription capture on the desktop: the practice must allow it, the photo is checked
/// before it leaves, the draft names what was not read and the rules broken, nothing is saved,
/// and the capture is audited without a value.
#[test]
fn a_photo_of_a_prescription_becomes_a_draft_only_when_the_practice_allows_it() {
    let dir = tempfile::tempdir().expect("dir");
    let (_rt, server) = server();
    let mut assistant = settings(Some(&server));
    assistant.providers[0].models.push("gpt-vision".into());
    assistant.providers[0].vision_models = vec!["gpt-vision".into()];
    let engine = practice(dir.path(), assistant);
    let jpeg: &[u8] = &[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F'];

    let refused = engine
        .capture_prescription("image/jpeg", jpeg)
        .expect_err("not allowed yet");
    assert_eq!(refused.code, "rx.capture_not_allowed");
    engine.sign_in(ADMIN).expect("admin");
    let mut config = engine.ai_config().expect("config").0;
    config.prescription_capture = true;
    engine.set_ai_config(&config).expect("allowed");
    engine.sign_in(ECP).expect("ecp");
    let bad = engine
        .capture_prescription("image/gif", jpeg)
        .expect_err("not a kind read");
    assert_eq!(bad.fields[0].field, "media_type");
    assert!(
        server.received().is_empty(),
        "nothing left before it was allowed and sound"
    );

    server.script(
        "gpt-vision",
        Script::answer(
            "{\"kind\": \"spectacle\", \"right.sphere\": \"+1.25\", \"right.cylinder\": \"DS\", \
             \"left.sphere\": \"+1.50\", \"left.cylinder\": \"-0.25\", \"left.axis\": \"95\", \
             \"issue_date\": \"2025-01-10\", \"prescriber\": \"R. Osei\"}",
        ),
    );
    let good = engine
        .capture_prescription("image/jpeg", jpeg)
        .expect("read");
    assert_eq!(good.model, "gpt-vision");
    assert!(
        good.unread.is_empty() && good.problems.is_empty(),
        "{good:?}"
    );
    assert_eq!(good.prescription["left"]["axis"], 95);
    let sent = server.received();
    assert_eq!(sent[0].body["model"], "gpt-vision");

    server.script("gpt-vision", Script::answer("{\"right.sphere\": \"?\"}"));
    let partial = engine
        .capture_prescription("image/jpeg", jpeg)
        .expect("read");
    assert_eq!(
        partial.unread,
        [
            "kind",
            "right.sphere",
            "left.sphere",
            "issue_date",
            "prescriber"
        ]
    );
    assert!(!partial.problems.is_empty());

    engine.sign_in(ADMIN).expect("admin");
    let audit = engine.audit_entries(None, 100).expect("audit");
    let captures: Vec<_> = audit
        .iter()
        .filter(|e| e.action == "prescription.capture")
        .collect();
    assert_eq!(captures.len(), 2);
    let details = serde_json::to_string(&captures[0].detail).expect("json");
    assert!(
        !details.contains("1.25") && !details.contains("Osei"),
        "{details}"
    );
    let changes = audit
        .iter()
        .filter(|e| {
            e.detail
                .as_ref()
                .is_some_and(|d| d["prescription_capture"] == "on")
        })
        .count();
    assert_eq!(changes, 1, "turning capture on is named in the audit row");
}

/// Asks on another thread, setting the stop flag once `stop_when` says so (it sees each event,
/// and is asked again every 20 ms with no event).
fn ask_and_stop(
    engine: &Arc<Engine>,
    question: &str,
    stop_when: impl Fn(&[AskEvent]) -> bool,
) -> (
    ils_node::assistant::Answer,
    Vec<AskEvent>,
    std::time::Duration,
) {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};
    let stop = Arc::new(AtomicBool::new(false));
    let events = Arc::new(Mutex::new(Vec::new()));
    let started = std::time::Instant::now();
    let asking = {
        let (engine, stop, events) = (Arc::clone(engine), Arc::clone(&stop), Arc::clone(&events));
        let question = question.to_owned();
        std::thread::spawn(move || {
            engine.ask_until(
                &AskRequest {
                    question,
                    conversation: None,
                    offline: false,
                },
                &stop,
                &mut |e: &AskEvent| events.lock().expect("events").push(e.clone()),
            )
        })
    };
    while !asking.is_finished() {
        if stop_when(&events.lock().expect("events")) {
            stop.store(true, Ordering::SeqCst);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let answer = asking.join().expect("no panic").expect("answer");
    let events = events.lock().expect("events").clone();
    (answer, events, started.elapsed())
}

#[test]
fn a_stopped_answer_ends_at_once_and_keeps_what_was_shown() {
    let dir = tempfile::tempdir().expect("dir");
    let (_rt, server) = server();
    let engine = practice(dir.path(), settings(Some(&server)));

    // Stopped midway: the pieces shown are the answer, kept with the outcome `cancelled`.
    server.script(
        "gpt-test",
        Script {
            text: "Polycarbonate lenses resist impact and block UV for children.".into(),
            chunk_chars: 5,
            chunk_delay: std::time::Duration::from_millis(150),
            ..Script::default()
        },
    );
    let (stopped, events, _) = ask_and_stop(&engine, "Which lenses for sports?", |events| {
        deltas(events).len() >= 10
    });
    assert_eq!(stopped.outcome, Outcome::Cancelled);
    assert_eq!(
        deltas(&events),
        stopped.text,
        "what was shown is what is kept"
    );
    assert!(
        stopped.text.starts_with("Polycarbon") && !stopped.text.contains("children"),
        "{}",
        stopped.text
    );
    assert_eq!(stopped.model.as_deref(), Some("gpt-test"));
    let stored = engine
        .with_store_mut(|s| s.messages(&stopped.conversation))
        .expect("messages");
    assert_eq!(stored.len(), 2, "the question and the stopped answer");
    assert_eq!(stored[1].content, stopped.text);
    assert_eq!(
        stored[1].citations.as_ref().expect("record")["outcome"],
        "cancelled"
    );

    // Stopped while the provider has not answered at all: it ends at once, not at the
    // provider's first-token timeout (5 s here).
    server.script(
        "gpt-test",
        Script {
            first_delay: std::time::Duration::from_secs(30),
            ..Script::answer("Too late.")
        },
    );
    let (stalled, events, took) = ask_and_stop(&engine, "Which lenses for sports?", |events| {
        !events.is_empty()
    });
    assert_eq!(stalled.outcome, Outcome::Cancelled);
    assert_eq!(deltas(&events), "", "nothing was written");
    assert_eq!(stalled.text, ils_node::assistant::STOPPED_BEFORE_ANSWER);
    let stored = engine
        .with_store_mut(|s| s.messages(&stalled.conversation))
        .expect("messages");
    assert_eq!(stored[1].content, stalled.text, "the stop is recorded");
    assert!(took < std::time::Duration::from_secs(3), "took {took:?}");
}
