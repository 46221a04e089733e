//! Typed settings in layers: defaults, then an optional TOML file, then `ILS_` environment
//! variables (nested with `__`, e.g. `ILS_DATABASE__URL`). Secrets are redacted in `Debug`.

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use ils_core::SubscriptionTier;
use serde::{Deserialize, Serialize};

/// A value that must never appear in logs.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub listen: SocketAddr,
    pub database: DatabaseSettings,
    pub auth: AuthSettings,
    pub rate_limits: RateLimitSettings,
    pub http: HttpSettings,
    pub log: LogSettings,
    pub ai: AiSettings,
    pub redis: RedisSettings,
}

/// The Redis that several replicas share (rate-limit buckets, news of changed standings). Without
/// a URL each replica keeps its limits and caches to itself, which is right for one replica.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisSettings {
    /// `redis://host:port/db` (or `rediss://` for TLS); `None` for a single replica.
    pub url: Option<Secret>,
    /// The longest a request waits for Redis before this replica decides on its own.
    pub timeout_ms: u64,
    /// How often a replica that lost Redis tries it again.
    pub retry_ms: u64,
}

/// The assistant's local parts on ILS Central.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AiSettings {
    /// The embedding model's folder (all-MiniLM-L6-v2, the desktop's). Default: `ILS_MODEL_DIR`,
    /// else `models/all-MiniLM-L6-v2` under the working folder. Loaded on first use.
    pub model_dir: Option<std::path::PathBuf>,
    /// The shared models, tried in order (keys from `api_key_env`, or `api_key` here). None:
    /// the assistant answers with the retrieved passages only, and says so.
    pub providers: Vec<ils_llm::config::ProviderSettings>,
    /// The models' context window, in tokens.
    pub context_tokens: u32,
    /// Passages retrieved per question.
    pub passages: usize,
}

impl Default for AiSettings {
    fn default() -> Self {
        Self {
            model_dir: None,
            providers: Vec::new(),
            context_tokens: 16_000,
            passages: 5,
        }
    }
}

impl AiSettings {
    pub fn model_path(&self) -> std::path::PathBuf {
        self.model_dir
            .clone()
            .or_else(|| std::env::var_os("ILS_MODEL_DIR").map(std::path::PathBuf::from))
            .unwrap_or_else(|| std::path::PathBuf::from("models/all-MiniLM-L6-v2"))
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// The service's own connection: a role that owns no table and has no BYPASSRLS.
    pub url: Secret,
    /// The owner's connection, used only to run migrations (`ils-server migrate`).
    pub migrate_url: Option<Secret>,
    pub max_connections: u32,
    pub acquire_timeout_ms: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    pub issuer: String,
    pub audience: String,
    /// Access-token lifetime; at most 900 s.
    pub access_ttl_secs: u64,
    pub refresh_ttl_days: u32,
    /// Clock skew allowed when checking `exp`; at most 30 s.
    pub leeway_secs: u64,
    /// How long a user's and tenant's status is trusted before it is read again; at most 30 s,
    /// which bounds how long a disabled user or suspended tenant can go on.
    pub status_cache_secs: u64,
    /// How often every replica reloads the signing keys (rotation without restart).
    pub key_reload_secs: u64,
    /// Keys that stopped signing stay published this long after the rotation.
    pub key_publish_secs: u64,
    pub max_failed_logins: u32,
    pub lockout_secs: u64,
    /// 32 random bytes, base64, that seal the token-signing keys in the database. Required;
    /// never stored in the database. Every replica needs the same one.
    pub key_encryption_key: Option<Secret>,
    /// The window in which failed sign-ins are counted for the two budgets below.
    pub sign_in_window_secs: u64,
    /// Failed sign-ins allowed from one client address per window; then 429 before any
    /// password is checked.
    pub sign_in_failures_per_address: u32,
    /// Failed sign-ins allowed on one tenant per window, from all addresses together.
    pub sign_in_failures_per_tenant: u32,
    /// Failed sign-ins of a tenant audited one by one per window; the rest go into one
    /// aggregate audit row when the window ends.
    pub sign_in_audited_failures: u32,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitSettings {
    pub api_per_minute: TierLimits,
    pub ai_per_minute: TierLimits,
    /// Changes a tenant's devices may push and pull per minute (sync's own budget).
    pub sync_changes_per_minute: TierLimits,
}

impl RateLimitSettings {
    /// The same budget, `per_minute`, for every class and tier (benchmarks and tests).
    pub fn uniform(per_minute: u32) -> Self {
        let all = TierLimits {
            free: per_minute,
            pro: per_minute,
            premium: per_minute,
            enterprise: per_minute,
        };
        Self {
            api_per_minute: all,
            ai_per_minute: all,
            sync_changes_per_minute: all,
        }
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierLimits {
    pub free: u32,
    pub pro: u32,
    pub premium: u32,
    pub enterprise: u32,
}

impl TierLimits {
    pub fn for_tier(&self, tier: SubscriptionTier) -> u32 {
        match tier {
            SubscriptionTier::Free => self.free,
            SubscriptionTier::Pro => self.pro,
            SubscriptionTier::Premium => self.premium,
            SubscriptionTier::Enterprise => self.enterprise,
        }
    }

    fn from_fn(f: impl Fn(SubscriptionTier) -> u32) -> Self {
        Self {
            free: f(SubscriptionTier::Free),
            pro: f(SubscriptionTier::Pro),
            premium: f(SubscriptionTier::Premium),
            enterprise: f(SubscriptionTier::Enterprise),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    pub body_limit_bytes: usize,
    /// The largest knowledge-base upload (`POST /api/kb/documents`, the file base64 in JSON).
    pub upload_limit_bytes: usize,
    pub max_page_size: u32,
    /// When set, `/metrics` answers only to `Authorization: Bearer <this token>` (metrics carry
    /// tenant ids). Unset, `/metrics` is open: then expose the port to the scraper only.
    pub metrics_token: Option<Secret>,
    /// How long a client may take to send a request's headers before the connection is closed.
    pub header_read_timeout_ms: u64,
    /// How long a client may take to send a request's body (408 after it).
    pub body_read_timeout_ms: u64,
    /// The longest a request may take from its first byte of body to its response (408 after
    /// it; the request's transaction is rolled back).
    pub request_timeout_ms: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// `json` (default) or `pretty`.
    pub format: String,
    /// A tracing filter, e.g. `info,ils_server=debug`.
    pub filter: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database: DatabaseSettings::default(),
            auth: AuthSettings::default(),
            rate_limits: RateLimitSettings::default(),
            http: HttpSettings::default(),
            log: LogSettings::default(),
            ai: AiSettings::default(),
            redis: RedisSettings::default(),
        }
    }
}

impl Default for RedisSettings {
    fn default() -> Self {
        Self {
            url: None,
            timeout_ms: 100,
            retry_ms: 500,
        }
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: Secret::new("postgres://ils_service@127.0.0.1:5432/ils"),
            migrate_url: None,
            max_connections: 16,
            acquire_timeout_ms: 3_000,
        }
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            issuer: "ils-central".into(),
            audience: "ils".into(),
            access_ttl_secs: 900,
            refresh_ttl_days: 30,
            leeway_secs: 30,
            status_cache_secs: 15,
            key_reload_secs: 30,
            key_publish_secs: 900 + 30 + 60,
            max_failed_logins: 5,
            lockout_secs: 900,
            key_encryption_key: None,
            sign_in_window_secs: 60,
            sign_in_failures_per_address: 20,
            sign_in_failures_per_tenant: 100,
            sign_in_audited_failures: 10,
            // OWASP's argon2id baseline: m = 19 MiB, t = 2, p = 1.
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
        }
    }
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            api_per_minute: TierLimits::from_fn(SubscriptionTier::default_api_requests_per_minute),
            ai_per_minute: TierLimits::from_fn(SubscriptionTier::ai_requests_per_minute),
            sync_changes_per_minute: TierLimits::from_fn(SubscriptionTier::sync_changes_per_minute),
        }
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            body_limit_bytes: 64 * 1024,
            upload_limit_bytes: 16 * 1024 * 1024,
            max_page_size: 200,
            metrics_token: None,
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 10_000,
            request_timeout_ms: 30_000,
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: "json".into(),
            filter: "info".into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("could not read the settings: {}", .0.to_string())]
    Load(#[from] Box<figment::Error>),
    #[error("invalid setting {field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
}

const SECTIONS: [&str; 8] = [
    "listen",
    "database",
    "auth",
    "rate_limits",
    "http",
    "log",
    "ai",
    "redis",
];

impl Settings {
    /// Defaults, then `file` if given, then `ILS_*` environment variables.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        let settings: Settings = figment
            .merge(
                // Only variables that name a settings section; other ILS_* variables (e.g. the
                // CLI's ILS_BOOTSTRAP_PASSWORD) are not settings.
                Env::prefixed("ILS_").split("__").filter(|key| {
                    let key = key.as_str().to_ascii_lowercase();
                    SECTIONS.iter().any(|s| {
                        key == *s
                            || key.starts_with(&format!("{s}."))
                            || key.starts_with(&format!("{s}__"))
                    })
                }),
            )
            .extract()
            .map_err(Box::new)?;
        settings.validate()?;
        Ok(settings)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field, message: &str| {
            Err(ConfigError::Invalid {
                field,
                message: message.to_owned(),
            })
        };
        let a = &self.auth;
        if a.access_ttl_secs == 0 || a.access_ttl_secs > 900 {
            return invalid("auth.access_ttl_secs", "must be between 1 and 900");
        }
        if a.leeway_secs > 30 {
            return invalid("auth.leeway_secs", "must be at most 30");
        }
        if a.status_cache_secs > 30 {
            return invalid("auth.status_cache_secs", "must be at most 30");
        }
        if a.max_failed_logins == 0 {
            return invalid("auth.max_failed_logins", "must be at least 1");
        }
        if a.sign_in_window_secs == 0
            || a.sign_in_failures_per_address == 0
            || a.sign_in_failures_per_tenant == 0
        {
            return invalid(
                "auth.sign_in_window_secs",
                "the sign-in window and budgets must be at least 1",
            );
        }
        if a.key_reload_secs == 0 {
            return invalid("auth.key_reload_secs", "must be at least 1");
        }
        for (field, limits) in [
            (
                "rate_limits.api_per_minute",
                &self.rate_limits.api_per_minute,
            ),
            ("rate_limits.ai_per_minute", &self.rate_limits.ai_per_minute),
            (
                "rate_limits.sync_changes_per_minute",
                &self.rate_limits.sync_changes_per_minute,
            ),
        ] {
            if SubscriptionTier::ALL
                .iter()
                .any(|t| limits.for_tier(*t) == 0)
            {
                return invalid(field, "every tier needs a limit of at least 1");
            }
        }
        if self.http.max_page_size == 0 {
            return invalid("http.max_page_size", "must be at least 1");
        }
        if !self.listen.ip().is_loopback() && self.http.metrics_token.is_none() {
            // /metrics names tenants (the throttled ones, request counts by tenant): open, it
            // may only be reached from this machine.
            return invalid(
                "http.metrics_token",
                "must be set when listen is not a loopback address (/metrics carries tenant ids)",
            );
        }
        for (field, value) in [
            (
                "http.header_read_timeout_ms",
                self.http.header_read_timeout_ms,
            ),
            ("http.body_read_timeout_ms", self.http.body_read_timeout_ms),
            ("http.request_timeout_ms", self.http.request_timeout_ms),
        ] {
            if value == 0 || value > 600_000 {
                return invalid(field, "must be between 1 and 600000 (ten minutes)");
            }
        }
        if self.redis.timeout_ms == 0 || self.redis.timeout_ms > 10_000 {
            return invalid("redis.timeout_ms", "must be between 1 and 10000");
        }
        if self.redis.retry_ms == 0 || self.redis.retry_ms > 60_000 {
            return invalid("redis.retry_ms", "must be between 1 and 60000");
        }
        if let Some(url) = &self.redis.url
            && redis::Client::open(url.expose()).is_err()
        {
            return invalid(
                "redis.url",
                "is not a Redis URL (redis://host:port/db or rediss://… for TLS)",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's own error type.
    fn environment_overrides_and_unrelated_variables_are_ignored() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("ILS_DATABASE__MAX_CONNECTIONS", "7");
            jail.set_env("ILS_AUTH__LEEWAY_SECS", "5");
            jail.set_env("ILS_BOOTSTRAP_PASSWORD", "not a setting");
            let settings = Settings::load(None).map_err(|e| e.to_string())?;
            assert_eq!(settings.database.max_connections, 7);
            assert_eq!(settings.auth.leeway_secs, 5);
            jail.set_env("ILS_AUTH__LEEWAY_SECS", "300");
            assert!(
                Settings::load(None).is_err(),
                "leeway above 30 s is refused"
            );
            Ok(())
        });
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let mut settings = Settings::default();
        settings.database.url = Secret::new("postgres://u:hunter2@h/db");
        let debug = format!("{settings:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("[redacted]"));
    }

    #[test]
    fn metrics_beyond_loopback_need_a_token() {
        let mut settings = Settings::default();
        assert!(settings.validate().is_ok(), "loopback needs no token");
        settings.listen = SocketAddr::from(([0, 0, 0, 0], 8080));
        let err = settings
            .validate()
            .expect_err("open metrics on every interface");
        assert!(err.to_string().contains("http.metrics_token"), "{err}");
        settings.http.metrics_token = Some(Secret::new("scraper-secret"));
        assert!(settings.validate().is_ok());
    }

    #[test]
    fn limits_are_enforced() {
        let mut settings = Settings::default();
        assert!(settings.validate().is_ok());
        settings.auth.access_ttl_secs = 3600;
        assert!(
            settings.validate().is_err(),
            "access tokens live at most 15 minutes"
        );
        settings.auth.access_ttl_secs = 900;
        settings.auth.status_cache_secs = 31;
        assert!(
            settings.validate().is_err(),
            "status is re-read within 30 s"
        );
    }
}
