//! Per-tenant rate limits by subscription tier.
//!
//! Buckets are keyed by the tenant of the verified token, never by address or forwarded
//! headers. The limiter sits behind [`RateLimiter`]: one replica keeps its buckets in process
//! ([`LocalRateLimiter`]); several share theirs in Redis ([`SharedRateLimiter`]), so that a
//! tenant's budget is the same however its requests are spread.

mod shared;

pub use shared::SharedRateLimiter;

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use ils_core::{CompanyId, SubscriptionTier};

use crate::config::{RateLimitSettings, TierLimits};

/// Which budget a request draws from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LimitClass {
    /// Every authenticated API request.
    Api,
    /// Requests to the AI gateway (also counted against `Api`).
    Ai,
    /// Changes pushed and pulled by a tenant's devices (counted by change, not by request).
    Sync,
}

impl LimitClass {
    pub const ALL: [LimitClass; 3] = [LimitClass::Api, LimitClass::Ai, LimitClass::Sync];

    pub const fn as_str(self) -> &'static str {
        match self {
            LimitClass::Api => "api",
            LimitClass::Ai => "ai",
            LimitClass::Sync => "sync",
        }
    }
}

#[async_trait::async_trait]
pub trait RateLimiter: Send + Sync + std::fmt::Debug {
    /// `Ok` when the request may proceed, otherwise how long until it would.
    async fn check(
        &self,
        company: CompanyId,
        tier: SubscriptionTier,
        class: LimitClass,
    ) -> Result<(), Duration> {
        self.check_n(company, tier, class, 1).await
    }

    /// As [`RateLimiter::check`], for `cost` units at once (a push of `cost` changes). A cost
    /// beyond the whole burst is refused with the time a full bucket takes.
    async fn check_n(
        &self,
        company: CompanyId,
        tier: SubscriptionTier,
        class: LimitClass,
        cost: u32,
    ) -> Result<(), Duration>;

    /// Drops idle state; called periodically.
    fn housekeeping(&self) {}
}

/// GCRA buckets per tenant in this process (governor). Each (class, tier) pair has its own
/// keyed limiter, so a tenant that changes tier starts drawing from the new tier's quota.
pub struct LocalRateLimiter {
    limiters: HashMap<(LimitClass, SubscriptionTier), DefaultKeyedRateLimiter<CompanyId>>,
    clock: DefaultClock,
}

impl std::fmt::Debug for LocalRateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalRateLimiter").finish_non_exhaustive()
    }
}

impl LocalRateLimiter {
    pub fn new(settings: &RateLimitSettings) -> Self {
        let mut limiters = HashMap::new();
        for class in LimitClass::ALL {
            for tier in SubscriptionTier::ALL {
                limiters.insert(
                    (class, tier),
                    DefaultKeyedRateLimiter::dashmap(quota(limits(settings, class), tier)),
                );
            }
        }
        Self {
            limiters,
            clock: DefaultClock::default(),
        }
    }
}

/// `n` per minute with a burst of `n`: a tenant may use its whole minute at once, then one
/// request every 60/n seconds.
fn quota(limits: &TierLimits, tier: SubscriptionTier) -> Quota {
    Quota::per_minute(per_minute(limits, tier))
}

fn per_minute(limits: &TierLimits, tier: SubscriptionTier) -> NonZeroU32 {
    NonZeroU32::new(limits.for_tier(tier)).unwrap_or(NonZeroU32::MIN)
}

/// A class's limits in `settings`.
fn limits(settings: &RateLimitSettings, class: LimitClass) -> &TierLimits {
    match class {
        LimitClass::Api => &settings.api_per_minute,
        LimitClass::Ai => &settings.ai_per_minute,
        LimitClass::Sync => &settings.sync_changes_per_minute,
    }
}

impl LocalRateLimiter {
    /// The decision, made in this process alone.
    pub fn decide(
        &self,
        company: CompanyId,
        tier: SubscriptionTier,
        class: LimitClass,
        cost: u32,
    ) -> Result<(), Duration> {
        let Some(limiter) = self.limiters.get(&(class, tier)) else {
            return Ok(());
        };
        let Some(cost) = NonZeroU32::new(cost) else {
            return Ok(());
        };
        match limiter.check_key_n(&company, cost) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(not_until.wait_time_from(self.clock.now())),
            Err(_) => Err(Duration::from_secs(60)),
        }
    }
}

#[async_trait::async_trait]
impl RateLimiter for LocalRateLimiter {
    async fn check_n(
        &self,
        company: CompanyId,
        tier: SubscriptionTier,
        class: LimitClass,
        cost: u32,
    ) -> Result<(), Duration> {
        self.decide(company, tier, class, cost)
    }

    fn housekeeping(&self) {
        for limiter in self.limiters.values() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(api: u32, ai: u32) -> RateLimitSettings {
        let all = |n| TierLimits {
            free: n,
            pro: n * 2,
            premium: n * 5,
            enterprise: n * 10,
        };
        RateLimitSettings {
            api_per_minute: all(api),
            ai_per_minute: all(ai),
            sync_changes_per_minute: all(api * 100),
        }
    }

    #[test]
    fn tenants_have_separate_buckets() {
        let limiter = LocalRateLimiter::new(&settings(3, 1));
        let (a, b) = (CompanyId::new(), CompanyId::new());
        for _ in 0..3 {
            assert!(
                limiter
                    .decide(a, SubscriptionTier::Free, LimitClass::Api, 1)
                    .is_ok()
            );
        }
        let wait = limiter
            .decide(a, SubscriptionTier::Free, LimitClass::Api, 1)
            .expect_err("the fourth request in a minute is over a budget of 3");
        assert!(
            wait > Duration::from_secs(1) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert!(
            limiter
                .decide(b, SubscriptionTier::Free, LimitClass::Api, 1)
                .is_ok(),
            "another tenant is not affected"
        );
    }

    #[test]
    fn the_sync_budget_counts_changes_per_tenant() {
        let limiter = LocalRateLimiter::new(&settings(10, 1));
        let (a, b) = (CompanyId::new(), CompanyId::new());
        let free = SubscriptionTier::Free;
        // 1,000 changes a minute on this tier: two pushes of 500 pass, the third waits.
        assert!(limiter.decide(a, free, LimitClass::Sync, 500).is_ok());
        assert!(limiter.decide(a, free, LimitClass::Sync, 500).is_ok());
        let wait = limiter
            .decide(a, free, LimitClass::Sync, 500)
            .expect_err("spent");
        assert!(
            wait > Duration::from_secs(20) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        // Another practice's devices are not slowed; nor is the first one's API budget.
        assert!(limiter.decide(b, free, LimitClass::Sync, 1000).is_ok());
        assert!(limiter.decide(a, free, LimitClass::Api, 1).is_ok());
        // More than a whole minute at once is refused, not waited for forever.
        assert!(limiter.decide(b, free, LimitClass::Sync, 5000).is_err());
        assert!(limiter.decide(a, free, LimitClass::Sync, 0).is_ok());
    }

    #[test]
    fn ai_budget_follows_the_tier_table() {
        let limiter = LocalRateLimiter::new(&RateLimitSettings::default());
        for (tier, budget) in [
            (SubscriptionTier::Free, 10),
            (SubscriptionTier::Pro, 20),
            (SubscriptionTier::Premium, 50),
            (SubscriptionTier::Enterprise, 100),
        ] {
            let company = CompanyId::new();
            let allowed = (0..budget + 5)
                .filter(|_| limiter.decide(company, tier, LimitClass::Ai, 1).is_ok())
                .count();
            assert_eq!(allowed, budget, "{tier}: AI requests allowed in one burst");
        }
    }
}
