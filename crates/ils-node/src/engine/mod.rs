//! The engine API: everything a screen of ILS Desktop needs — the practice and its users,
//! records, the knowledge base with ingest of many files (progress and cancel), settings and the
//! audit log — with serialisable requests and responses and one error shape,
//! `{code, message, fields}` ([`EngineError`]). The Tauri shell and the `ils-node` CLI call
//! this and nothing else; they hold no rule.
//!
//! # Concurrency
//!
//! An [`Engine`] is `Send + Sync` and meant to be shared (`Arc<Engine>`) by a GUI's command
//! handlers, each running off the interface thread. It owns one SQLite connection behind a
//! mutex, held only for the length of one transaction, so calls are serialised there, in
//! arrival order. Slow work happens outside the lock: a knowledge-base ingest reads, extracts
//! and embeds each file without holding it, and takes it only to write the finished document
//! (tens of milliseconds), so a screen asking for a patient never waits for an embedding.
//! Other processes on the same file (the CLI, a sync client) are serialised by SQLite itself:
//! every transaction that writes, and every audited read, takes the write lock when it begins
//! and waits (up to 20 s) for another process's to end. An actor thread with a queue would
//! serialise the same way with more machinery; a pool of connections would buy nothing, since
//! every read of patient data writes its audit row.
//!
//! The embedding model is loaded on first use (about 0.1 s and 190 MB) and shared.

mod background;
mod error;
mod settings;
mod sync;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use ils_ai::embed::Embedder;
use ils_core::decide::patients::PatientQuery;
use ils_core::decide::prescriptions::Source;
use ils_core::order::{OrderAction, OrderData};
use ils_core::patient::{PatientChanges, PatientData};
use ils_core::record::{OrderEventRecord, OrderRecord, PatientRecord, PrescriptionRecord};
use ils_core::rx::{RxData, RxStatus};
use ils_core::{OrderId, PatientId, PrescriptionId, fhir};
use serde::{Deserialize, Serialize};

pub use background::{BackgroundSync, Backoff};
pub use error::EngineError;
pub use settings::{MODEL_FOLDER, NodeSettings, SettingsError};
pub use sync::{ConnectRequest, SyncReport};

use crate::assistant::{self as ai, Answer, AskEvent, AskRequest, AssistantSettings};
use crate::kb::{self, Document, Hit, Ingested, KbError, Progress, SearchOptions};
use crate::store::{
    AuditEntry, LocalUser, NewPractice, NewUser, OrderFilter, OutboxRow, Practice, Store,
};

pub type EngineResult<T> = Result<T, EngineError>;

/// The settings key of the practice's AI configuration and its version.
const AI_CONFIG: &str = "ai.config";

#[derive(Serialize, Deserialize)]
struct StoredAiConfig {
    version: i64,
    config: ils_core::AiConfig,
    /// The practice's fine-tuned models, as ILS Central registered them (sync brings them; a
    /// practice that never connected has none).
    #[serde(default)]
    fine_tuned: Vec<ils_core::fine_tune::FineTunedModel>,
}

/// What the engine says about itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EngineInfo {
    pub database: String,
    pub schema_version: u32,
    pub device_id: String,
    pub practice: Option<Practice>,
    /// The signed-in user's e-mail, if any.
    pub user: Option<String>,
}

/// A patient with everything a patient page shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PatientPage {
    pub patient: PatientRecord,
    pub prescriptions: Vec<PrescriptionRecord>,
    pub orders: Vec<OrderRecord>,
}

/// The outcome of a transition: the order, and for a remake the new linked order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Transitioned {
    pub order: OrderRecord,
    pub remake: Option<OrderRecord>,
}

/// A file an ingest refused, and why (the other files go on).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Refused {
    pub file: String,
    pub code: String,
    pub message: String,
}

/// What an ingest of many files did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IngestReport {
    /// Files found (folders are searched for .txt, .md and .pdf files).
    pub files: usize,
    pub ingested: Vec<Ingested>,
    pub refused: Vec<Refused>,
    /// Stopped by the caller: the documents done stay, nothing of the one in progress.
    pub cancelled: bool,
}

/// What an ingest is doing, for a progress bar.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum IngestEvent {
    /// The files to ingest, found.
    Found { files: usize },
    /// Starting the `index`-th file (from 0).
    File { index: usize, path: String },
    /// Progress within the current file (its own `event` tag inside `progress`).
    Document { progress: Progress },
    /// The file was refused; the others go on.
    Refused(Refused),
}

/// A prescription checked while it is entered ([`Engine::check_prescription`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RxCheck {
    /// Every problem, by field path; empty when the prescription can be saved as it is.
    pub errors: Vec<ils_core::FieldError>,
    /// Each eye in the other cylinder convention, when the values could be read.
    pub transposed: Option<Transposed>,
}

/// Both eyes in the other cylinder convention (optically the same lenses); an eye whose values
/// break a rule is not transposed (`None`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Transposed {
    pub right: Option<ils_core::rx::EyeRx>,
    pub left: Option<ils_core::rx::EyeRx>,
}

/// A prescription as a person gives it: the ILS form or a FHIR R4 `VisionPrescription`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PrescriptionInput(pub serde_json::Value);

pub struct Engine {
    store: Mutex<Store>,
    model_dir: PathBuf,
    embedder: OnceLock<Arc<Embedder>>,
    signed_in: Mutex<Option<String>>,
    assistant: AssistantSettings,
    /// The providers the settings name, built on first use (one connection pool each).
    providers: OnceLock<ils_llm::config::Providers>,
    /// The assistant's and sync's network calls run on this (one worker), started on first use.
    runtime: OnceLock<tokio::runtime::Runtime>,
    /// The session with ILS Central, once signed in against it (in memory only).
    central: Mutex<Option<sync::CentralSession>>,
    /// Whether ILS Central was reached, and when the background sync tries again.
    link: Mutex<sync::Link>,
    /// Held while the access token is renewed (one renewal at a time).
    renewing: Mutex<()>,
    /// Where the session's refresh token is kept between runs.
    vault: crate::vault::Vault,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("model_dir", &self.model_dir)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Opens (creating if needed) the database the settings name.
    pub fn open(settings: &NodeSettings) -> EngineResult<Self> {
        let path = settings.db_path();
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| {
                EngineError::input(
                    "store.cannot_open",
                    format!("cannot create the folder {}: {e}", dir.display()),
                )
            })?;
        }
        let store = Store::open(&path)?;
        Ok(Self::with_store(store, settings.model_path())
            .with_assistant(settings.assistant.clone())
            .with_keychain(!settings.no_keychain))
    }

    /// The assistant's providers (the settings file's `[assistant]`).
    pub fn with_assistant(mut self, assistant: AssistantSettings) -> Self {
        self.assistant = assistant;
        self.providers = OnceLock::new();
        self
    }

    /// Whether the session with ILS Central may be kept in the operating system's keychain
    /// (else only in the sealed file beside the database).
    pub fn with_keychain(mut self, keychain: bool) -> Self {
        let path = self.store().path().to_owned();
        self.vault = crate::vault::Vault::new(&path, keychain);
        self
    }

    /// An engine over an open store (tests give a store with a fixed clock).
    pub fn with_store(store: Store, model_dir: PathBuf) -> Self {
        let vault = crate::vault::Vault::new(store.path(), true);
        Self {
            store: Mutex::new(store),
            model_dir,
            embedder: OnceLock::new(),
            signed_in: Mutex::new(None),
            assistant: AssistantSettings::default(),
            providers: OnceLock::new(),
            runtime: OnceLock::new(),
            central: Mutex::new(None),
            link: Mutex::default(),
            renewing: Mutex::new(()),
            vault,
        }
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        // A panic while holding the lock cannot leave SQLite half-written (the transaction
        // rolls back), so the store is still sound.
        self.store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The embedding model, loaded on first use.
    pub fn embedder(&self) -> EngineResult<Arc<Embedder>> {
        if let Some(e) = self.embedder.get() {
            return Ok(Arc::clone(e));
        }
        let loaded = Arc::new(Embedder::load(&self.model_dir)?);
        Ok(Arc::clone(self.embedder.get_or_init(|| loaded)))
    }

    pub fn info(&self) -> EngineResult<EngineInfo> {
        let store = self.store();
        Ok(EngineInfo {
            database: std::path::absolute(store.path())
                .unwrap_or_else(|_| store.path().to_owned())
                .display()
                .to_string(),
            schema_version: store.schema_version()?,
            device_id: store.device().to_string(),
            practice: store.practice()?,
            user: self
                .signed_in
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        })
    }

    // --- The practice and its users ---

    /// Creates the practice on this device and its first administrator, who is signed in.
    pub fn create_practice(&self, input: &NewPractice) -> EngineResult<(Practice, LocalUser)> {
        let created = self.store().create_practice(input)?;
        self.remember(&created.1.email);
        Ok(created)
    }

    /// Signs in a user of a practice kept only on this computer, by e-mail address. A practice
    /// connected to ILS Central has passwords, and its users prove who they are with one
    /// (`sign_in_with_password`): this is refused with `auth.password_required`.
    pub fn sign_in(&self, email: &str) -> EngineResult<LocalUser> {
        if self.store().sync_state()?.server.is_some() {
            return Err(EngineError::input(
                "auth.password_required",
                "this practice is connected to ILS Central: sign in with your password",
            ));
        }
        self.act_as(email)
    }

    /// Names the user who works, without a password, whether or not the practice is connected:
    /// for tools run by whoever controls this computer's files (the command line), who can read
    /// the database file anyway. What they do is audited under that user's name. A window that
    /// people sign in to uses `sign_in` or `sign_in_with_password`.
    pub fn act_as(&self, email: &str) -> EngineResult<LocalUser> {
        let user = self.store().sign_in(email)?;
        self.remember(&user.email);
        Ok(user)
    }

    fn remember(&self, email: &str) {
        *self
            .signed_in
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(email.to_owned());
    }

    pub fn sign_out(&self) {
        self.store().sign_out();
        *self
            .signed_in
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    /// The signed-in user with their role, if anyone is signed in.
    pub fn current_user(&self) -> EngineResult<Option<LocalUser>> {
        Ok(self.store().current_user()?)
    }

    /// What the signed-in user may do, read from ils-core's rules, for a window to offer only
    /// that. Every action is still checked when it is taken.
    pub fn abilities(&self) -> EngineResult<Option<ils_core::abilities::Abilities>> {
        Ok(self
            .current_user()?
            .map(|user| ils_core::abilities::Abilities::of(user.role)))
    }

    pub fn add_user(&self, input: &NewUser) -> EngineResult<LocalUser> {
        Ok(self.store().add_user(input)?)
    }

    pub fn users(&self) -> EngineResult<Vec<LocalUser>> {
        Ok(self.store().users()?)
    }

    // --- Patients ---

    pub fn add_patient(&self, input: &PatientData) -> EngineResult<PatientRecord> {
        Ok(self.store().add_patient(input)?)
    }

    pub fn update_patient(
        &self,
        id: PatientId,
        changes: &PatientChanges,
    ) -> EngineResult<PatientRecord> {
        Ok(self.store().update_patient(id, changes)?)
    }

    pub fn delete_patient(&self, id: PatientId) -> EngineResult<()> {
        Ok(self.store().delete_patient(id)?)
    }

    pub fn patient(&self, id: PatientId) -> EngineResult<PatientRecord> {
        Ok(self.store().patient(id)?)
    }

    /// The patient with their prescriptions and orders.
    pub fn patient_page(&self, id: PatientId) -> EngineResult<PatientPage> {
        let mut store = self.store();
        Ok(PatientPage {
            patient: store.patient(id)?,
            prescriptions: store.prescriptions_of(id)?,
            orders: store.orders(OrderFilter {
                patient: Some(id),
                ..OrderFilter::default()
            })?,
        })
    }

    pub fn search_patients(
        &self,
        query: &PatientQuery,
        limit: u32,
        offset: u32,
    ) -> EngineResult<Vec<PatientRecord>> {
        Ok(self.store().search_patients(query, limit, offset)?)
    }

    // --- Prescriptions ---

    /// Adds a prescription given as the ILS form or as FHIR; every structural problem and every
    /// broken rule is reported at once, by field path.
    pub fn add_prescription(
        &self,
        patient: PatientId,
        input: &PrescriptionInput,
    ) -> EngineResult<PrescriptionRecord> {
        let (rx, source) = parse_prescription(&input.0)?;
        Ok(self.store().add_prescription(patient, &rx, source)?)
    }

    /// Replaces the content of a draft prescription.
    pub fn update_prescription(
        &self,
        id: PrescriptionId,
        input: &PrescriptionInput,
    ) -> EngineResult<PrescriptionRecord> {
        let (rx, _) = parse_prescription(&input.0)?;
        Ok(self.store().update_prescription(id, &rx)?)
    }

    pub fn set_prescription_status(
        &self,
        id: PrescriptionId,
        status: RxStatus,
    ) -> EngineResult<PrescriptionRecord> {
        Ok(self.store().set_prescription_status(id, status)?)
    }

    /// Checks a prescription as it is being entered, saving nothing: every structural problem
    /// and every broken rule by field path (exactly what saving it would report, the issue date
    /// against the practice's today included), and each eye in the other cylinder convention.
    pub fn check_prescription(&self, input: &PrescriptionInput) -> EngineResult<RxCheck> {
        let rx = match parse_prescription(&input.0) {
            Ok((rx, _)) => rx,
            Err(e) if !e.fields.is_empty() => {
                return Ok(RxCheck {
                    errors: e.fields,
                    transposed: None,
                });
            }
            Err(e) => return Err(e),
        };
        let (today, _) = self.store().moment()?;
        let errors = rx.problems(today).errors;
        // An eye is transposed only when its own values are sound: a broken value turned into
        // the other convention would look like a valid lens.
        let sound = |eye: &str| {
            let prefix = format!("{eye}.");
            !errors.iter().any(|e| e.field.starts_with(&prefix))
        };
        let transposed = Transposed {
            right: sound("right").then(|| rx.right.transposed()),
            left: sound("left").then(|| rx.left.transposed()),
        };
        Ok(RxCheck {
            errors,
            transposed: Some(transposed),
        })
    }

    pub fn prescription(&self, id: PrescriptionId) -> EngineResult<PrescriptionRecord> {
        Ok(self.store().prescription(id)?)
    }

    pub fn prescriptions_of(&self, patient: PatientId) -> EngineResult<Vec<PrescriptionRecord>> {
        Ok(self.store().prescriptions_of(patient)?)
    }

    pub fn prescription_fhir(&self, id: PrescriptionId) -> EngineResult<serde_json::Value> {
        Ok(self.store().prescription_fhir(id)?)
    }

    // --- Orders ---

    /// Places an order given as JSON; every problem is reported at once, by field path.
    pub fn create_order(&self, input: &serde_json::Value) -> EngineResult<OrderRecord> {
        let data = OrderData::from_json(input)?;
        Ok(self.store().create_order(&data)?)
    }

    pub fn transition_order(
        &self,
        id: OrderId,
        action: OrderAction,
        note: Option<&str>,
    ) -> EngineResult<Transitioned> {
        let (order, remake) = self.store().transition_order(id, action, note)?;
        Ok(Transitioned { order, remake })
    }

    pub fn order(&self, id: OrderId) -> EngineResult<OrderRecord> {
        Ok(self.store().order(id)?)
    }

    pub fn orders(&self, filter: OrderFilter) -> EngineResult<Vec<OrderRecord>> {
        Ok(self.store().orders(filter)?)
    }

    /// The orders board: per status the newest `per_column` orders and how many there are.
    pub fn order_board(
        &self,
        per_column: u32,
        overdue_only: bool,
    ) -> EngineResult<crate::store::OrderBoard> {
        Ok(self.store().order_board(per_column, overdue_only)?)
    }

    pub fn order_timeline(&self, id: OrderId) -> EngineResult<Vec<OrderEventRecord>> {
        Ok(self.store().order_timeline(id)?)
    }

    pub fn order_dcs(&self, id: OrderId) -> EngineResult<String> {
        Ok(self.store().order_dcs(id)?)
    }

    // --- Knowledge base ---

    /// Ingests files, or every .txt, .md and .pdf file under folders, one document at a time:
    /// each file is read, extracted and embedded without the store's lock, then written whole
    /// or not at all. A file that is refused (unreadable, unsupported, empty, binary, a scan
    /// without text) is reported through `events` and in the report, and the rest go on;
    /// `cancel` stops after the current batch of the current file, leaving the documents done.
    pub fn ingest(
        &self,
        paths: &[PathBuf],
        events: &mut dyn FnMut(&IngestEvent),
        cancel: &AtomicBool,
    ) -> EngineResult<IngestReport> {
        {
            let store = self.store();
            ils_core::decide::documents::authorize_manage(store.actor()?)?;
        }
        let mut files = Vec::new();
        for p in paths {
            files.extend(kb::files_to_ingest(p)?);
        }
        if files.is_empty() {
            return Err(EngineError::input(
                "kb.no_files",
                "no .txt, .md or .pdf files were found there",
            ));
        }
        events(&IngestEvent::Found { files: files.len() });
        let embedder = self.embedder()?;
        let mut report = IngestReport {
            files: files.len(),
            ingested: Vec::new(),
            refused: Vec::new(),
            cancelled: false,
        };
        for (index, file) in files.iter().enumerate() {
            events(&IngestEvent::File {
                index,
                path: file.display().to_string(),
            });
            let result = kb::prepare_file(file).and_then(|prepared| {
                prepared.ingest(
                    || self.store(),
                    &embedder,
                    &mut |p| {
                        events(&IngestEvent::Document {
                            progress: p.clone(),
                        })
                    },
                    cancel,
                )
            });
            match result {
                Ok(done) => report.ingested.push(done),
                Err(KbError::Cancelled { .. }) => {
                    report.cancelled = true;
                    break;
                }
                Err(e) if e.is_file_refusal() => {
                    let refused = Refused {
                        file: file.display().to_string(),
                        code: e.code().to_owned(),
                        message: e.to_string(),
                    };
                    events(&IngestEvent::Refused(refused.clone()));
                    report.refused.push(refused);
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(report)
    }

    pub fn search_documents(&self, query: &str, opts: SearchOptions) -> EngineResult<Vec<Hit>> {
        let embedder = match opts.mode {
            kb::SearchMode::Keyword => None,
            _ => Some(self.embedder()?),
        };
        let store = self.store();
        Ok(match &embedder {
            Some(e) => kb::search(&store, e, query, opts)?,
            None => kb::search_with_vector(&store, "", query, None, opts)?,
        })
    }

    pub fn documents(&self) -> EngineResult<Vec<Document>> {
        Ok(kb::documents(&self.store())?)
    }

    /// Removes a document (by id or source path).
    pub fn delete_document(&self, id_or_source: &str) -> EngineResult<Document> {
        Ok(kb::delete_document(&mut self.store(), id_or_source)?)
    }

    // --- The assistant ---

    /// The practice's AI configuration and its version (1 before any change).
    pub fn ai_config(&self) -> EngineResult<(ils_core::AiConfig, i64)> {
        let store = self.store();
        store.actor()?;
        let stored = Self::read_ai_config(&store)?;
        Ok((stored.config, stored.version))
    }

    fn read_ai_config(store: &Store) -> EngineResult<StoredAiConfig> {
        let Some(json) = store.setting(AI_CONFIG)? else {
            return Ok(StoredAiConfig {
                version: 1,
                config: ils_core::AiConfig::default(),
                fine_tuned: Vec::new(),
            });
        };
        serde_json::from_str(&json).map_err(|e| {
            EngineError::internal(format!("the stored AI configuration is unreadable: {e}"))
        })
    }

    /// Replaces the practice's AI configuration (company administrators), checked by the same
    /// rules as ILS Central's; the version goes up by one, in the same audited write.
    pub fn set_ai_config(&self, config: &ils_core::AiConfig) -> EngineResult<i64> {
        let mut store = self.store();
        store
            .actor()?
            .require(ils_core::access::perm::COMPANY_UPDATE)?;
        config.validate("ai_config")?;
        let current = Self::read_ai_config(&store)?;
        let current_config = current.config;
        let stored = StoredAiConfig {
            version: current.version + 1,
            config: config.clone(),
            fine_tuned: current.fine_tuned,
        };
        let json = serde_json::to_string(&stored)
            .map_err(|e| EngineError::internal(format!("cannot store the configuration: {e}")))?;
        // Turning the redaction of patient data, or prescription capture from photos, on or off
        // is named in the audit row.
        let details = match (
            current_config.redaction_change(config),
            current_config.capture_change(config),
        ) {
            (None, None) => serde_json::Value::Null,
            (redaction, capture) => serde_json::json!({
                "redaction_of_patient_data": redaction,
                "prescription_capture": capture,
            }),
        };
        store.set_setting_with(AI_CONFIG, &json, details)?;
        Ok(stored.version)
    }

    /// Reads a photo of a paper prescription (`media_type`: JPEG, PNG or WebP) with the
    /// practice's vision model into a draft that the ils-core rules judge; nothing is saved.
    /// The practice must allow capture (`AiConfig::prescription_capture`: the photo leaves as it
    /// is); the photo is checked before it leaves, and the capture is audited with the model
    /// and counts, never a value.
    pub fn capture_prescription(
        &self,
        media_type: &str,
        image: &[u8],
    ) -> EngineResult<ai::Captured> {
        use base64::Engine as _;
        use ils_core::rx::capture;
        ils_core::rx::capture::check_image("image", media_type, image)?;
        let (stored, actor, today) = {
            let store = self.store();
            let actor = store.actor()?.clone();
            (Self::read_ai_config(&store)?, actor, store.moment()?.0)
        };
        ils_core::decide::prescriptions::authorize_capture(&actor, &stored.config)?;
        let chain = self.providers()?.chain_for(
            ils_core::fine_tune::AiPurpose::PrescriptionCapture,
            &stored.config,
            &stored.fine_tuned,
        );
        let request = ils_llm::capture::request(
            ils_llm::ImagePart {
                media_type: media_type.to_owned(),
                data_base64: base64::engine::general_purpose::STANDARD.encode(image),
            },
            &capture::FIELDS,
            1_200,
        );
        let (reply, target) = self
            .runtime()?
            .block_on(ils_llm::capture::read(&chain, &request))
            .map_err(|e| {
                EngineError::input(
                    "ai.unavailable",
                    format!(
                        "No vision model could read the photo ({e}); enter the prescription by \
                         hand or try again when a model is reachable"
                    ),
                )
            })?;
        let draft = capture::draft(ils_llm::capture::parse_reply(&reply).as_ref(), today);
        let capture_id = uuid::Uuid::now_v7().to_string();
        self.store()
            .record_audit(&ils_core::decide::prescriptions::capture_audited(
                &capture_id,
                &target.model,
                target.provider.name(),
                &draft,
            ))?;
        Ok(ai::Captured {
            capture_id,
            prescription: draft.prescription,
            unread: draft.unread,
            problems: draft.problems.errors,
            reply_readable: draft.reply_readable,
            model: target.model,
            provider: target.provider.name().to_owned(),
        })
    }

    /// `capture_prescription` with the photo in a file (its kind told by its first bytes).
    pub fn capture_prescription_file(&self, path: &Path) -> EngineResult<ai::Captured> {
        let unreadable = |e: std::io::Error| {
            EngineError::input(
                "file.unreadable",
                format!("cannot read {}: {e}", path.display()),
            )
        };
        let size = std::fs::metadata(path).map_err(unreadable)?.len();
        if size > ils_core::rx::capture::MAX_IMAGE_BYTES as u64 {
            return Err(EngineError::input(
                "rx.capture_image_size",
                format!(
                    "{} holds {size} bytes; a photo of a prescription may hold at most {} MB",
                    path.display(),
                    ils_core::rx::capture::MAX_IMAGE_BYTES / (1024 * 1024)
                ),
            ));
        }
        let bytes = std::fs::read(path).map_err(unreadable)?;
        let media_type = ils_core::rx::capture::media_type_of(&bytes).ok_or_else(|| {
            EngineError::input(
                "rx.capture_image_type",
                format!("{} is not a JPEG, PNG or WebP photo", path.display()),
            )
        })?;
        self.capture_prescription(media_type, &bytes)
    }

    /// Asks the assistant. `on_event` gets the passages, then the answer as it is written.
    /// Both messages are recorded, the assistant's with the model, the provider's token
    /// counts, the latency, the system prompt's version and the passages, whatever happens to
    /// the stream (a cut answer is kept as far as it came).
    pub fn ask(
        &self,
        request: &AskRequest,
        on_event: &mut (dyn FnMut(&AskEvent) + Send),
    ) -> EngineResult<Answer> {
        self.ask_until(request, &AtomicBool::new(false), on_event)
    }

    /// `ask`, stopped when `stop` is set (the reader pressed Stop): the answer ends at once,
    /// even while a provider is still being reached, and what was shown so far is kept as the
    /// assistant's message with the outcome `cancelled`.
    pub fn ask_until(
        &self,
        request: &AskRequest,
        stop: &AtomicBool,
        on_event: &mut (dyn FnMut(&AskEvent) + Send),
    ) -> EngineResult<Answer> {
        let started = std::time::Instant::now();
        // The configuration, the conversation and its history, under the store's lock.
        let (question, conversation, turn_base) = {
            let mut store = self.store();
            let actor = store.actor()?.clone();
            ils_core::decide::assistant::authorize(&actor)?;
            let StoredAiConfig {
                version: config_version,
                config,
                fine_tuned,
            } = Self::read_ai_config(&store)?;
            let existing = match &request.conversation {
                Some(id) => Some(store.conversation(id)?.ok_or(
                    ils_core::DomainError::NotFound(ils_core::Resource::Conversation),
                )?),
                None => None,
            };
            let owner = existing
                .as_ref()
                .map(|c| c.created_by.parse::<ils_core::UserId>())
                .transpose()
                .map_err(|_| EngineError::internal("a conversation names no valid user"))?;
            let question = ils_core::decide::assistant::ask(&actor, &request.question, owner)?;
            let conversation = match existing {
                Some(c) => c.id,
                None => {
                    let title: String = question.chars().take(80).collect();
                    store.create_conversation(&title)?.id
                }
            };
            let stored = store.messages(&conversation)?;
            let skip = stored.len().saturating_sub(self.assistant.history_messages);
            let history: Vec<ils_llm::Message> = stored[skip..]
                .iter()
                .map(|m| ils_llm::Message::text(ai::role(m.role), m.content.clone()))
                .collect();
            (
                question,
                conversation,
                (config, config_version, fine_tuned, history),
            )
        };
        let question = question.as_str();
        let (config, config_version, fine_tuned, history) = turn_base;
        let (passages, answerability) = if config.knowledge_base_enabled {
            let hits = self.search_documents(
                question,
                SearchOptions {
                    limit: self.assistant.passages.clamp(1, 20),
                    ..SearchOptions::default()
                },
            )?;
            let answerability = kb::answerability(&self.store(), question, &hits)?;
            let passages = hits
                .into_iter()
                .map(|h| ils_llm::prompt::Passage {
                    id: h.chunk_id.to_string(),
                    source: if h.title.is_empty() {
                        h.source
                    } else {
                        h.title
                    },
                    text: h.text,
                })
                .collect();
            (passages, answerability)
        } else {
            (Vec::new(), ai::Answerability::Answered)
        };
        self.store().add_message(
            &conversation,
            &crate::store::Message {
                role: crate::store::MessageRole::User,
                content: question.to_owned(),
                citations: None,
                model: None,
                prompt_tokens: None,
                output_tokens: None,
                latency_ms: None,
            },
        )?;
        // Whom the prompt may name: looked up by its words, for the redaction.
        let patients = if config.redact_patient_data && !request.offline {
            let history_texts: Vec<String> = history.iter().map(|m| m.joined_text()).collect();
            let mut texts: Vec<&str> = vec![question];
            texts.extend(history_texts.iter().map(String::as_str));
            texts.extend(passages.iter().map(|p| p.text.as_str()));
            let (names, numbers) = ils_llm::redact::lookup_keys(&texts);
            self.store().patients_for_redaction(&names, &numbers)?
        } else {
            Vec::new()
        };
        let turn = ai::Turn {
            config,
            config_version,
            fine_tuned,
            patients,
            history,
            passages,
            answerability,
        };
        let (text, model, usage, outcome, used) = if request.offline {
            let built = ils_llm::prompt::build(
                &ils_llm::prompt::PromptInput {
                    passages: turn.passages.clone(),
                    question: question.to_owned(),
                    ..Default::default()
                },
                ils_llm::prompt::Budget {
                    context_tokens: self.assistant.context_tokens,
                    max_output_tokens: turn.config.max_tokens,
                },
            )
            .map_err(|e| EngineError::input("assistant.prompt_too_large", e.to_string()))?;
            let cites = ai::citations(&built.passages);
            on_event(&AskEvent::Passages {
                citations: cites.clone(),
                answerability: turn.answerability.clone(),
            });
            let text = ai::without_model(
                &ils_llm::prompt::no_answer_because(
                    "Offline: showing the passages from your documents only, without a written answer.",
                    turn.answerability.documents_answer(),
                ),
                &cites,
            );
            (text, None, None, ai::Outcome::Offline, built.passages)
        } else {
            let providers = self.providers()?;
            let runtime = self.runtime()?;
            runtime
                .block_on(ai::converse(
                    &self.assistant,
                    providers,
                    &turn,
                    question,
                    stop,
                    on_event,
                ))
                .map_err(|e| match e {
                    ai::AssistantError::Llm(ils_llm::LlmError::Invalid(m)) => {
                        EngineError::input("assistant.prompt_too_large", m)
                    }
                    ai::AssistantError::Llm(e) => EngineError::internal(e.to_string()),
                })?
        };
        let citations = ai::citations(&used);
        let latency_ms = ai::elapsed_ms(started);
        self.store().add_message(
            &conversation,
            &crate::store::Message {
                role: crate::store::MessageRole::Assistant,
                content: text.clone(),
                // The citations as shown (document and excerpt), so that a past answer opens
                // the passages it cited even after a document is replaced or removed.
                citations: Some(serde_json::json!({
                    "passages": used.iter().map(|p| &p.id).collect::<Vec<_>>(),
                    "shown": &citations,
                    "system_prompt_version": turn.config_version,
                    "outcome": outcome,
                })),
                model: model.clone(),
                prompt_tokens: usage.map(|u| i64::from(u.input_tokens)),
                output_tokens: usage.map(|u| i64::from(u.output_tokens)),
                latency_ms: Some(latency_ms as i64),
            },
        )?;
        Ok(Answer {
            conversation,
            cited: ils_llm::prompt::cited(&text, citations.len()),
            text,
            citations,
            answerability: turn.answerability,
            outcome,
            model,
            usage,
            latency_ms,
        })
    }

    /// A conversation with its messages (the user's own, or any for an administrator); the
    /// read is audited.
    pub fn conversation(
        &self,
        id: &str,
    ) -> EngineResult<(crate::store::Conversation, Vec<crate::store::Message>)> {
        Ok(self.store().read_conversation(id)?)
    }

    /// The signed-in user's conversations, newest first.
    pub fn conversations(&self) -> EngineResult<Vec<crate::store::Conversation>> {
        let store = self.store();
        let user = store.actor()?.user_id.to_string();
        Ok(store.conversations_of(&user)?)
    }

    fn providers(&self) -> EngineResult<&ils_llm::config::Providers> {
        if let Some(p) = self.providers.get() {
            return Ok(p);
        }
        let built = ils_llm::config::Providers::from_settings(&self.assistant.providers)
            .map_err(|e| EngineError::input("assistant.settings", e.0))?;
        Ok(self.providers.get_or_init(|| built))
    }

    fn runtime(&self) -> EngineResult<&tokio::runtime::Runtime> {
        if let Some(rt) = self.runtime.get() {
            return Ok(rt);
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("ils-assistant")
            .enable_all()
            .build()
            .map_err(|e| EngineError::internal(format!("cannot start the assistant: {e}")))?;
        Ok(self.runtime.get_or_init(|| rt))
    }

    // --- Audit, settings, sync ---

    pub fn audit_entries(
        &self,
        entity_id: Option<&str>,
        limit: u32,
    ) -> EngineResult<Vec<AuditEntry>> {
        Ok(self.store().audit_entries(entity_id, limit)?)
    }

    pub fn setting(&self, key: &str) -> EngineResult<Option<String>> {
        Ok(self.store().setting(key)?)
    }

    pub fn set_setting(&self, key: &str, value: &str) -> EngineResult<()> {
        Ok(self.store().set_setting(key, value)?)
    }

    /// Changes waiting for sync, oldest first.
    pub fn pending_changes(&self) -> EngineResult<Vec<OutboxRow>> {
        Ok(self.store().pending_changes()?)
    }

    /// The database file.
    pub fn database(&self) -> PathBuf {
        self.store().path().to_owned()
    }

    /// Runs `f` on the store (benchmarks and tests in this workspace).
    #[doc(hidden)]
    pub fn with_store_mut<T>(&self, f: impl FnOnce(&mut Store) -> T) -> T {
        f(&mut self.store())
    }
}

/// The ILS form or FHIR (`resourceType` present), read with every problem named by its path.
fn parse_prescription(value: &serde_json::Value) -> EngineResult<(RxData, Source)> {
    if value.get("resourceType").is_some() {
        Ok((fhir::import(value)?, Source::Fhir))
    } else {
        Ok((RxData::from_json(value)?, Source::Form))
    }
}

/// Reads a JSON file a person wrote, saying where it is wrong.
pub fn read_json_file(path: &Path) -> EngineResult<serde_json::Value> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        EngineError::input(
            "file.unreadable",
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    serde_json::from_str(&text).map_err(|e| {
        EngineError::input(
            "file.not_json",
            format!("{} is not valid JSON: {e}", path.display()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_documents_progress_keeps_its_own_tag_on_the_wire() {
        let event = IngestEvent::Document {
            progress: Progress::Embedded {
                source: "/a.md".into(),
                done: 2,
                total: 4,
            },
        };
        let json = serde_json::to_string(&event).expect("json");
        // One `event` key per object: a client's JSON parser keeps every field.
        assert_eq!(
            json,
            r#"{"event":"document","progress":{"event":"embedded","source":"/a.md","done":2,"total":4}}"#
        );
    }
}
