//! The window's commands: each calls the engine API and nothing else, on the blocking pool, and
//! answers with the engine's response or its error `{code, message, fields}`. Arguments keep the
//! engine's snake_case names. Records a person types (a patient, a prescription, an order)
//! arrive as JSON and are read by ils-core's readers, so a wrong or missing value comes back as
//! a field error with its path, never as a bare deserialisation failure.

use std::path::PathBuf;

use ils_core::decide::conflicts::Resolution;
use ils_core::decide::patients::PatientQuery;
use ils_core::order::OrderAction;
use ils_core::patient::{PatientChanges, PatientData};
use ils_core::rx::RxStatus;
use ils_core::{OrderId, PatientId, PrescriptionId};
use ils_node::assistant::{AskEvent, AskRequest};
use ils_node::engine::{ConnectRequest, IngestEvent, PrescriptionInput};
use ils_node::kb::SearchOptions;
use ils_node::store::{NewPractice, NewUser, OrderFilter};
use ils_node::{Engine, EngineError, EngineResult};
use serde::Serialize;
use serde_json::Value;
use tauri::State;
use tauri::ipc::Channel;

use crate::AppState;

/// The settings key of the idle time after which the window locks (minutes; 0 never).
pub const IDLE_LOCK_KEY: &str = "ui.idle_lock_minutes";
const IDLE_LOCK_DEFAULT: u32 = 10;

pub fn handler() -> impl Fn(tauri::ipc::Invoke) -> bool + Send + Sync + 'static {
    tauri::generate_handler![
        app_info,
        create_practice,
        users,
        add_user,
        sign_in,
        sign_in_with_password,
        sign_out,
        search_patients,
        add_patient,
        update_patient,
        patient_page,
        check_prescription,
        add_prescription,
        set_prescription_status,
        prescription_fhir,
        capture_prescription,
        create_order,
        transition_order,
        orders,
        order_board,
        order_timeline,
        order_dcs,
        ingest,
        cancel_ingest,
        search_documents,
        documents,
        delete_document,
        ask,
        stop_answer,
        conversations,
        conversation,
        sync_state,
        sync_now,
        pending_changes,
        sync_rejected,
        sync_conflicts,
        resolve_conflict,
        connect,
        audit_entries,
        ai_config,
        set_ai_config,
        set_idle_lock,
        bench_ready,
    ]
}

/// Runs `f` with the engine on the blocking pool, off the interface thread.
async fn blocking<T: Send + 'static>(
    state: &State<'_, AppState>,
    f: impl FnOnce(&Engine) -> EngineResult<T> + Send + 'static,
) -> EngineResult<T> {
    let opener = state.opener();
    tauri::async_runtime::spawn_blocking(move || f(&*opener.engine()?))
        .await
        .map_err(|e| EngineError::internal(format!("the work stopped unexpectedly: {e}")))?
}

/// A record a person typed, read by one of ils-core's readers (every problem by its path).
fn read<T>(
    value: &Value,
    reader: impl FnOnce(&Value) -> Result<T, ils_core::ValidationErrors>,
) -> EngineResult<T> {
    reader(value).map_err(|e| ils_core::DomainError::Validation(e).into())
}

fn id<T: std::str::FromStr>(field: &str, value: &str) -> EngineResult<T> {
    value.trim().parse().map_err(|_| {
        let mut errors = ils_core::ValidationErrors::new();
        errors.add(
            field,
            ils_core::input::code::INVALID,
            format!("{field} must be an id like 0193a5b0-0000-7000-8000-000000000001"),
        );
        ils_core::DomainError::Validation(errors).into()
    })
}

// --- The app and the practice ---

#[derive(Serialize)]
pub struct AppInfo {
    pub version: &'static str,
    pub engine: ils_node::engine::EngineInfo,
    /// The signed-in user with their role, so the window offers what that role may do.
    pub signed_in: Option<ils_node::store::LocalUser>,
    /// What the signed-in user may do (ils-core's rules read out for the role), so the window
    /// offers only that.
    pub abilities: Option<ils_core::abilities::Abilities>,
    /// The embedding model's folder, and whether its weights are there.
    pub model_dir: String,
    pub model_present: bool,
    pub idle_lock_minutes: u32,
    /// How the window is drawn: with the GPU, or in software and why (`rendering`).
    pub rendering: String,
}

#[tauri::command(rename_all = "snake_case")]
async fn app_info(state: State<'_, AppState>) -> EngineResult<AppInfo> {
    let model = state.settings.model_path();
    blocking(&state, move |engine| {
        let idle_lock_minutes = engine
            .setting(IDLE_LOCK_KEY)?
            .and_then(|v| v.parse().ok())
            .unwrap_or(IDLE_LOCK_DEFAULT);
        Ok(AppInfo {
            version: env!("CARGO_PKG_VERSION"),
            engine: engine.info()?,
            signed_in: engine.current_user()?,
            abilities: engine.abilities()?,
            model_present: model.join("model.safetensors").is_file(),
            model_dir: model.display().to_string(),
            idle_lock_minutes,
            rendering: crate::rendering::chosen(),
        })
    })
    .await
}

#[tauri::command(rename_all = "snake_case")]
async fn set_idle_lock(state: State<'_, AppState>, minutes: u32) -> EngineResult<u32> {
    if minutes > 24 * 60 {
        return Err(EngineError::input(
            "settings.idle_lock_out_of_range",
            "the idle lock is 0 (never) to 1440 minutes",
        ));
    }
    blocking(&state, move |engine| {
        engine.set_setting(IDLE_LOCK_KEY, &minutes.to_string())?;
        Ok(minutes)
    })
    .await
}

#[derive(Serialize)]
pub struct Created {
    pub practice: ils_node::store::Practice,
    pub user: ils_node::store::LocalUser,
}

#[tauri::command(rename_all = "snake_case")]
async fn create_practice(state: State<'_, AppState>, input: NewPractice) -> EngineResult<Created> {
    blocking(&state, move |engine| {
        let (practice, user) = engine.create_practice(&input)?;
        Ok(Created { practice, user })
    })
    .await
}

#[tauri::command(rename_all = "snake_case")]
async fn users(state: State<'_, AppState>) -> EngineResult<Vec<ils_node::store::LocalUser>> {
    blocking(&state, |engine| engine.users()).await
}

#[tauri::command(rename_all = "snake_case")]
async fn add_user(
    state: State<'_, AppState>,
    input: NewUser,
) -> EngineResult<ils_node::store::LocalUser> {
    blocking(&state, move |engine| engine.add_user(&input)).await
}

/// Signs in a user of a practice kept only on this computer. A practice connected to ILS
/// Central always asks for the password (`sign_in_with_password`).
#[tauri::command(rename_all = "snake_case")]
async fn sign_in(
    state: State<'_, AppState>,
    email: String,
) -> EngineResult<ils_node::store::LocalUser> {
    blocking(&state, move |engine| engine.sign_in(&email)).await
}

/// Signs in a user of a practice connected to ILS Central (offline with the kept verifier).
#[tauri::command(rename_all = "snake_case")]
async fn sign_in_with_password(
    state: State<'_, AppState>,
    email: String,
    password: String,
) -> EngineResult<ils_node::store::LocalUser> {
    blocking(&state, move |engine| {
        engine.sign_in_with_password(&email, &password)
    })
    .await
}

/// Signs out (also what the idle lock does): an ingest the user started stops after its current
/// document, so nothing more is written under their name.
#[tauri::command(rename_all = "snake_case")]
async fn sign_out(state: State<'_, AppState>) -> EngineResult<()> {
    state.cancel_ingest();
    state.stop_ask();
    blocking(&state, |engine| {
        engine.sign_out();
        Ok(())
    })
    .await
}

// --- Patients ---

#[tauri::command(rename_all = "snake_case")]
async fn search_patients(
    state: State<'_, AppState>,
    query: PatientQuery,
    limit: Option<u32>,
    offset: Option<u32>,
) -> EngineResult<Vec<ils_core::record::PatientRecord>> {
    blocking(&state, move |engine| {
        engine.search_patients(&query, limit.unwrap_or(50), offset.unwrap_or(0))
    })
    .await
}

#[tauri::command(rename_all = "snake_case")]
async fn add_patient(
    state: State<'_, AppState>,
    input: Value,
) -> EngineResult<ils_core::record::PatientRecord> {
    let data = read(&input, PatientData::from_json)?;
    let out = blocking(&state, move |engine| engine.add_patient(&data)).await;
    state.sync_soon();
    out
}

#[tauri::command(rename_all = "snake_case")]
async fn update_patient(
    state: State<'_, AppState>,
    id: String,
    changes: Value,
) -> EngineResult<ils_core::record::PatientRecord> {
    let id: PatientId = self::id("id", &id)?;
    let changes = read(&changes, PatientChanges::from_json)?;
    let out = blocking(&state, move |engine| engine.update_patient(id, &changes)).await;
    state.sync_soon();
    out
}

#[tauri::command(rename_all = "snake_case")]
async fn patient_page(
    state: State<'_, AppState>,
    id: String,
) -> EngineResult<ils_node::engine::PatientPage> {
    let id: PatientId = self::id("id", &id)?;
    blocking(&state, move |engine| engine.patient_page(id)).await
}

// --- Prescriptions ---

#[tauri::command(rename_all = "snake_case")]
async fn check_prescription(
    state: State<'_, AppState>,
    input: Value,
) -> EngineResult<ils_node::engine::RxCheck> {
    blocking(&state, move |engine| {
        engine.check_prescription(&PrescriptionInput(input))
    })
    .await
}

#[tauri::command(rename_all = "snake_case")]
async fn add_prescription(
    state: State<'_, AppState>,
    patient_id: String,
    input: Value,
) -> EngineResult<ils_core::record::PrescriptionRecord> {
    let patient: PatientId = id("patient_id", &patient_id)?;
    let out = blocking(&state, move |engine| {
        engine.add_prescription(patient, &PrescriptionInput(input))
    })
    .await;
    state.sync_soon();
    out
}

#[tauri::command(rename_all = "snake_case")]
async fn set_prescription_status(
    state: State<'_, AppState>,
    id: String,
    status: RxStatus,
) -> EngineResult<ils_core::record::PrescriptionRecord> {
    let id: PrescriptionId = self::id("id", &id)?;
    let out = blocking(&state, move |engine| {
        engine.set_prescription_status(id, status)
    })
    .await;
    state.sync_soon();
    out
}

#[tauri::command(rename_all = "snake_case")]
async fn prescription_fhir(state: State<'_, AppState>, id: String) -> EngineResult<Value> {
    let id: PrescriptionId = self::id("id", &id)?;
    blocking(&state, move |engine| engine.prescription_fhir(id)).await
}

/// Reads a photo of a paper prescription (JPEG, PNG or WebP) with the practice's vision model
/// into a draft for a person to check and complete; nothing is saved.
#[tauri::command(rename_all = "snake_case")]
async fn capture_prescription(
    state: State<'_, AppState>,
    path: String,
) -> EngineResult<ils_node::assistant::Captured> {
    if path.trim().is_empty() {
        return Err(EngineError::input(
            "file.unreadable",
            "choose the photo of the prescription",
        ));
    }
    blocking(&state, move |engine| {
        engine.capture_prescription_file(std::path::Path::new(path.trim()))
    })
    .await
}

// --- Orders ---

#[tauri::command(rename_all = "snake_case")]
async fn create_order(
    state: State<'_, AppState>,
    input: Value,
) -> EngineResult<ils_core::record::OrderRecord> {
    let out = blocking(&state, move |engine| engine.create_order(&input)).await;
    state.sync_soon();
    out
}

#[tauri::command(rename_all = "snake_case")]
async fn transition_order(
    state: State<'_, AppState>,
    id: String,
    action: OrderAction,
    note: Option<String>,
) -> EngineResult<ils_node::engine::Transitioned> {
    let id: OrderId = self::id("id", &id)?;
    let out = blocking(&state, move |engine| {
        engine.transition_order(id, action, note.as_deref().filter(|n| !n.trim().is_empty()))
    })
    .await;
    state.sync_soon();
    out
}

#[tauri::command(rename_all = "snake_case")]
async fn orders(
    state: State<'_, AppState>,
    filter: OrderFilter,
) -> EngineResult<Vec<ils_core::record::OrderRecord>> {
    blocking(&state, move |engine| engine.orders(filter)).await
}

/// The orders board: per status the newest orders (200 unless asked) and how many there are.
#[tauri::command(rename_all = "snake_case")]
async fn order_board(
    state: State<'_, AppState>,
    per_column: Option<u32>,
    overdue_only: Option<bool>,
) -> EngineResult<ils_node::store::OrderBoard> {
    blocking(&state, move |engine| {
        engine.order_board(per_column.unwrap_or(200), overdue_only.unwrap_or(false))
    })
    .await
}

#[tauri::command(rename_all = "snake_case")]
async fn order_timeline(
    state: State<'_, AppState>,
    id: String,
) -> EngineResult<Vec<ils_core::record::OrderEventRecord>> {
    let id: OrderId = self::id("id", &id)?;
    blocking(&state, move |engine| engine.order_timeline(id)).await
}

#[tauri::command(rename_all = "snake_case")]
async fn order_dcs(state: State<'_, AppState>, id: String) -> EngineResult<String> {
    let id: OrderId = self::id("id", &id)?;
    blocking(&state, move |engine| engine.order_dcs(id)).await
}

// --- Knowledge base ---

/// Ingests files and folders, streaming [`IngestEvent`]s; one ingest at a time.
#[tauri::command(rename_all = "snake_case")]
async fn ingest(
    state: State<'_, AppState>,
    paths: Vec<String>,
    on_event: Channel<IngestEvent>,
) -> EngineResult<ils_node::engine::IngestReport> {
    if paths.is_empty() {
        return Err(EngineError::input(
            "kb.no_files",
            "choose files or folders to add",
        ));
    }
    let Some(cancel) = state.begin_ingest() else {
        return Err(EngineError::input(
            "kb.ingest_running",
            "documents are already being added; wait for them or cancel",
        ));
    };
    let paths: Vec<PathBuf> = paths.into_iter().map(PathBuf::from).collect();
    let out = blocking(&state, move |engine| {
        engine.ingest(
            &paths,
            &mut |event| {
                // A closed window cannot take events; the ingest goes on to a whole document.
                let _ = on_event.send(event.clone());
            },
            &cancel,
        )
    })
    .await;
    state.end_ingest();
    state.sync_soon();
    out
}

#[tauri::command(rename_all = "snake_case")]
async fn cancel_ingest(state: State<'_, AppState>) -> EngineResult<bool> {
    Ok(state.cancel_ingest())
}

#[tauri::command(rename_all = "snake_case")]
async fn search_documents(
    state: State<'_, AppState>,
    query: String,
    limit: Option<usize>,
) -> EngineResult<Vec<ils_node::kb::Hit>> {
    let opts = SearchOptions {
        limit: limit.unwrap_or(10),
        ..SearchOptions::default()
    };
    blocking(&state, move |engine| engine.search_documents(&query, opts)).await
}

#[tauri::command(rename_all = "snake_case")]
async fn documents(state: State<'_, AppState>) -> EngineResult<Vec<ils_node::kb::Document>> {
    blocking(&state, |engine| engine.documents()).await
}

#[tauri::command(rename_all = "snake_case")]
async fn delete_document(
    state: State<'_, AppState>,
    id: String,
) -> EngineResult<ils_node::kb::Document> {
    let out = blocking(&state, move |engine| engine.delete_document(&id)).await;
    state.sync_soon();
    out
}

// --- The assistant ---

/// Asks the assistant, streaming the passages and then the answer as it is written.
#[tauri::command(rename_all = "snake_case")]
async fn ask(
    state: State<'_, AppState>,
    question: String,
    conversation: Option<String>,
    offline: Option<bool>,
    on_event: Channel<AskEvent>,
) -> EngineResult<ils_node::assistant::Answer> {
    let request = AskRequest {
        question,
        conversation,
        offline: offline.unwrap_or(false),
    };
    let Some(stop) = state.begin_ask() else {
        return Err(EngineError::input(
            "assistant.busy",
            "an answer is still being written: stop it or wait for it",
        ));
    };
    let out = blocking(&state, move |engine| {
        engine.ask_until(&request, &stop, &mut |event| {
            let _ = on_event.send(event.clone());
        })
    })
    .await;
    state.end_ask();
    out
}

/// Stops the answer being written; what was shown is kept. Whether one was being written.
#[tauri::command(rename_all = "snake_case")]
async fn stop_answer(state: State<'_, AppState>) -> EngineResult<bool> {
    Ok(state.stop_ask())
}

#[tauri::command(rename_all = "snake_case")]
async fn conversations(
    state: State<'_, AppState>,
) -> EngineResult<Vec<ils_node::store::Conversation>> {
    blocking(&state, |engine| engine.conversations()).await
}

#[derive(Serialize)]
pub struct ConversationPage {
    pub conversation: ils_node::store::Conversation,
    pub messages: Vec<ils_node::store::Message>,
}

#[tauri::command(rename_all = "snake_case")]
async fn conversation(state: State<'_, AppState>, id: String) -> EngineResult<ConversationPage> {
    blocking(&state, move |engine| {
        let (conversation, messages) = engine.conversation(&id)?;
        Ok(ConversationPage {
            conversation,
            messages,
        })
    })
    .await
}

// --- Sync ---

#[tauri::command(rename_all = "snake_case")]
async fn sync_state(state: State<'_, AppState>) -> EngineResult<ils_node::store::SyncState> {
    blocking(&state, |engine| engine.sync_state()).await
}

/// Wakes the background sync at once; the state shows how it went.
#[tauri::command(rename_all = "snake_case")]
async fn sync_now(state: State<'_, AppState>) -> EngineResult<()> {
    state.sync_soon();
    Ok(())
}

#[tauri::command(rename_all = "snake_case")]
async fn pending_changes(state: State<'_, AppState>) -> EngineResult<Vec<ils_node::OutboxRow>> {
    blocking(&state, |engine| engine.pending_changes()).await
}

#[tauri::command(rename_all = "snake_case")]
async fn sync_rejected(
    state: State<'_, AppState>,
) -> EngineResult<Vec<ils_node::store::RejectedChange>> {
    blocking(&state, |engine| engine.sync_rejected()).await
}

#[tauri::command(rename_all = "snake_case")]
async fn sync_conflicts(
    state: State<'_, AppState>,
) -> EngineResult<Vec<ils_node::store::LocalConflict>> {
    blocking(&state, |engine| engine.sync_conflicts()).await
}

#[tauri::command(rename_all = "snake_case")]
async fn resolve_conflict(
    state: State<'_, AppState>,
    id: String,
    resolution: Resolution,
) -> EngineResult<()> {
    let out = blocking(&state, move |engine| {
        engine.resolve_conflict(&id, resolution)
    })
    .await;
    state.sync_soon();
    out
}

/// Connects this computer's practice to ILS Central (registers the device; the first sync
/// follows in the background, and `sync_state` shows it).
#[tauri::command(rename_all = "snake_case")]
async fn connect(
    state: State<'_, AppState>,
    request: ConnectRequest,
) -> EngineResult<ils_node::store::SyncState> {
    let out = blocking(&state, move |engine| engine.connect(&request)).await;
    state.sync_soon();
    out
}

// --- Activity and settings ---

#[tauri::command(rename_all = "snake_case")]
async fn audit_entries(
    state: State<'_, AppState>,
    entity_id: Option<String>,
    limit: Option<u32>,
) -> EngineResult<Vec<ils_node::store::AuditEntry>> {
    blocking(&state, move |engine| {
        engine.audit_entries(
            entity_id.as_deref().filter(|s| !s.trim().is_empty()),
            limit.unwrap_or(200),
        )
    })
    .await
}

#[derive(Serialize)]
pub struct AiSettings {
    pub config: ils_core::AiConfig,
    pub version: i64,
}

#[tauri::command(rename_all = "snake_case")]
async fn ai_config(state: State<'_, AppState>) -> EngineResult<AiSettings> {
    blocking(&state, |engine| {
        let (config, version) = engine.ai_config()?;
        Ok(AiSettings { config, version })
    })
    .await
}

#[tauri::command(rename_all = "snake_case")]
async fn set_ai_config(
    state: State<'_, AppState>,
    config: ils_core::AiConfig,
) -> EngineResult<i64> {
    blocking(&state, move |engine| engine.set_ai_config(&config)).await
}

// --- Benchmarks ---

/// A step of the interface's start: its name and when (Unix time in milliseconds).
#[derive(Debug, serde::Deserialize)]
struct BenchStep {
    name: String,
    at: f64,
}

/// The interface calls this once its patient list first shows rows. Under `make bench-desktop`
/// (`ILS_DESKTOP_BENCH`) it records the start time and memory, loads the model, records the
/// memory again and closes the app; otherwise it does nothing.
#[tauri::command(rename_all = "snake_case")]
async fn bench_ready(
    app: tauri::AppHandle,
    state: State<'_, AppState>,
    steps: Option<Vec<BenchStep>>,
) -> EngineResult<()> {
    let Some(file) = crate::bench::report_file() else {
        return Ok(());
    };
    let ready_ms = crate::bench::since_start_ms();
    let interface: Vec<(String, f64)> = steps
        .unwrap_or_default()
        .into_iter()
        .map(|s| (s.name, s.at))
        .collect();
    let steps: Vec<Value> = crate::bench::steps(&interface)
        .into_iter()
        .map(|(step, ms)| serde_json::json!({"step": step, "ms": ms}))
        .collect();
    let report = blocking(&state, move |engine| {
        let (app_kib, total_kib, processes) = crate::bench::rss_tree_kib();
        let pss_kib = crate::bench::pss_tree_kib();
        let by_mapping: Vec<Value> = crate::bench::rss_by_mapping_kib(12)
            .into_iter()
            .map(|(mapping, kib)| serde_json::json!({"mapping": mapping, "kib": kib}))
            .collect();
        engine.embedder()?;
        std::thread::sleep(std::time::Duration::from_millis(300));
        let (app_after_kib, after_kib, _) = crate::bench::rss_tree_kib();
        let pss_after_kib = crate::bench::pss_tree_kib();
        Ok(serde_json::json!({
            "ready_ms": ready_ms, "rss_app_kib": app_kib, "rss_total_kib": total_kib,
            "rss_app_after_model_kib": app_after_kib,
            "rss_total_after_model_kib": after_kib, "processes": processes,
            "pss_total_kib": pss_kib, "pss_total_after_model_kib": pss_after_kib,
            "rss_app_by_mapping": by_mapping, "steps": steps,
        }))
    })
    .await?;
    std::fs::write(&file, report.to_string())
        .map_err(|e| EngineError::internal(format!("cannot write {}: {e}", file.display())))?;
    app.exit(0);
    Ok(())
}

#[cfg(test)]
mod tests {
    use ils_core::Role;
    use ils_core::abilities::Abilities;

    /// The interface's component tests use `ui/src/test/abilities.json`, each role's abilities as
    /// `app_info` sends them. It must be what ils-core says, so that those tests exercise the
    /// real rules: this fails when the rules change, and `ILS_WRITE_ABILITIES=1` writes it anew.
    #[test]
    fn the_interface_tests_see_the_abilities_ils_core_gives() {
        let all: serde_json::Map<String, serde_json::Value> = Role::ALL
            .into_iter()
            .map(|role| {
                (
                    role.as_str().to_owned(),
                    serde_json::to_value(Abilities::of(role)).expect("serialises"),
                )
            })
            .collect();
        let expected = serde_json::to_string_pretty(&all).expect("serialises") + "\n";
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/src/test/abilities.json");
        if std::env::var_os("ILS_WRITE_ABILITIES").is_some() {
            std::fs::write(&path, &expected).expect("write the fixture");
        }
        let found = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            found == expected,
            "{} is not what ils-core gives; run this test with ILS_WRITE_ABILITIES=1",
            path.display()
        );
    }
}
