//! The engine API as a GUI uses it: shared between threads, slow work (embedding) never holding
//! up a screen, ingest of many files with events, refusals and cancel, serialisable errors.

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use common::{ADMIN, ECP, patient};
use ils_node::Engine;
use ils_node::engine::IngestEvent;
use ils_node::kb::Progress;

fn engine(dir: &std::path::Path) -> Arc<Engine> {
    let store = common::open(&dir.join("ils.db"));
    let model = PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()),
    )
    .join("../../models/all-MiniLM-L6-v2");
    Arc::new(Engine::with_store(store, model))
}

fn long_document(paragraphs: usize) -> String {
    let mut text = String::from("# Workshop handbook\n\n");
    for i in 0..paragraphs {
        text.push_str(&format!(
            "Procedure {i} covers frame number {i} in the workshop. Check the hinge screws and the \
             nose pads before the patient collects the frame.\n\n"
        ));
    }
    text
}

#[test]
fn a_screen_is_served_while_a_document_is_being_embedded() {
    let dir = tempfile::tempdir().expect("dir");
    let engine = engine(dir.path());
    engine.sign_in(ADMIN).expect("admin");
    let docs = dir.path().join("docs");
    std::fs::create_dir(&docs).expect("dir");
    std::fs::write(docs.join("handbook.md"), long_document(400)).expect("write");

    let (embedding_started, started) = mpsc::channel();
    let (screen_served, served) = mpsc::channel::<()>();
    let ingest = {
        let engine = Arc::clone(&engine);
        std::thread::spawn(move || {
            let mut told = false;
            engine.ingest(
                &[docs],
                &mut |event| {
                    if let IngestEvent::Document {
                        progress: Progress::Embedded { .. },
                    } = event
                        && !told
                    {
                        told = true;
                        embedding_started.send(()).expect("main thread listens");
                        // The embedding goes on only once the screen was served: if the
                        // engine held its store during embedding, this would never happen.
                        served
                            .recv_timeout(Duration::from_secs(60))
                            .expect("a read was served during the embedding");
                    }
                },
                &AtomicBool::new(false),
            )
        })
    };
    started
        .recv_timeout(Duration::from_secs(120))
        .expect("the embedding started");
    // Another user's screen, on another thread, in the middle of the embedding.
    let info = engine.info().expect("info");
    assert_eq!(info.practice.expect("practice").name, "Demo Optics");
    let users = engine.users().expect("the admin lists users");
    assert_eq!(users.len(), 4);
    screen_served.send(()).expect("ingest thread listens");
    let report = ingest.join().expect("ingest thread").expect("ingested");
    assert_eq!(report.ingested.len(), 1);
    assert!(!report.cancelled);
}

#[test]
fn an_ingest_reports_refused_files_and_can_be_cancelled() {
    let dir = tempfile::tempdir().expect("dir");
    let engine = engine(dir.path());
    let docs = dir.path().join("docs");
    std::fs::create_dir(&docs).expect("dir");
    std::fs::write(
        docs.join("a-care.md"),
        "# Care\n\nRinse lens cases daily.\n",
    )
    .expect("write");
    std::fs::write(docs.join("b-empty.txt"), "").expect("write");
    std::fs::write(docs.join("c-handbook.md"), long_document(300)).expect("write");

    // An ECP may not manage documents: refused before any file is read.
    engine.sign_in(ECP).expect("ecp");
    let err = engine
        .ingest(
            std::slice::from_ref(&docs),
            &mut |_| {},
            &AtomicBool::new(false),
        )
        .expect_err("forbidden");
    assert_eq!(err.code, "auth.forbidden");
    let json = serde_json::to_value(&err).expect("serialisable");
    assert_eq!(json["code"], "auth.forbidden");
    assert!(json.get("user_error").is_none(), "{json}");

    engine.sign_in(ADMIN).expect("admin");
    let cancel = AtomicBool::new(false);
    let mut events = Vec::new();
    let report = engine
        .ingest(
            &[docs],
            &mut |event| {
                if let IngestEvent::Document {
                    progress: Progress::Embedded { source, .. },
                } = event
                    && source.ends_with("c-handbook.md")
                {
                    cancel.store(true, Ordering::SeqCst);
                }
                events.push(event.clone());
            },
            &cancel,
        )
        .expect("the ingest ends");
    assert_eq!(report.files, 3);
    assert!(report.cancelled);
    assert_eq!(report.ingested.len(), 1, "the first document stays");
    assert_eq!(report.refused.len(), 1);
    assert_eq!(report.refused[0].code, "kb.unreadable_file");
    assert!(matches!(events[0], IngestEvent::Found { files: 3 }));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, IngestEvent::Refused(r) if r.file.ends_with("b-empty.txt")))
    );
    let documents = engine.documents().expect("list");
    assert_eq!(documents.len(), 1, "nothing of the cancelled one");

    // A patient read through the same engine is audited as the signed-in user.
    let ecp = engine.sign_in(ECP).expect("ecp");
    let p = engine.add_patient(&patient("E-1")).expect("patient");
    engine.patient(p.id).expect("read");
    engine.sign_in(ADMIN).expect("admin");
    let audit = engine
        .audit_entries(Some(&p.id.to_string()), 10)
        .expect("audit");
    assert_eq!(audit[0].action, "patient.read");
    assert_eq!(audit[0].actor, ecp.id.to_string());
}

#[test]
fn a_practice_kept_only_here_never_shows_a_sync_that_did_not_happen() {
    let dir = tempfile::tempdir().expect("dir");
    let engine = engine(dir.path());
    engine.sign_in(ECP).expect("ecp");
    engine.add_patient(&patient("C-1")).expect("patient");
    let refused = engine.sync_now().expect_err("nothing to sync with");
    assert_eq!(refused.code, "sync.not_connected");
    let state = engine.sync_state().expect("state");
    assert_eq!(state.server, None);
    assert_eq!(state.last_success, None, "no sync happened");
    assert_eq!(state.last_error, None, "nothing was tried");
    assert_eq!(state.online, None, "ILS Central was never asked");
    assert_eq!(state.pending, 1, "the patient waits for a connection");
}

#[test]
fn the_signed_in_user_is_known_with_their_role() {
    let dir = tempfile::tempdir().expect("dir");
    let engine = engine(dir.path());
    assert_eq!(engine.current_user().expect("nobody"), None);
    engine.sign_in(ECP).expect("ecp");
    let me = engine.current_user().expect("me").expect("signed in");
    assert_eq!(me.email, ECP);
    assert_eq!(me.role, ils_core::Role::Ecp);
    engine.sign_out();
    assert_eq!(engine.current_user().expect("nobody"), None);
}

#[test]
fn a_prescription_checked_while_typed_reports_what_saving_would_and_saves_nothing() {
    use ils_node::engine::PrescriptionInput;
    let dir = tempfile::tempdir().expect("dir");
    let engine = engine(dir.path());
    engine.sign_in(ECP).expect("ecp");
    let p = engine.add_patient(&patient("C-1")).expect("patient");
    // Before the store's fixed clock (2026-11-28).
    let issued = "2026-11-20";
    let rx = |right_sphere: serde_json::Value| {
        PrescriptionInput(serde_json::json!({
            "kind": "spectacle",
            "right": {"sphere": right_sphere, "cylinder": -0.5, "axis": 180},
            "left": {"sphere": -1.0},
            "pd": {"binocular_distance": 63},
            "issue_date": issued,
            "prescriber": "Dr Jane Smith"
        }))
    };

    let bad = engine
        .check_prescription(&rx(serde_json::json!(35)))
        .expect("checked");
    let transposed = bad.transposed.as_ref().expect("read");
    assert!(transposed.right.is_none(), "a broken eye is not transposed");
    assert!(transposed.left.is_some(), "the sound eye is");
    let saving = engine
        .add_prescription(p.id, &rx(serde_json::json!(35)))
        .expect_err("refused");
    let fields = |e: &[ils_core::FieldError]| {
        e.iter()
            .map(|f| (f.field.clone(), f.code))
            .collect::<Vec<_>>()
    };
    assert_eq!(fields(&bad.errors), fields(&saving.fields));
    assert_eq!(
        fields(&bad.errors),
        vec![("right.sphere".to_owned(), "rx.sphere_out_of_range")]
    );

    let typo = engine
        .check_prescription(&rx(serde_json::json!("-1.2x")))
        .expect("checked");
    assert_eq!(typo.errors[0].field, "right.sphere");
    assert!(typo.transposed.is_none(), "nothing to transpose");

    let good = engine
        .check_prescription(&rx(serde_json::json!(-1.25)))
        .expect("checked");
    assert!(good.errors.is_empty(), "{:?}", good.errors);
    let right = good.transposed.expect("transposed").right.expect("sound");
    assert_eq!(
        serde_json::to_value(&right).expect("json"),
        serde_json::json!({"sphere": -1.75, "cylinder": 0.5, "axis": 90, "add": null,
            "prism_horizontal": null, "prism_vertical": null, "power": null,
            "base_curve": null, "diameter": null})
    );
    assert!(
        engine.prescriptions_of(p.id).expect("list").is_empty(),
        "checking saves nothing"
    );
}

#[test]
fn a_connected_practice_is_signed_in_to_with_a_password_and_offers_what_the_role_may_do() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("ils.db");
    let mut store = common::open(&path);
    store
        .set_sync_server("http://127.0.0.1:9", "demo.ils.local")
        .expect("connected");
    let engine = Engine::with_store(store, PathBuf::from("no-model"));

    let refused = engine
        .sign_in(ECP)
        .expect_err("no e-mail sign-in once connected");
    assert_eq!(refused.code, "auth.password_required", "{refused}");
    assert!(
        engine.abilities().expect("abilities").is_none(),
        "nobody signed in"
    );

    // A tool run by whoever controls this computer's files names the user who works.
    let user = engine
        .act_as(ECP)
        .expect("the command line acts as the optometrist");
    assert_eq!(user.email, ECP);
    let abilities = engine.abilities().expect("abilities").expect("signed in");
    assert_eq!(abilities.role, ils_core::Role::Ecp);
    assert!(abilities.holds("prescriptions:write"));
    assert!(!abilities.holds("users:create"));
}

#[test]
fn a_practice_kept_on_this_computer_is_signed_in_to_by_e_mail() {
    let dir = tempfile::tempdir().expect("dir");
    let engine = engine(dir.path());
    let user = engine
        .sign_in(ADMIN)
        .expect("no password on a practice kept here");
    assert_eq!(user.email, ADMIN);
    let abilities = engine.abilities().expect("abilities").expect("signed in");
    assert!(abilities.holds("users:create"));
    assert!(abilities.order_actions.iter().all(|m| !m.permitted));
}
