//! A desktop for the tests and the benchmark that need both halves: an engine on its own SQLite
//! file in its own folder, connected to ILS Central as a device of one practice.

use std::sync::Arc;

use ils_node::engine::ConnectRequest;
use ils_node::{Engine, Store};
use serde_json::json;

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
        let store = Store::open(&dir.path().join("ils.db")).expect("store");
        Self {
            engine: Some(Arc::new(Engine::with_store(
                store,
                dir.path().join("no-model"),
            ))),
            _dir: dir,
        }
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
    let code = app
        .post("/api/sync/device-codes", &tenant.admin_token, json!({}))
        .await;
    assert!(code.status.is_success(), "{:?}", code.body);
    let request = ConnectRequest {
        server: app.base.clone(),
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
