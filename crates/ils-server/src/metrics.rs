//! Prometheus metrics: request counts and latency by route and status, rate-limit rejections by
//! tenant, authentication failures by reason. One registry per service instance (no globals), so
//! tests can run several instances in one process.

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RateLimitLabels {
    pub company_id: String,
    pub class: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    pub operation: &'static str,
}

/// How this replica's use of the shared Redis goes: whether it is working without it, the
/// errors that made it so, and what it decided on its own meanwhile.
#[derive(Clone, Debug, Default)]
pub struct RedisMetrics {
    /// 1 while this replica works without Redis (local limits, no news of changes), else 0.
    pub degraded: Gauge,
    pub errors: Family<OperationLabels, Counter>,
    pub fallbacks: Family<OperationLabels, Counter>,
}

impl RedisMetrics {
    pub fn error(&self, operation: &'static str) {
        self.errors
            .get_or_create(&OperationLabels { operation })
            .inc();
    }

    pub fn fallback(&self, operation: &'static str) {
        self.fallbacks
            .get_or_create(&OperationLabels { operation })
            .inc();
    }

    /// Errors counted so far for `operation`.
    pub fn errors_of(&self, operation: &'static str) -> u64 {
        self.errors
            .get_or_create(&OperationLabels { operation })
            .get()
    }

    /// Decisions made without Redis so far for `operation`.
    pub fn fallbacks_of(&self, operation: &'static str) -> u64 {
        self.fallbacks
            .get_or_create(&OperationLabels { operation })
            .get()
    }
}

fn latency_histogram() -> Histogram {
    Histogram::new([
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
    ])
}

#[derive(Debug)]
pub struct Metrics {
    registry: Mutex<Registry>,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    rate_limited: Family<RateLimitLabels, Counter>,
    auth_failures: Family<ReasonLabels, Counter>,
    pub redis: RedisMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("ils");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        let rate_limited = Family::<RateLimitLabels, Counter>::default();
        let auth_failures = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by method, route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by method and route",
            latency.clone(),
        );
        registry.register(
            "rate_limit_rejections",
            "Requests refused by a tenant's rate limit",
            rate_limited.clone(),
        );
        registry.register(
            "auth_failures",
            "Refused authentications by reason",
            auth_failures.clone(),
        );
        let redis = RedisMetrics::default();
        registry.register(
            "redis_degraded",
            "1 while this replica works without the shared Redis (local rate limits, standings refreshed by age only)",
            redis.degraded.clone(),
        );
        registry.register(
            "redis_errors",
            "Failed or timed-out Redis operations by operation",
            redis.errors.clone(),
        );
        registry.register(
            "redis_fallbacks",
            "Decisions this replica made alone because Redis was unavailable, by operation",
            redis.fallbacks.clone(),
        );
        Self {
            registry: Mutex::new(registry),
            requests,
            latency,
            rate_limited,
            auth_failures,
            redis,
        }
    }

    pub fn observe_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                method: method.to_owned(),
                route: route.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    pub fn rate_limited(&self, company_id: &str, class: &str) {
        self.rate_limited
            .get_or_create(&RateLimitLabels {
                company_id: company_id.to_owned(),
                class: class.to_owned(),
            })
            .inc();
    }

    pub fn auth_failure(&self, reason: &str) {
        self.auth_failures
            .get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &registry);
        out
    }
}
