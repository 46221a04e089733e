//! A desktop for the tests and the benchmark that need both halves: an engine on its own SQLite
//! file in its own folder, connected to ILS Central as a device of one practice.

// Each test binary and the benchmark use a part of it.
#![allow(dead_code)]

use std::sync::Arc;

use ils_node::engine::ConnectRequest;
use ils_node::{Engine, Store};
use serde_json::json;

use std::collections::BTreeMap;

use ils_core::Role;
use ils_core::patient::PatientData;
use reqwest::StatusCode;

use crate::common::{PASSWORD, Tenant, TestApp};

pub struct Desk {
    engine: Option<Arc<Engine>>,
    _dir: tempfile::TempDir,
}

impl Drop for Desk {
    /// The engine owns a runtime, which must not be dropped on the test's own.
    fn drop(&mut self) {
        if let Some(engine) = self.engine.take() {
            let _ = std::thread::spawn(move || drop(engine)).join();
        }
    }
}

impl Desk {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let engine = Self::open(dir.path());
        Self {
            engine: Some(engine),
            _dir: dir,
        }
    }

    /// The engine on this desk's file (sessions kept in the sealed file, never in a keychain).
    fn open(dir: &std::path::Path) -> Arc<Engine> {
        let store = Store::open(&dir.join("ils.db")).expect("store");
        // The real model: documents that come by sync in another model are embedded again.
        let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../models")
            .join(ils_node::engine::MODEL_FOLDER);
        Arc::new(Engine::with_store(store, model).with_keychain(false))
    }

    /// Closes the program and starts it again on the same file (nothing in memory survives).
    pub fn restart(&mut self) {
        if let Some(engine) = self.engine.take() {
            let _ = std::thread::spawn(move || drop(engine)).join();
        }
        self.engine = Some(Self::open(self._dir.path()));
    }

    /// The engine itself (for a background sync).
    pub fn engine(&self) -> Arc<Engine> {
        Arc::clone(self.engine.as_ref().expect("an engine until dropped"))
    }

    /// Runs engine work off the runtime's workers (the engine blocks on its own runtime).
    pub async fn run<T: Send + 'static>(&self, f: impl FnOnce(&Engine) -> T + Send + 'static) -> T {
        self.spawn(f).await.expect("engine task")
    }

    /// Starts engine work now, off the runtime's workers.
    pub fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Engine) -> T + Send + 'static,
    ) -> tokio::task::JoinHandle<T> {
        let engine = Arc::clone(self.engine.as_ref().expect("an engine until dropped"));
        tokio::task::spawn_blocking(move || f(&engine))
    }
}

/// Connects `desk` to the practice as `email`, approved at once with a registration code.
pub async fn connect(app: &TestApp, tenant: &Tenant, desk: &Desk, email: &str, name: &str) {
    connect_through(app, tenant, desk, email, name, &app.base).await;
}

/// As [`connect`], with the device reaching ILS Central at `server` (a proxy in front of it).
pub async fn connect_through(
    app: &TestApp,
    tenant: &Tenant,
    desk: &Desk,
    email: &str,
    name: &str,
    server: &str,
) {
    let code = app
        .post("/api/sync/device-codes", &tenant.admin_token, json!({}))
        .await;
    assert!(code.status.is_success(), "{:?}", code.body);
    let request = ConnectRequest {
        server: server.to_owned(),
        domain: tenant.domain.clone(),
        email: email.to_owned(),
        password: PASSWORD.to_owned(),
        device_name: name.to_owned(),
        code: code.body["code"].as_str().map(str::to_owned),
    };
    let state = desk
        .run(move |e| e.connect(&request))
        .await
        .expect("connected");
    assert_eq!(state.pending, 0);
}

/// A user of the practice with a known e-mail address.
pub async fn user(app: &TestApp, tenant: &Tenant, role: Role, name: &str) -> String {
    let email = format!("{name}@{}", tenant.domain);
    let reply = app
        .post(
            "/api/users",
            &tenant.admin_token,
            json!({"email": email, "password": PASSWORD, "first_name": name, "last_name": "Staff", "role": role.as_str()}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    email
}

pub fn patient(number: &str, last: &str) -> PatientData {
    serde_json::from_value(json!({
        "customer_number": number, "first_name": "Grace", "last_name": last,
        "date_of_birth": "1956-12-09", "email": null, "phone": null, "address": null, "notes": null
    }))
    .expect("patient")
}

/// Each replica's patients, comparably: id → (number, first name, phone, notes, deleted).
pub type Patients = BTreeMap<String, (String, String, Option<String>, Option<String>, bool)>;

pub async fn desk_patients(desk: &Desk) -> Patients {
    desk.run(|e| {
        e.with_store_mut(|s| {
            let text = s.dump_patients().expect("patients");
            text.into_iter()
                .map(|p| {
                    (
                        p.id.to_string(),
                        (
                            p.data.customer_number,
                            p.data.first_name,
                            p.data.phone,
                            p.data.notes,
                            p.deleted_at.is_some(),
                        ),
                    )
                })
                .collect()
        })
    })
    .await
}

pub async fn central_patients(app: &TestApp, company: &str) -> Patients {
    let owner = app.owner_pool().await;
    type Row = (String, String, String, Option<String>, Option<String>, bool);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id::text, customer_number, first_name, phone, notes, deleted_at IS NOT NULL
         FROM patients WHERE company_id = $1::uuid",
    )
    .bind(company)
    .fetch_all(&owner)
    .await
    .expect("patients");
    rows.into_iter()
        .map(|(id, n, f, p, notes, d)| (id, (n, f, p, notes, d)))
        .collect()
}
