//! ILS Central killed mid-push: an `ils-server` process on the test database serves a desktop
//! engine (a real SQLite file) through a loopback proxy; round after round, the desktop records
//! patients and syncs while the server process is killed with SIGKILL at a random moment —
//! before it reads the push, while it applies it, between its commit and its answer — and
//! started again. After a last sync: every record is on ILS Central once, every change is in
//! the practice's feed exactly once, nothing is pending or refused, and the file equals ILS
//! Central.

#[path = "api/common.rs"]
mod common;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{KEY_ENCRYPTION_KEY, PASSWORD, TestApp};
use ils_core::patient::{PatientChanges, PatientData};
use ils_core::{Role, SubscriptionTier};
use ils_node::engine::ConnectRequest;
use ils_node::{Engine, Store};
use ils_testkit::Rng;
use ils_testkit::proxy::Proxy;
use serde_json::json;

/// An `ils-server serve` process on the test's database, on a free loopback port.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    async fn start(app: &TestApp) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_ils-server"))
            .arg("serve")
            .env("ILS_LISTEN", format!("127.0.0.1:{port}"))
            .env("ILS_DATABASE__URL", &app.db.service_url)
            .env("ILS_AUTH__KEY_ENCRYPTION_KEY", KEY_ENCRYPTION_KEY)
            .env("ILS_AUTH__ARGON2_MEMORY_KIB", "4096")
            .env("ILS_AUTH__ARGON2_ITERATIONS", "1")
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ils-server starts");
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        loop {
            if let Ok(r) = app.client.get(format!("{base}/api/health")).send().await
                && r.status().is_success()
            {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "ils-server did not answer within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Self { child, base }
    }

    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn patient(number: &str) -> PatientData {
    serde_json::from_value(json!({
        "customer_number": number, "first_name": "Grace", "last_name": "Hopper",
        "date_of_birth": "1956-12-09", "email": null, "phone": null, "address": null, "notes": null
    }))
    .expect("patient")
}

/// Runs engine work off the runtime's workers (the engine blocks on its own runtime).
async fn on<T: Send + 'static>(
    engine: &Arc<Engine>,
    f: impl FnOnce(&Engine) -> T + Send + 'static,
) -> T {
    let engine = Arc::clone(engine);
    tokio::task::spawn_blocking(move || f(&engine))
        .await
        .expect("engine task")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ils_central_killed_around_its_commits_loses_nothing_and_applies_nothing_twice() {
    let rounds: u64 = std::env::var("ILS_KILL_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let app = TestApp::spawn().await;
    let tenant = app
        .create_tenant("server-kill", SubscriptionTier::Pro)
        .await;
    let email = format!("ada@{}", tenant.domain);
    let made = app
        .post(
            "/api/users",
            &tenant.admin_token,
            json!({"email": email, "password": PASSWORD, "first_name": "Ada",
                   "last_name": "Staff", "role": Role::Ecp.as_str()}),
        )
        .await;
    assert!(made.status.is_success(), "{:?}", made.body);
    let code = app
        .post("/api/sync/device-codes", &tenant.admin_token, json!({}))
        .await;

    let mut server = Server::start(&app).await;
    let proxy = Proxy::start(&server.base).await.expect("proxy");
    let dir = tempfile::tempdir().expect("dir");
    let store = Store::open(&dir.path().join("ils.db")).expect("store");
    let engine =
        Arc::new(Engine::with_store(store, dir.path().join("no-model")).with_keychain(false));
    let request = ConnectRequest {
        server: proxy.base.clone(),
        domain: tenant.domain.clone(),
        email: email.clone(),
        password: PASSWORD.to_owned(),
        device_name: "Front desk".into(),
        code: code.body["code"].as_str().map(str::to_owned),
    };
    on(&engine, move |e| e.connect(&request))
        .await
        .expect("connected");

    let mut rng = Rng(0x5e4e_4c11);
    let (mut killed, mut finished, mut duplicates) = (0u64, 0u64, 0u64);
    let mut span = Duration::from_millis(30);
    let mut made = 0u64;
    for round in 0..rounds {
        let new = 1 + rng.below(3);
        let edit = rng.below(2) == 1;
        let first = made;
        made += new;
        on(&engine, move |e| {
            for n in first..first + new {
                e.add_patient(&patient(&format!("S-{n}"))).expect("patient");
            }
            if edit {
                let held = e
                    .search_patients(&Default::default(), 1, 0)
                    .expect("patients");
                let changes = PatientChanges {
                    phone: Some(Some(format!("+44 20 7946 {round:04}"))),
                    ..Default::default()
                };
                e.update_patient(held[0].id, &changes).expect("edit");
            }
        })
        .await;
        // The sync starts; the server is killed at a random moment within a typical run.
        let started = Instant::now();
        let syncing = {
            let engine = Arc::clone(&engine);
            tokio::task::spawn_blocking(move || engine.sync_now())
        };
        // Within the runs' typical length, so that most are cut somewhere inside.
        let kill_at = Duration::from_micros(
            rng.below(u64::try_from(span.as_micros() * 9 / 10).unwrap_or(1).max(1)),
        );
        tokio::time::sleep(kill_at).await;
        let done_before = syncing.is_finished();
        server.kill();
        let outcome = syncing.await.expect("sync task");
        if done_before {
            // A moving average of how long a run takes when left alone.
            span = (span * 3 + started.elapsed()) / 4;
            finished += 1;
        } else {
            killed += 1;
        }
        // A run fails only as an unreachable server does (a connection to the process killed
        // in the round before may also be the one it tried first).
        match outcome {
            Ok(report) => duplicates += report.pushed.duplicate,
            Err(e) => assert_eq!(e.code, "sync.offline", "round {round}: {e:?}"),
        }
        server = Server::start(&app).await;
        proxy.retarget(&server.base);
    }
    // The last runs, with the server left alone (a pooled connection to the killed process
    // may fail once).
    for _ in 0..3 {
        if let Ok(report) = on(&engine, |e| e.sync_now()).await {
            duplicates += report.pushed.duplicate;
        }
    }
    on(&engine, |e| e.sync_now()).await.expect("the last sync");
    server.kill();
    // A duplicate is a change ILS Central had committed when it was killed before answering.
    eprintln!(
        "{rounds} rounds: the server killed during {killed} syncs, {finished} finished first; \
         {duplicates} changes sent again after a commit whose answer was lost"
    );
    assert!(
        killed >= rounds / 4,
        "killed during {killed} of {rounds} runs"
    );

    let state = on(&engine, |e| e.sync_state()).await.expect("state");
    assert_eq!((state.pending, state.rejected), (0, 0), "{state:?}");
    let owner = app.owner_pool().await;
    let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT id::text, customer_number, phone FROM patients WHERE company_id = $1::uuid",
    )
    .bind(&tenant.id)
    .fetch_all(&owner)
    .await
    .expect("patients");
    let central: BTreeMap<String, (String, Option<String>)> =
        rows.into_iter().map(|(id, n, p)| (id, (n, p))).collect();
    assert_eq!(
        u64::try_from(central.len()).unwrap_or(0),
        made,
        "every patient once"
    );
    let local: BTreeMap<String, (String, Option<String>)> = on(&engine, |e| {
        e.with_store_mut(|s| s.dump_patients())
            .expect("patients")
            .into_iter()
            .map(|p| (p.id.to_string(), (p.data.customer_number, p.data.phone)))
            .collect()
    })
    .await;
    assert_eq!(local, central, "the file equals ILS Central");
    let (entries, distinct): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT change_id) FROM sync_feed WHERE company_id = $1::uuid",
    )
    .bind(&tenant.id)
    .fetch_one(&owner)
    .await
    .expect("feed");
    assert_eq!(entries, distinct, "a change applied twice");
    let outbox = on(&engine, |e| e.with_store_mut(|s| s.outbox_changes()))
        .await
        .expect("outbox");
    assert_eq!(
        usize::try_from(entries).unwrap_or(0),
        outbox.len(),
        "every change this device made is in the feed, once"
    );
    // The engine owns a runtime, which must not be dropped on the test's own.
    tokio::task::spawn_blocking(move || drop(engine))
        .await
        .expect("dropped");
}
