//! What several replicas of ILS Central share through Redis, and how a replica carries on
//! without it.
//!
//! Redis holds the tenants' rate-limit buckets ([`crate::rate_limit::SharedRateLimiter`]) and
//! carries news of changed standings between replicas ([`Invalidation`]). It is never a source
//! of truth: every record, every audit row, every user's standing lives in PostgreSQL. So when
//! Redis is unreachable or slow a replica keeps serving: it decides rate limits with its own
//! buckets, and the standings it has cached expire by age (`auth.status_cache_secs`) instead of
//! at once. It says so in `ils_redis_degraded`, counts each such decision in
//! `ils_redis_fallbacks_total`, tries Redis again every `redis.retry_ms`, and goes back to it by
//! itself.
//!
//! Every key carries its tenant (`ils:{<company id>}:…`; the braces keep a tenant's keys in one
//! slot of a Redis Cluster).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use ils_core::{CompanyId, UserId};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::config::RedisSettings;
use crate::error::{Error, Result};
use crate::metrics::RedisMetrics;

/// The channel that carries [`Invalidation`]s.
pub const INVALIDATION_CHANNEL: &str = "ils:invalidate";

/// One replica's connection to the shared Redis, and whether it currently works.
#[derive(Clone, Debug)]
pub struct Redis(Arc<Inner>);

struct Inner {
    client: redis::Client,
    manager: ConnectionManager,
    timeout: Duration,
    retry: Duration,
    up: AtomicBool,
    metrics: RedisMetrics,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("up", &self.up.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Redis {
    /// The shared Redis of `settings`, or `None` when none is configured. Connects lazily: a
    /// replica starts (degraded) while Redis is down, and uses it once it answers.
    pub fn new(settings: &RedisSettings, metrics: RedisMetrics) -> Result<Option<Self>> {
        let Some(url) = &settings.url else {
            return Ok(None);
        };
        let client = redis::Client::open(url.expose())
            .map_err(|e| Error::Internal(format!("redis.url: {e}")))?;
        let timeout = Duration::from_millis(settings.timeout_ms);
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            // Reconnection is this module's business (the probe below): one quick attempt each
            // time, never a request held through a backoff.
            .set_number_of_retries(1)
            .set_max_delay(timeout);
        let manager = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .map_err(|e| Error::Internal(format!("redis: {e}")))?;
        metrics.degraded.set(0);
        Ok(Some(Self(Arc::new(Inner {
            client,
            manager,
            timeout,
            retry: Duration::from_millis(settings.retry_ms),
            up: AtomicBool::new(true),
            metrics,
        }))))
    }

    /// Whether requests should ask Redis (false from a failure until the probe succeeds).
    pub fn is_up(&self) -> bool {
        self.0.up.load(Ordering::Relaxed)
    }

    /// A handle for one operation (cheap: the connection is shared and multiplexed).
    pub fn connection(&self) -> ConnectionManager {
        self.0.manager.clone()
    }

    pub fn timeout(&self) -> Duration {
        self.0.timeout
    }

    pub fn metrics(&self) -> &RedisMetrics {
        &self.0.metrics
    }

    /// Records a failed `operation`: the replica works without Redis until the probe reaches it
    /// again. Logged once per outage, counted every time.
    pub fn failed(&self, operation: &'static str, error: &dyn std::fmt::Display) {
        self.0.metrics.error(operation);
        if self.0.up.swap(false, Ordering::Relaxed) {
            self.0.metrics.degraded.set(1);
            tracing::warn!(%error, operation,
                "Redis is unavailable: rate limits are decided by this replica alone and cached standings expire by age until it is back");
            self.spawn_probe();
        }
    }

    /// Tries Redis every `retry_ms` until it answers, then lets requests use it again.
    fn spawn_probe(&self) {
        let weak = Arc::downgrade(&self.0);
        tokio::spawn(async move {
            loop {
                let Some(inner) = weak.upgrade() else { return };
                let retry = inner.retry;
                let mut connection = inner.manager.clone();
                let ping = tokio::time::timeout(
                    inner.timeout,
                    redis::cmd("PING").query_async::<String>(&mut connection),
                )
                .await;
                if matches!(ping, Ok(Ok(_))) {
                    inner.up.store(true, Ordering::Relaxed);
                    inner.metrics.degraded.set(0);
                    tracing::info!("Redis is reachable again: shared rate limits resume");
                    return;
                }
                drop(inner);
                tokio::time::sleep(retry).await;
            }
        });
    }

    /// Runs `operation` on Redis within the timeout; an error or a timeout marks Redis down.
    pub async fn run<T>(
        &self,
        operation: &'static str,
        work: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Option<T> {
        match tokio::time::timeout(self.0.timeout, work).await {
            Ok(Ok(value)) => Some(value),
            Ok(Err(error)) => {
                self.failed(operation, &error);
                None
            }
            Err(_) => {
                self.failed(operation, &"no answer within redis.timeout_ms");
                None
            }
        }
    }

    /// Tells every replica (this one included) that a cached standing is stale.
    pub async fn publish(&self, news: Invalidation) {
        if !self.is_up() {
            self.0.metrics.fallback("invalidation");
            return;
        }
        let mut connection = self.connection();
        let message = news.to_message();
        let sent = self
            .run("invalidation", async move {
                redis::cmd("PUBLISH")
                    .arg(INVALIDATION_CHANNEL)
                    .arg(message)
                    .query_async::<i64>(&mut connection)
                    .await
            })
            .await;
        if sent.is_none() {
            self.0.metrics.fallback("invalidation");
        }
    }

    /// Listens for [`Invalidation`]s and hands each to `apply`, reconnecting as needed. Each
    /// time the subscription is (re)made, `apply` first gets [`Invalidation::Everything`]: what
    /// was published while this replica was not listening is lost, so nothing cached before is
    /// trusted. Ends when `alive` returns false.
    pub fn spawn_listener(
        &self,
        alive: impl Fn() -> bool + Send + 'static,
        apply: impl Fn(Invalidation) + Send + 'static,
    ) {
        let client = self.0.client.clone();
        let (timeout, retry) = (self.0.timeout, self.0.retry);
        let metrics = self.0.metrics.clone();
        tokio::spawn(async move {
            while alive() {
                let subscribed = tokio::time::timeout(timeout * 10, async {
                    let mut pubsub = client.get_async_pubsub().await?;
                    pubsub.subscribe(INVALIDATION_CHANNEL).await?;
                    redis::RedisResult::Ok(pubsub)
                })
                .await;
                match subscribed {
                    Ok(Ok(pubsub)) => {
                        apply(Invalidation::Everything);
                        let mut messages = pubsub.into_on_message();
                        while let Some(message) = messages.next().await {
                            if !alive() {
                                return;
                            }
                            match message
                                .get_payload::<String>()
                                .ok()
                                .and_then(|m| Invalidation::from_message(&m))
                            {
                                Some(news) => apply(news),
                                None => metrics.error("invalidation_message"),
                            }
                        }
                        // The connection closed: whatever comes next may have been missed.
                        metrics.error("invalidation_listen");
                    }
                    _ => metrics.error("invalidation_listen"),
                }
                tokio::time::sleep(retry).await;
            }
        });
    }
}

/// News that cached standings changed, published by the replica that changed them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invalidation {
    /// A user's role, status or password changed.
    User(CompanyId, UserId),
    /// A tenant's status, tier, time zone or data changed (or it was erased).
    Company(CompanyId),
    /// Anything may have changed (a replica's subscription was just made).
    Everything,
}

impl Invalidation {
    fn to_message(self) -> String {
        match self {
            Invalidation::User(company, user) => format!("user {company} {user}"),
            Invalidation::Company(company) => format!("company {company}"),
            Invalidation::Everything => "everything".to_owned(),
        }
    }

    fn from_message(message: &str) -> Option<Self> {
        let mut words = message.split(' ');
        let news = match (words.next()?, words.next(), words.next()) {
            ("user", Some(company), Some(user)) => {
                Invalidation::User(company.parse().ok()?, user.parse().ok()?)
            }
            ("company", Some(company), None) => Invalidation::Company(company.parse().ok()?),
            ("everything", None, None) => Invalidation::Everything,
            _ => return None,
        };
        words.next().is_none().then_some(news)
    }
}

/// The key of a tenant's `name`: `ils:{<company>}:<name>`. The tenant is always in the key, in
/// braces so that Redis Cluster keeps one tenant's keys together.
pub fn tenant_key(company: CompanyId, name: &str) -> String {
    format!("ils:{{{company}}}:{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalidations_survive_the_wire_and_garbage_is_refused() {
        let (company, user) = (CompanyId::new(), UserId::new());
        for news in [
            Invalidation::User(company, user),
            Invalidation::Company(company),
            Invalidation::Everything,
        ] {
            assert_eq!(Invalidation::from_message(&news.to_message()), Some(news));
        }
        for garbage in [
            "",
            "user",
            "company not-an-id",
            &format!("company {company} extra"),
            &format!("user {company}"),
            "everything else",
        ] {
            assert_eq!(Invalidation::from_message(garbage), None, "{garbage:?}");
        }
    }

    #[test]
    fn keys_name_their_tenant() {
        let company = CompanyId::new();
        assert_eq!(
            tenant_key(company, "rl:api:pro"),
            format!("ils:{{{company}}}:rl:api:pro")
        );
    }
}
