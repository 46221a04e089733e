//! The local store on a real SQLite file.

use chrono::NaiveDate;
use ils_core::patient::PatientData;
use ils_node::{Store, StoreError};

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 28).expect("date")
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
    assert_eq!(store.schema_version().expect("version"), 1);
    drop(store);
    let store = Store::open(&path, 1).expect("reopens");
    assert_eq!(store.schema_version().expect("version"), 1);
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
                supported: 1
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
    store.add_patient(&patient("C-1"), today()).expect("adds");
    store.add_patient(&patient("C-2"), today()).expect("adds");
    let changes = store.pending_changes().expect("outbox");
    assert_eq!(changes.len(), 2);
    assert!(changes[0].hlc < changes[1].hlc, "stamps increase");
    assert_eq!(changes[0].entity, "patient");
    assert_eq!(changes[1].hlc.device, 7);

    // Make the outbox insert fail: the patient must not be written either.
    rusqlite::Connection::open(&path)
        .expect("raw")
        .execute_batch("CREATE TRIGGER fail_outbox BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'injected failure'); END;")
        .expect("trigger");
    let err = store
        .add_patient(&patient("C-3"), today())
        .expect_err("the outbox write fails");
    assert!(err.to_string().contains("injected failure"), "{err}");
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
    store.add_patient(&patient("C-1"), today()).expect("adds");
    let first = store.pending_changes().expect("outbox")[0].hlc;
    drop(store);
    let mut store = Store::open(&path, 3).expect("reopens");
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
