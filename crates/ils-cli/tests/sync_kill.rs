//! The desktop killed mid-work: `ils-node` processes that write records and sync with ILS
//! Central (in this test process, on a real PostgreSQL, over real HTTP) are killed with SIGKILL
//! at random moments, round after round: inside a write, while signing in, while the push is on
//! the wire or being recorded, while a page is applied. After a last clean sync, every record a
//! process reported written is on ILS Central, every change is in the practice's feed exactly
//! once, nothing is pending or refused, and the device's file equals ILS Central.

#[path = "../../ils-server/tests/api/common.rs"]
mod common;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{PASSWORD, TestApp};
use ils_core::{Role, SubscriptionTier};
use ils_node::Store;
use ils_testkit::Rng;
use serde_json::json;

struct Device {
    db: PathBuf,
    email: String,
}

impl Device {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ils-node"));
        command
            .arg("--json")
            .args(args)
            .env("ILS_NODE_DB", &self.db)
            .env("ILS_NODE_USER", &self.email)
            .env("ILS_PASSWORD", PASSWORD)
            .env("ILS_NODE_NO_KEYCHAIN", "true")
            .env("ILS_MODEL_DIR", "/nonexistent")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// Runs to the end; whether it succeeded, and its output.
    fn run(&self, args: &[&str]) -> (bool, String) {
        let out = self.command(args).output().expect("runs ils-node");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    /// Runs, killing it after `after` if it has not finished: whether it finished and
    /// succeeded, and how long it ran.
    fn run_or_kill(&self, args: &[&str], after: Duration) -> (Option<bool>, Duration) {
        let started = Instant::now();
        let mut child: Child = self.command(args).spawn().expect("runs ils-node");
        let deadline = started + after;
        loop {
            if let Some(status) = child.try_wait().expect("waits") {
                return (Some(status.success()), started.elapsed());
            }
            if Instant::now() >= deadline {
                child.kill().expect("kill");
                let _ = child.wait();
                return (None, started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// A random moment within `span`.
fn within(rng: &mut Rng, span: Duration) -> Duration {
    let micros = u64::try_from(span.as_micros()).unwrap_or(u64::MAX).max(1);
    Duration::from_micros(rng.below(micros))
}

/// Runs blocking work (processes, waits) off the test's runtime.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking work")
}

fn local_patients(db: &Path) -> BTreeMap<String, (String, Option<String>)> {
    let store = Store::open(db).expect("store");
    store
        .dump_patients()
        .expect("patients")
        .into_iter()
        .filter(|p| p.deleted_at.is_none())
        .map(|p| (p.id.to_string(), (p.data.customer_number, p.data.phone)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_desktop_killed_around_its_writes_and_uploads_loses_nothing_and_applies_nothing_twice() {
    let rounds: u64 = std::env::var("ILS_KILL_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("killed", SubscriptionTier::Pro).await;
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
    let code = code.body["code"].as_str().expect("code").to_owned();
    let dir = tempfile::tempdir().expect("dir");
    let device = std::sync::Arc::new(Device {
        db: dir.path().join("ils.db"),
        email: email.clone(),
    });
    let (server, domain) = (app.base.clone(), tenant.domain.clone());
    let (ok, out) = blocking({
        let device = device.clone();
        move || {
            device.run(&[
                "sync", "connect", "--server", &server, "--domain", &domain, "--email", &email,
                "--code", &code,
            ])
        }
    })
    .await;
    assert!(ok, "connect: {out}");

    let mut rng = Rng(0x0c0f_fee5);
    // How long each kind of run takes when left alone: the shortest finished run so far (the
    // first round's is usually the slowest, with cold caches), so that kills fall inside a
    // typical run rather than after it.
    let (mut write_span, mut sync_span) = (Duration::MAX, Duration::MAX);
    let mut written: Vec<String> = Vec::new();
    let (mut writes_killed, mut syncs_killed, mut syncs_done) = (0, 0, 0);
    for round in 0..rounds {
        // A write, killed at a random moment a third of the time.
        let number = format!("K-{round}");
        let kill_write = round > 0 && rng.below(3) == 0;
        let after = if kill_write {
            within(&mut rng, write_span)
        } else {
            Duration::from_secs(60)
        };
        let (finished, took) = blocking({
            let (device, number) = (device.clone(), number.clone());
            move || {
                device.run_or_kill(
                    &[
                        "patients",
                        "add",
                        "--number",
                        &number,
                        "--first",
                        "Grace",
                        "--last",
                        "Hopper",
                        "--dob",
                        "1956-12-09",
                    ],
                    after,
                )
            }
        })
        .await;
        if finished.is_some() {
            write_span = write_span.min(took);
        }
        match finished {
            Some(true) => written.push(number),
            Some(false) => panic!("round {round}: the write failed"),
            None => writes_killed += 1,
        }
        // A sync, killed at a random moment three times in four.
        let kill_sync = round > 0 && rng.below(4) != 0;
        let after = if kill_sync {
            within(&mut rng, sync_span)
        } else {
            Duration::from_secs(60)
        };
        let (finished, took) = blocking({
            let device = device.clone();
            move || device.run_or_kill(&["sync"], after)
        })
        .await;
        if finished.is_some() {
            sync_span = sync_span.min(took);
        }
        match finished {
            Some(true) => syncs_done += 1,
            Some(false) => panic!("round {round}: the sync failed"),
            None => syncs_killed += 1,
        }
    }
    for _ in 0..2 {
        let (ok, out) = blocking({
            let device = device.clone();
            move || device.run(&["sync"])
        })
        .await;
        assert!(ok, "the last sync: {out}");
    }
    eprintln!(
        "{rounds} rounds: {writes_killed} writes and {syncs_killed} syncs killed, {syncs_done} syncs finished \
         (shortest write {write_span:?}, shortest sync {sync_span:?})"
    );
    assert!(writes_killed > 0 && syncs_killed >= rounds / 4 && syncs_done > 0);

    let (ok, status) = blocking({
        let device = device.clone();
        move || device.run(&["sync", "status"])
    })
    .await;
    assert!(ok, "{status}");
    let status: serde_json::Value = serde_json::from_str(&status).expect("status JSON");
    assert_eq!(
        (&status["pending"], &status["rejected"]),
        (&json!(0), &json!(0)),
        "{status}"
    );

    let owner = app.owner_pool().await;
    let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT id::text, customer_number, phone FROM patients
         WHERE company_id = $1::uuid AND deleted_at IS NULL",
    )
    .bind(&tenant.id)
    .fetch_all(&owner)
    .await
    .expect("patients");
    let central: BTreeMap<String, (String, Option<String>)> = rows
        .into_iter()
        .map(|(id, n, phone)| (id, (n, phone)))
        .collect();
    let numbers: HashSet<&String> = central.values().map(|(n, _)| n).collect();
    for number in &written {
        assert!(numbers.contains(number), "{number} was written and is lost");
    }
    let local = blocking({
        let db = device.db.clone();
        move || local_patients(&db)
    })
    .await;
    assert_eq!(local, central, "the device's file equals ILS Central");

    let (entries, distinct): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT change_id) FROM sync_feed WHERE company_id = $1::uuid",
    )
    .bind(&tenant.id)
    .fetch_one(&owner)
    .await
    .expect("feed");
    assert_eq!(entries, distinct, "a change applied twice");
    assert_eq!(
        usize::try_from(entries).expect("count"),
        central.len(),
        "one change per patient made"
    );
}
