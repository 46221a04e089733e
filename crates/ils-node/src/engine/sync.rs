//! The engine's sync with ILS Central: connecting this device (the practice, the user, the
//! device's registration), signing in online or offline, and one sync run — push every pending
//! change in bounded batches, then pull every page after the cursor. Network calls run on the
//! engine's runtime without holding the store; each answer is recorded in one transaction.

use std::time::{Duration, Instant};

use ils_core::change::Change;
use ils_core::sync::{MAX_PUSH_AUDIT, MAX_PUSH_CHANGES, PROTOCOL, PushRequest};
use serde::{Deserialize, Serialize};

use super::{Engine, EngineError, EngineResult};
use crate::store::sync::{LocalConflict, PullTally, PushTally, RejectedChange, SyncState};
use crate::store::{LocalUser, StoreError};
use crate::sync::{Central, RawPage, SyncError, Tokens};
use crate::vault::{FileKey, Vault};

/// A page being fetched on the engine's runtime.
type Fetch = tokio::task::JoinHandle<Result<RawPage, SyncError>>;

/// About the most bytes of changes one push carries (documents carry their passages and
/// vectors; ILS Central takes bodies up to 16 MiB).
const PUSH_BYTES: usize = 6 << 20;

/// Changes per pulled page (ILS Central's most).
const PULL_PAGE: u32 = ils_core::sync::MAX_PULL_LIMIT;

/// How to connect this device to a practice on ILS Central.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectRequest {
    /// ILS Central's address, e.g. `https://ils.example.com`.
    pub server: String,
    /// The practice's domain there.
    pub domain: String,
    pub email: String,
    pub password: String,
    /// What the practice calls this computer ("Front desk").
    pub device_name: String,
    /// A one-time registration code from an administrator (approves the device at once).
    pub code: Option<String>,
}

/// What one sync run did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    pub pushed: PushTally,
    pub pulled: PullTally,
    /// The feed position pulled up to.
    pub cursor: i64,
}

/// The signed-in session with ILS Central (kept in memory only).
#[derive(Debug)]
pub(crate) struct CentralSession {
    central: Central,
    tokens: Tokens,
    /// When the access token stops being good (with a margin).
    renew_at: Instant,
    /// The name the refresh token is kept under, and the key of its file.
    account: String,
    key: FileKey,
}

impl CentralSession {
    fn new(central: Central, tokens: Tokens, account: String, key: FileKey) -> Self {
        let life = Duration::from_secs(tokens.expires_in.saturating_sub(30).max(1));
        Self {
            central,
            tokens,
            renew_at: Instant::now() + life,
            account,
            key,
        }
    }

    /// A session resumed from a kept refresh token: its first use renews the access token.
    fn resumed(central: Central, refresh_token: String, account: String, key: FileKey) -> Self {
        Self {
            central,
            tokens: Tokens {
                access_token: String::new(),
                expires_in: 0,
                refresh_token,
            },
            renew_at: Instant::now(),
            account,
            key,
        }
    }
}

impl From<SyncError> for EngineError {
    fn from(e: SyncError) -> Self {
        Self {
            code: e.code().to_owned(),
            user_error: e.is_user_error(),
            message: e.to_string(),
            fields: Vec::new(),
        }
    }
}

/// The code of "ILS Central cannot be reached".
const OFFLINE: &str = "sync.offline";

/// A long-poll's wait in whole seconds, as ILS Central takes it (1 to 25).
fn long_poll_seconds(wait: Duration) -> u32 {
    u32::try_from(wait.as_secs().clamp(1, 25)).unwrap_or(25)
}

/// What this engine knows of its link to ILS Central (in memory; the status shows it).
#[derive(Clone, Debug, Default)]
pub(crate) struct Link {
    /// Whether the last run reached ILS Central (`None`: no run since the program started).
    pub online: Option<bool>,
    /// When the background sync tries again after a failure.
    pub retry_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Someone asked to sync at once (cuts a wait after failures short).
    pub sync_requested: bool,
    /// Where the session's refresh token is kept, if it is.
    pub kept: Option<crate::Kept>,
}

fn not_signed_in() -> EngineError {
    EngineError::input(
        "sync.not_signed_in",
        "Sign in against ILS Central to sync (ils-node sync --email …)",
    )
}

fn not_connected() -> EngineError {
    EngineError::input(
        "sync.not_connected",
        "This device is not connected to ILS Central; connect it first (ils-node sync connect)",
    )
}

impl Engine {
    pub(super) fn block_on<F: std::future::Future>(&self, f: F) -> EngineResult<F::Output> {
        Ok(self.runtime()?.block_on(f))
    }

    fn session(&self) -> std::sync::MutexGuard<'_, Option<CentralSession>> {
        self.central
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Connects this device to a practice on ILS Central: signs in, makes this file that
    /// practice's (a new file, or one connected to it before), keeps a verifier of the
    /// password for offline sign-in, and registers the device (approved at once with a code,
    /// else waiting for an administrator).
    pub fn connect(&self, req: &ConnectRequest) -> EngineResult<SyncState> {
        let central = Central::new(&req.server)?;
        let (tokens, info) = self.block_on(async {
            let tokens = central
                .login(&req.domain, &req.email, &req.password)
                .await?;
            let info = central.practice(&tokens.access_token).await?;
            Ok::<_, SyncError>((tokens, info))
        })??;
        let verifier = crate::store::practice_verifier(&req.password)?;
        // A practice started on this computer goes up to ILS Central with its users, who must
        // have accounts there (decided in ils_core::decide::upload).
        let offline = self.store().offline_practice_users()?;
        let aliases = match offline {
            Some(local) => {
                let actor =
                    ils_core::Actor::with_role(info.user.id, info.company_id, info.user.role);
                ils_core::decide::upload::authorize(&actor)?;
                let there = self.block_on(central.users(&tokens.access_token))??;
                Some(ils_core::decide::upload::aliases(&local, &there)?)
            }
            None => None,
        };
        let device = {
            let mut store = self.store();
            let user = match &aliases {
                Some(aliases) => store.join_practice(&info, aliases, &verifier)?,
                None => store.adopt_practice(&info, &verifier)?,
            };
            store.set_sync_server(central.server(), &info.domain)?;
            self.remember(&user.email);
            store.device()
        };
        self.block_on(central.register(
            &tokens.access_token,
            device,
            &req.device_name,
            req.code.as_deref(),
        ))??;
        self.begin_session(central, tokens, &info.domain, &req.email, &req.password)?;
        self.request_sync();
        self.sync_state()
    }

    /// Signs in a user of the connected practice: against ILS Central when it can be
    /// reached (the local verifier follows a changed password), else offline with the verifier
    /// kept here. A wrong password is refused either way.
    pub fn sign_in_with_password(&self, email: &str, password: &str) -> EngineResult<LocalUser> {
        let state = self.store().sync_state()?;
        let (Some(server), Some(domain)) = (state.server, state.domain) else {
            return Err(not_connected());
        };
        let central = Central::new(&server)?;
        let online = self.block_on(async {
            let tokens = central.login(&domain, email, password).await?;
            let info = central.practice(&tokens.access_token).await?;
            Ok::<_, SyncError>((tokens, info))
        })?;
        match online {
            Ok((tokens, info)) => {
                let verifier = crate::store::practice_verifier(password)?;
                let user = self.store().adopt_practice(&info, &verifier)?;
                self.remember(&user.email);
                self.begin_session(central, tokens, &domain, email, password)?;
                self.request_sync();
                Ok(user)
            }
            Err(SyncError::Offline { .. }) => {
                let user = self.store().sign_in_offline(email, password)?;
                self.remember(&user.email);
                // The sign-in kept from the last run lets this device sync by itself once ILS
                // Central can be reached again.
                let account = Vault::account(central.server(), &domain, email);
                if let Some((refresh, key, kept)) = self.vault.take(&account, password) {
                    self.link().kept = Some(kept);
                    *self.session() = Some(CentralSession::resumed(central, refresh, account, key));
                    self.request_sync();
                }
                Ok(user)
            }
            Err(refused) => Err(self.unless_erased(refused.into())),
        }
    }

    /// A refusal of the sign-in may mean that ILS Central erased the practice (GDPR): it is
    /// asked, and if it did, the practice's records leave this computer
    /// (`Store::erase_practice`, the kept sign-ins with them) and the refusal becomes
    /// `sync.practice_erased`. Any other refusal is returned as it is.
    fn unless_erased(&self, refusal: EngineError) -> EngineError {
        if !(refusal.code.starts_with("auth.") || refusal.code.starts_with("tenant.")) {
            return refusal;
        }
        let (server, domain, company, emails) = {
            let store = self.store();
            let state = store.sync_state().ok();
            (
                state.as_ref().and_then(|s| s.server.clone()),
                state.and_then(|s| s.domain),
                store.practice().ok().flatten().map(|p| p.company_id),
                store
                    .users()
                    .map(|us| us.into_iter().map(|u| u.email).collect::<Vec<_>>())
                    .unwrap_or_default(),
            )
        };
        let (Some(server), Some(company)) = (server, company) else {
            return refusal;
        };
        let Ok(central) = Central::new(&server) else {
            return refusal;
        };
        let Ok(Ok(Some(erased_at))) = self.block_on(central.tenant_erasure(company)) else {
            return refusal;
        };
        *self.session() = None;
        for email in &emails {
            self.vault.forget(&Vault::account(
                central.server(),
                domain.as_deref().unwrap_or_default(),
                email,
            ));
        }
        if let Err(e) = self.store().erase_practice() {
            return e.into();
        }
        self.sign_out();
        *self.link() = Link::default();
        EngineError::input(
            "sync.practice_erased",
            format!(
                "ILS Central erased this practice on {} (GDPR); its records have been removed \
                 from this computer",
                erased_at.format("%Y-%m-%d %H:%M UTC")
            ),
        )
    }

    /// Starts the session with ILS Central after a sign-in with the password, and keeps its
    /// refresh token (keychain, else the sealed file) for the next run.
    fn begin_session(
        &self,
        central: Central,
        tokens: Tokens,
        domain: &str,
        email: &str,
        password: &str,
    ) -> EngineResult<()> {
        let key = FileKey::new(password)
            .ok_or_else(|| EngineError::internal("cannot derive the session file's key"))?;
        let account = Vault::account(central.server(), domain, email);
        let kept = self.vault.keep(&account, &tokens.refresh_token, &key);
        self.link().kept = kept;
        *self.session() = Some(CentralSession::new(central, tokens, account, key));
        Ok(())
    }

    /// A valid access token: the session's, renewed first when it is about to expire (or
    /// `force`d, ILS Central having refused it). One renewal at a time: the refresh token
    /// changes with each, and the old one stops working.
    fn access_token(&self, force: bool) -> EngineResult<(Central, String)> {
        let current = || -> EngineResult<(Central, String, bool)> {
            let guard = self.session();
            let Some(session) = guard.as_ref() else {
                return Err(not_signed_in());
            };
            Ok((
                session.central.clone(),
                session.tokens.access_token.clone(),
                Instant::now() < session.renew_at,
            ))
        };
        let (central, seen, fresh) = current()?;
        if !force && fresh {
            return Ok((central, seen));
        }
        let _one_at_a_time = self
            .renewing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Another thread may have renewed it while this one waited.
        let (central, now, fresh) = current()?;
        if fresh && now != seen {
            return Ok((central, now));
        }
        let (refresh, account, key) = {
            let guard = self.session();
            let session = guard.as_ref().ok_or_else(not_signed_in)?;
            (
                session.tokens.refresh_token.clone(),
                session.account.clone(),
                session.key.clone(),
            )
        };
        match self.block_on(central.refresh(&refresh))? {
            Ok(tokens) => {
                let access = tokens.access_token.clone();
                let kept = self.vault.keep(&account, &tokens.refresh_token, &key);
                self.link().kept = kept;
                *self.session() = Some(CentralSession::new(central.clone(), tokens, account, key));
                Ok((central, access))
            }
            Err(e @ SyncError::Refused { status: 401, .. }) => {
                // Revoked, expired or signed out elsewhere: only a sign-in mends it.
                self.vault.forget(&account);
                self.link().kept = None;
                *self.session() = None;
                Err(e.into())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Runs `call` with a valid token, refreshing it once if ILS Central says it expired.
    fn with_token<T, F, Fut>(&self, call: F) -> EngineResult<T>
    where
        F: Fn(Central, String) -> Fut,
        Fut: std::future::Future<Output = Result<T, SyncError>>,
    {
        let (central, token) = self.access_token(false)?;
        match self.block_on(call(central, token))? {
            Err(e) if e.is_expired_token() => {
                let (central, token) = self.access_token(true)?;
                Ok(self.block_on(call(central, token))??)
            }
            other => Ok(other?),
        }
    }

    /// One sync run: every pending change pushed (in batches of at most 500), then every page
    /// of changes made elsewhere pulled and applied. Its outcome is recorded for the status.
    pub fn sync_now(&self) -> EngineResult<SyncReport> {
        let outcome = self.sync_run(None, None);
        self.record_outcome(outcome)
    }

    /// Pushes what is pending, then waits up to `wait` (at most 25 s) for the practice's next
    /// change on ILS Central and applies what came: how a device learns of changes at once.
    pub fn sync_wait(&self, wait: Duration) -> EngineResult<SyncReport> {
        let outcome = self.sync_run(Some(long_poll_seconds(wait)), None);
        self.record_outcome(outcome)
    }

    /// As [`Engine::sync_wait`], but the wait ends early when `interrupt` is raised (a change
    /// made here, a request to sync now): the background sync's cycle.
    pub(crate) fn sync_cycle(
        &self,
        wait: Duration,
        interrupt: &tokio::sync::Notify,
    ) -> EngineResult<SyncReport> {
        let outcome = self.sync_run(Some(long_poll_seconds(wait)), Some(interrupt));
        self.record_outcome(outcome)
    }

    /// Records how a run ended, for the status: its time or its error, and whether ILS Central
    /// could be reached.
    fn record_outcome(&self, outcome: EngineResult<SyncReport>) -> EngineResult<SyncReport> {
        // Not connected: nothing was tried, so nothing is recorded (the status keeps saying
        // "not connected", not "online" or "failed").
        if outcome
            .as_ref()
            .is_err_and(|e| e.code == "sync.not_connected")
        {
            return outcome;
        }
        let outcome = outcome.map_err(|e| self.unless_erased(e));
        let error = outcome.as_ref().err().map(|e| e.message.clone());
        let reached = outcome.as_ref().err().is_none_or(|e| e.code != OFFLINE);
        self.link().online = Some(reached);
        self.store().record_sync_outcome(error.as_deref())?;
        outcome
    }

    pub(crate) fn link(&self) -> std::sync::MutexGuard<'_, Link> {
        self.link
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn sync_run(
        &self,
        wait: Option<u32>,
        interrupt: Option<&tokio::sync::Notify>,
    ) -> EngineResult<SyncReport> {
        // A practice kept only on this computer has nothing to sync with: said before anything
        // is recorded, so its status never shows a sync that did not happen.
        if self.store().sync_state()?.server.is_none() {
            return Err(not_connected());
        }
        let device = self.store().device();
        let mut report = SyncReport::default();
        loop {
            let batch = self.store().next_push(MAX_PUSH_CHANGES, PUSH_BYTES)?;
            let audit = self.store().outgoing_audit(MAX_PUSH_AUDIT)?;
            if batch.is_empty() && audit.is_empty() {
                break;
            }
            let (seqs, changes): (Vec<i64>, Vec<serde_json::Value>) = batch
                .into_iter()
                .map(|(seq, text)| {
                    serde_json::from_str(&text)
                        .map(|v| (seq, v))
                        .map_err(|e| StoreError::Encoding(format!("outbox change {seq}: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .unzip();
            let request = PushRequest {
                protocol: PROTOCOL,
                device,
                changes,
                audit,
            };
            let response = self.with_token(|central, token| {
                let request = request.clone();
                async move { central.push(&token, &request).await }
            })?;
            let tally = self.store().record_push(&seqs, &response.results)?;
            if let Some(through) = response.audit_through {
                self.store().audit_sent(through)?;
            } else if !request.audit.is_empty() {
                return Err(EngineError::internal(
                    "ILS Central did not say how much of the audit log it took",
                ));
            }
            report.pushed.applied += tally.applied;
            report.pushed.duplicate += tally.duplicate;
            report.pushed.rejected += tally.rejected;
            report.pushed.conflicts += tally.conflicts;
        }
        if wait.is_some() {
            // What was pending is in; the status says so while the pull waits for news.
            self.link().online = Some(true);
            self.store().record_sync_outcome(None)?;
        }
        let mut cursor = self.store().sync_cursor()?;
        let first = cursor == 0;
        if first {
            self.store().begin_first_sync()?;
        }
        let pulled = self.pull_from(device, &mut cursor, wait, interrupt, &mut report);
        if first {
            self.store().end_first_sync()?;
        }
        pulled?;
        report.cursor = cursor;
        Ok(report)
    }

    fn pull_from(
        &self,
        device: ils_core::DeviceId,
        cursor: &mut i64,
        wait: Option<u32>,
        interrupt: Option<&tokio::sync::Notify>,
        report: &mut SyncReport,
    ) -> EngineResult<()> {
        let mut first = self.fetch_page(device, *cursor, wait)?;
        // The first fetch may wait for news; a raised interrupt ends that wait (the run ends
        // with nothing pulled, and the caller runs again).
        let fetched = match (wait, interrupt) {
            (Some(_), Some(interrupt)) => {
                let came = self.block_on(async {
                    tokio::select! {
                        fetched = &mut first => Some(fetched),
                        () = interrupt.notified() => None,
                    }
                })?;
                let Some(fetched) = came else {
                    first.abort();
                    return Ok(());
                };
                fetched
            }
            _ => self.block_on(first)?,
        };
        let mut page = self.settle(fetched, device, *cursor)?;
        loop {
            // The next page is fetched while this one is applied: ILS Central and this
            // computer work at the same time.
            let next = if page.more {
                Some(self.fetch_page(device, page.cursor, None)?)
            } else {
                None
            };
            let mut changes = page
                .changes
                .iter()
                .map(|raw| {
                    let text = raw.get();
                    Change::decode(text).map(|c| (c, text.to_owned()))
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| {
                    EngineError::input(
                        "sync.newer_change",
                        format!("A change from ILS Central could not be read: {e}"),
                    )
                })?;
            self.prepare_documents(&mut changes)?;
            let tally = self.store().apply_pulled(&changes, page.cursor)?;
            report.pulled.applied += tally.applied;
            report.pulled.superseded += tally.superseded;
            report.pulled.conflicts += tally.conflicts;
            report.pulled.erased += tally.erased;
            *cursor = page.cursor;
            let Some(next) = next else {
                return Ok(());
            };
            let fetched = self.block_on(next)?;
            page = self.settle(fetched, device, *cursor)?;
        }
    }

    /// Pulled documents, made ready to write: vectors of another model than this computer's are
    /// embedded again here (two models' vectors never mix), and the text kept of the change
    /// (for a conflict log) goes without its passages.
    fn prepare_documents(&self, changes: &mut [(Change, String)]) -> EngineResult<()> {
        use ils_core::change::Record;
        let mut model: Option<(std::sync::Arc<ils_ai::Embedder>, String)> = None;
        for (change, text) in changes.iter_mut() {
            let Some(Record::Document(d)) = &mut change.record else {
                continue;
            };
            let Some(passages) = &mut d.passages else {
                continue;
            };
            if model.is_none() {
                let embedder = self.embedder()?;
                let tag = crate::kb::model_tag(&embedder);
                model = Some((embedder, tag));
            }
            let Some((embedder, tag)) = &model else {
                continue;
            };
            if &d.model != tag {
                let inputs: Vec<String> = passages
                    .iter()
                    .map(|p| {
                        if p.heading.is_empty() {
                            p.text.clone()
                        } else {
                            format!("{}\n{}", p.heading, p.text)
                        }
                    })
                    .collect();
                for (batch, inputs) in passages
                    .chunks_mut(crate::kb::EMBED_BATCH)
                    .zip(inputs.chunks(crate::kb::EMBED_BATCH))
                {
                    let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
                    let vectors = embedder
                        .embed(&refs)
                        .map_err(|e| EngineError::internal(format!("embedding: {e}")))?;
                    for (p, v) in batch.iter_mut().zip(vectors) {
                        p.vector = ils_core::record::Passage::encode_vector(&v);
                    }
                }
                d.model = tag.clone();
            }
            let mut light = change.clone();
            if let Some(Record::Document(d)) = &mut light.record {
                d.passages = None;
            }
            *text = light.encode();
        }
        Ok(())
    }

    /// Starts fetching the page after `cursor` on the engine's runtime.
    fn fetch_page(
        &self,
        device: ils_core::DeviceId,
        cursor: i64,
        wait: Option<u32>,
    ) -> EngineResult<Fetch> {
        let (central, token) = self.access_token(false)?;
        Ok(self
            .runtime()?
            .spawn(async move { central.pull(&token, device, cursor, PULL_PAGE, wait).await }))
    }

    /// The page a fetch brought; fetched again once with a fresh token if it had expired.
    fn settle(
        &self,
        fetched: Result<Result<RawPage, SyncError>, tokio::task::JoinError>,
        device: ils_core::DeviceId,
        cursor: i64,
    ) -> EngineResult<RawPage> {
        match fetched.map_err(|e| EngineError::internal(format!("the pull stopped: {e}")))? {
            Err(e) if e.is_expired_token() => {
                let (central, token) = self.access_token(true)?;
                Ok(self.block_on(central.pull(&token, device, cursor, PULL_PAGE, None))??)
            }
            other => Ok(other?),
        }
    }

    /// Where sync stands: the server, the last success or error, pending, rejected, conflicts.
    pub fn sync_state(&self) -> EngineResult<SyncState> {
        let mut state = self.store().sync_state()?;
        let link = self.link().clone();
        state.online = link.online;
        state.retry_at = link.retry_at;
        state.session_kept = link.kept;
        Ok(state)
    }

    /// The changes ILS Central refused, with their reasons.
    pub fn sync_rejected(&self) -> EngineResult<Vec<RejectedChange>> {
        Ok(self.store().rejected_changes()?)
    }

    /// Resolves a conflict of this device's log: keeps the version that won, or restores the
    /// one that lost as an edit by the signed-in user (which syncs like any edit).
    pub fn resolve_conflict(
        &self,
        id: &str,
        resolution: ils_core::decide::conflicts::Resolution,
    ) -> EngineResult<()> {
        Ok(self.store().resolve_conflict(id, resolution)?)
    }

    /// The conflicts waiting for review on this device.
    pub fn sync_conflicts(&self) -> EngineResult<Vec<LocalConflict>> {
        Ok(self.store().sync_conflicts()?)
    }
}

#[cfg(test)]
mod tests {
    use ils_core::change::{ChangeDraft, Record};
    use ils_core::record::{DocumentFormat, DocumentRecord, EMBEDDING_DIMENSIONS, Passage};
    use ils_core::{ChangeId, DeviceId, DocumentId, UserId};

    use super::*;

    fn engine(dir: &std::path::Path) -> Engine {
        let store = crate::Store::open(&dir.join("ils.db")).expect("store");
        let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../models")
            .join(super::super::MODEL_FOLDER);
        Engine::with_store(store, model).with_keychain(false)
    }

    fn pulled(model: &str) -> (Change, String) {
        let now = chrono::Utc::now();
        let text = "Titanium frames are adjusted cold.";
        let record = DocumentRecord {
            id: DocumentId::new(),
            source: "frames.md".into(),
            title: "Frames".into(),
            format: DocumentFormat::Markdown,
            sha256: "ef".repeat(32),
            byte_size: 34,
            model: model.into(),
            chunks: 1,
            ingested_by: None,
            created_at: now,
            updated_at: now,
            passages: Some(vec![Passage {
                ordinal: 0,
                heading: "Frames".into(),
                text: text.into(),
                byte_start: 0,
                byte_end: 34,
                vector: Passage::encode_vector(&[0.25; EMBEDDING_DIMENSIONS]),
            }]),
        };
        let change = Change::stamp(
            ChangeDraft::upsert(Record::Document(record)),
            ChangeId::new(),
            ils_core::hlc::HlcStamp {
                wall_ms: 1,
                counter: 0,
                device: 9,
            },
            DeviceId::new(9).expect("device"),
            UserId::new(),
        );
        let text = change.encode();
        (change, text)
    }

    fn passages(change: &Change) -> (String, Vec<f32>) {
        let Some(Record::Document(d)) = &change.record else {
            panic!("a document");
        };
        let p = &d.passages.as_ref().expect("passages")[0];
        (d.model.clone(), p.decode_vector().expect("a vector"))
    }

    #[test]
    fn a_pulled_document_of_another_model_is_embedded_again_and_one_of_this_model_is_not() {
        let dir = tempfile::tempdir().expect("dir");
        let engine = engine(dir.path());
        let tag = crate::kb::model_tag(&engine.embedder().expect("the model (make setup)"));

        let mut changes = vec![pulled("another-model@3"), pulled(&tag)];
        engine.prepare_documents(&mut changes).expect("prepared");
        let (model, vector) = passages(&changes[0].0);
        assert_eq!(model, tag, "recorded in this computer's model");
        assert!(
            vector.iter().any(|x| (x - 0.25).abs() > 1e-6),
            "embedded again"
        );
        let direct = engine
            .embedder()
            .expect("model")
            .embed(&["Frames\nTitanium frames are adjusted cold."])
            .expect("embed");
        let cosine: f32 = vector.iter().zip(&direct[0]).map(|(a, b)| a * b).sum();
        assert!(cosine > 0.999, "as the chunker embeds it: {cosine}");
        let (model, vector) = passages(&changes[1].0);
        assert_eq!(model, tag);
        assert!(
            vector.iter().all(|x| (x - 0.25).abs() < 1e-6),
            "taken as it came"
        );
        // The text kept of either change goes without its passages.
        assert!(changes.iter().all(|(_, text)| !text.contains("passages")));
    }
}
