//! What the window's commands share: the engine, the background sync, and the ingest and the
//! answer in progress.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use ils_node::engine::{BackgroundSync, Backoff, Engine, EngineResult, NodeSettings};

pub struct AppState {
    /// The engine, once its database has opened. It is opened when the window starts and, if
    /// that failed (a disk not mounted, a file another program holds), again at each command,
    /// so the window can show why and "Try again" can succeed.
    engine: Arc<Opener>,
    pub settings: NodeSettings,
    /// Started with the engine; it syncs only once the practice is connected to ILS Central.
    sync: Arc<Mutex<Option<BackgroundSync>>>,
    /// The ingest in progress, if one runs (one at a time).
    ingest: Running,
    /// The answer being written, if one is (one at a time).
    ask: Running,
}

/// One piece of long work at a time, with the flag that stops it.
#[derive(Default)]
struct Running(Mutex<Option<Arc<AtomicBool>>>);

impl Running {
    /// A new stop flag; `None` while another piece of work runs.
    fn begin(&self) -> Option<Arc<AtomicBool>> {
        let mut slot = lock(&self.0);
        if slot.is_some() {
            return None;
        }
        let flag = Arc::new(AtomicBool::new(false));
        *slot = Some(Arc::clone(&flag));
        Some(flag)
    }

    fn end(&self) {
        *lock(&self.0) = None;
    }

    /// Asks the work in progress to stop; whether some was running.
    fn stop(&self) -> bool {
        match lock(&self.0).as_ref() {
            Some(flag) => {
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
                true
            }
            None => false,
        }
    }
}

/// Opens the engine once, on first need, retrying after a failure.
#[derive(Debug)]
pub struct Opener {
    settings: NodeSettings,
    engine: OnceLock<Arc<Engine>>,
    opening: Mutex<()>,
    sync: Arc<Mutex<Option<BackgroundSync>>>,
}

impl Opener {
    /// The engine, opened now if it is not yet (blocking: call it off the interface thread).
    pub fn engine(&self) -> EngineResult<Arc<Engine>> {
        if let Some(engine) = self.engine.get() {
            return Ok(Arc::clone(engine));
        }
        let _one = lock(&self.opening);
        if let Some(engine) = self.engine.get() {
            return Ok(Arc::clone(engine));
        }
        let engine = Arc::new(Engine::open(&self.settings)?);
        // `ILS_NODE_USER` (the CLI's setting) signs that user of a practice kept on this
        // computer in at start, as the CLI does; a practice connected to ILS Central always
        // asks for the password (`Engine::sign_in` refuses it).
        if let Some(user) = self.settings.user.as_deref()
            && let Err(e) = engine.sign_in(user)
        {
            tracing::warn!(code = %e.code, "ILS_NODE_USER was not signed in: {e}");
        }
        match BackgroundSync::start(Arc::clone(&engine), Backoff::default()) {
            Ok(s) => *lock(&self.sync) = Some(s),
            Err(e) => tracing::warn!(code = %e.code, "the background sync did not start: {e}"),
        }
        Ok(Arc::clone(self.engine.get_or_init(|| engine)))
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("engine", &self.engine.engine.get())
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// The state of a window whose engine opens from `settings` (on first need: see
    /// [`AppState::opener`]).
    pub fn new(settings: NodeSettings) -> Self {
        let sync = Arc::new(Mutex::new(None));
        Self {
            engine: Arc::new(Opener {
                settings: settings.clone(),
                engine: OnceLock::new(),
                opening: Mutex::new(()),
                sync: Arc::clone(&sync),
            }),
            settings,
            sync,
            ingest: Running::default(),
            ask: Running::default(),
        }
    }

    /// What opens the engine, to be used on the blocking pool.
    pub fn opener(&self) -> Arc<Opener> {
        Arc::clone(&self.engine)
    }

    /// Wakes the background sync at once ("Sync now", or after a change).
    pub fn sync_soon(&self) {
        if let Some(sync) = lock(&self.sync).as_ref() {
            sync.sync_soon();
        }
    }

    /// Registers a new ingest's cancel flag; refused while another ingest runs.
    pub fn begin_ingest(&self) -> Option<Arc<AtomicBool>> {
        self.ingest.begin()
    }

    pub fn end_ingest(&self) {
        self.ingest.end();
    }

    /// Asks the ingest in progress to stop; whether one was running.
    pub fn cancel_ingest(&self) -> bool {
        self.ingest.stop()
    }

    /// Registers a new answer's stop flag; refused while another answer is being written.
    pub fn begin_ask(&self) -> Option<Arc<AtomicBool>> {
        self.ask.begin()
    }

    pub fn end_ask(&self) {
        self.ask.end();
    }

    /// Stops the answer being written; whether one was.
    pub fn stop_ask(&self) -> bool {
        self.ask.stop()
    }
}

impl Drop for AppState {
    fn drop(&mut self) {
        // Stop the background sync before the engine goes.
        lock(&self.sync).take();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
