//! Sync when things go wrong between the two halves, end to end (ILS Central on a real
//! PostgreSQL over real HTTP, desktop engines on real SQLite files), with a loopback proxy in
//! front of ILS Central that the test can cut:
//! - the background sync pushes a local change at once and a device sees it without asking;
//!   when ILS Central cannot be reached it says so, retries by itself with backoff, and
//!   delivers everything when it comes back;
//! - replies lost after ILS Central acted (the connection cut between its commit and the answer
//!   reaching the device), round after round: nothing acknowledged is lost, nothing is applied
//!   twice, every replica ends equal;
//! - a device restarted while ILS Central is out of reach signs in offline and, with the
//!   sign-in it kept (sealed in a file here: no keychain runs in tests), syncs by itself once
//!   ILS Central is back; a sign-in ILS Central no longer accepts is forgotten.

#[path = "../crates/ils-server/tests/api/common.rs"]
mod common;
mod desk;

use std::time::{Duration, Instant};

use ils_core::SubscriptionTier;
use ils_core::patient::PatientChanges;
use ils_core::{ChangeId, Role};
use ils_node::Kept;
use ils_node::engine::{BackgroundSync, Backoff};
use ils_testkit::proxy::{Mode, Proxy};

use common::{PASSWORD, Tenant, TestApp};
use desk::{Desk, central_patients, connect, connect_through, desk_patients, patient, user};
use ils_testkit::Rng;

/// A practice with two ECPs' desks: A reaches ILS Central through a proxy the test can cut, B
/// directly.
async fn two_desks(app: &TestApp, label: &str) -> (Tenant, Proxy, Desk, Desk) {
    let tenant = app.create_tenant(label, SubscriptionTier::Pro).await;
    let ada = user(app, &tenant, Role::Ecp, "ada").await;
    let bob = user(app, &tenant, Role::Ecp, "bob").await;
    let proxy = Proxy::start(&app.base).await.expect("proxy");
    let a = Desk::new();
    let b = Desk::new();
    connect_through(app, &tenant, &a, &ada, "Front desk", &proxy.base).await;
    connect(app, &tenant, &b, &bob, "Exam room").await;
    (tenant, proxy, a, b)
}

/// Whether `desk` holds a patient with this customer number.
async fn holds(desk: &Desk, number: &'static str) -> bool {
    desk.run(move |e| {
        e.search_patients(&Default::default(), 1000, 0)
            .expect("patients")
            .iter()
            .any(|p| p.data.customer_number == number)
    })
    .await
}

/// Waits (up to `within`) until `desk` holds the patient; how long it took.
async fn until_held(desk: &Desk, number: &'static str, within: Duration) -> Duration {
    let started = Instant::now();
    while !holds(desk, number).await {
        assert!(
            started.elapsed() < within,
            "{number} did not arrive within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    started.elapsed()
}

/// A sync run once the proxy passes again. The client may still hold a pooled connection the
/// proxy cut when it changed mode; the first request on it fails as a real device's would, and
/// the run is tried once more, as the background sync would.
async fn sync_through(desk: &Desk) -> Result<ils_node::engine::SyncReport, ils_node::EngineError> {
    match desk.run(|e| e.sync_now()).await {
        Err(e) if e.code == "sync.offline" => desk.run(|e| e.sync_now()).await,
        other => other,
    }
}

/// Stops a background sync off the runtime (it joins its thread).
async fn stop(background: BackgroundSync) {
    tokio::task::spawn_blocking(move || drop(background))
        .await
        .expect("stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_sync_pushes_at_once_and_comes_back_by_itself_after_losing_ils_central() {
    let app = TestApp::spawn().await;
    let (_, proxy, a, b) = two_desks(&app, "background").await;
    let quick = Backoff {
        base: Duration::from_millis(50),
        cap: Duration::from_millis(400),
    };
    let background_a = BackgroundSync::start(a.engine(), quick).expect("background A");
    let background_b = BackgroundSync::start(b.engine(), quick).expect("background B");

    // A change made on A reaches B with nobody asking either device to sync.
    a.run(|e| e.add_patient(&patient("A-1", "Hopper")).expect("patient"))
        .await;
    let took = until_held(&b, "A-1", Duration::from_secs(10)).await;
    eprintln!("A's change visible on B after {took:?}");
    let state = a.run(|e| e.sync_state()).await.expect("state");
    assert_eq!((state.online, state.pending), (Some(true), 0), "{state:?}");

    // ILS Central out of reach: A goes on working, says it is offline and when it tries again.
    proxy.set(Mode::Refuse);
    a.run(|e| e.add_patient(&patient("A-2", "Lovelace")).expect("patient"))
        .await;
    let started = Instant::now();
    loop {
        let state = a.run(|e| e.sync_state()).await.expect("state");
        if state.online == Some(false) && state.pending == 1 && state.retry_at.is_some() {
            assert!(state.last_error.is_some(), "{state:?}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "A never said it was offline: {state:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Several attempts fail while it stays out of reach (the backoff keeps trying)...
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(!holds(&b, "A-2").await);
    // ...and when it is back, the pending change goes without a new local write.
    proxy.set(Mode::Pass);
    until_held(&b, "A-2", Duration::from_secs(10)).await;
    let state = a.run(|e| e.sync_state()).await.expect("state");
    assert_eq!((state.online, state.pending), (Some(true), 0), "{state:?}");
    assert_eq!(state.last_error, None);

    // The other way, through the proxy's long-poll: B's change reaches A.
    b.run(|e| e.add_patient(&patient("B-1", "Franklin")).expect("patient"))
        .await;
    let took = until_held(&a, "B-1", Duration::from_secs(10)).await;
    eprintln!("B's change visible on A after {took:?}");

    stop(background_a).await;
    stop(background_b).await;
    assert_eq!(desk_patients(&a).await, desk_patients(&b).await);
}

#[tokio::test]
async fn replies_lost_after_ils_central_acted_lose_nothing_and_apply_nothing_twice() {
    let rounds: usize = std::env::var("ILS_FAULT_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    let app = TestApp::spawn().await;
    let (tenant, proxy, a, b) = two_desks(&app, "lost-replies").await;

    let mut rng = Rng(0x5eed_fa11);
    let mut numbers = 0usize;
    let mut lost = 0usize;
    for round in 0..rounds {
        // Work on both devices: new patients, and edits of patients either may hold.
        for desk in [&a, &b] {
            let new = rng.index(3);
            let edit = rng.index(3);
            let pick = rng.next_u64();
            let first = numbers;
            numbers += new;
            desk.run(move |e| {
                for n in first..first + new {
                    e.add_patient(&patient(&format!("N-{n}"), "Hopper"))
                        .expect("patient");
                }
                let held = e
                    .search_patients(&Default::default(), 1000, 0)
                    .expect("patients");
                for k in 0..edit.min(held.len()) {
                    let target = &held[(pick as usize + k) % held.len()];
                    let changes = PatientChanges {
                        phone: Some(Some(format!("+44 20 7946 {round:04}"))),
                        ..Default::default()
                    };
                    e.update_patient(target.id, &changes).expect("edit");
                }
            })
            .await;
        }
        // A syncs through the proxy, which loses the reply half the time.
        let cut = rng.index(2) == 0;
        proxy.set(if cut { Mode::LoseReplies } else { Mode::Pass });
        let outcome = if cut {
            a.run(|e| e.sync_now()).await
        } else {
            sync_through(&a).await
        };
        if cut {
            let e = outcome.expect_err("the reply was lost");
            assert_eq!(e.code, "sync.offline", "{e:?}");
            lost += 1;
        } else {
            let report = outcome.expect("sync");
            assert_eq!(report.pushed.rejected, 0, "round {round}: {report:?}");
        }
        if rng.index(2) == 0 {
            b.run(|e| e.sync_now()).await.expect("B syncs");
        }
    }
    proxy.set(Mode::Pass);
    for desk in [&a, &b, &a] {
        sync_through(desk).await.expect("final sync");
    }
    assert!(lost > rounds / 4, "the proxy lost {lost} replies");

    // Nothing lost: every change each device made was accepted, none refused.
    for desk in [&a, &b] {
        let state = desk.run(|e| e.sync_state()).await.expect("state");
        assert_eq!((state.pending, state.rejected), (0, 0), "{state:?}");
    }
    let company = tenant.id.clone();
    let central = central_patients(&app, &company).await;
    assert_eq!(central.len(), numbers, "every patient made, once");
    assert_eq!(desk_patients(&a).await, central);
    assert_eq!(desk_patients(&b).await, central);

    // Nothing twice: each change is in the practice's feed once, and every change A made is.
    let owner = app.owner_pool().await;
    let (entries, distinct): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT change_id) FROM sync_feed WHERE company_id = $1::uuid",
    )
    .bind(&company)
    .fetch_one(&owner)
    .await
    .expect("feed");
    assert_eq!(entries, distinct, "a change applied twice");
    let made: Vec<String> = a
        .run(|e| e.with_store_mut(|s| s.outbox_changes()))
        .await
        .expect("outbox");
    let fed: Vec<(uuid::Uuid,)> =
        sqlx::query_as("SELECT change_id FROM sync_feed WHERE company_id = $1::uuid")
            .bind(&company)
            .fetch_all(&owner)
            .await
            .expect("feed");
    let fed: std::collections::HashSet<String> =
        fed.into_iter().map(|(id,)| id.to_string()).collect();
    for text in &made {
        let change = ils_core::change::Change::decode(text).expect("change");
        let id: ChangeId = change.id;
        assert!(fed.contains(&id.to_string()), "change {id} lost");
    }
    eprintln!(
        "{rounds} rounds, {lost} replies lost, {} changes from A, {entries} in the feed",
        made.len()
    );
}

#[tokio::test]
async fn a_device_restarted_offline_syncs_by_itself_with_the_sign_in_it_kept() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("kept", SubscriptionTier::Pro).await;
    let ada = user(&app, &tenant, Role::Ecp, "ada").await;
    let proxy = Proxy::start(&app.base).await.expect("proxy");
    let mut a = Desk::new();
    connect_through(&app, &tenant, &a, &ada, "Front desk", &proxy.base).await;
    let state = a.run(|e| e.sync_state()).await.expect("state");
    assert_eq!(state.session_kept, Some(Kept::EncryptedFile));

    // The program closes; it starts again while ILS Central is out of reach.
    a.restart();
    proxy.set(Mode::Refuse);
    let email = ada.clone();
    let wrong = a
        .run(move |e| e.sign_in_with_password(&email, "not the password"))
        .await;
    assert_eq!(
        wrong.expect_err("a wrong password").code,
        "auth.invalid_credentials"
    );
    let not_yet = a.run(|e| e.sync_now()).await;
    assert_eq!(
        not_yet.expect_err("no session without the password").code,
        "sync.not_signed_in"
    );
    let email = ada.clone();
    a.run(move |e| e.sign_in_with_password(&email, PASSWORD))
        .await
        .expect("signed in offline");
    let state = a.run(|e| e.sync_state()).await.expect("state");
    assert_eq!(state.session_kept, Some(Kept::EncryptedFile));
    a.run(|e| e.add_patient(&patient("K-1", "Hopper")).expect("patient"))
        .await;
    let offline = a.run(|e| e.sync_now()).await;
    assert_eq!(offline.expect_err("offline").code, "sync.offline");

    // ILS Central is back: the device syncs with the kept sign-in, no password asked.
    proxy.set(Mode::Pass);
    let report = sync_through(&a).await.expect("synced");
    assert_eq!(report.pushed.applied, 1, "{report:?}");
    let central = central_patients(&app, &tenant.id).await;
    assert!(central.values().any(|p| p.0 == "K-1"), "{central:?}");

    // Signed out elsewhere (every session of the user ended): the device forgets the kept
    // sign-in and asks for the password again, instead of retrying a dead token forever.
    a.restart();
    proxy.set(Mode::Refuse);
    let email = ada.clone();
    a.run(move |e| e.sign_in_with_password(&email, PASSWORD))
        .await
        .expect("signed in offline");
    let owner = app.owner_pool().await;
    sqlx::query("UPDATE refresh_tokens SET revoked_at = now() WHERE company_id = $1::uuid")
        .bind(&tenant.id)
        .execute(&owner)
        .await
        .expect("revoke");
    proxy.set(Mode::Pass);
    let refused = sync_through(&a).await.expect_err("a dead sign-in");
    assert!(refused.code.starts_with("auth."), "{refused:?}");
    let state = a.run(|e| e.sync_state()).await.expect("state");
    assert_eq!(state.session_kept, None);
    let again = a.run(|e| e.sync_now()).await;
    assert_eq!(
        again.expect_err("asks for a sign-in").code,
        "sync.not_signed_in"
    );
}
