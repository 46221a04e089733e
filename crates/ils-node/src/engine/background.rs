//! The background sync: a thread that keeps this device in step with ILS Central while the
//! program runs. Each cycle pushes what is pending and then long-polls for the practice's next
//! change; a change made here (a write that staged one) or a request to sync now ends the wait
//! at once, so a local edit leaves within milliseconds and a remote one arrives as soon as ILS
//! Central has it. A failed cycle is tried again after an exponential backoff with jitter,
//! without waiting for the next local write; a failure only a person can mend (not signed in,
//! the device revoked) is tried again every minute, or at once when someone signs in.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::Notify;

use super::{Engine, EngineError, EngineResult};

/// How long one cycle's long-poll waits for news (ILS Central's most).
const LONG_POLL: Duration = Duration::from_secs(25);

/// After a cycle, this pause lets a burst of writes leave as one push.
const SETTLE: Duration = Duration::from_millis(25);

/// How long a failure that needs a person waits before it is tried again.
const NEEDS_A_PERSON: Duration = Duration::from_secs(60);

/// How long to wait after failures: exponential from `base`, at most `cap`, with "equal
/// jitter" (between half and all of the step) so that devices that lost ILS Central together
/// do not all return in the same instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(300),
        }
    }
}

impl Backoff {
    /// The wait after the `failures`-th failure in a row (1 for the first), `unit` being a
    /// random number in [0, 1).
    pub fn delay(&self, failures: u32, unit: f64) -> Duration {
        let doublings = failures.saturating_sub(1).min(30);
        let step = self
            .base
            .saturating_mul(1u32 << doublings)
            .min(self.cap)
            .max(Duration::from_millis(1));
        step / 2 + step.mul_f64(unit.clamp(0.0, 1.0) / 2.0)
    }
}

/// Whether a failure is one only a person can mend: signing in, connecting, an administrator
/// approving or restoring the device, a refused account.
fn needs_a_person(e: &EngineError) -> bool {
    e.code.starts_with("sync.not_")
        || e.code.starts_with("device.")
        || e.code.starts_with("auth.")
        || e.code == "sync.bad_server"
}

/// The running background sync; dropping it stops the thread (a long-poll in progress ends at
/// once; a push in progress is finished first).
#[derive(Debug)]
pub struct BackgroundSync {
    engine: Arc<Engine>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl BackgroundSync {
    /// Starts syncing `engine` in the background.
    pub fn start(engine: Arc<Engine>, backoff: Backoff) -> EngineResult<Self> {
        engine.runtime()?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("ils-sync".to_owned())
            .spawn({
                let engine = Arc::clone(&engine);
                let stop = Arc::clone(&stop);
                move || run(&engine, &stop, backoff)
            })
            .map_err(|e| EngineError::internal(format!("cannot start the background sync: {e}")))?;
        Ok(Self {
            engine,
            stop,
            thread: Some(thread),
        })
    }

    /// Syncs as soon as possible, cutting short a wait after failures ("Sync now").
    pub fn sync_soon(&self) {
        self.engine.request_sync();
    }
}

impl Drop for BackgroundSync {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.engine.store().sync_wanted().notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Engine {
    /// Asks the background sync (if one runs) to sync at once, even while it waits after
    /// failures.
    pub fn request_sync(&self) {
        self.link().sync_requested = true;
        self.store().sync_wanted().notify_one();
    }
}

/// Why a wait ended.
enum Woken {
    Elapsed,
    Signal,
}

fn wait(engine: &Engine, signal: &Notify, time: Duration) -> Woken {
    engine
        .block_on(async {
            tokio::select! {
                () = tokio::time::sleep(time) => Woken::Elapsed,
                () = signal.notified() => Woken::Signal,
            }
        })
        .unwrap_or(Woken::Elapsed)
}

fn run(engine: &Engine, stop: &AtomicBool, backoff: Backoff) {
    let signal = engine.store().sync_wanted();
    let mut failures = 0u32;
    while !stop.load(Ordering::SeqCst) {
        engine.link().sync_requested = false;
        let outcome = engine.sync_cycle(LONG_POLL, &signal);
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let error = match outcome {
            Ok(_) => {
                failures = 0;
                // Changes made during the pause raise the signal; the next cycle takes them.
                std::thread::sleep(SETTLE);
                continue;
            }
            Err(e) => e,
        };
        failures = failures.saturating_add(1);
        let delay = if needs_a_person(&error) {
            NEEDS_A_PERSON
        } else {
            backoff.delay(failures, rand::random::<f64>())
        };
        tracing::debug!(code = %error.code, ?delay, failures, "sync failed; trying again later");
        let until = std::time::Instant::now() + delay;
        engine.link().retry_at = chrono::Duration::from_std(delay)
            .ok()
            .map(|d| chrono::Utc::now() + d);
        // Local writes raise the signal too; they do not cut the wait short (the backoff is
        // what spares a server that is down), a request to sync now or a stop does.
        loop {
            let left = until.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() || stop.load(Ordering::SeqCst) {
                break;
            }
            if let Woken::Signal = wait(engine, &signal, left)
                && engine.link().sync_requested
            {
                failures = 0;
                break;
            }
        }
        engine.link().retry_at = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap_with_jitter_inside_each_step() {
        let b = Backoff {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(60),
        };
        assert_eq!(b.delay(1, 0.0), Duration::from_millis(500));
        assert_eq!(b.delay(1, 1.0), Duration::from_secs(1));
        assert_eq!(b.delay(2, 0.0), Duration::from_secs(1));
        assert_eq!(b.delay(4, 1.0), Duration::from_secs(8));
        assert_eq!(b.delay(7, 1.0), Duration::from_secs(60));
        assert_eq!(b.delay(u32::MAX, 0.0), Duration::from_secs(30));
        let d = b.delay(3, 0.5);
        assert!(
            d > Duration::from_secs(2) && d < Duration::from_secs(4),
            "{d:?}"
        );
    }

    #[test]
    fn failures_a_person_must_mend_are_told_apart_from_an_unreachable_server() {
        let e = |code: &str| EngineError::input(code, "x");
        assert!(needs_a_person(&e("sync.not_signed_in")));
        assert!(needs_a_person(&e("device.revoked")));
        assert!(needs_a_person(&e("auth.invalid_credentials")));
        assert!(!needs_a_person(&e("sync.offline")));
        assert!(!needs_a_person(&e("rate_limited")));
        assert!(!needs_a_person(&EngineError::internal("boom")));
    }
}
