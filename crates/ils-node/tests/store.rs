//! The local store on a real SQLite file: schema, the file's own errors, the outbox and clock,
//! crashes, and several processes on one file.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use chrono::NaiveDate;
use common::{ECP, count, open, open_as_ecp, patient, rx};
use ils_core::change::{Change, Entity, Operation};
use ils_core::decide::patients::PatientQuery;
use ils_core::decide::prescriptions::Source;
use ils_node::Store;
use ils_node::StoreError;
use ils_node::store::MIGRATIONS;

const LATEST: u32 = MIGRATIONS.len() as u32;

#[test]
fn migrates_from_empty_and_reopens_idempotently() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("ils.db");
    let store = Store::open(&path).expect("opens");
    assert_eq!(store.schema_version().expect("version"), LATEST);
    let device = store.device();
    drop(store);
    let store = Store::open(&path).expect("reopens");
    assert_eq!(store.schema_version().expect("version"), LATEST);
    assert_eq!(store.device(), device, "the device id is made once");
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
    drop(Store::open(&path).expect("opens"));
    rusqlite::Connection::open(&path)
        .expect("raw")
        .pragma_update(None, "user_version", 99)
        .expect("bump");
    let err = Store::open(&path).expect_err("newer schema");
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
fn a_file_that_is_not_a_database_or_cannot_be_written_is_named_with_a_hint() {
    let dir = tempfile::tempdir().expect("dir");
    let text = dir.path().join("notes.db");
    std::fs::write(&text, "these are my notes, not a database ".repeat(200)).expect("write");
    let err = Store::open(&text).expect_err("not a database");
    assert_eq!(err.code(), "store.not_a_database");
    assert!(err.is_user_error());
    assert!(
        err.to_string().contains(&text.display().to_string()),
        "{err}"
    );

    let path = dir.path().join("ils.db");
    drop(open(&path));
    if !set_read_only(dir.path(), &path, true) {
        eprintln!("skipped: this machine cannot make a file read-only for this user");
        return;
    }
    let result = Store::open(&path)
        .and_then(|mut s| s.sign_in(ECP).map(|_| s))
        .and_then(|mut s| s.add_patient(&patient("R-1")).map(|_| ()));
    set_read_only(dir.path(), &path, false);
    let err = result.expect_err("read-only");
    assert_eq!(err.code(), "store.read_only", "{err}");
    assert!(err.is_user_error());
    assert!(err.to_string().contains("permissions"), "{err}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .any(|l| l.starts_with("Uid:") && l.contains("\t0\t"))
    })
}

/// Makes the file and its folder read-only, as a person would meet it: by permissions, or for
/// root (whom permissions do not stop) by the immutable attribute. False when neither works.
fn set_read_only(dir: &Path, file: &Path, read_only: bool) -> bool {
    if running_as_root() {
        let flag = if read_only { "+i" } else { "-i" };
        return [file, dir].iter().all(|p| {
            Command::new("chattr")
                .arg(flag)
                .arg(p)
                .status()
                .is_ok_and(|s| s.success())
        });
    }
    for p in [file, dir] {
        let mut perms = std::fs::metadata(p).expect("meta").permissions();
        perms.set_readonly(read_only);
        std::fs::set_permissions(p, perms).expect("chmod");
    }
    true
}

#[test]
fn every_write_and_its_change_commit_together() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("ils.db");
    let mut store = open_as_ecp(&path);
    let first = store.add_patient(&patient("C-1")).expect("adds");
    store.add_patient(&patient("C-2")).expect("adds");
    let changes = store.pending_changes().expect("outbox");
    assert_eq!(changes.len(), 2);
    assert!(changes[0].hlc < changes[1].hlc, "stamps increase");
    assert_eq!(changes[0].entity, "patient");
    assert_eq!(changes[1].hlc.device, store.device().get());
    // The outbox holds the typed change as it travels.
    let change = Change::decode(&changes[0].change).expect("decodes");
    assert_eq!(
        (change.entity, change.operation),
        (Entity::Patient, Operation::Upsert)
    );
    assert_eq!(change.entity_id, first.id.into_uuid());
    assert_eq!(change.hlc, changes[0].hlc);

    // Make the outbox insert fail: the patient must not be written either.
    common::fail_outbox_writes(&path);
    let err = store
        .add_patient(&patient("C-3"))
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
    let err = store.add_patient(&bad).expect_err("future");
    assert_eq!(err.code(), "patient.birth_date_in_future");
}

#[test]
fn the_clock_continues_after_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("ils.db");
    let mut store = open_as_ecp(&path);
    store.add_patient(&patient("C-1")).expect("adds");
    let first = store.pending_changes().expect("outbox")[0].hlc;
    drop(store);
    let mut store = open_as_ecp(&path);
    store.add_patient(&patient("C-2")).expect("adds");
    let second = store.pending_changes().expect("outbox")[1].hlc;
    assert!(second > first);
    let dup = store.add_patient(&patient("C-2")).expect_err("taken");
    assert_eq!(dup.code(), "patient.customer_number_taken");
}

/// The writer half of the crash test, run in a child process.
fn crash_writer(path: &Path) -> ! {
    use std::io::Write;
    let mut store = open_as_ecp(path);
    let mut out = std::io::stdout();
    for i in 0.. {
        store
            .add_patient(&patient(&format!("K-{i}")))
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

    if let Ok(path) = std::env::var("ILS_CRASH_WRITER_DB") {
        crash_writer(Path::new(&path));
    }
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("ils.db");
    drop(open(&path));
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
    let store = open(&path);
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

/// One worker of the concurrency test, in a child process: `rounds` times, add a patient and
/// a prescription and read them back (writers), or search and open patients (readers).
fn concurrent_worker(path: &Path, role: &str, id: usize, rounds: usize) -> ! {
    let mut store = open_as_ecp(path);
    for round in 0..rounds {
        if role == "writer" {
            let p = store
                .add_patient(&patient(&format!("W{id}-{round}")))
                .unwrap_or_else(|e| panic!("writer {id} round {round}: add patient: {e}"));
            let got = store
                .patient(p.id)
                .unwrap_or_else(|e| panic!("writer {id} round {round}: read patient: {e}"));
            assert_eq!(got.id, p.id);
            store
                .add_prescription(p.id, &rx(), Source::Form)
                .unwrap_or_else(|e| panic!("writer {id} round {round}: add rx: {e}"));
        } else {
            let found = store
                .search_patients(&PatientQuery::default(), 20, 0)
                .unwrap_or_else(|e| panic!("reader {id} round {round}: search: {e}"));
            if let Some(p) = found.first() {
                store
                    .patient(p.id)
                    .unwrap_or_else(|e| panic!("reader {id} round {round}: show: {e}"));
            }
        }
    }
    std::process::exit(0)
}

#[test]
fn several_processes_on_one_file_wait_their_turn_and_stamp_uniquely() {
    if let (Ok(path), Ok(role), Ok(id)) = (
        std::env::var("ILS_CONCURRENT_DB"),
        std::env::var("ILS_CONCURRENT_ROLE"),
        std::env::var("ILS_CONCURRENT_ID"),
    ) {
        concurrent_worker(Path::new(&path), &role, id.parse().expect("id"), 25);
    }
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("ils.db");
    drop(open(&path));
    let workers: Vec<_> = ["writer", "writer", "writer", "writer", "reader", "reader"]
        .iter()
        .enumerate()
        .map(|(id, role)| {
            Command::new(std::env::current_exe().expect("test binary"))
                .args([
                    "--exact",
                    "several_processes_on_one_file_wait_their_turn_and_stamp_uniquely",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env("ILS_CONCURRENT_DB", &path)
                .env("ILS_CONCURRENT_ROLE", role)
                .env("ILS_CONCURRENT_ID", id.to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawns a worker")
        })
        .collect();
    for (id, worker) in workers.into_iter().enumerate() {
        let out = worker.wait_with_output().expect("worker ends");
        assert!(
            out.status.success(),
            "worker {id} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Every write happened exactly once, with one change each.
    assert_eq!(count(&path, "patients"), 4 * 25);
    assert_eq!(count(&path, "prescriptions"), 4 * 25);
    let store = open(&path);
    let changes = store.pending_changes().expect("outbox");
    assert_eq!(changes.len(), 2 * 4 * 25);
    // Stamps are unique and follow the order of the commits, whichever process wrote.
    assert!(
        changes.windows(2).all(|w| w[0].hlc < w[1].hlc),
        "the clock is shared by every process on the file"
    );
}
