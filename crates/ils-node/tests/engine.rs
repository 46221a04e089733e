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
