//! ILS Desktop end to end, in a real window: the built app under Xvfb, driven through WebDriver
//! (tauri-driver with WebKitWebDriver), on its own SQLite file and the real embedding model.
//! Each step keeps a screenshot under `<target>/e2e-artifacts/<test>/`.
//!
//! 1. Offline: first-run setup by the administrator, who adds an optometrist and ingests a
//!    document (a passage found in it); the optometrist signs in: a patient, a prescription with
//!    one invalid value (the message is shown and nothing is saved), fixed and saved, an order
//!    made from it and submitted, the assistant asked with no network (retrieved passages
//!    shown), and the pending changes in the sync panel.
//! 2. Against ILS Central (in this test process, on a real PostgreSQL, over real HTTP): connect,
//!    add a patient, and see it arrive on the server.

#[path = "../../../crates/ils-server/tests/api/common.rs"]
mod common;
mod driver;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use driver::{Launch, Window};

/// One window at a time: both tests share the machine's two cores.
static ONE_WINDOW: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Prescriptions in the app's file, read straight from SQLite.
fn prescriptions_in(db: &std::path::Path) -> Result<i64> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    Ok(conn.query_row("SELECT count(*) FROM prescriptions", [], |r| r.get(0))?)
}

fn app() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ils-desktop"))
}

fn model_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/all-MiniLM-L6-v2")
}

fn artifacts(test: &str) -> PathBuf {
    app()
        .parent()
        .expect("the build folder")
        .join("e2e-artifacts")
        .join(test)
}

/// The app's environment: its own data and settings folders, the model, no keychain.
fn env_for(dir: &std::path::Path) -> Vec<(String, String)> {
    let s = |p: PathBuf| p.display().to_string();
    vec![
        ("ILS_NODE_DB".into(), s(dir.join("practice.db"))),
        ("ILS_NODE_NO_KEYCHAIN".into(), "true".into()),
        ("ILS_MODEL_DIR".into(), s(model_dir())),
        ("XDG_DATA_HOME".into(), s(dir.join("data"))),
        ("XDG_CONFIG_HOME".into(), s(dir.join("config"))),
    ]
}

async fn first_run_offline(w: &mut Window) -> Result<()> {
    w.find("[data-testid=first-run]").await?;
    w.step("first-run").await?;
    w.click("[data-testid=first-run-offline]").await?;
    w.fill("[data-testid=practice-name]", "Harbour Optics")
        .await?;
    w.fill("[data-testid=practice-tz]", "Europe/London").await?;
    w.fill("[data-testid=admin-first-name]", "Ada").await?;
    w.fill("[data-testid=admin-last-name]", "Admin").await?;
    w.fill("[data-testid=admin-email]", "ada@harbour.example")
        .await?;
    w.step("first-run-filled").await?;
    w.click("[data-testid=first-run-submit]").await?;
    w.text_contains("[data-testid=signed-in-user]", "Ada")
        .await
        .context("signed in after the first run")?;
    Ok(())
}

async fn add_patient(w: &mut Window, number: &str, first: &str, last: &str) -> Result<()> {
    w.click("[data-testid=nav-patients]").await?;
    w.click("[data-testid=patient-new]").await?;
    w.find("[data-testid=patient-form]").await?;
    w.fill("[data-testid=patient-customer_number]", number)
        .await?;
    w.fill("[data-testid=patient-first_name]", first).await?;
    w.fill("[data-testid=patient-last_name]", last).await?;
    w.fill("[data-testid=patient-date_of_birth]", "1984-03-07")
        .await?;
    w.step("patient-form").await?;
    w.click("[data-testid=patient-save]").await?;
    w.text_contains("[data-testid=patient-name]", last)
        .await
        .context("the new patient's page")?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_practice_works_offline_from_first_run_to_the_sync_panel() -> Result<()> {
    let _one = ONE_WINDOW.lock().await;
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("practice.db");
    let mut w = Window::open(Launch {
        app: &app(),
        env: env_for(dir.path()),
        artifacts: artifacts("offline"),
    })
    .await?;

    first_run_offline(&mut w).await?;
    w.text_contains("[data-testid=sync-indicator]", "Not connected")
        .await?;

    // The administrator adds the practice's optometrist and a document to the knowledge base.
    w.click("[data-testid=nav-settings]").await?;
    w.fill("[data-testid=user-first-name]", "Olive").await?;
    w.fill("[data-testid=user-last-name]", "Optom").await?;
    w.fill("[data-testid=user-email]", "olive@harbour.example")
        .await?;
    w.select("[data-testid=user-role]", "ecp").await?;
    w.click("[data-testid=user-add]").await?;
    w.text_contains("body", "olive@harbour.example")
        .await
        .context("the new user listed")?;
    w.step("user-added").await?;

    let doc = dir.path().join("contact-lens-care.md");
    std::fs::write(
        &doc,
        "# Contact lens care\n\nRub and rinse soft lenses with fresh multipurpose solution \
         every night. Never top up old solution in the case.\n\n## Replacing the case\n\n\
         Replace the lens case every three months, or sooner if it is cracked.\n",
    )?;
    w.click("[data-testid=nav-kb]").await?;
    w.fill("[data-testid=kb-path]", &doc.display().to_string())
        .await?;
    w.click("[data-testid=kb-add]").await?;
    w.count("[data-testid=kb-doc]", 1)
        .await
        .context("the document listed after its ingest")?;
    w.step("kb-ingested").await?;
    w.fill(
        "[data-testid=kb-search]",
        "how often to replace the lens case",
    )
    .await?;
    w.text_contains("[data-testid=kb-hit]", "three months")
        .await?;
    w.step("kb-search").await?;

    // The optometrist signs in.
    w.click("[data-testid=sign-out]").await?;
    w.fill("[data-testid=sign-in-email]", "olive@harbour.example")
        .await?;
    w.click("[data-testid=sign-in-submit]").await?;
    w.text_contains("[data-testid=signed-in-user]", "Olive")
        .await?;

    // A patient, found again by typing the start of the name.
    add_patient(&mut w, "C-1042", "Grace", "Hopper").await?;
    w.click("[data-testid=nav-patients]").await?;
    w.fill("[data-testid=patient-search]", "hop").await?;
    w.count("[data-testid=patient-row]", 1).await?;
    w.step("patient-search").await?;
    w.click("[data-testid=patient-row]").await?;
    w.find("[data-testid=patient-page]").await?;

    // A prescription with one invalid value: the message shows, and saving saves nothing.
    w.click("[data-testid=rx-new]").await?;
    w.find("[data-testid=rx-form]").await?;
    w.fill("[data-testid=rx-right-sphere]", "35").await?;
    w.fill("[data-testid=rx-right-cylinder]", "-0.50").await?;
    w.fill("[data-testid=rx-right-axis]", "180").await?;
    w.fill("[data-testid=rx-left-sphere]", "-1.00").await?;
    w.fill("[data-testid=rx-pd]", "63").await?;
    w.fill("[data-testid=rx-prescriber]", "Dr Jane Smith")
        .await?;
    w.find("[data-testid=field-error][data-field=\"right.sphere\"]")
        .await
        .context("the sphere's message, as it is typed")?;
    w.step("rx-invalid").await?;
    w.click("[data-testid=rx-save]").await?;
    // Saving is refused with the engine's message; the form stays, and the file holds no
    // prescription.
    w.find("[data-testid=field-error][data-field=\"right.sphere\"]")
        .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    w.find("[data-testid=rx-form]").await?;
    assert_eq!(
        prescriptions_in(&db)?,
        0,
        "the refused prescription was not saved"
    );

    // Fixed: the message goes, the transposed form shows, and it saves.
    w.fill("[data-testid=rx-right-sphere]", "-1.25").await?;
    w.count("[data-testid=field-error]", 0).await?;
    // R -1.25 / -0.50 x 180 is -1.75 / +0.50 x 90, written with true minus and times signs.
    w.text_contains(
        "[data-testid=rx-transposed]",
        "R \u{2212}1.75 / +0.50 \u{d7} 90",
    )
    .await
    .context("the right eye transposed")?;
    w.step("rx-valid").await?;
    w.click("[data-testid=rx-save]").await?;
    w.count("[data-testid=rx-row]", 1).await?;
    assert_eq!(prescriptions_in(&db)?, 1);
    w.step("rx-saved").await?;

    // An order from it, submitted.
    w.click("[data-testid=rx-order]").await?;
    w.find("[data-testid=order-form]").await?;
    w.select("[data-testid=order-lens-type]", "single_vision")
        .await?;
    w.fill("[data-testid=order-material]", "CR-39").await?;
    w.step("order-form").await?;
    // Placed from the keyboard: Enter in the form.
    w.enter("[data-testid=order-material]").await?;
    w.text_contains(
        "[data-testid=order-row] [data-testid=order-status]",
        "draft",
    )
    .await?;
    // The new order opens in its drawer.
    w.find("[data-testid=order-detail]").await?;
    w.click("[data-testid=order-action-submit]").await?;
    w.text_contains("[data-testid=order-detail]", "submitted")
        .await
        .context("the order submitted")?;
    w.step("order-submitted").await?;
    w.click(".dialog-header button[aria-label=Close]").await?;
    w.count("[data-testid=order-detail]", 0).await?;
    // The practice's board names whose order it is.
    w.click("[data-testid=nav-orders]").await?;
    w.text_contains(
        "[data-testid=order-row] [data-testid=order-patient]",
        "Hopper, Grace (C-1042)",
    )
    .await?;
    w.step("orders-board").await?;

    // The assistant with no network: the retrieved passages, said plainly.
    w.click("[data-testid=nav-assistant]").await?;
    w.fill(
        "[data-testid=ask-input]",
        "How often should the lens case be replaced?",
    )
    .await?;
    w.click("[data-testid=ask-send]").await?;
    w.find("[data-testid=assistant-offline]").await?;
    w.find("[data-testid=citation]").await?;
    w.step("assistant-offline").await?;

    // The sync panel: the changes made here wait for ILS Central.
    w.click("[data-testid=nav-sync]").await?;
    let pending = w.find("[data-testid=sync-pending]").await?;
    let started = Instant::now();
    loop {
        let n: u64 = w.text_of(&pending).await?.trim().parse().unwrap_or(0);
        // The patient, the prescription, the order (made and submitted) and the document.
        if n >= 4 {
            break;
        }
        if started.elapsed() > driver::PATIENCE {
            bail!("the sync panel shows {n} pending changes");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    if w.all("[data-testid=pending-row]").await?.is_empty() {
        bail!("no pending change is listed");
    }
    w.step("sync-pending").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_cannot_be_opened_is_shown_in_the_window_and_can_be_tried_again()
-> Result<()> {
    let _one = ONE_WINDOW.lock().await;
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("practice.db");
    std::fs::write(
        &db,
        "this is a text file, not a practice's database\n".repeat(200),
    )?;
    let mut w = Window::open(Launch {
        app: &app(),
        env: env_for(dir.path()),
        artifacts: artifacts("unopenable"),
    })
    .await?;
    w.find("[data-testid=gate-failed] [data-testid=error-banner]")
        .await
        .context("the window says why the data did not open")?;
    w.step("cannot-open").await?;
    // The file was not touched.
    assert!(std::fs::read_to_string(&db)?.starts_with("this is a text file"));
    // Put right, and tried again: the first run.
    std::fs::remove_file(&db)?;
    w.click("[data-testid=gate-retry]").await?;
    w.find("[data-testid=first-run]").await?;
    w.step("tried-again").await?;

    // The page may listen for files dropped on the window and nothing else of Tauri's own
    // (capabilities/default.json): not even the app's version.
    let ipc = |command: &str, args: &str| {
        format!(
            "const done = arguments[arguments.length - 1];
             window.__TAURI_INTERNALS__.invoke('{command}', {args})
               .then(() => done('allowed'), (e) => done('refused: ' + e));"
        )
    };
    let listen = w
        .run_async(&ipc(
            "plugin:event|listen",
            "{event: 'tauri://drag-drop', target: {kind: 'Any'}, \
             handler: window.__TAURI_INTERNALS__.transformCallback(() => {})}",
        ))
        .await?;
    assert_eq!(listen, "allowed", "listening for dropped files");
    for (command, args) in [
        ("plugin:app|version", "{}"),
        ("plugin:window|title", "{label: 'main'}"),
        (
            "plugin:event|emit",
            "{event: 'tauri://drag-drop', payload: {}}",
        ),
        ("plugin:dialog|save", "{options: {}}"),
        ("plugin:dialog|message", "{message: 'hello'}"),
    ] {
        let answer = w.run_async(&ipc(command, args)).await?;
        assert!(
            answer.as_str().is_some_and(|a| a.starts_with("refused")),
            "{command}: {answer}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_practice_connects_to_ils_central_and_its_patient_arrives_there() -> Result<()> {
    let _one = ONE_WINDOW.lock().await;
    let server = common::TestApp::spawn().await;
    let tenant = server
        .create_tenant("desktop", ils_core::SubscriptionTier::Pro)
        .await;
    // The optometrist who will work on this computer.
    let email = format!("olive@{}", tenant.domain);
    let made = server
        .post(
            "/api/users",
            &tenant.admin_token,
            serde_json::json!({"email": email, "password": common::PASSWORD,
                "first_name": "Olive", "last_name": "Optom", "role": "ecp"}),
        )
        .await;
    assert!(made.status.is_success(), "{:?}", made.body);
    let code = server
        .post(
            "/api/sync/device-codes",
            &tenant.admin_token,
            serde_json::json!({}),
        )
        .await;
    let code = code.body["code"].as_str().context("a registration code")?;

    let dir = tempfile::tempdir()?;
    let mut w = Window::open(Launch {
        app: &app(),
        env: env_for(dir.path()),
        artifacts: artifacts("central"),
    })
    .await?;
    w.find("[data-testid=first-run]").await?;
    w.click("[data-testid=first-run-connect]").await?;
    w.fill("[data-testid=connect-server]", &server.base).await?;
    w.fill("[data-testid=connect-domain]", &tenant.domain)
        .await?;
    w.fill("[data-testid=connect-email]", &email).await?;
    w.fill("[data-testid=connect-password]", common::PASSWORD)
        .await?;
    w.fill("[data-testid=connect-device]", "Front desk").await?;
    w.fill("[data-testid=connect-code]", code).await?;
    w.step("connect-form").await?;
    w.click("[data-testid=connect-submit]").await?;
    // The first sync runs with a progress bar; once it is done the practice opens.
    w.text_contains("[data-testid=connect-progress]", "up to date")
        .await?;
    w.step("first-sync").await?;
    w.click("[data-testid=connect-continue]").await?;
    w.text_contains("[data-testid=sync-indicator]", "Online")
        .await
        .context("online after connecting")?;
    w.step("connected").await?;

    add_patient(&mut w, "C-2001", "Alan", "Turing").await?;
    // The background sync sends it; ILS Central lists it.
    let started = Instant::now();
    loop {
        let found = server.get("/api/patients?q=tur", &tenant.admin_token).await;
        if found.body.to_string().contains("C-2001") {
            break;
        }
        if started.elapsed() > driver::PATIENCE {
            bail!("ILS Central never saw the patient: {}", found.body);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    w.click("[data-testid=nav-sync]").await?;
    w.text_equals("[data-testid=sync-pending]", "0").await?;
    w.step("synced").await?;
    Ok(())
}
