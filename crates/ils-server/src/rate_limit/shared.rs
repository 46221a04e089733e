//! Rate limits shared by every replica: one GCRA bucket per tenant, class and tier in Redis,
//! updated by one atomic script.
//!
//! GCRA keeps a single number per bucket, the theoretical arrival time (TAT) of the next
//! request. With `n` a minute the emission interval is `T = 60 s / n` and the burst is `n`: a
//! request of cost `c` is allowed when `max(TAT, now) + c·T − n·T ≤ now`, and then moves TAT to
//! `max(TAT, now) + c·T`. This is what the in-process limiter (governor) does, so the two agree
//! on every decision; the script takes the time from Redis (`TIME`), so replicas' clocks do not
//! matter.
//!
//! Two things never go to Redis:
//! - **A tenant over its budget.** A refusal tells when one more unit would be allowed. TAT only
//!   grows, so until then every request of that tenant is refused whatever other replicas do;
//!   this replica remembers the moment and refuses without a round trip. A flood costs Redis
//!   one call per replica per refill, not one per request. This is exact: it never refuses what
//!   Redis would allow.
//! - **Anything while Redis is down** (an error or no answer within `redis.timeout_ms`): the
//!   replica decides with its own buckets ([`LocalRateLimiter`]), counted in
//!   `ils_redis_fallbacks_total{operation="rate_limit"}`, until its probe reaches Redis again.
//!   A tenant can then get up to its budget once per replica: the cost of staying up.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use ils_core::{CompanyId, SubscriptionTier};

use super::{LimitClass, LocalRateLimiter, RateLimiter, limits, per_minute};
use crate::config::RateLimitSettings;
use crate::shared::{Redis, tenant_key};

/// KEYS[1] the bucket; ARGV: emission interval (µs, at least 1), burst (units), cost (units).
/// The key expires when its bucket is full again (at least a millisecond: `PX 0` is an error).
/// Returns `{1, 0}` when allowed, `{0, µs until one unit would be}` when refused.
const GCRA: &str = r"
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + interval * cost
if new_tat - interval * burst > now then
  return {0, tat + interval - interval * burst - now}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.max(1, math.ceil((new_tat - now) / 1000)))
return {1, 0}
";

pub struct SharedRateLimiter {
    redis: Redis,
    script: redis::Script,
    /// Units per minute of each (class, tier).
    budgets: HashMap<(LimitClass, SubscriptionTier), u32>,
    /// Until when a bucket cannot give one unit, as Redis last said.
    refused_until: DashMap<(LimitClass, SubscriptionTier, CompanyId), Instant>,
    /// This replica's own buckets, for while Redis is unreachable.
    local: LocalRateLimiter,
}

impl std::fmt::Debug for SharedRateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedRateLimiter")
            .field("redis", &self.redis)
            .finish_non_exhaustive()
    }
}

impl SharedRateLimiter {
    pub fn new(settings: &RateLimitSettings, redis: Redis) -> Self {
        let mut budgets = HashMap::new();
        for class in LimitClass::ALL {
            for tier in SubscriptionTier::ALL {
                budgets.insert(
                    (class, tier),
                    per_minute(limits(settings, class), tier).get(),
                );
            }
        }
        Self {
            redis,
            script: redis::Script::new(GCRA),
            budgets,
            refused_until: DashMap::new(),
            local: LocalRateLimiter::new(settings),
        }
    }

    /// Where a bucket lives in Redis: the tenant first, then the class and tier (a tenant that
    /// changes tier draws from the new tier's bucket, as in process).
    fn key(company: CompanyId, tier: SubscriptionTier, class: LimitClass) -> String {
        tenant_key(company, &format!("rl:{}:{tier}", class.as_str()))
    }
}

#[async_trait::async_trait]
impl RateLimiter for SharedRateLimiter {
    async fn check_n(
        &self,
        company: CompanyId,
        tier: SubscriptionTier,
        class: LimitClass,
        cost: u32,
    ) -> Result<(), Duration> {
        if cost == 0 {
            return Ok(());
        }
        let burst = self.budgets.get(&(class, tier)).copied().unwrap_or(1);
        // Redis counts in whole microseconds: a budget finer than that (over 60 million a
        // minute) is kept at one a microsecond.
        let interval = (Duration::from_secs(60) / burst).max(Duration::from_micros(1));
        if cost > burst {
            // More than a whole minute at once: refused, never waited for.
            return Err(Duration::from_secs(60));
        }
        let bucket = (class, tier, company);
        let now = Instant::now();
        if let Some(until) = self.refused_until.get(&bucket).map(|u| *u) {
            if now < until {
                return Err(until - now + interval * (cost - 1));
            }
            self.refused_until.remove_if(&bucket, |_, u| *u <= now);
        }
        if !self.redis.is_up() {
            self.redis.metrics().fallback("rate_limit");
            return self.local.decide(company, tier, class, cost);
        }
        let mut connection = self.redis.connection();
        let mut invocation = self.script.key(Self::key(company, tier, class));
        invocation
            .arg(u64::try_from(interval.as_micros()).unwrap_or(u64::MAX))
            .arg(burst)
            .arg(cost);
        let answer: Option<(i64, i64)> = self
            .redis
            .run("rate_limit", invocation.invoke_async(&mut connection))
            .await;
        match answer {
            Some((1, _)) => Ok(()),
            Some((_, wait_for_one)) => {
                let wait_for_one = Duration::from_micros(u64::try_from(wait_for_one).unwrap_or(0));
                if !wait_for_one.is_zero() {
                    // From when the question was sent: never later than Redis's own moment.
                    self.refused_until.insert(bucket, now + wait_for_one);
                }
                Err((wait_for_one + interval * (cost - 1)).max(Duration::from_millis(1)))
            }
            None => {
                self.redis.metrics().fallback("rate_limit");
                self.local.decide(company, tier, class, cost)
            }
        }
    }

    fn housekeeping(&self) {
        let now = Instant::now();
        self.refused_until.retain(|_, until| *until > now);
        self.refused_until.shrink_to_fit();
        self.local.housekeeping();
    }
}
