//! Sync end to end: ILS Central on a real PostgreSQL over real HTTP, and desktop engines on
//! real SQLite files, each connected as a device of one practice. Offline work on each device,
//! then syncs in different orders: every replica ends with the same records as ILS Central;
//! concurrent edits of one patient end the same everywhere; the API's own writes reach the
//! devices; a change ILS Central refuses stays on the device with its reason; a user who signed
//! in online can sign in offline, and a wrong password offline is refused; an expired access
//! token is refreshed without the person noticing.

#[path = "../crates/ils-server/tests/api/common.rs"]
mod common;
mod desk;

use std::collections::BTreeMap;

use ils_core::decide::conflicts::Resolution;
use ils_core::order::OrderAction;
use ils_core::patient::PatientChanges;
use ils_core::{Role, SubscriptionTier};
use ils_node::Store;
use ils_node::engine::{ConnectRequest, PrescriptionInput};
use reqwest::StatusCode;
use serde_json::{Value, json};

use common::{PASSWORD, TestApp};
use desk::{Desk, Patients, central_patients, connect, desk_patients, patient, user};
use ils_testkit::Rng;

async fn sync(desk: &Desk) -> ils_node::engine::SyncReport {
    desk.run(|e| e.sync_now()).await.expect("sync")
}

fn rx() -> Value {
    json!({
        "kind": "spectacle",
        "right": {"sphere": -2.25, "cylinder": -0.75, "axis": 180, "add": 2.0},
        "left": {"sphere": -2.0, "cylinder": -0.5, "axis": 170, "add": 2.0},
        "issue_date": "2026-11-01", "expiry_date": "2030-11-01",
        "prescriber": "Dr. Rosalind Franklin"
    })
}

fn order(patient: &str, rx: &str) -> Value {
    json!({
        "patient_id": patient, "prescription_id": rx,
        "lens_type": "progressive", "material": "1.6 MR-8", "coatings": ["AR"],
        "frame": {"box_a": 52.0, "box_b": 38.0, "dbl": 18.0, "ed": 56.0},
        "measurements": {"right_pd": 32.0, "left_pd": 31.5, "right_segment_height": 19.0, "left_segment_height": 19.0},
        "promised_date": "2099-01-31"
    })
}

/// What a replica holds, comparably: patients (number → name, phone, deleted), prescriptions
/// (id → status), orders (id → number, status), timeline entries per order.
#[derive(Debug, PartialEq, Eq)]
struct Holdings {
    patients: BTreeMap<String, (String, String, Option<String>)>,
    prescriptions: BTreeMap<String, String>,
    orders: BTreeMap<String, (String, String, usize)>,
}

async fn desk_holdings(desk: &Desk) -> Holdings {
    desk.run(|e| {
        let patients = e.search_patients(&Default::default(), 1000, 0);
        let mut h = Holdings {
            patients: BTreeMap::new(),
            prescriptions: BTreeMap::new(),
            orders: BTreeMap::new(),
        };
        for p in patients.expect("patients") {
            h.patients.insert(
                p.data.customer_number.clone(),
                (
                    p.data.first_name.clone(),
                    p.data.last_name.clone(),
                    p.data.phone.clone(),
                ),
            );
            for rx in e.prescriptions_of(p.id).expect("prescriptions") {
                h.prescriptions
                    .insert(rx.id.to_string(), rx.data.status.as_str().to_owned());
            }
        }
        for o in e.orders(Default::default()).expect("orders") {
            let timeline = e.order_timeline(o.id).expect("timeline").len();
            h.orders.insert(
                o.id.to_string(),
                (
                    o.order_number.clone(),
                    o.status.as_str().to_owned(),
                    timeline,
                ),
            );
        }
        h
    })
    .await
}

async fn central_holdings(app: &TestApp, token: &str) -> Holdings {
    let mut h = Holdings {
        patients: BTreeMap::new(),
        prescriptions: BTreeMap::new(),
        orders: BTreeMap::new(),
    };
    let owner = app.owner_pool().await;
    let rows: Vec<(String, String, String, Option<String>, String)> = sqlx::query_as(
        "SELECT customer_number, first_name, last_name, phone, company_id::text FROM patients
         WHERE deleted_at IS NULL",
    )
    .fetch_all(&owner)
    .await
    .expect("patients");
    let company = app.get("/api/me", token).await.body["company_id"]
        .as_str()
        .expect("company")
        .to_owned();
    for (number, first, last, phone, c) in rows {
        if c == company {
            h.patients.insert(number, (first, last, phone));
        }
    }
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT id::text, status FROM prescriptions WHERE company_id = $1::uuid")
            .bind(&company)
            .fetch_all(&owner)
            .await
            .expect("prescriptions");
    h.prescriptions.extend(rows);
    let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT o.id::text, o.order_number, o.status,
                (SELECT count(*) FROM order_events e WHERE e.company_id = o.company_id AND e.order_id = o.id)
         FROM orders o WHERE o.company_id = $1::uuid",
    )
    .bind(&company)
    .fetch_all(&owner)
    .await
    .expect("orders");
    for (id, number, status, events) in rows {
        h.orders
            .insert(id, (number, status, usize::try_from(events).unwrap_or(0)));
    }
    h
}

#[tokio::test]
async fn offline_work_on_two_devices_and_the_api_converges_everywhere() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("converge", SubscriptionTier::Pro).await;
    let ada = user(&app, &tenant, Role::Ecp, "ada").await;
    let bob = user(&app, &tenant, Role::Ecp, "bob").await;
    let ecp_token = app.login(&tenant.domain, &ada, PASSWORD).await;
    let a = Desk::new();
    let b = Desk::new();
    connect(&app, &tenant, &a, &ada, "Front desk").await;
    connect(&app, &tenant, &b, &bob, "Exam room").await;

    // Offline: A registers a patient, a prescription and an order and submits it; B registers
    // another patient. The API registers a third.
    let (p_a, o_a) = a
        .run(|e| {
            let p = e.add_patient(&patient("A-1", "Hopper")).expect("patient");
            let rx = e
                .add_prescription(p.id, &PrescriptionInput(rx()))
                .expect("rx");
            let o = e
                .create_order(&order(&p.id.to_string(), &rx.id.to_string()))
                .expect("order");
            e.transition_order(o.id, OrderAction::Submit, None)
                .expect("submit");
            (p, o)
        })
        .await;
    assert!(o_a.order_number.starts_with('L'), "a local number offline");
    b.run(|e| e.add_patient(&patient("B-1", "Lovelace")).expect("patient"))
        .await;
    let api = app
        .post(
            "/api/patients",
            &ecp_token,
            json!({"customer_number": "W-1", "first_name": "Alan", "last_name": "Turing",
                   "date_of_birth": "1912-06-23"}),
        )
        .await;
    assert_eq!(api.status, StatusCode::CREATED, "{:?}", api.body);

    // Sync in one order, then the other.
    let first = sync(&b).await;
    assert_eq!(first.pushed.applied, 1);
    let report = sync(&a).await;
    assert_eq!(
        report.pushed.applied, 6,
        "patient, rx, order + entry, submit + entry"
    );
    assert_eq!(report.pushed.rejected, 0);
    sync(&b).await;

    // The order has the practice's number everywhere; A keeps its own as the local one.
    let numbered = a.run(move |e| e.order(o_a.id).expect("order")).await;
    assert!(numbered.order_number.starts_with("ORD-"), "{numbered:?}");
    let on_a = desk_holdings(&a).await;
    let on_b = desk_holdings(&b).await;
    let central = central_holdings(&app, &ecp_token).await;
    assert_eq!(on_a, central);
    assert_eq!(on_b, central);
    assert_eq!(central.patients.len(), 3, "{central:?}");
    assert_eq!(
        central.orders.values().next().map(|o| (o.1.as_str(), o.2)),
        Some(("submitted", 2))
    );

    // Both edit A's patient offline; B's edit is later. Whatever order they sync in, the later
    // edit wins on every replica, and the earlier one is in a conflict log.
    let id = p_a.id;
    a.run(move |e| {
        let changes: PatientChanges =
            serde_json::from_value(json!({"phone": "+44 20 7946 0001"})).expect("changes");
        e.update_patient(id, &changes).expect("update on A")
    })
    .await;
    std::thread::sleep(std::time::Duration::from_millis(5));
    b.run(move |e| {
        let changes: PatientChanges =
            serde_json::from_value(json!({"phone": "+44 20 7946 0002"})).expect("changes");
        e.update_patient(id, &changes).expect("update on B")
    })
    .await;
    sync(&b).await;
    let late = sync(&a).await;
    assert_eq!(
        late.pushed.conflicts, 1,
        "A's edit lost on ILS Central: {late:?}"
    );
    sync(&b).await;
    let on_a = desk_holdings(&a).await;
    let on_b = desk_holdings(&b).await;
    let central = central_holdings(&app, &ecp_token).await;
    assert_eq!(on_a, central);
    assert_eq!(on_b, central);
    assert_eq!(
        central.patients["A-1"].2.as_deref(),
        Some("+44 20 7946 0002")
    );
    let kept = app.get("/api/sync/conflicts", &ecp_token).await;
    assert_eq!(
        kept.body.as_array().map(Vec::len),
        Some(1),
        "{:?}",
        kept.body
    );

    // Nothing more to do: a second run moves nothing.
    let idle = sync(&a).await;
    assert_eq!(
        (idle.pushed.applied, idle.pulled.applied),
        (0, 0),
        "{idle:?}"
    );
    let state = a.run(|e| e.sync_state()).await.expect("state");
    assert_eq!((state.pending, state.rejected), (0, 0));
    assert!(state.last_success.is_some() && state.last_error.is_none());
}

#[tokio::test]
async fn a_refused_change_stays_with_its_reason_and_sign_in_works_offline() {
    let app = TestApp::spawn_with(|s| s.auth.access_ttl_secs = 2).await;
    let tenant = app.create_tenant("refused", SubscriptionTier::Pro).await;
    let ada = user(&app, &tenant, Role::Ecp, "ada").await;
    let a = Desk::new();
    connect(&app, &tenant, &a, &ada, "Front desk").await;

    // The same customer number as a patient the API registered meanwhile: refused with the
    // API's code, kept on the device with its reason, never sent again unchanged.
    let token = app.login(&tenant.domain, &ada, PASSWORD).await;
    let api = app
        .post(
            "/api/patients",
            &token,
            json!({"customer_number": "C-7", "first_name": "Alan", "last_name": "Turing",
                   "date_of_birth": "1912-06-23"}),
        )
        .await;
    assert_eq!(api.status, StatusCode::CREATED);
    a.run(|e| e.add_patient(&patient("C-7", "Hopper")).expect("patient"))
        .await;
    // The access token (2 s) has expired by now: the run refreshes it on its own.
    std::thread::sleep(std::time::Duration::from_millis(2_500));
    let report = sync(&a).await;
    assert_eq!(report.pushed.rejected, 1, "{report:?}");
    let rejected = a.run(|e| e.sync_rejected()).await.expect("rejected");
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].code, "patient.customer_number_taken");
    let again = sync(&a).await;
    assert_eq!(
        again.pushed.rejected, 0,
        "a refused change is not sent again unchanged"
    );
    let state = a.run(|e| e.sync_state()).await.expect("state");
    assert_eq!((state.pending, state.rejected, state.conflicts), (0, 1, 1));
    // ILS Central's patient holds C-7 here too; this device's keeps a provisional number and a
    // conflict entry that says why.
    let held = desk_holdings(&a).await;
    let numbers: Vec<&String> = held.patients.keys().collect();
    assert_eq!(numbers.len(), 2, "{numbers:?}");
    assert_eq!(held.patients["C-7"].1, "Turing");
    assert!(numbers[1].starts_with("C-7.dup-"), "{numbers:?}");
    let conflicts = a.run(|e| e.sync_conflicts()).await.expect("conflicts");
    assert_eq!(conflicts[0].reason, "customer_number_taken");

    // Offline (ILS Central unreachable): the right password signs in, a wrong one does not.
    let email = ada.clone();
    let offline = a
        .run(move |e| {
            e.with_store_mut(|s| s.set_sync_server("http://127.0.0.1:9", "refused.example"))
                .expect("server");
            e.sign_out();
            let wrong = e.sign_in_with_password(&email, "not the password");
            let right = e.sign_in_with_password(&email, PASSWORD);
            (wrong.map(|u| u.email), right.map(|u| u.email))
        })
        .await;
    assert_eq!(
        offline.0.expect_err("a wrong password offline").code,
        "auth.invalid_credentials"
    );
    assert_eq!(offline.1.expect("the right password offline"), ada);
    let who = a
        .run(|e| e.search_patients(&Default::default(), 10, 0))
        .await;
    assert!(who.is_ok(), "signed in offline, the user works: {who:?}");

    // A device that was never approved cannot sync, and says why.
    let pending = Desk::new();
    let bob = user(&app, &tenant, Role::Ecp, "bob").await;
    let request = ConnectRequest {
        server: app.base.clone(),
        domain: tenant.domain.clone(),
        email: bob,
        password: PASSWORD.to_owned(),
        device_name: "Back office".into(),
        code: None,
    };
    pending
        .run(move |e| e.connect(&request))
        .await
        .expect("registered, waiting for approval");
    let refused = pending.run(|e| e.sync_now()).await;
    assert_eq!(
        refused.expect_err("not approved").code,
        "device.not_approved"
    );
}

#[tokio::test]
async fn an_erased_patient_leaves_every_device_and_never_comes_back_from_an_offline_outbox() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("erasure", SubscriptionTier::Pro).await;
    let ada = user(&app, &tenant, Role::Ecp, "ada").await;
    let bob = user(&app, &tenant, Role::Ecp, "bob").await;
    let a = Desk::new();
    let b = Desk::new();
    connect(&app, &tenant, &a, &ada, "Front desk").await;
    connect(&app, &tenant, &b, &bob, "Exam room").await;
    let p = a
        .run(|e| {
            let p = e.add_patient(&patient("E-1", "Erasmus")).expect("patient");
            let rx = e
                .add_prescription(p.id, &PrescriptionInput(rx()))
                .expect("rx");
            e.create_order(&order(&p.id.to_string(), &rx.id.to_string()))
                .expect("order");
            e.add_patient(&patient("K-1", "Kept")).expect("another");
            p
        })
        .await;
    sync(&a).await;
    sync(&b).await;
    assert_eq!(desk_holdings(&b).await.patients.len(), 2);

    // A edits the patient offline while ILS Central erases them.
    let id = p.id;
    a.run(move |e| {
        let changes: PatientChanges =
            serde_json::from_value(json!({"phone": "+44 20 7946 0009"})).expect("changes");
        e.update_patient(id, &changes).expect("offline edit")
    })
    .await;
    let erased = app
        .post(
            &format!("/api/patients/{id}/erasure"),
            &tenant.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(erased.status, StatusCode::OK, "{:?}", erased.body);

    // A's edit is refused, and the erasure reaches A and B.
    let on_a = sync(&a).await;
    assert_eq!(on_a.pushed.rejected, 1, "{on_a:?}");
    assert_eq!(on_a.pulled.erased, 1, "{on_a:?}");
    let on_b = sync(&b).await;
    assert_eq!(on_b.pulled.erased, 1, "{on_b:?}");
    for desk in [&a, &b] {
        let held = desk_holdings(desk).await;
        assert_eq!(
            held.patients.keys().collect::<Vec<_>>(),
            ["K-1"],
            "{held:?}"
        );
        assert!(held.prescriptions.is_empty() && held.orders.is_empty());
        // Nothing of the patient is left in the file: no row, no change, no id in the log.
        let text = id.to_string();
        let left = desk
            .run(move |e| {
                e.with_store_mut(|s| {
                    let path = s.path().to_owned();
                    let conn = rusqlite_free_text(&path);
                    conn.contains(&text) || conn.contains("Erasmus")
                })
            })
            .await;
        assert!(!left, "the erased patient is gone from the file");
    }
    let central = central_holdings(&app, &tenant.admin_token).await;
    assert_eq!(central.patients.keys().collect::<Vec<_>>(), ["K-1"]);
    // A's audit entries about its offline edit reached the practice's trail after the erasure,
    // without the patient's id; and no table of ILS Central names them.
    let owner = app.owner_pool().await;
    let (device_rows,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM audit_log WHERE company_id = $1::uuid AND action = 'patient.update'
           AND details->>'recorded_on' = 'device' AND resource_id = 'unknown'",
    )
    .bind(&tenant.id)
    .fetch_one(&owner)
    .await
    .expect("count");
    assert_eq!(device_rows, 1);
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind = 'r'",
    )
    .fetch_all(&owner)
    .await
    .expect("tables");
    for (table,) in tables {
        let (hits,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {table} t WHERE t::text LIKE '%' || $1 || '%'"
        )))
        .bind(id.to_string())
        .fetch_one(&owner)
        .await
        .expect("scan");
        assert_eq!(hits, 0, "{table} names the erased patient");
    }

    // Another sync sends nothing about them again, and nothing comes back.
    let again = sync(&a).await;
    assert_eq!((again.pushed.applied, again.pushed.rejected), (0, 0));
    let central = central_holdings(&app, &tenant.admin_token).await;
    assert_eq!(central.patients.len(), 1);
}

/// Every text value of every table of the file, and the raw bytes of the file and its
/// write-ahead log (deleted content must not linger in free pages either).
fn rusqlite_free_text(path: &std::path::Path) -> String {
    let store = Store::open(path).expect("store");
    let mut text = store.dump_text().expect("dump");
    for file in [path.to_owned(), path.with_extension("db-wal")] {
        if let Ok(bytes) = std::fs::read(&file) {
            text.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    text
}

#[tokio::test]
async fn random_offline_work_and_sync_orders_converge_on_every_replica() {
    let seeds: u64 = std::env::var("ILS_SYNC_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let app = TestApp::spawn().await;
    let first: u64 = std::env::var("ILS_SYNC_FIRST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    for seed in first..first + seeds {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ seed.wrapping_mul(0x1000_0001));
        let tenant = app
            .create_tenant(&format!("seed{seed}"), SubscriptionTier::Pro)
            .await;
        let company = app.get("/api/me", &tenant.admin_token).await.body["company_id"]
            .as_str()
            .expect("company")
            .to_owned();
        let mut desks = Vec::new();
        for i in 0..3 {
            let email = user(&app, &tenant, Role::Ecp, &format!("staff{i}")).await;
            let desk = Desk::new();
            connect(&app, &tenant, &desk, &email, &format!("Desk {i}")).await;
            desks.push(desk);
        }
        let api_user = user(&app, &tenant, Role::Ecp, "web").await;
        let api_token = app.login(&tenant.domain, &api_user, PASSWORD).await;
        let mut created = 0;
        for _step in 0..40 {
            let who = rng.index(5);
            let roll = rng.index(100);
            if who == 4 {
                // The web API edits a patient ILS Central knows.
                let known: Vec<String> = central_patients(&app, &company)
                    .await
                    .into_iter()
                    .filter(|(_, p)| !p.4)
                    .map(|(id, _)| id)
                    .collect();
                if known.is_empty() {
                    continue;
                }
                let id = &known[rng.index(known.len())];
                let notes = format!("api {}", rng.next_u64() % 1000);
                let reply = app
                    .patch(
                        &format!("/api/patients/{id}"),
                        &api_token,
                        json!({"notes": notes}),
                    )
                    .await;
                assert_eq!(
                    reply.status,
                    StatusCode::OK,
                    "seed {seed}: {:?}",
                    reply.body
                );
                continue;
            }
            if who == 3 {
                let i = rng.index(3);
                sync(&desks[i]).await;
                continue;
            }
            let desk = &desks[who];
            let known = desk_patients(desk).await;
            let live: Vec<String> = known
                .iter()
                .filter(|(_, p)| !p.4)
                .map(|(id, _)| id.clone())
                .collect();
            if roll < 30 || live.is_empty() {
                created += 1;
                let number = format!("S{seed}-D{who}-{created}");
                desk.run(move |e| e.add_patient(&patient(&number, "Random")).map(|_| ()))
                    .await
                    .expect("add");
            } else {
                let id: ils_core::PatientId = live[rng.index(live.len())].parse().expect("id");
                let value = rng.next_u64() % 1000;
                let change = match roll {
                    30..=59 => json!({"phone": format!("+44 20 7946 {value:04}")}),
                    60..=89 => json!({"first_name": format!("Name{value}")}),
                    _ => json!({}),
                };
                if roll >= 95 {
                    // Deleting may be refused (open orders: none here); either way it is fine.
                    let _ = desk.run(move |e| e.delete_patient(id)).await;
                } else if roll >= 90 {
                    let _ = desk
                        .run(move |e| e.add_prescription(id, &PrescriptionInput(rx())).map(|_| ()))
                        .await;
                } else {
                    let changes: PatientChanges = serde_json::from_value(change).expect("changes");
                    desk.run(move |e| e.update_patient(id, &changes).map(|_| ()))
                        .await
                        .expect("update");
                }
            }
        }
        // Everyone syncs until nothing moves: twice round is enough (push, then pull all).
        for _round in 0..2 {
            for desk in &desks {
                sync(desk).await;
            }
        }
        let central = central_patients(&app, &company).await;
        for (i, desk) in desks.iter().enumerate() {
            let state = desk.run(|e| e.sync_state()).await.expect("state");
            assert_eq!(state.pending, 0, "seed {seed}, desk {i}");
            // The only refusal concurrency can cause here: a prescription added offline for a
            // patient another replica deleted meanwhile (the API refuses it alike).
            let refused = desk.run(|e| e.sync_rejected()).await.expect("rejected");
            for r in &refused {
                assert_eq!(
                    (r.entity.as_str(), r.code.as_str()),
                    ("prescription", "patient.not_found"),
                    "seed {seed}, desk {i}: {r:?}"
                );
            }
            assert_eq!(
                desk_patients(desk).await,
                central,
                "seed {seed}: desk {i} differs from ILS Central"
            );
        }
        // The oracle, independent of how ILS Central merged: every version any replica made
        // (each device's own outbox, and the API's writes, which only the feed holds), merged
        // by the rule (deletions over edits, then the highest stamp).
        let owner = app.owner_pool().await;
        let api_rows: Vec<(String,)> = sqlx::query_as(
            "SELECT change FROM sync_feed
             WHERE company_id = $1::uuid AND entity = 'patient' AND ('x' || right(device, 1))::bit(4)::int % 2 = 0",
        )
        .bind(&company)
        .fetch_all(&owner)
        .await
        .expect("feed");
        let mut made: Vec<String> = api_rows.into_iter().map(|(c,)| c).collect();
        for desk in &desks {
            made.extend(
                desk.run(|e| e.with_store_mut(|s| s.outbox_changes()))
                    .await
                    .expect("outbox"),
            );
        }
        let mut best: BTreeMap<String, ils_core::change::Change> = BTreeMap::new();
        for text in made {
            let change = ils_core::change::Change::decode(&text).expect("change");
            if change.entity != ils_core::change::Entity::Patient {
                continue;
            }
            let id = change.entity_id.to_string();
            let keep = match best.get(&id) {
                Some(held) => ils_core::change::merge(held, &change).id == change.id,
                None => true,
            };
            if keep {
                best.insert(id, change);
            }
        }
        let oracle: Patients = best
            .into_iter()
            .filter_map(|(id, c)| match c.record {
                Some(ils_core::change::Record::Patient(p)) => Some((
                    id,
                    (
                        p.data.customer_number,
                        p.data.first_name,
                        p.data.phone,
                        p.data.notes,
                        p.deleted_at.is_some(),
                    ),
                )),
                _ => None,
            })
            .collect();
        assert_eq!(
            central, oracle,
            "seed {seed}: ILS Central differs from the oracle"
        );
    }
}

#[tokio::test]
async fn what_a_device_audits_reaches_the_practices_trail_once_with_its_device_and_user() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("trail", SubscriptionTier::Pro).await;
    let ada = user(&app, &tenant, Role::Ecp, "ada").await;
    let a = Desk::new();
    connect(&app, &tenant, &a, &ada, "Front desk").await;
    let device = a
        .run(|e| {
            let p = e.add_patient(&patient("T-1", "Trail")).expect("patient");
            e.patient(p.id).expect("read");
            e.sync_state().expect("state").device
        })
        .await;
    sync(&a).await;
    sync(&a).await;
    let owner = app.owner_pool().await;
    let rows: Vec<(String, Option<uuid::Uuid>, Option<String>, Value)> = sqlx::query_as(
        "SELECT action, actor_user_id, device, details FROM audit_log
         WHERE company_id = $1::uuid AND details->>'recorded_on' = 'device'
         ORDER BY (details->>'device_seq')::bigint",
    )
    .bind(&tenant.id)
    .fetch_all(&owner)
    .await
    .expect("trail");
    let actions: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        actions,
        ["patient.create", "patient.read"],
        "each once, in order"
    );
    let me = app.login(&tenant.domain, &ada, PASSWORD).await;
    let ada_id: uuid::Uuid = app.get("/api/me", &me).await.body["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    for (action, user, dev, details) in &rows {
        assert_eq!(user.as_ref(), Some(&ada_id), "{action}");
        assert_eq!(dev.as_deref(), Some(device.as_str()), "{action}");
        assert!(details["device_seq"].is_i64(), "{details}");
    }
    assert_eq!(rows[1].3["device_seq"].as_i64(), Some(2));
}

#[tokio::test]
async fn a_version_that_lost_comes_back_from_the_conflict_log_on_ils_central_or_on_a_device() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("restore", SubscriptionTier::Pro).await;
    let other = app
        .create_tenant("restore-other", SubscriptionTier::Pro)
        .await;
    let ada = user(&app, &tenant, Role::Ecp, "ada").await;
    let bob = user(&app, &tenant, Role::Ecp, "bob").await;
    let ecp_token = app.login(&tenant.domain, &ada, PASSWORD).await;
    let (_, lab_token) = app.add_user(&tenant, Role::LabTech).await;
    let a = Desk::new();
    let b = Desk::new();
    connect(&app, &tenant, &a, &ada, "Front desk").await;
    connect(&app, &tenant, &b, &bob, "Exam room").await;
    let p = a
        .run(|e| e.add_patient(&patient("R-1", "Hopper")).expect("patient"))
        .await;
    sync(&a).await;
    sync(&b).await;
    let edit = |desk: &Desk, field: &'static str, value: &'static str| {
        let id = p.id;
        desk.spawn(move |e| {
            let changes: PatientChanges =
                serde_json::from_value(json!({ field: value })).expect("changes");
            e.update_patient(id, &changes).expect("edit");
        })
    };

    // Both change the phone offline; B's is later and wins; A's is in ILS Central's log.
    edit(&a, "phone", "+44 20 7946 0001").await.expect("edited");
    std::thread::sleep(std::time::Duration::from_millis(5));
    edit(&b, "phone", "+44 20 7946 0002").await.expect("edited");
    sync(&b).await;
    assert_eq!(sync(&a).await.pushed.conflicts, 1);
    let log = app.get("/api/sync/conflicts", &ecp_token).await;
    let entry = log.body[0]["id"].as_str().expect("an entry").to_owned();
    let path = format!("/api/sync/conflicts/{entry}/resolution");
    let restore = json!({"resolution": "restored"});

    // Who may not edit the patient may not resolve; another practice does not see the entry;
    // a resolution that is neither is refused, and nothing changes.
    let lab = app.post(&path, &lab_token, restore.clone()).await;
    assert_eq!(lab.status, StatusCode::FORBIDDEN, "{:?}", lab.body);
    let foreign = app.post(&path, &other.admin_token, restore.clone()).await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND, "{:?}", foreign.body);
    assert_eq!(foreign.body["code"], "sync_conflict.not_found");
    let bad = app
        .post(&path, &ecp_token, json!({"resolution": "maybe"}))
        .await;
    assert!(bad.status.is_client_error(), "{:?}", bad.body);

    // Restored on ILS Central: an edit by the person who restored it, seen by every device.
    let done = app.post(&path, &ecp_token, restore.clone()).await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);
    assert_eq!(done.body["resolution"], "restored");
    let again = app.post(&path, &ecp_token, restore.clone()).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.body["code"], "sync.conflict_resolved");
    sync(&a).await;
    sync(&b).await;
    let central = central_holdings(&app, &ecp_token).await;
    assert_eq!(
        central.patients["R-1"].2.as_deref(),
        Some("+44 20 7946 0001")
    );
    assert_eq!(desk_holdings(&a).await, central);
    assert_eq!(desk_holdings(&b).await, central);
    let owner = app.owner_pool().await;
    let (audited,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM audit_log WHERE company_id = $1::uuid
         AND action = 'sync.conflict_resolve' AND details->>'resolution' = 'restored'",
    )
    .bind(&tenant.id)
    .fetch_one(&owner)
    .await
    .expect("audit");
    assert_eq!(audited, 1);

    // Now on a device: A's note loses to B's later one when A pulls it; A restores its own.
    edit(&a, "notes", "prefers mornings").await.expect("edited");
    std::thread::sleep(std::time::Duration::from_millis(5));
    edit(&b, "notes", "prefers evenings").await.expect("edited");
    sync(&b).await;
    sync(&a).await;
    let conflicts = a.run(|e| e.sync_conflicts()).await.expect("conflicts");
    let local = conflicts
        .iter()
        .find(|c| c.lost["record"]["data"]["notes"] == "prefers mornings")
        .unwrap_or_else(|| panic!("A's note is in its log: {conflicts:?}"))
        .id
        .clone();
    let id = local.clone();
    a.run(move |e| e.resolve_conflict(&id, Resolution::Restored))
        .await
        .expect("restored on A");
    let twice = a
        .run(move |e| e.resolve_conflict(&local, Resolution::Kept))
        .await;
    assert_eq!(
        twice.expect_err("resolved already").code,
        "sync.conflict_resolved"
    );
    sync(&a).await;
    sync(&b).await;
    let notes = |desk: &Desk| {
        let id = p.id;
        desk.spawn(move |e| e.patient(id).expect("patient").data.notes)
    };
    let on_a = notes(&a).await.expect("read");
    let on_b = notes(&b).await.expect("read");
    assert_eq!(on_a.as_deref(), Some("prefers mornings"));
    assert_eq!(on_b.as_deref(), Some("prefers mornings"));
    let ok = a.run(|e| e.sync_state()).await.expect("state");
    assert_eq!((ok.pending, ok.rejected), (0, 0));
}

#[tokio::test]
async fn an_erased_practice_leaves_its_devices_whole_and_nothing_of_it_stays_in_the_file() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("gone", SubscriptionTier::Pro).await;
    let other = app.create_tenant("stays", SubscriptionTier::Pro).await;
    let ada = user(&app, &tenant, Role::Ecp, "ada").await;
    let a = Desk::new();
    connect(&app, &tenant, &a, &ada, "Front desk").await;
    a.run(|e| {
        let p = e.add_patient(&patient("G-1", "Erasmus")).expect("patient");
        e.add_prescription(p.id, &PrescriptionInput(rx()))
            .expect("rx");
    })
    .await;
    sync(&a).await;
    // Not erased: a refused sign-in stays what it was, and nothing is removed.
    let email = ada.clone();
    let wrong = a
        .run(move |e| e.sign_in_with_password(&email, "not the password"))
        .await;
    assert_eq!(
        wrong.expect_err("wrong password").code,
        "auth.invalid_credentials"
    );
    assert_eq!(desk_patients(&a).await.len(), 1);
    let missing = app
        .send(
            reqwest::Method::GET,
            &format!("/api/sync/erasures/{}", other.id),
            None,
            None,
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    // The platform erases the practice; the device learns it at its next sync.
    let erased = app
        .post(
            &format!("/api/platform/companies/{}/erasure", tenant.id),
            &app.platform_token,
            json!({}),
        )
        .await;
    assert!(erased.status.is_success(), "{:?}", erased.body);
    let known = app
        .send(
            reqwest::Method::GET,
            &format!("/api/sync/erasures/{}", tenant.id),
            None,
            None,
        )
        .await;
    assert_eq!(known.status, StatusCode::OK, "{:?}", known.body);
    let refused = a.run(|e| e.sync_now()).await.expect_err("erased");
    assert_eq!(refused.code, "sync.practice_erased", "{refused:?}");
    assert!(desk_patients(&a).await.is_empty());
    let state = a.run(|e| e.sync_state()).await.expect("state");
    assert_eq!((state.server, state.pending), (None, 0));
    let left = a
        .run(|e| {
            e.with_store_mut(|s| {
                let path = s.path().to_owned();
                let text = rusqlite_free_text(&path);
                text.contains("Erasmus") || text.contains("Rosalind")
            })
        })
        .await;
    assert!(!left, "nothing of the practice is left in the file");
    // The other practice is untouched.
    let (others,): (i64,) = sqlx::query_as("SELECT count(*) FROM companies WHERE id = $1::uuid")
        .bind(&other.id)
        .fetch_one(&app.owner_pool().await)
        .await
        .expect("count");
    assert_eq!(others, 1);
}
