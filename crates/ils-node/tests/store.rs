//! The local store on a real SQLite file.

mod common;

use chrono::NaiveDate;
use ils_core::patient::PatientData;
use ils_node::store::MIGRATIONS;
use ils_node::{Actor, Store, StoreError};

const LATEST: u32 = MIGRATIONS.len() as u32;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 28).expect("date")
}

fn clerk() -> Actor {
    Actor::new("clerk@demo.ils.local").expect("actor")
}

fn patient(number: &str) -> PatientData {
    PatientData {
        customer_number: number.into(),
        first_name: "Ada".into(),
        last_name: "Lovelace".into(),
        date_of_birth: NaiveDate::from_ymd_opt(1990, 12, 10).expect("date"),
        email: None,
        phone: None,
        address: None,
        notes: None,
    }
}

#[test]
fn migrates_from_empty_and_reopens_idempotently() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("ils.db");
    let store = Store::open(&path, 1).expect("opens");
    assert_eq!(store.schema_version().expect("version"), LATEST);
    drop(store);
    let store = Store::open(&path, 1).expect("reopens");
    assert_eq!(store.schema_version().expect("version"), LATEST);
    let mode: String = rusqlite::Connection::open(&path)
        .expect("raw")
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .expect("mode");
    assert_eq!(mode, "wal");
}

#[test]
fn a_newer_schema_is_refused_untouched() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("ils.db");
    drop(Store::open(&path, 1).expect("opens"));
    rusqlite::Connection::open(&path)
        .expect("raw")
        .pragma_update(None, "user_version", 99)
        .expect("bump");
    let err = Store::open(&path, 1).expect_err("newer schema");
    assert!(
        matches!(
            err,
            StoreError::NewerSchema {
                found: 99,
                supported: LATEST
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("update ILS"), "{err}");
    let still: u32 = rusqlite::Connection::open(&path)
        .expect("raw")
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .expect("version");
    assert_eq!(still, 99, "the file is left as it was");
}

#[test]
fn every_write_and_its_change_commit_together() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("ils.db");
    let mut store = Store::open(&path, 7).expect("opens");
    store.sign_in(clerk());
    store.add_patient(&patient("C-1"), today()).expect("adds");
    store.add_patient(&patient("C-2"), today()).expect("adds");
    let changes = store.pending_changes().expect("outbox");
    assert_eq!(changes.len(), 2);
    assert!(changes[0].hlc < changes[1].hlc, "stamps increase");
    assert_eq!(changes[0].entity, "patient");
    assert_eq!(changes[1].hlc.device, 7);

    // Make the outbox insert fail: the patient must not be written either.
    common::fail_outbox_writes(&path);
    let err = store
        .add_patient(&patient("C-3"), today())
        .expect_err("the outbox write fails");
    assert!(err.to_string().contains(common::INJECTED), "{err}");
    assert_eq!(
        store.patient_count().expect("count"),
        2,
        "neither the patient nor its change was written"
    );
    assert_eq!(store.pending_changes().expect("outbox").len(), 2);

    // Invalid and duplicate input is refused with the shared rules, writing nothing.
    let mut bad = patient("C-4");
    bad.date_of_birth = NaiveDate::from_ymd_opt(2999, 1, 1).expect("date");
    assert!(matches!(
        store.add_patient(&bad, today()),
        Err(StoreError::Validation(_))
    ));
}

#[test]
fn the_clock_continues_after_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("ils.db");
    let mut store = Store::open(&path, 3).expect("opens");
    store.sign_in(clerk());
    store.add_patient(&patient("C-1"), today()).expect("adds");
    let first = store.pending_changes().expect("outbox")[0].hlc;
    drop(store);
    let mut store = Store::open(&path, 3).expect("reopens");
    store.sign_in(clerk());
    store.add_patient(&patient("C-2"), today()).expect("adds");
    let second = store.pending_changes().expect("outbox")[1].hlc;
    assert!(second > first);
    let dup = store
        .add_patient(&patient("C-2"), today())
        .expect_err("taken");
    assert!(matches!(
        dup,
        StoreError::Conflict {
            code: "patient.customer_number_taken",
            ..
        }
    ));
}

/// The writer half of the crash test, run in a child process.
fn crash_writer(path: &std::path::Path) -> ! {
    use std::io::Write;
    let mut store = Store::open(path, 9).expect("opens");
    store.sign_in(clerk());
    let mut out = std::io::stdout();
    for i in 0.. {
        store
            .add_patient(&patient(&format!("K-{i}")), today())
            .expect("adds");
        // Only after the commit returned: this row is durable.
        writeln!(out, "{i}").expect("stdout");
        out.flush().expect("flush");
    }
    unreachable!()
}

#[test]
fn a_kill_during_a_write_loop_loses_no_committed_row() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    if let Ok(path) = std::env::var("ILS_CRASH_WRITER_DB") {
        crash_writer(std::path::Path::new(&path));
    }
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("ils.db");
    drop(Store::open(&path, 9).expect("creates"));
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "a_kill_during_a_write_loop_loses_no_committed_row",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("ILS_CRASH_WRITER_DB", &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawns the writer");
    let mut last_committed = None;
    let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    for line in lines {
        let line = line.expect("line");
        if let Ok(n) = line.trim().parse::<u64>() {
            last_committed = Some(n);
            if n >= 60 {
                break;
            }
        }
    }
    child.kill().expect("SIGKILL mid-loop"); // Child::kill sends SIGKILL on Unix.
    child.wait().expect("reaped");
    let last = last_committed.expect("the writer committed rows");

    let raw = rusqlite::Connection::open(&path).expect("raw");
    let check: String = raw
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("check");
    assert_eq!(check, "ok");
    let store = Store::open(&path, 9).expect("reopens after the crash");
    let count = store.patient_count().expect("count");
    assert!(
        count as u64 > last,
        "every committed row survived: {count} rows, {} reported committed",
        last + 1
    );
    assert_eq!(
        store.pending_changes().expect("outbox").len() as i64,
        count,
        "and exactly one change each"
    );
}
