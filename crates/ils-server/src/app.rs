//! The service's shared state: settings, database, keys and tokens, caches, limiter, metrics.

use std::sync::Arc;
use std::time::Duration;

use crate::auth::keys::KeyEncryptionKey;
use crate::auth::{KeyStore, PasswordHasher, StandingCache, TokenIssuer};
use crate::config::Settings;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::rate_limit::{LocalRateLimiter, RateLimiter, SharedRateLimiter};
use crate::shared::{Invalidation, Redis};

#[derive(Clone, Debug)]
pub struct AppState(Arc<Inner>);

#[derive(Debug)]
pub struct Inner {
    pub settings: Settings,
    pub db: Db,
    pub tokens: TokenIssuer,
    pub passwords: PasswordHasher,
    pub standing: StandingCache,
    pub limiter: Arc<dyn RateLimiter>,
    pub metrics: Metrics,
    /// The Redis shared with the other replicas (`redis.url`), if any.
    pub redis: Option<Redis>,
    pub sign_in: crate::auth::throttle::SignInThrottle,
    /// The embedding model, loaded on the first knowledge-base request.
    pub embedder: tokio::sync::OnceCell<std::sync::Arc<ils_ai::Embedder>>,
    /// The shared models' providers (`ai.providers`), built once: one connection pool each.
    pub providers: ils_llm::config::Providers,
    /// News of the tenants' sync feeds, for long polls.
    pub feed_news: crate::sync::notify::FeedNews,
}

impl std::ops::Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Connects to the database, loads (or creates) the signing keys and starts the background
    /// upkeep: key reloads, cache and limiter housekeeping.
    pub async fn build(settings: Settings) -> Result<Self> {
        let db = Db::connect(&settings.database).await?;
        Self::with_db(settings, db).await
    }

    pub async fn with_db(settings: Settings, db: Db) -> Result<Self> {
        let kek = settings
            .auth
            .key_encryption_key
            .as_ref()
            .ok_or_else(|| {
                Error::Internal(
                    "auth.key_encryption_key is not set: give the service 32 random bytes, base64 (e.g. ILS_AUTH__KEY_ENCRYPTION_KEY=$(openssl rand -base64 32)); it seals the token-signing keys in the database".into(),
                )
            })
            .and_then(|secret| KeyEncryptionKey::from_base64(secret.expose()))?;
        let keys = KeyStore::open(db.pool().clone(), settings.auth.key_publish_secs, kek).await?;
        keys.spawn_reloader(Duration::from_secs(settings.auth.key_reload_secs));
        let tokens = TokenIssuer::new(keys, &settings.auth);
        let passwords = PasswordHasher::new(
            settings.auth.argon2_memory_kib,
            settings.auth.argon2_iterations,
        )?;
        let metrics = Metrics::new();
        let redis = Redis::new(&settings.redis, metrics.redis.clone())?;
        let limiter: Arc<dyn RateLimiter> = match &redis {
            Some(redis) => Arc::new(SharedRateLimiter::new(&settings.rate_limits, redis.clone())),
            None => Arc::new(LocalRateLimiter::new(&settings.rate_limits)),
        };
        let providers = ils_llm::config::Providers::from_settings(&settings.ai.providers)
            .map_err(|e| Error::Internal(e.to_string()))?;
        let settings_auth = settings.auth.clone();
        let feed_news =
            crate::sync::notify::FeedNews::start(settings.database.url.expose().to_owned());
        let state = AppState(Arc::new(Inner {
            standing: StandingCache::new(Duration::from_secs(settings.auth.status_cache_secs)),
            settings,
            db,
            tokens,
            passwords,
            limiter,
            metrics,
            redis: redis.clone(),
            sign_in: crate::auth::throttle::SignInThrottle::new(
                Duration::from_secs(settings_auth.sign_in_window_secs),
                settings_auth.sign_in_failures_per_address,
                settings_auth.sign_in_failures_per_tenant,
                settings_auth.sign_in_audited_failures,
                redis,
            ),
            embedder: tokio::sync::OnceCell::new(),
            providers,
            feed_news,
        }));
        state.spawn_housekeeping();
        state.listen_for_changes();
        Ok(state)
    }

    /// A change of a cached standing (a user's role, status or password; a tenant's status,
    /// tier or time zone): dropped here at once and, with a shared Redis, on every replica.
    pub async fn standing_changed(&self, news: Invalidation) {
        self.standing.apply(news);
        if let Some(redis) = &self.redis {
            redis.publish(news).await;
        }
    }

    fn listen_for_changes(&self) {
        let Some(redis) = &self.redis else { return };
        let (alive, apply) = (Arc::downgrade(&self.0), Arc::downgrade(&self.0));
        redis.spawn_listener(
            move || alive.strong_count() > 0,
            move |news| {
                if let Some(inner) = apply.upgrade() {
                    inner.standing.apply(news);
                }
            },
        );
    }

    fn spawn_housekeeping(&self) {
        let weak = Arc::downgrade(&self.0);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_secs(60));
            loop {
                ticker.tick().await;
                let Some(inner) = weak.upgrade() else { break };
                inner.standing.purge_expired();
                inner.tokens.purge_expired();
                inner.limiter.housekeeping();
                crate::auth::session::audit_unaudited_failures(&inner).await;
            }
        });
    }
}
