//! Prescriptions, orders, the audit log and schema migrations on a real SQLite file.

mod common;

use chrono::NaiveDate;
use ils_core::order::{OrderAction, OrderData, OrderStatus};
use ils_core::patient::PatientData;
use ils_core::rx::RxData;
use ils_node::store::{MIGRATIONS, OrderFilter};
use ils_node::{Actor, Store, StoreError};
use serde_json::json;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 28).expect("date")
}

fn actor(name: &str) -> Actor {
    Actor::new(name).expect("actor")
}

fn patient(number: &str) -> PatientData {
    serde_json::from_value(json!({
        "customer_number": number, "first_name": "Grace", "last_name": "Hopper",
        "date_of_birth": "1956-12-09", "email": null, "phone": null, "address": null, "notes": null
    }))
    .expect("patient")
}

fn rx() -> RxData {
    serde_json::from_value(json!({
        "kind": "spectacle",
        "right": {"sphere": -2.25, "cylinder": -0.75, "axis": 180, "add": 2.0,
                  "prism_horizontal": {"amount": 1.0, "base": "in"}},
        "left": {"sphere": -2.0, "cylinder": -0.5, "axis": 170, "add": 2.0},
        "pd": {"right_distance": 32.0, "left_distance": 31.5},
        "segment_height": 18.0,
        "issue_date": "2026-11-01", "expiry_date": "2028-11-01",
        "prescriber": "Dr. Rosalind Franklin"
    }))
    .expect("rx")
}

fn order(patient: &str, rx: &str) -> OrderData {
    serde_json::from_value(json!({
        "patient_id": patient, "prescription_id": rx, "lens_type": "progressive",
        "material": "1.6 MR-8", "coatings": ["AR", "hard coat"],
        "frame": {"brand": "Lindberg", "model": "Air", "box_a": 52.0, "box_b": 38.0, "dbl": 18.0, "ed": 56.0},
        "measurements": {"right_pd": 32.0, "left_pd": 31.5, "right_segment_height": 19.0, "left_segment_height": 19.0},
        "promised_date": "2099-01-31"
    }))
    .expect("order")
}

fn open(dir: &tempfile::TempDir) -> Store {
    let mut store = Store::open(&dir.path().join("ils.db"), 5).expect("opens");
    store.sign_in(actor("optom@demo.ils.local"));
    store
}

fn count(store_path: &std::path::Path, table: &str) -> i64 {
    rusqlite::Connection::open(store_path)
        .expect("raw")
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .expect("count")
}

#[test]
fn nothing_is_read_or_written_without_a_signed_in_user() {
    let dir = tempfile::tempdir().expect("dir");
    let mut store = Store::open(&dir.path().join("ils.db"), 5).expect("opens");
    assert!(matches!(
        store.add_patient(&patient("P-1"), today()),
        Err(StoreError::NotSignedIn)
    ));
    assert!(matches!(
        store.search_patients(None, 10, 0),
        Err(StoreError::NotSignedIn)
    ));
    assert!(Actor::new("  ").is_err());
    assert!(Actor::new("a\u{7}b").is_err());
}

#[test]
fn prescriptions_and_orders_with_timeline_outbox_and_audit() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("ils.db");
    let mut store = open(&dir);
    let p = store
        .add_patient(&patient("P-1"), today())
        .expect("patient");
    let r = store.add_prescription(p, &rx(), today()).expect("rx");

    // Invalid prescriptions are refused by ils-core's rules, and nothing is written.
    let mut bad = rx();
    bad.right.axis = None; // a cylinder needs an axis
    let err = store
        .add_prescription(p, &bad, today())
        .expect_err("invalid");
    assert!(matches!(err, StoreError::Validation(_)), "{err}");
    let mut future = rx();
    future.issue_date = NaiveDate::from_ymd_opt(2027, 1, 1).expect("date");
    assert!(store.add_prescription(p, &future, today()).is_err());
    assert_eq!(count(&path, "prescriptions"), 1);

    let stored = store.prescription(r).expect("read");
    assert_eq!(stored.data, rx());
    assert_eq!(store.prescriptions_of(p).expect("list").len(), 1);
    let fhir = store.prescription_fhir(r).expect("fhir");
    assert_eq!(fhir["resourceType"], "VisionPrescription");
    assert_eq!(
        ils_core::fhir::import(&fhir).expect("round trip"),
        rx(),
        "the FHIR export reads back to the same prescription"
    );

    // An order through the status machine, a refused move, a remake.
    let o = store
        .create_order(&order(&p.to_string(), &r.to_string()), today())
        .expect("order");
    assert_eq!(o.status, OrderStatus::Draft);
    assert_eq!(o.order_number, "L000001");
    let refused = store
        .transition_order(o.id, OrderAction::Ship, None, today())
        .expect_err("draft cannot ship");
    assert!(
        refused.to_string().contains("cannot be shipped"),
        "{refused}"
    );
    assert!(
        store
            .transition_order(o.id, OrderAction::Cancel, Some("  "), today())
            .is_err(),
        "cancelling needs a reason"
    );
    for action in [
        OrderAction::Submit,
        OrderAction::StartProduction,
        OrderAction::SendToQualityCheck,
        OrderAction::Ship,
        OrderAction::Deliver,
    ] {
        store
            .transition_order(o.id, action, None, today())
            .expect("moves");
    }
    let (old, remake) = store
        .transition_order(
            o.id,
            OrderAction::Remake,
            Some("Wrong fitting height"),
            today(),
        )
        .expect("remake");
    assert_eq!(old.status, OrderStatus::Remade);
    let remake = remake.expect("a linked order");
    assert_eq!(remake.remake_of, Some(o.id));
    assert_eq!(remake.order_number, "L000002");
    let timeline = store.order_timeline(o.id).expect("timeline");
    let steps: Vec<&str> = timeline.iter().map(|e| e.to_status.as_str()).collect();
    assert_eq!(
        steps,
        [
            "draft",
            "submitted",
            "in_production",
            "quality_check",
            "shipped",
            "delivered",
            "remade"
        ]
    );
    assert!(timeline.iter().all(|e| e.actor == "optom@demo.ils.local"));
    assert_eq!(timeline[6].note.as_deref(), Some("Wrong fitting height"));
    let delivered = store
        .orders(OrderFilter {
            status: Some(OrderStatus::Draft),
            ..OrderFilter::default()
        })
        .expect("list");
    assert_eq!(delivered.len(), 1, "only the remake is in draft");

    // Another patient's prescription cannot be ordered for this patient.
    let q = store
        .add_patient(&patient("P-2"), today())
        .expect("patient");
    let err = store
        .create_order(&order(&q.to_string(), &r.to_string()), today())
        .expect_err("wrong patient");
    assert!(err.to_string().contains("another patient"), "{err}");

    // Every mutation has its change...
    let changes = store.pending_changes().expect("outbox");
    let by_entity = |e: &str| changes.iter().filter(|c| c.entity == e).count();
    assert_eq!(by_entity("patient"), 2);
    assert_eq!(by_entity("prescription"), 1);
    assert_eq!(
        by_entity("order"),
        2 + 6,
        "two creations and six transitions"
    );
    assert!(changes.windows(2).all(|w| w[0].hlc < w[1].hlc));

    // ... and its audit row, as do the reads of the patient's record.
    let audit = store
        .audit_entries(Some(&r.to_string()), 100)
        .expect("audit");
    let actions: Vec<&str> = audit.iter().rev().map(|a| a.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "prescription.create",
            "prescription.read",
            "prescription.export_fhir"
        ]
    );
    let everything = store.audit_entries(None, 1000).expect("audit");
    assert!(everything.iter().all(|a| a.actor == "optom@demo.ils.local"));
    assert_eq!(
        everything
            .iter()
            .filter(|a| a.action == "order.transition")
            .count(),
        6
    );
}

#[test]
fn patient_reads_and_searches_are_audited() {
    let dir = tempfile::tempdir().expect("dir");
    let mut store = open(&dir);
    let a = store
        .add_patient(&patient("P-1"), today())
        .expect("patient");
    let mut b = patient("P-2");
    b.last_name = "Ó'Brien_%".into();
    store.add_patient(&b, today()).expect("patient");
    assert_eq!(
        store
            .search_patients(Some("hop"), 10, 0)
            .expect("search")
            .len(),
        1
    );
    assert_eq!(
        store
            .search_patients(Some("Ó'B"), 10, 0)
            .expect("search")
            .len(),
        1
    );
    assert_eq!(
        store
            .search_patients(Some("%"), 10, 0)
            .expect("search")
            .len(),
        0,
        "LIKE wildcards in a query are literal"
    );
    assert_eq!(
        store
            .search_patients(Some("p-2"), 10, 0)
            .expect("search")
            .len(),
        1
    );
    store.sign_in(actor("reception@demo.ils.local"));
    store.patient(a).expect("read");
    let audit = store
        .audit_entries(Some(&a.to_string()), 10)
        .expect("audit");
    assert_eq!(audit[0].action, "patient.read");
    assert_eq!(audit[0].actor, "reception@demo.ils.local");
    let searches = store
        .audit_entries(None, 100)
        .expect("audit")
        .into_iter()
        .filter(|e| e.action == "patient.search")
        .count();
    assert_eq!(searches, 4);
    let missing = store
        .patient(ils_core::PatientId::new())
        .expect_err("no such patient");
    assert!(matches!(missing, StoreError::NotFound { .. }));
}

#[test]
fn the_audit_log_is_append_only() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("ils.db");
    let mut store = open(&dir);
    store
        .add_patient(&patient("P-1"), today())
        .expect("patient");
    drop(store);
    let raw = rusqlite::Connection::open(&path).expect("raw");
    for sql in [
        "UPDATE audit_log SET actor = 'someone else'",
        "DELETE FROM audit_log",
    ] {
        let err = raw.execute(sql, []).expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{err}");
    }
}

/// The schema as SQLite describes it, for comparing databases.
fn schema(path: &std::path::Path) -> Vec<(String, String)> {
    let store = Store::open(path, 1).expect("opens");
    drop(store);
    let raw = rusqlite::Connection::open(path).expect("raw");
    let mut stmt = raw
        .prepare(
            "SELECT name, coalesce(sql, '') FROM sqlite_master
             WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
        )
        .expect("prepare");
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

#[test]
fn every_earlier_schema_migrates_to_the_latest_keeping_its_data() {
    let dir = tempfile::tempdir().expect("dir");
    let fresh = dir.path().join("fresh.db");
    let expected = schema(&fresh);
    for version in 1..MIGRATIONS.len() {
        let path = dir.path().join(format!("v{version}.db"));
        {
            // What a build that knew only the first `version` migrations wrote.
            let mut old = Store::open_at(&path, 2, &MIGRATIONS[..version]).expect("old build");
            assert_eq!(old.schema_version().expect("version") as usize, version);
            old.sign_in(actor("old@demo.ils.local"));
            if version >= 2 {
                old.add_patient(&patient("P-OLD"), today())
                    .expect("patient");
            } else {
                // Schema 1 had patients and the outbox only: write them as that build did.
                let raw = rusqlite::Connection::open(&path).expect("raw");
                raw.execute_batch(
                    "INSERT INTO patients (id, customer_number, first_name, last_name, date_of_birth, created_at, updated_at)
                     VALUES ('0193a5b0-0000-7000-8000-000000000001', 'P-OLD', 'Grace', 'Hopper', '1956-12-09', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z');
                     INSERT INTO outbox (change_id, entity, entity_id, operation, row_json, hlc, created_at)
                     VALUES ('0193a5b0-0000-7000-8000-0000000000aa', 'patient', '0193a5b0-0000-7000-8000-000000000001', 'upsert', '{}', '019b76daa800-00000000-0000000000000002', '2026-01-01T00:00:00Z');",
                )
                .expect("old rows");
            }
        }
        let mut store = Store::open(&path, 2).expect("migrates");
        assert_eq!(
            store.schema_version().expect("version") as usize,
            MIGRATIONS.len()
        );
        store.sign_in(actor("new@demo.ils.local"));
        let found = store.search_patients(Some("P-OLD"), 10, 0).expect("search");
        assert_eq!(
            found.len(),
            1,
            "from schema {version}: the patient survived"
        );
        assert_eq!(store.pending_changes().expect("outbox").len(), 1);
        store
            .add_prescription(found[0].id, &rx(), today())
            .expect("the new tables work");
        drop(store);
        assert_eq!(
            schema(&path),
            expected,
            "from schema {version}: same schema as new"
        );
    }
}

#[test]
fn no_write_commits_without_its_outbox_change() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("ils.db");
    let mut store = open(&dir);
    let p = store
        .add_patient(&patient("P-1"), today())
        .expect("patient");
    let r = store.add_prescription(p, &rx(), today()).expect("rx");
    let o = store
        .create_order(&order(&p.to_string(), &r.to_string()), today())
        .expect("order");
    let before: Vec<i64> = [
        "patients",
        "prescriptions",
        "orders",
        "order_events",
        "audit_log",
    ]
    .iter()
    .map(|t| count(&path, t))
    .collect();
    common::fail_outbox_writes(&path);
    let failures = [
        store.add_patient(&patient("P-2"), today()).map(|_| ()),
        store.add_prescription(p, &rx(), today()).map(|_| ()),
        store
            .create_order(&order(&p.to_string(), &r.to_string()), today())
            .map(|_| ()),
        store
            .transition_order(o.id, OrderAction::Submit, None, today())
            .map(|_| ()),
    ];
    for f in failures {
        let err = f.expect_err("the outbox write fails");
        assert!(err.to_string().contains(common::INJECTED), "{err}");
    }
    let after: Vec<i64> = [
        "patients",
        "prescriptions",
        "orders",
        "order_events",
        "audit_log",
    ]
    .iter()
    .map(|t| count(&path, t))
    .collect();
    assert_eq!(
        before, after,
        "neither the records nor their audit rows were written"
    );
    assert_eq!(
        store.orders(OrderFilter::default()).expect("list")[0].status,
        OrderStatus::Draft
    );
}
