//! One domain, two stores: a table of scenarios — sequences of actions by different roles,
//! valid and invalid — run through ILS Central's HTTP API on a real PostgreSQL and through the
//! desktop engine's API on a real SQLite file. Every step must end the same way on both
//! (the same result, or the same error code), and the records must end in the same state
//! (patients, prescription statuses, order statuses and timelines).

// ILS Central's own test harness: spawn the service on a fresh database, tenants, users.
#[path = "../crates/ils-server/tests/api/common.rs"]
mod common;

use std::collections::BTreeMap;

use ils_core::Role;
use ils_core::decide::patients::PatientQuery;
use ils_core::order::OrderAction;
use ils_core::rx::RxStatus;
use ils_node::engine::PrescriptionInput;
use ils_node::store::{NewPractice, NewUser};
use ils_node::{Engine, Store};
use reqwest::StatusCode;
use serde_json::{Value, json};

use common::TestApp;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    Admin,
    Ecp,
    Lab,
    Engineer,
}

/// One action. Records are named by keys ("p1", "rx1", "o1") that each half maps to its ids.
#[derive(Clone, Debug)]
enum Step {
    AddPatient(Who, &'static str, Value),
    UpdatePatient(Who, &'static str, Value),
    DeletePatient(Who, &'static str),
    ReadPatient(Who, &'static str),
    Search(Who, Value),
    AddRx(Who, &'static str, &'static str, Value),
    EditRx(Who, &'static str, Value),
    RxStatus(Who, &'static str, RxStatus),
    /// (who, order key, patient key, prescription key, order fields)
    Order(Who, &'static str, &'static str, &'static str, Value),
    Move(Who, &'static str, OrderAction, Option<&'static str>),
}

use Step::*;
use Who::*;

/// How a step ended: a short description of the result, or the error code.
type Outcome = Result<String, String>;

fn patient(number: &str) -> Value {
    json!({
        "customer_number": number, "first_name": "Grace", "last_name": "Hopper",
        "date_of_birth": "1956-12-09", "email": null, "phone": null, "address": null, "notes": null
    })
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

fn with(mut base: Value, changes: Value) -> Value {
    if let (Some(b), Some(c)) = (base.as_object_mut(), changes.as_object()) {
        for (k, v) in c {
            b.insert(k.clone(), v.clone());
        }
    }
    base
}

fn order() -> Value {
    json!({
        "lens_type": "progressive", "material": "1.6 MR-8", "coatings": ["AR"],
        "frame": {"box_a": 52.0, "box_b": 38.0, "dbl": 18.0, "ed": 56.0},
        "measurements": {"right_pd": 32.0, "left_pd": 31.5, "right_segment_height": 19.0, "left_segment_height": 19.0},
        "promised_date": "2099-01-31"
    })
}

fn scenarios() -> Vec<(&'static str, Vec<Step>)> {
    vec![
        (
            "an order through production, by the roles that may move it, and a remake",
            vec![
                AddPatient(Ecp, "p1", patient("C-1")),
                AddRx(Ecp, "rx1", "p1", rx()),
                Order(Ecp, "o1", "p1", "rx1", order()),
                Move(Lab, "o1", OrderAction::Submit, None),
                Move(Ecp, "o1", OrderAction::Submit, None),
                Move(Ecp, "o1", OrderAction::StartProduction, None),
                Move(Engineer, "o1", OrderAction::StartProduction, None),
                Move(Lab, "o1", OrderAction::Ship, None),
                Move(Lab, "o1", OrderAction::StartProduction, None),
                Move(Ecp, "o1", OrderAction::Cancel, None),
                Move(Lab, "o1", OrderAction::SendToQualityCheck, None),
                Move(Lab, "o1", OrderAction::Ship, None),
                Move(Ecp, "o1", OrderAction::Deliver, None),
                Move(Ecp, "o1", OrderAction::Remake, Some("  ")),
                Move(Lab, "o1", OrderAction::Remake, Some("Wrong height")),
                Move(Ecp, "o1", OrderAction::Remake, Some("Wrong height")),
                Move(Ecp, "o1", OrderAction::Cancel, Some("too late")),
            ],
        ),
        (
            "who may touch patients, and what patients must be",
            vec![
                AddPatient(Lab, "x", patient("C-2")),
                AddPatient(Admin, "x", patient("C-2")),
                AddPatient(
                    Ecp,
                    "x",
                    with(patient("C-2"), json!({"date_of_birth": "2999-01-01"})),
                ),
                AddPatient(
                    Ecp,
                    "x",
                    with(
                        patient("has space"),
                        json!({"phone": "12", "first_name": " "}),
                    ),
                ),
                AddPatient(Ecp, "p2", patient("C-2")),
                AddPatient(Ecp, "dup", patient("C-2")),
                ReadPatient(Admin, "p2"),
                ReadPatient(Engineer, "p2"),
                ReadPatient(Lab, "p2"),
                UpdatePatient(
                    Ecp,
                    "p2",
                    json!({"first_name": "Amazing Grace", "phone": null}),
                ),
                UpdatePatient(Admin, "p2", json!({"first_name": "Hijacked"})),
                UpdatePatient(Ecp, "p2", json!({"email": "not-mail"})),
                Search(Ecp, json!({"name_prefix": "x".repeat(101)})),
                Search(Ecp, json!({"name_prefix": "amaz"})),
                Search(Ecp, json!({"customer_number": "has space"})),
                Search(Lab, json!({})),
                DeletePatient(Lab, "p2"),
                DeletePatient(Ecp, "p2"),
                ReadPatient(Ecp, "p2"),
                DeletePatient(Ecp, "p2"),
            ],
        ),
        (
            "a prescription's life: draft, edits, activation, orders on it, withdrawal",
            vec![
                AddPatient(Ecp, "p3", patient("C-3")),
                AddPatient(Ecp, "p4", patient("C-4")),
                AddRx(
                    Ecp,
                    "x",
                    "p3",
                    with(
                        rx(),
                        json!({"right": {"sphere": -2.25, "cylinder": -0.75, "axis": 190}}),
                    ),
                ),
                AddRx(
                    Ecp,
                    "x",
                    "p3",
                    with(rx(), json!({"left": {"sphere": "minus two"}})),
                ),
                AddRx(
                    Ecp,
                    "x",
                    "p3",
                    with(rx(), json!({"issue_date": "2999-01-01"})),
                ),
                AddRx(Admin, "x", "p3", rx()),
                AddRx(Ecp, "draft", "p3", with(rx(), json!({"status": "draft"}))),
                EditRx(
                    Ecp,
                    "draft",
                    with(rx(), json!({"prescriber": "Dr. Barbara McClintock"})),
                ),
                Order(Ecp, "x", "p3", "draft", order()),
                RxStatus(Ecp, "draft", RxStatus::Active),
                EditRx(Ecp, "draft", rx()),
                Order(Ecp, "x", "p4", "draft", order()),
                Order(
                    Ecp,
                    "x",
                    "p3",
                    "draft",
                    with(order(), json!({"lens_type": "varifocal"})),
                ),
                Order(
                    Ecp,
                    "x",
                    "p3",
                    "draft",
                    with(order(), json!({"measurements": {}})),
                ),
                Order(Lab, "x", "p3", "draft", order()),
                Order(Ecp, "o2", "p3", "draft", order()),
                RxStatus(Ecp, "draft", RxStatus::Cancelled),
                DeletePatient(Ecp, "p3"),
                Move(
                    Ecp,
                    "o2",
                    OrderAction::Cancel,
                    Some("Patient changed frame"),
                ),
                RxStatus(Ecp, "draft", RxStatus::EnteredInError),
                RxStatus(Ecp, "draft", RxStatus::Active),
                DeletePatient(Ecp, "p4"),
            ],
        ),
    ]
}

/// One timeline entry: (action, from, to, note).
type Entry = (String, Option<String>, String, Option<String>);

/// The records' final state, in terms both halves share.
#[derive(Debug, Default, PartialEq, Eq)]
struct State {
    patients: BTreeMap<String, Value>,
    /// Prescription key → (status, prescriber).
    prescriptions: BTreeMap<String, (String, String)>,
    /// Order key → (status, timeline).
    orders: BTreeMap<String, (String, Vec<Entry>)>,
}

// --- ILS Central over HTTP ---

struct Central<'a> {
    app: &'a TestApp,
    tokens: BTreeMap<Who, String>,
    ids: BTreeMap<&'static str, String>,
}

fn http_outcome(reply: &common::Reply, ok: impl FnOnce(&Value) -> String) -> Outcome {
    if reply.status.is_success() {
        Ok(ok(&reply.body))
    } else {
        assert!(
            reply.status != StatusCode::INTERNAL_SERVER_ERROR,
            "{:?}",
            reply.body
        );
        Err(reply.code().to_owned())
    }
}

impl Central<'_> {
    fn id(&self, key: &str) -> String {
        self.ids
            .get(key)
            .cloned()
            .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
    }

    async fn run(&mut self, step: &Step) -> Outcome {
        let app = self.app;
        match step {
            AddPatient(who, key, body) => {
                let reply = app
                    .post("/api/patients", &self.tokens[who], body.clone())
                    .await;
                let out = http_outcome(&reply, |b| b["customer_number"].to_string());
                if out.is_ok() {
                    self.ids.insert(
                        key,
                        reply.body["id"].as_str().unwrap_or_default().to_owned(),
                    );
                }
                out
            }
            UpdatePatient(who, key, body) => {
                let reply = app
                    .patch(
                        &format!("/api/patients/{}", self.id(key)),
                        &self.tokens[who],
                        body.clone(),
                    )
                    .await;
                http_outcome(&reply, |b| b["first_name"].to_string())
            }
            DeletePatient(who, key) => {
                let reply = app
                    .delete(
                        &format!("/api/patients/{}", self.id(key)),
                        &self.tokens[who],
                    )
                    .await;
                http_outcome(&reply, |_| "deleted".into())
            }
            ReadPatient(who, key) => {
                let reply = app
                    .get(
                        &format!("/api/patients/{}", self.id(key)),
                        &self.tokens[who],
                    )
                    .await;
                http_outcome(&reply, |b| b["first_name"].to_string())
            }
            Search(who, query) => {
                let q: PatientQuery = serde_json::from_value(query.clone()).expect("query");
                let mut params = Vec::new();
                if let Some(n) = &q.name_prefix {
                    params.push(("q", n.clone()));
                }
                if let Some(n) = &q.customer_number {
                    params.push(("customer_number", n.clone()));
                }
                let url =
                    reqwest::Url::parse_with_params("http://x/api/patients", &params).expect("url");
                let path = format!("/api/patients?{}", url.query().unwrap_or_default());
                let reply = app.get(&path, &self.tokens[who]).await;
                http_outcome(&reply, |b| {
                    format!("{} found", b["items"].as_array().map_or(0, Vec::len))
                })
            }
            AddRx(who, key, patient, body) => {
                let reply = app
                    .post(
                        &format!("/api/patients/{}/prescriptions", self.id(patient)),
                        &self.tokens[who],
                        body.clone(),
                    )
                    .await;
                let out = http_outcome(&reply, |b| b["rx"]["status"].to_string());
                if out.is_ok() {
                    self.ids.insert(
                        key,
                        reply.body["id"].as_str().unwrap_or_default().to_owned(),
                    );
                }
                out
            }
            EditRx(who, key, body) => {
                let reply = app
                    .send(
                        reqwest::Method::PUT,
                        &format!("/api/prescriptions/{}", self.id(key)),
                        Some(&self.tokens[who]),
                        Some(body.clone()),
                    )
                    .await;
                http_outcome(&reply, |b| b["rx"]["prescriber"].to_string())
            }
            RxStatus(who, key, status) => {
                let reply = app
                    .patch(
                        &format!("/api/prescriptions/{}", self.id(key)),
                        &self.tokens[who],
                        json!({ "status": status }),
                    )
                    .await;
                http_outcome(&reply, |b| b["rx"]["status"].to_string())
            }
            Order(who, key, patient, rx, body) => {
                let body = with(
                    body.clone(),
                    json!({"patient_id": self.id(patient), "prescription_id": self.id(rx)}),
                );
                let reply = app.post("/api/orders", &self.tokens[who], body).await;
                let out = http_outcome(&reply, |b| b["status"].to_string());
                if out.is_ok() {
                    self.ids.insert(
                        key,
                        reply.body["id"].as_str().unwrap_or_default().to_owned(),
                    );
                }
                out
            }
            Move(who, key, action, note) => {
                let reply = app
                    .post(
                        &format!("/api/orders/{}/transitions", self.id(key)),
                        &self.tokens[who],
                        json!({ "action": action, "reason": note }),
                    )
                    .await;
                http_outcome(&reply, |b| {
                    format!("{} remake:{}", b["order"]["status"], b["remake"]["status"])
                })
            }
        }
    }

    async fn state(&self) -> State {
        let admin = &self.tokens[&Admin];
        let mut state = State::default();
        for (key, id) in &self.ids {
            if key.starts_with('p') {
                let patient = self.app.get(&format!("/api/patients/{id}"), admin).await;
                let shown = match patient.status {
                    StatusCode::OK => json!({
                        "first_name": patient.body["first_name"],
                        "phone": patient.body["phone"],
                        "email": patient.body["email"],
                    }),
                    _ => {
                        assert_eq!(patient.code(), "patient.not_found");
                        json!("deleted")
                    }
                };
                state.patients.insert((*key).to_owned(), shown);
                continue;
            }
            let rx = self
                .app
                .get(&format!("/api/prescriptions/{id}"), admin)
                .await;
            if rx.status == StatusCode::OK {
                state.prescriptions.insert(
                    (*key).to_owned(),
                    (
                        rx.body["rx"]["status"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                        rx.body["rx"]["prescriber"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                    ),
                );
                continue;
            }
            let order = self.app.get(&format!("/api/orders/{id}"), admin).await;
            if order.status == StatusCode::OK {
                let timeline = self
                    .app
                    .get(&format!("/api/orders/{id}/timeline"), admin)
                    .await;
                let events = timeline
                    .body
                    .as_array()
                    .expect("timeline")
                    .iter()
                    .map(|e| {
                        (
                            e["action"].as_str().unwrap_or_default().to_owned(),
                            e["from_status"].as_str().map(str::to_owned),
                            e["to_status"].as_str().unwrap_or_default().to_owned(),
                            e["note"].as_str().map(str::to_owned),
                        )
                    })
                    .collect();
                state.orders.insert(
                    (*key).to_owned(),
                    (
                        order.body["status"].as_str().unwrap_or_default().to_owned(),
                        events,
                    ),
                );
            }
        }
        state
    }
}

// --- The desktop engine ---

struct Desktop {
    engine: Engine,
    emails: BTreeMap<Who, String>,
    ids: BTreeMap<&'static str, String>,
}

fn engine_outcome<T>(
    result: Result<T, ils_node::EngineError>,
    ok: impl FnOnce(&T) -> String,
) -> (Outcome, Option<T>) {
    match result {
        Ok(v) => (Ok(ok(&v)), Some(v)),
        Err(e) => {
            assert!(e.user_error, "{e:?}");
            (Err(e.code), None)
        }
    }
}

fn text(v: impl serde::Serialize) -> String {
    serde_json::to_value(v).expect("json").to_string()
}

impl Desktop {
    fn new(dir: &std::path::Path) -> Self {
        let store = Store::open(&dir.join("practice.db")).expect("opens");
        let engine = Engine::with_store(store, dir.join("no-model"));
        let mut emails = BTreeMap::new();
        emails.insert(Admin, "admin@parity.test".to_owned());
        engine
            .create_practice(&NewPractice {
                name: "Parity Optics".into(),
                time_zone: None,
                admin: NewUser {
                    email: emails[&Admin].clone(),
                    first_name: "Ada".into(),
                    last_name: "Admin".into(),
                    role: Role::CompanyAdmin,
                },
            })
            .expect("practice");
        for (who, role) in [
            (Ecp, Role::Ecp),
            (Lab, Role::LabTech),
            (Engineer, Role::Engineer),
        ] {
            let email = format!("{}@parity.test", role.as_str());
            engine
                .add_user(&NewUser {
                    email: email.clone(),
                    first_name: "Sam".into(),
                    last_name: "Staff".into(),
                    role,
                })
                .expect("user");
            emails.insert(who, email);
        }
        Self {
            engine,
            emails,
            ids: BTreeMap::new(),
        }
    }

    fn id<T: std::str::FromStr>(&self, key: &str) -> T
    where
        T::Err: std::fmt::Debug,
    {
        self.ids
            .get(key)
            .cloned()
            .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
            .parse()
            .expect("id")
    }

    fn run(&mut self, step: &Step) -> Outcome {
        let who = match step {
            AddPatient(w, ..)
            | UpdatePatient(w, ..)
            | DeletePatient(w, ..)
            | ReadPatient(w, ..)
            | Search(w, ..)
            | AddRx(w, ..)
            | EditRx(w, ..)
            | RxStatus(w, ..)
            | Order(w, ..)
            | Move(w, ..) => *w,
        };
        self.engine.sign_in(&self.emails[&who]).expect("signs in");
        let e = &self.engine;
        match step {
            AddPatient(_, key, body) => {
                let data = serde_json::from_value(body.clone()).expect("patient json");
                let (out, rec) =
                    engine_outcome(e.add_patient(&data), |p| text(&p.data.customer_number));
                if let Some(p) = rec {
                    self.ids.insert(key, p.id.to_string());
                }
                out
            }
            UpdatePatient(_, key, body) => {
                let changes = serde_json::from_value(body.clone()).expect("changes json");
                engine_outcome(e.update_patient(self.id(key), &changes), |p| {
                    text(&p.data.first_name)
                })
                .0
            }
            DeletePatient(_, key) => {
                engine_outcome(e.delete_patient(self.id(key)), |_| "deleted".into()).0
            }
            ReadPatient(_, key) => {
                engine_outcome(e.patient(self.id(key)), |p| text(&p.data.first_name)).0
            }
            Search(_, query) => {
                let q: PatientQuery = serde_json::from_value(query.clone()).expect("query");
                engine_outcome(e.search_patients(&q, 50, 0), |l| {
                    format!("{} found", l.len())
                })
                .0
            }
            AddRx(_, key, patient, body) => {
                let (out, rec) = engine_outcome(
                    e.add_prescription(self.id(patient), &PrescriptionInput(body.clone())),
                    |r| text(r.data.status),
                );
                if let Some(r) = rec {
                    self.ids.insert(key, r.id.to_string());
                }
                out
            }
            EditRx(_, key, body) => {
                engine_outcome(
                    e.update_prescription(self.id(key), &PrescriptionInput(body.clone())),
                    |r| text(&r.data.prescriber),
                )
                .0
            }
            RxStatus(_, key, status) => {
                engine_outcome(e.set_prescription_status(self.id(key), *status), |r| {
                    text(r.data.status)
                })
                .0
            }
            Order(_, key, patient, rx, body) => {
                let body = with(
                    body.clone(),
                    json!({"patient_id": self.id::<String>(patient), "prescription_id": self.id::<String>(rx)}),
                );
                let (out, rec) = engine_outcome(e.create_order(&body), |o| text(o.status));
                if let Some(o) = rec {
                    self.ids.insert(key, o.id.to_string());
                }
                out
            }
            Move(_, key, action, note) => {
                engine_outcome(e.transition_order(self.id(key), *action, *note), |t| {
                    format!(
                        "{} remake:{}",
                        text(t.order.status),
                        t.remake
                            .as_ref()
                            .map_or("null".to_owned(), |r| text(r.status))
                    )
                })
                .0
            }
        }
    }

    fn state(&self) -> State {
        self.engine.sign_in(&self.emails[&Admin]).expect("admin");
        let e = &self.engine;
        let mut state = State::default();
        for (key, id) in &self.ids {
            if key.starts_with('p') {
                let shown = match e.patient(id.parse().expect("id")) {
                    Ok(p) => json!({
                        "first_name": p.data.first_name,
                        "phone": p.data.phone,
                        "email": p.data.email,
                    }),
                    Err(err) if err.code == "patient.not_found" => json!("deleted"),
                    Err(err) => panic!("{err:?}"),
                };
                state.patients.insert((*key).to_owned(), shown);
            } else if let Ok(rx) = e.prescription(id.parse().expect("id")) {
                state.prescriptions.insert(
                    (*key).to_owned(),
                    (
                        rx.data.status.as_str().to_owned(),
                        rx.data.prescriber.clone(),
                    ),
                );
            } else if let Ok(order) = e.order(id.parse().expect("id")) {
                let events = e
                    .order_timeline(order.id)
                    .expect("timeline")
                    .into_iter()
                    .map(|ev| {
                        (
                            ev.action.as_str().to_owned(),
                            ev.from_status.map(|s| s.as_str().to_owned()),
                            ev.to_status.as_str().to_owned(),
                            ev.note,
                        )
                    })
                    .collect();
                state.orders.insert(
                    (*key).to_owned(),
                    (order.status.as_str().to_owned(), events),
                );
            }
        }
        state
    }
}

#[tokio::test]
async fn both_halves_give_the_same_answers_to_the_same_scenarios() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().expect("dir");
    for (index, (name, steps)) in scenarios().into_iter().enumerate() {
        let tenant = app
            .create_tenant(&format!("parity{index}"), ils_core::SubscriptionTier::Pro)
            .await;
        let mut tokens = BTreeMap::new();
        tokens.insert(Admin, tenant.admin_token.clone());
        for (who, role) in [
            (Ecp, Role::Ecp),
            (Lab, Role::LabTech),
            (Engineer, Role::Engineer),
        ] {
            tokens.insert(who, app.add_user(&tenant, role).await.1);
        }
        let mut central = Central {
            app: &app,
            tokens,
            ids: BTreeMap::new(),
        };
        let scenario_dir = dir.path().join(index.to_string());
        std::fs::create_dir(&scenario_dir).expect("dir");
        let mut desktop = Desktop::new(&scenario_dir);
        let mut refusals = 0;
        for (i, step) in steps.iter().enumerate() {
            let on_central = central.run(step).await;
            let on_desktop = desktop.run(step);
            assert_eq!(
                on_central, on_desktop,
                "{name}, step {i} ({step:?}): ILS Central said {on_central:?}, the desktop {on_desktop:?}"
            );
            refusals += usize::from(on_central.is_err());
        }
        assert!(
            refusals >= 4 && refusals < steps.len() - 2,
            "{name}: a scenario holds both allowed and refused actions ({refusals} refusals)"
        );
        let central_state = central.state().await;
        let desktop_state = desktop.state();
        assert!(
            !central_state.patients.is_empty(),
            "{name}: the state is compared, not empty"
        );
        assert_eq!(
            central_state, desktop_state,
            "{name}: the records end the same"
        );
    }
}
