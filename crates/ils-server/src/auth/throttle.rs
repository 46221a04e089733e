//! Sign-in throttling. Failed sign-ins are counted per client address and per tenant in fixed
//! windows; once a budget is spent, further attempts from that address, or on that tenant, are
//! refused with 429 before any password is hashed, so guessing costs the service almost
//! nothing. Within a tenant's window only the first failures get an audit row each; the rest
//! are counted and written as one aggregate row when the window is over, so guessing cannot
//! flood a practice's audit log either.
//!
//! With a shared Redis (`redis.url`) the counts are kept there, so the budgets hold across
//! replicas (an attacker spreading guesses over a load balancer gets no more): each count is a
//! key per address or tenant and window, the windows aligned on Redis's clock (`TIME`), one
//! atomic script per key. An address or tenant found spent is refused by this replica alone
//! until its window ends (counts only grow within a window, so this refuses nothing Redis
//! would allow). Each replica writes its own aggregate row for the failures it saw beyond the
//! tenant's audited few, so the rows add up to the whole. While Redis is unreachable the
//! replica counts on its own (`ils_redis_fallbacks_total{operation="sign_in"}`), as the rate
//! limiter does.
//!
//! The per-account lockout (`auth.max_failed_logins`) stays: it protects one account from slow
//! guessing; this protects the service and the tenant from fast guessing across accounts.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ils_core::CompanyId;

use crate::shared::{Redis, tenant_key};

/// KEYS[1] a count without its window; ARGV[1] the window (ms), ARGV[2] the budget. Returns the
/// milliseconds until the window ends when the count has reached the budget, else 0.
const CHECK: &str = r"
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local window = tonumber(ARGV[1])
local index = math.floor(now / window)
local count = tonumber(redis.call('GET', KEYS[1] .. ':' .. index)) or 0
if count >= tonumber(ARGV[2]) then
  return (index + 1) * window - now
end
return 0
";

/// KEYS[1] a count without its window; ARGV[1] the window (ms). Counts one failure in the
/// current window; returns {count, window start (ms since the epoch), window end}.
const FAIL: &str = r"
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local window = tonumber(ARGV[1])
local index = math.floor(now / window)
local key = KEYS[1] .. ':' .. index
local count = redis.call('INCR', key)
redis.call('PEXPIREAT', key, (index + 1) * window + 1000)
return {count, index * window, (index + 1) * window}
";

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

pub struct SignInThrottle {
    window: Duration,
    per_address: u32,
    per_tenant: u32,
    audited_per_tenant: u32,
    state: Mutex<State>,
    shared: Option<Shared>,
}

impl std::fmt::Debug for SignInThrottle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInThrottle")
            .field("window", &self.window)
            .field("shared", &self.shared.is_some())
            .finish_non_exhaustive()
    }
}

struct Shared {
    redis: Redis,
    check: redis::Script,
    fail: redis::Script,
}

#[derive(Debug, Default)]
struct State {
    windows: HashMap<Key, Window>,
    /// Unaudited failures of windows that ended, waiting to be written.
    ended: Vec<Unaudited>,
    /// Shared counts: until when an address or tenant is spent, as Redis said.
    spent_until: HashMap<Key, Instant>,
    /// Shared counts: failures this replica saw beyond a tenant's audited few, by window.
    unaudited: HashMap<(CompanyId, DateTime<Utc>), Unaudited>,
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
    /// Budgets counted by this replica alone, or in `redis` when one is shared.
    pub fn new(
        window: Duration,
        per_address: u32,
        per_tenant: u32,
        audited: u32,
        redis: Option<Redis>,
    ) -> Self {
        Self {
            window,
            per_address,
            per_tenant,
            audited_per_tenant: audited,
            state: Mutex::new(State::default()),
            shared: redis.map(|redis| Shared {
                redis,
                check: redis::Script::new(CHECK),
                fail: redis::Script::new(FAIL),
            }),
        }
    }

    /// Where a count lives in Redis, without its window (the script appends it). The part in
    /// braces keeps every window of one count in one Redis Cluster slot.
    fn shared_key(key: Key) -> String {
        match key {
            Key::Address(address) => format!("ils:{{address:{address}}}:signin"),
            Key::Tenant(company) => tenant_key(company, "signin"),
        }
    }

    fn window_ms(&self) -> u64 {
        u64::try_from(self.window.as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    fn keys(address: Option<IpAddr>, tenant: Option<CompanyId>) -> impl Iterator<Item = Key> {
        address
            .map(Key::Address)
            .into_iter()
            .chain(tenant.map(Key::Tenant))
    }

    fn budget(&self, key: Key) -> u32 {
        match key {
            Key::Address(_) => self.per_address,
            Key::Tenant(_) => self.per_tenant,
        }
    }

    /// `Err(wait)` when the address's or the tenant's budget of failures is spent.
    pub async fn check(
        &self,
        address: Option<IpAddr>,
        tenant: Option<CompanyId>,
    ) -> Result<(), Duration> {
        let Some(shared) = self.shared.as_ref().filter(|s| s.redis.is_up()) else {
            if let Some(shared) = &self.shared {
                shared.redis.metrics().fallback("sign_in");
            }
            return self.check_here(address, tenant);
        };
        let now = Instant::now();
        let mut wait = Duration::ZERO;
        for key in Self::keys(address, tenant) {
            let known = self.state().spent_until.get(&key).copied();
            if let Some(until) = known.filter(|until| *until > now) {
                wait = wait.max(until - now);
                continue;
            }
            let mut connection = shared.redis.connection();
            let mut invocation = shared.check.key(Self::shared_key(key));
            invocation.arg(self.window_ms()).arg(self.budget(key));
            let answer: Option<u64> = shared
                .redis
                .run("sign_in", invocation.invoke_async(&mut connection))
                .await;
            match answer {
                Some(0) => {}
                Some(ms) => {
                    let left = Duration::from_millis(ms);
                    self.state().spent_until.insert(key, now + left);
                    wait = wait.max(left);
                }
                None => {
                    shared.redis.metrics().fallback("sign_in");
                    return self.check_here(address, tenant);
                }
            }
        }
        if wait.is_zero() { Ok(()) } else { Err(wait) }
    }

    /// Counts a failed sign-in; says whether it gets its own audit row in the tenant's log.
    pub async fn failed(&self, address: Option<IpAddr>, tenant: Option<CompanyId>) -> AuditFailure {
        let Some(shared) = self.shared.as_ref().filter(|s| s.redis.is_up()) else {
            if let Some(shared) = &self.shared {
                shared.redis.metrics().fallback("sign_in");
            }
            return self.failed_here(address, tenant);
        };
        let mut audit = AuditFailure::Row;
        for key in Self::keys(address, tenant) {
            let mut connection = shared.redis.connection();
            let mut invocation = shared.fail.key(Self::shared_key(key));
            invocation.arg(self.window_ms());
            let answer: Option<(u64, i64, i64)> = shared
                .redis
                .run("sign_in", invocation.invoke_async(&mut connection))
                .await;
            let Some((count, from, until)) = answer else {
                shared.redis.metrics().fallback("sign_in");
                return self.failed_here(address, tenant);
            };
            if let Key::Tenant(company) = key
                && count > u64::from(self.audited_per_tenant)
                && let (Some(from), Some(until)) = (
                    DateTime::from_timestamp_millis(from),
                    DateTime::from_timestamp_millis(until),
                )
            {
                audit = AuditFailure::Aggregate;
                self.state()
                    .unaudited
                    .entry((company, from))
                    .or_insert(Unaudited {
                        tenant: company,
                        count: 0,
                        from,
                        until,
                    })
                    .count += 1;
            }
        }
        audit
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// [`Self::check`] with this replica's own counts.
    fn check_here(
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

    /// [`Self::failed`] with this replica's own counts.
    fn failed_here(&self, address: Option<IpAddr>, tenant: Option<CompanyId>) -> AuditFailure {
        let now = Instant::now();
        let mut state = self.state();
        let State { windows, ended, .. } = &mut *state;
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
        let State {
            windows,
            ended,
            spent_until,
            unaudited,
        } = &mut *state;
        let mut out = std::mem::take(ended);
        spent_until.retain(|_, until| *until > now);
        let wall = Utc::now();
        unaudited.retain(|_, u| {
            let over = u.until <= wall;
            if over {
                out.push(*u);
            }
            !over
        });
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

    #[tokio::test]
    async fn budgets_per_address_and_tenant_and_aggregated_audit() {
        let throttle = SignInThrottle::new(Duration::from_millis(200), 3, 5, 2, None);
        let here: IpAddr = [10, 0, 0, 1].into();
        let there: IpAddr = [10, 0, 0, 2].into();
        let tenant = CompanyId::new();
        let mut audits = Vec::new();
        for _ in 0..3 {
            audits.push(throttle.failed(Some(here), Some(tenant)).await);
        }
        assert_eq!(
            audits,
            [
                AuditFailure::Row,
                AuditFailure::Row,
                AuditFailure::Aggregate
            ]
        );
        assert!(
            throttle.check(Some(here), None).await.is_err(),
            "this address is spent"
        );
        assert!(
            throttle.check(Some(there), Some(tenant)).await.is_ok(),
            "the tenant is not yet"
        );
        throttle.failed(Some(there), Some(tenant)).await;
        throttle.failed(Some(there), Some(tenant)).await;
        assert!(
            throttle
                .check(Some([10, 0, 0, 3].into()), Some(tenant))
                .await
                .is_err(),
            "five failures spend the tenant's budget, from any address"
        );
        assert!(
            throttle.take_unaudited().is_empty(),
            "the window is still open"
        );
        std::thread::sleep(Duration::from_millis(250));
        assert!(
            throttle.check(Some(here), Some(tenant)).await.is_ok(),
            "a new window"
        );
        let unaudited = throttle.take_unaudited();
        assert_eq!(unaudited.len(), 1);
        assert_eq!(unaudited[0].count, 3);
        assert!(throttle.take_unaudited().is_empty(), "taken once");
    }
}
