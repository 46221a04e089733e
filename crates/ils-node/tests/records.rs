//! Patients, prescriptions, orders, roles, the audit log and schema migrations on a real SQLite
//! file, carried out from ils-core's decisions.

mod common;

use chrono::NaiveDate;
use common::{ADMIN, ECP, ENGINEER, LAB, count, open, open_as_ecp, order, patient, rx};
use ils_core::decide::patients::PatientQuery;
use ils_core::decide::prescriptions::Source;
use ils_core::order::{OrderAction, OrderStatus};
use ils_core::patient::PatientChanges;
use ils_core::record::TimelineAction;
use ils_core::rx::RxStatus;
use ils_node::store::{MIGRATIONS, OrderFilter};
use ils_node::{Store, StoreError};

fn name(q: &str) -> PatientQuery {
    PatientQuery {
        name_prefix: Some(q.into()),
        ..PatientQuery::default()
    }
}

#[test]
fn nothing_is_read_or_written_without_a_signed_in_user_of_the_practice() {
    let dir = tempfile::tempdir().expect("dir");
    let mut store = open(&dir.path().join("ils.db"));
    assert!(matches!(
        store.add_patient(&patient("P-1")),
        Err(StoreError::NotSignedIn)
    ));
    assert!(matches!(
        store.search_patients(&PatientQuery::default(), 10, 0),
        Err(StoreError::NotSignedIn)
    ));
    let unknown = store
        .sign_in("stranger@demo.ils.local")
        .expect_err("unknown");
    assert_eq!(unknown.code(), "auth.unknown_user");
    let empty = tempfile::tempdir().expect("dir");
    let mut bare = Store::open(&empty.path().join("ils.db")).expect("opens");
    assert_eq!(
        bare.sign_in(ECP).expect_err("no practice").code(),
        "practice.missing"
    );
}

#[test]
fn each_role_may_do_what_it_may_do_on_the_server_with_the_same_codes() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("ils.db");
    let mut store = open_as_ecp(&path);
    let p = store.add_patient(&patient("P-1")).expect("an ECP adds");
    let r = store
        .add_prescription(p.id, &rx(), Source::Form)
        .expect("and prescribes");
    let o = store
        .create_order(&order(&p.id.to_string(), &r.id.to_string()))
        .expect("and orders");
    let code = |e: StoreError| e.code();

    store.sign_in(LAB).expect("lab");
    assert_eq!(
        store.add_patient(&patient("P-2")).map_err(code).err(),
        Some("auth.forbidden"),
        "the lab adds no patients"
    );
    assert_eq!(
        store
            .transition_order(o.id, OrderAction::Submit, None)
            .map_err(code)
            .err(),
        Some("auth.forbidden"),
        "the lab does not submit"
    );
    store.sign_in(ENGINEER).expect("engineer");
    assert_eq!(
        store.order(o.id).map_err(code).err(),
        Some("auth.forbidden"),
        "an engineer does not read orders"
    );
    store.sign_in(ADMIN).expect("admin");
    assert!(store.patient(p.id).is_ok(), "an admin reads patients");
    assert_eq!(
        store
            .update_patient(p.id, &PatientChanges::default())
            .map_err(code)
            .err(),
        Some("auth.forbidden"),
        "but does not change them"
    );
    // Permission first: a role that may not read learns nothing about whether a record exists.
    store.sign_in(ENGINEER).expect("engineer");
    assert_eq!(
        store
            .patient(ils_core::PatientId::new())
            .map_err(code)
            .err(),
        Some("auth.forbidden")
    );
    // Users: only an administrator adds them, and nobody grants platform_admin.
    store.sign_in(ECP).expect("ecp");
    let new_user = ils_node::store::NewUser {
        email: "new@demo.ils.local".into(),
        first_name: "New".into(),
        last_name: "User".into(),
        role: ils_core::Role::Ecp,
    };
    assert_eq!(
        store.add_user(&new_user).map_err(code).err(),
        Some("auth.forbidden")
    );
    store.sign_in(ADMIN).expect("admin");
    let mut platform = new_user.clone();
    platform.role = ils_core::Role::PlatformAdmin;
    assert_eq!(
        store.add_user(&platform).map_err(code).err(),
        Some("user.role_not_assignable")
    );
    store.add_user(&new_user).expect("added");
    assert_eq!(
        store.add_user(&new_user).map_err(code).err(),
        Some("user.email_taken")
    );
}

#[test]
fn prescriptions_and_orders_with_timeline_outbox_and_audit() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("ils.db");
    let mut store = open_as_ecp(&path);
    let p = store.add_patient(&patient("P-1")).expect("patient");
    let r = store
        .add_prescription(p.id, &rx(), Source::Form)
        .expect("rx");

    // Invalid prescriptions are refused by ils-core's rules, and nothing is written.
    let mut bad = rx();
    bad.right.axis = None; // a cylinder needs an axis
    let err = store
        .add_prescription(p.id, &bad, Source::Form)
        .expect_err("invalid");
    assert_eq!(err.code(), "rx.axis_required");
    let mut future = rx();
    future.issue_date = NaiveDate::from_ymd_opt(2027, 1, 1).expect("date");
    assert_eq!(
        store
            .add_prescription(p.id, &future, Source::Form)
            .expect_err("future")
            .code(),
        "rx.issue_date_out_of_range"
    );
    assert_eq!(count(&path, "prescriptions"), 1);

    let stored = store.prescription(r.id).expect("read");
    assert_eq!(stored.data, rx());
    assert_eq!(store.prescriptions_of(p.id).expect("list").len(), 1);
    let fhir = store.prescription_fhir(r.id).expect("fhir");
    assert_eq!(fhir["resourceType"], "VisionPrescription");
    assert_eq!(
        ils_core::fhir::import(&fhir).expect("round trip"),
        rx(),
        "the FHIR export reads back to the same prescription"
    );

    // An order through the status machine, refused moves, a remake.
    let order_data = order(&p.id.to_string(), &r.id.to_string());
    let o = store.create_order(&order_data).expect("order");
    assert_eq!(o.status, OrderStatus::Draft);
    assert_eq!(o.order_number, "L000001");
    let refused = store
        .transition_order(o.id, OrderAction::Ship, None)
        .expect_err("draft cannot ship");
    assert_eq!(refused.code(), "order.transition_not_allowed");
    assert!(
        refused.to_string().contains("cannot be shipped"),
        "{refused}"
    );
    assert_eq!(
        store
            .transition_order(o.id, OrderAction::Cancel, Some("  "))
            .expect_err("no reason")
            .code(),
        "order.reason_required"
    );
    store
        .transition_order(o.id, OrderAction::Submit, None)
        .expect("the practice submits");
    store.sign_in(LAB).expect("lab");
    for action in [
        OrderAction::StartProduction,
        OrderAction::SendToQualityCheck,
        OrderAction::Ship,
        OrderAction::Deliver,
    ] {
        store.transition_order(o.id, action, None).expect("moves");
    }
    store.sign_in(ECP).expect("ecp");
    let (old, remake) = store
        .transition_order(o.id, OrderAction::Remake, Some("Wrong fitting height"))
        .expect("remake");
    assert_eq!(old.status, OrderStatus::Remade);
    let remake = remake.expect("a linked order");
    assert_eq!(remake.remake_of, Some(o.id));
    assert_eq!(
        remake.remake_reason.as_deref(),
        Some("Wrong fitting height")
    );
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
    assert_eq!(timeline[0].action, TimelineAction::Create);
    assert_eq!(timeline[6].note.as_deref(), Some("Wrong fitting height"));
    let lab = store.sign_in(LAB).expect("lab").id;
    assert_eq!(timeline[2].actor, Some(lab), "the lab produced it");
    store.sign_in(ECP).expect("ecp");
    let drafts = store
        .orders(OrderFilter {
            status: Some(OrderStatus::Draft),
            ..OrderFilter::default()
        })
        .expect("list");
    assert_eq!(drafts.len(), 1, "only the remake is in draft");

    // Another patient's prescription cannot be ordered for this patient.
    let q = store.add_patient(&patient("P-2")).expect("patient");
    let err = store
        .create_order(&order(&q.id.to_string(), &r.id.to_string()))
        .expect_err("wrong patient");
    assert_eq!(err.code(), "order.prescription_of_other_patient");

    // A prescription with open orders is not withdrawn; then the order is cancelled and it is.
    assert_eq!(
        store
            .set_prescription_status(r.id, RxStatus::Cancelled)
            .expect_err("open orders")
            .code(),
        "rx.has_open_orders"
    );
    store
        .transition_order(remake.id, OrderAction::Cancel, Some("Patient moved away"))
        .expect("cancelled");
    store
        .set_prescription_status(r.id, RxStatus::EnteredInError)
        .expect("withdrawn");

    // Every mutation has its change...
    let changes = store.pending_changes().expect("outbox");
    let by_entity = |e: &str| changes.iter().filter(|c| c.entity == e).count();
    assert_eq!(by_entity("patient"), 2);
    assert_eq!(by_entity("prescription"), 2, "the creation and the status");
    assert_eq!(
        by_entity("order"),
        2 + 7,
        "two creations and seven transitions"
    );
    assert_eq!(by_entity("order_event"), 2 + 7);
    assert!(changes.windows(2).all(|w| w[0].hlc < w[1].hlc));

    // ... and its audit row, as do the reads of the patient's record.
    store.sign_in(ADMIN).expect("admin reads the audit log");
    let audit = store
        .audit_entries(Some(&r.id.to_string()), 100)
        .expect("audit");
    let actions: Vec<&str> = audit.iter().rev().map(|a| a.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "prescription.create",
            "prescription.read",
            "prescription.export_fhir",
            "prescription.status"
        ]
    );
    let everything = store.audit_entries(None, 1000).expect("audit");
    assert_eq!(
        everything
            .iter()
            .filter(|a| a.action == "order.transition")
            .count(),
        7
    );
    store.sign_in(ECP).expect("ecp");
    assert_eq!(
        store.audit_entries(None, 10).expect_err("ecp").code(),
        "auth.forbidden",
        "the audit log is for administrators"
    );
}

#[test]
fn patients_are_updated_soft_deleted_and_every_read_and_search_is_audited_without_names() {
    let dir = tempfile::tempdir().expect("dir");
    let mut store = open_as_ecp(&dir.path().join("ils.db"));
    let a = store.add_patient(&patient("P-1")).expect("patient");
    let mut b = patient("P-2");
    b.last_name = "Ó'Brien_%".into();
    let b = store.add_patient(&b).expect("patient");
    assert_eq!(
        store
            .search_patients(&name("hop"), 10, 0)
            .expect("search")
            .len(),
        1
    );
    assert_eq!(
        store
            .search_patients(&name("ó'b"), 10, 0)
            .expect("search")
            .len(),
        1,
        "any case, beyond ASCII"
    );
    assert_eq!(
        store
            .search_patients(&name("%"), 10, 0)
            .expect("search")
            .len(),
        0,
        "LIKE wildcards in a query are literal"
    );
    let by_number = PatientQuery {
        customer_number: Some("P-2".into()),
        ..PatientQuery::default()
    };
    assert_eq!(
        store.search_patients(&by_number, 10, 0).expect("search")[0].id,
        b.id
    );
    assert_eq!(
        store
            .search_patients(&name(&"x".repeat(101)), 10, 0)
            .expect_err("too long")
            .code(),
        "patient.search_invalid",
        "the same rule and code as ILS Central"
    );
    let changes: PatientChanges =
        serde_json::from_str(r#"{"first_name": "Amazing Grace", "phone": "+44 20 7946 0000"}"#)
            .expect("json");
    let updated = store.update_patient(a.id, &changes).expect("updated");
    assert_eq!(updated.data.first_name, "Amazing Grace");
    store.delete_patient(a.id).expect("deleted");
    assert_eq!(
        store.patient(a.id).expect_err("gone").code(),
        "patient.not_found"
    );
    assert_eq!(
        store
            .search_patients(&PatientQuery::default(), 10, 0)
            .expect("all")
            .len(),
        1
    );
    store.sign_in(ADMIN).expect("admin");
    let audit = store.audit_entries(None, 100).expect("audit");
    let searches: Vec<_> = audit
        .iter()
        .filter(|e| e.action == "patient.search")
        .collect();
    assert_eq!(searches.len(), 5, "the refused search is not one");
    for entry in &audit {
        let detail = entry
            .detail
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        for name in ["Hopper", "hop", "Brien", "Grace"] {
            assert!(
                !detail.contains(name),
                "{} names a patient: {detail}",
                entry.action
            );
        }
    }
    let update = audit
        .iter()
        .find(|e| e.action == "patient.update")
        .expect("update audited");
    assert_eq!(
        update.detail,
        Some(serde_json::json!({"fields": ["first_name", "phone"]}))
    );
}

#[test]
fn the_audit_log_is_append_only() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("ils.db");
    let mut store = open_as_ecp(&path);
    store.add_patient(&patient("P-1")).expect("patient");
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
    drop(Store::open(path).expect("opens"));
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

/// What a build that knew only the first `version` migrations wrote: a patient, as that build
/// wrote it (schemas 1 and 2 named the user by free text and had no practice).
fn write_as_old_build(path: &std::path::Path, version: usize) {
    drop(Store::open_at(path, &MIGRATIONS[..version]).expect("old build"));
    let raw = rusqlite::Connection::open(path).expect("raw");
    // Schema 3 keeps name keys beside the names and the changes of schemas 1 and 2 aside.
    let (patient, outbox) = if version >= 3 {
        (
            "INSERT INTO patients (id, customer_number, first_name, last_name, first_name_key, last_name_key, date_of_birth, created_at, updated_at)
             VALUES ('0193a5b0-0000-7000-8000-000000000001', 'P-OLD', 'Zoë', 'Ødegård', 'zoë', 'ødegård', '1956-12-09', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z');",
            "outbox_v1",
        )
    } else {
        (
            "INSERT INTO patients (id, customer_number, first_name, last_name, date_of_birth, created_at, updated_at)
             VALUES ('0193a5b0-0000-7000-8000-000000000001', 'P-OLD', 'Zoë', 'Ødegård', '1956-12-09', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z');",
            "outbox",
        )
    };
    raw.execute_batch(&format!(
        "{patient}
         INSERT INTO {outbox} (change_id, entity, entity_id, operation, row_json, hlc, created_at)
         VALUES ('0193a5b0-0000-7000-8000-0000000000aa', 'patient', '0193a5b0-0000-7000-8000-000000000001', 'upsert', '{{}}', '019b76daa800-00000000-0000000000000002', '2026-01-01T00:00:00Z');"
    ))
    .expect("old rows");
    if version >= 2 {
        raw.execute_batch(
            "INSERT INTO documents (id, source, title, format, sha256, byte_size, text, model, ingested_by, created_at, updated_at)
             VALUES ('0193a5b0-0000-7000-8000-0000000000dd', '/kb/care.md', 'Care', 'markdown', 'ab', 42,
                     'Never store lenses in tap water.', 'm@1', 'old@demo', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z');",
        )
        .expect("old document");
        let chunk = if version >= 3 {
            // Schema 3: the chunk's text is its document's; the store indexes it on writing.
            "INSERT INTO chunks (document_id, ordinal, heading, byte_start, byte_end, embedding)
             VALUES ('0193a5b0-0000-7000-8000-0000000000dd', 0, 'Care', 0, 32, zeroblob(1536));
             INSERT INTO chunks_fts (rowid, heading, text) VALUES (last_insert_rowid(), 'Care', 'Never store lenses in tap water.');"
        } else {
            "INSERT INTO chunks (document_id, ordinal, heading, text, byte_start, byte_end, embedding)
             VALUES ('0193a5b0-0000-7000-8000-0000000000dd', 0, 'Care', 'Never store lenses in tap water.', 0, 32, zeroblob(1536));"
        };
        raw.execute_batch(chunk).expect("old chunk");
    }
}

#[test]
fn every_earlier_schema_migrates_to_the_latest_keeping_its_data() {
    let dir = tempfile::tempdir().expect("dir");
    let fresh = dir.path().join("fresh.db");
    let expected = schema(&fresh);
    for version in 1..MIGRATIONS.len() {
        let path = dir.path().join(format!("v{version}.db"));
        write_as_old_build(&path, version);
        let mut store = open_as_ecp(&path);
        assert_eq!(
            store.schema_version().expect("version") as usize,
            MIGRATIONS.len()
        );
        let found = store.search_patients(&name("ødeg"), 10, 0).expect("search");
        assert_eq!(
            found.len(),
            1,
            "from schema {version}: the patient survived, with a Unicode name key"
        );
        let legacy = count(&path, "outbox_v1");
        assert_eq!(
            legacy, 1,
            "from schema {version}: the old change is kept aside"
        );
        store
            .add_prescription(found[0].id, &rx(), Source::Form)
            .expect("the new tables work");
        if version >= 2 {
            // The chunk's text now comes from its document, and the index still finds it.
            let raw = rusqlite::Connection::open(&path).expect("raw");
            let hit: i64 = raw
                .query_row(
                    "SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH 'tap'",
                    [],
                    |r| r.get(0),
                )
                .expect("indexed");
            assert!(hit > 0);
        }
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
    let mut store = open_as_ecp(&path);
    let p = store.add_patient(&patient("P-1")).expect("patient");
    let r = store
        .add_prescription(p.id, &rx(), Source::Form)
        .expect("rx");
    let o = store
        .create_order(&order(&p.id.to_string(), &r.id.to_string()))
        .expect("order");
    // A patient and a prescription without orders, to delete and to withdraw.
    let lone = store.add_patient(&patient("P-9")).expect("patient");
    let r2 = store
        .add_prescription(p.id, &rx(), Source::Form)
        .expect("rx");
    let tables = [
        "patients",
        "prescriptions",
        "orders",
        "order_events",
        "audit_log",
    ];
    let before: Vec<i64> = tables.iter().map(|t| count(&path, t)).collect();
    common::fail_outbox_writes(&path);
    let failures = [
        store.add_patient(&patient("P-2")).map(|_| ()),
        store
            .add_prescription(p.id, &rx(), Source::Form)
            .map(|_| ()),
        store
            .create_order(&order(&p.id.to_string(), &r.id.to_string()))
            .map(|_| ()),
        store
            .transition_order(o.id, OrderAction::Submit, None)
            .map(|_| ()),
        store
            .update_patient(p.id, &PatientChanges::default())
            .map(|_| ()),
        store.delete_patient(lone.id).map(|_| ()),
        store
            .set_prescription_status(r2.id, RxStatus::Cancelled)
            .map(|_| ()),
    ];
    for f in failures {
        let err = f.expect_err("the outbox write fails");
        assert!(err.to_string().contains(common::INJECTED), "{err}");
    }
    let after: Vec<i64> = tables.iter().map(|t| count(&path, t)).collect();
    assert_eq!(
        before, after,
        "neither the records nor their audit rows were written"
    );
    assert_eq!(
        store.orders(OrderFilter::default()).expect("list")[0].status,
        OrderStatus::Draft
    );
}

#[test]
fn the_orders_board_shows_the_newest_of_each_status_with_whose_order_it_is_to_those_who_may_know() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("ils.db");
    let mut store = open_as_ecp(&path);
    let p = store.add_patient(&patient("P-1")).expect("patient");
    let r = store
        .add_prescription(p.id, &rx(), Source::Form)
        .expect("rx");
    let made: Vec<_> = (0..5)
        .map(|_| {
            store
                .create_order(&order(&p.id.to_string(), &r.id.to_string()))
                .expect("order")
        })
        .collect();
    store
        .transition_order(made[0].id, OrderAction::Submit, None)
        .expect("submitted");
    // The oldest draft was promised long ago.
    rusqlite::Connection::open(&path)
        .expect("raw")
        .execute(
            "UPDATE orders SET promised_date = '2020-01-31' WHERE id = ?1",
            [made[1].id.to_string()],
        )
        .expect("promised in the past");

    let board = store.order_board(3, false).expect("board");
    assert_eq!(board.per_column, 3);
    assert_eq!(board.overdue_total, 1);
    let column = |status: OrderStatus| {
        board
            .columns
            .iter()
            .find(|c| c.status == status)
            .expect("a column per status")
    };
    let drafts = column(OrderStatus::Draft);
    assert_eq!(drafts.total, 4, "all four drafts are counted");
    let shown: Vec<_> = drafts.orders.iter().map(|o| o.order.id).collect();
    assert_eq!(
        shown,
        [made[4].id, made[3].id, made[2].id],
        "the newest three, newest first"
    );
    let label = drafts.orders[0]
        .patient
        .as_ref()
        .expect("the ECP reads patients");
    assert_eq!(
        (
            label.last_name.as_str(),
            label.customer_number.as_str(),
            label.id
        ),
        ("Hopper", "P-1", p.id)
    );
    assert_eq!(column(OrderStatus::Submitted).total, 1);
    assert_eq!(column(OrderStatus::Delivered).total, 0);
    assert_eq!(board.columns.len(), OrderStatus::ALL.len());

    let overdue = store.order_board(3, true).expect("overdue board");
    let only: Vec<_> = overdue
        .columns
        .iter()
        .flat_map(|c| &c.orders)
        .map(|o| (o.order.id, o.overdue))
        .collect();
    assert_eq!(only, [(made[1].id, true)]);
    assert_eq!(
        column(OrderStatus::Draft)
            .orders
            .iter()
            .filter(|o| o.overdue)
            .count(),
        0
    );

    let last_audit = || -> String {
        rusqlite::Connection::open(&path)
            .expect("raw")
            .query_row(
                "SELECT detail FROM audit_log ORDER BY rowid DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .expect("audited")
    };
    assert!(
        last_audit().contains(&p.id.to_string()),
        "the patient shown is audited"
    );

    // A lab technician sees the work, not whose it is.
    store.sign_in(LAB).expect("lab");
    let board = store.order_board(200, false).expect("the lab's board");
    let orders: Vec<_> = board.columns.iter().flat_map(|c| &c.orders).collect();
    assert_eq!(orders.len(), 5);
    assert!(orders.iter().all(|o| o.patient.is_none()));
    assert!(!last_audit().contains(&p.id.to_string()));

    // An engineer does not read orders at all.
    store.sign_in(ENGINEER).expect("engineer");
    assert_eq!(
        store.order_board(10, false).expect_err("refused").code(),
        "auth.forbidden"
    );
}
