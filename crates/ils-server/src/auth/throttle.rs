//! Sign-in throttling. Failed sign-ins are counted per client address and per tenant in fixed
//! windows; once a budget is spent, further attempts from that address, or on that tenant, are
//! refused with 429 before any password is hashed, so guessing costs the service almost
//! nothing. Within a tenant's window only the first failures get an audit row each; the rest
//! are counted and written as one aggregate row when the window is over, so guessing cannot
//! flood a practice's audit log either.
//!
//! The per-account lockout (`auth.max_failed_logins`) stays: it protects one account from slow
//! guessing; this protects the service and the tenant from fast guessing across accounts.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ils_core::CompanyId;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key {
    Address(IpAddr),
    Tenant(CompanyId),
}

#[derive(Clone, Copy, Debug)]
struct Window {
    started: Instant,
    started_at: DateTime<Utc>,
    failures: u32,
    /// Failures of this window not audited one by one.
    unaudited: u32,
}

/// Whether a failure gets its own audit row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditFailure {
    Row,
    /// Counted into the window's aggregate row.
    Aggregate,
}

/// Failures of an ended window that were not audited one by one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unaudited {
    pub tenant: CompanyId,
    pub count: u32,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

#[derive(Debug)]
pub struct SignInThrottle {
    window: Duration,
    per_address: u32,
    per_tenant: u32,
    audited_per_tenant: u32,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    windows: HashMap<Key, Window>,
    /// Unaudited failures of windows that ended, waiting to be written.
    ended: Vec<Unaudited>,
}

impl SignInThrottle {
    fn ended(&self, tenant: CompanyId, w: &Window) -> Unaudited {
        Unaudited {
            tenant,
            count: w.unaudited,
            from: w.started_at,
            until: w.started_at + chrono::Duration::from_std(self.window).unwrap_or_default(),
        }
    }
}

impl SignInThrottle {
    pub fn new(window: Duration, per_address: u32, per_tenant: u32, audited: u32) -> Self {
        Self {
            window,
            per_address,
            per_tenant,
            audited_per_tenant: audited,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `Err(wait)` when the address's or the tenant's budget of failures is spent.
    pub fn check(
        &self,
        address: Option<IpAddr>,
        tenant: Option<CompanyId>,
    ) -> Result<(), Duration> {
        let now = Instant::now();
        let state = self.state();
        let spent = |key: Key, budget: u32| {
            state.windows.get(&key).and_then(|w| {
                let age = now.duration_since(w.started);
                (age < self.window && w.failures >= budget).then(|| self.window - age)
            })
        };
        let waits = [
            address.and_then(|a| spent(Key::Address(a), self.per_address)),
            tenant.and_then(|t| spent(Key::Tenant(t), self.per_tenant)),
        ];
        match waits.into_iter().flatten().max() {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    /// Counts a failed sign-in; says whether it gets its own audit row in the tenant's log.
    pub fn failed(&self, address: Option<IpAddr>, tenant: Option<CompanyId>) -> AuditFailure {
        let now = Instant::now();
        let mut state = self.state();
        let State { windows, ended } = &mut *state;
        let mut count = |key: Key| -> Window {
            let fresh = Window {
                started: now,
                started_at: Utc::now(),
                failures: 0,
                unaudited: 0,
            };
            let window = windows.entry(key).or_insert(fresh);
            if now.duration_since(window.started) >= self.window {
                if let Key::Tenant(t) = key
                    && window.unaudited > 0
                {
                    ended.push(self.ended(t, window));
                }
                *window = fresh;
            }
            window.failures = window.failures.saturating_add(1);
            if matches!(key, Key::Tenant(_)) && window.failures > self.audited_per_tenant {
                window.unaudited = window.unaudited.saturating_add(1);
            }
            *window
        };
        if let Some(a) = address {
            count(Key::Address(a));
        }
        match tenant {
            Some(t) if count(Key::Tenant(t)).failures > self.audited_per_tenant => {
                AuditFailure::Aggregate
            }
            _ => AuditFailure::Row,
        }
    }

    /// Takes the unaudited failures of ended windows (each to be written as one row in its
    /// tenant's log), and forgets ended windows.
    pub fn take_unaudited(&self) -> Vec<Unaudited> {
        let now = Instant::now();
        let mut state = self.state();
        let State { windows, ended } = &mut *state;
        let mut out = std::mem::take(ended);
        windows.retain(|key, w| {
            let over = now.duration_since(w.started) >= self.window;
            if over
                && let Key::Tenant(tenant) = key
                && w.unaudited > 0
            {
                out.push(self.ended(*tenant, w));
            }
            !over
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_per_address_and_tenant_and_aggregated_audit() {
        let throttle = SignInThrottle::new(Duration::from_millis(200), 3, 5, 2);
        let here: IpAddr = [10, 0, 0, 1].into();
        let there: IpAddr = [10, 0, 0, 2].into();
        let tenant = CompanyId::new();
        let audits: Vec<AuditFailure> = (0..3)
            .map(|_| throttle.failed(Some(here), Some(tenant)))
            .collect();
        assert_eq!(
            audits,
            [
                AuditFailure::Row,
                AuditFailure::Row,
                AuditFailure::Aggregate
            ]
        );
        assert!(
            throttle.check(Some(here), None).is_err(),
            "this address is spent"
        );
        assert!(
            throttle.check(Some(there), Some(tenant)).is_ok(),
            "the tenant is not yet"
        );
        throttle.failed(Some(there), Some(tenant));
        throttle.failed(Some(there), Some(tenant));
        assert!(
            throttle
                .check(Some([10, 0, 0, 3].into()), Some(tenant))
                .is_err(),
            "five failures spend the tenant's budget, from any address"
        );
        assert!(
            throttle.take_unaudited().is_empty(),
            "the window is still open"
        );
        std::thread::sleep(Duration::from_millis(250));
        assert!(
            throttle.check(Some(here), Some(tenant)).is_ok(),
            "a new window"
        );
        let unaudited = throttle.take_unaudited();
        assert_eq!(unaudited.len(), 1);
        assert_eq!(unaudited[0].count, 3);
        assert!(throttle.take_unaudited().is_empty(), "taken once");
    }
}
