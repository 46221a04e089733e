//! What the window's commands share: the engine, the background sync and the ingest in
//! progress.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};

use ils_node::engine::{BackgroundSync, Backoff, Engine, NodeSettings};

pub struct AppState {
    pub engine: Arc<Engine>,
    pub settings: NodeSettings,
    /// Started with the window; it syncs only once the practice is connected to ILS Central.
    sync: Mutex<Option<BackgroundSync>>,
    /// The cancel flag of the ingest in progress, if one runs (one at a time).
    ingest: Mutex<Option<Arc<AtomicBool>>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("engine", &self.engine)
            .finish_non_exhaustive()
    }
}

impl AppState {
    pub fn new(engine: Arc<Engine>, settings: NodeSettings) -> Self {
        let sync = match BackgroundSync::start(Arc::clone(&engine), Backoff::default()) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(code = %e.code, "the background sync did not start: {e}");
                None
            }
        };
        Self {
            engine,
            settings,
            sync: Mutex::new(sync),
            ingest: Mutex::new(None),
        }
    }

    /// Wakes the background sync at once ("Sync now", or after a change).
    pub fn sync_soon(&self) {
        if let Some(sync) = lock(&self.sync).as_ref() {
            sync.sync_soon();
        }
    }

    /// Registers a new ingest's cancel flag; refused while another ingest runs.
    pub fn begin_ingest(&self) -> Option<Arc<AtomicBool>> {
        let mut slot = lock(&self.ingest);
        if slot.is_some() {
            return None;
        }
        let flag = Arc::new(AtomicBool::new(false));
        *slot = Some(Arc::clone(&flag));
        Some(flag)
    }

    pub fn end_ingest(&self) {
        *lock(&self.ingest) = None;
    }

    /// Asks the ingest in progress to stop; whether one was running.
    pub fn cancel_ingest(&self) -> bool {
        match lock(&self.ingest).as_ref() {
            Some(flag) => {
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
                true
            }
            None => false,
        }
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
