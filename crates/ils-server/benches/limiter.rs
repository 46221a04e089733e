//! What the shared rate limiter costs a request (`make bench-limiter`): the decision of
//! [`SharedRateLimiter`] (one atomic GCRA script in a real `redis-server` on loopback) against
//! the in-process limiter every single replica uses, and against a bare Redis `PING` on the same
//! connection (the floor of any Redis round trip), in the same run. Also the fast path: a tenant
//! over its budget refused by the replica from what Redis last said, against asking Redis.
//!
//! Sequential calls give the latency each request pays; 40 concurrent callers (the load
//! generator's concurrency) give the throughput of one replica's limiter.

use std::sync::Arc;
use std::time::Instant;

use hdrhistogram::Histogram;
use ils_core::{CompanyId, SubscriptionTier};
use ils_server::config::{RateLimitSettings, RedisSettings, Secret};
use ils_server::metrics::Metrics;
use ils_server::rate_limit::{LimitClass, LocalRateLimiter, RateLimiter, SharedRateLimiter};
use ils_server::shared::Redis;
use ils_testkit::redis::RedisServer;

const CALLS: usize = 20_000;
const CONCURRENT: usize = 40;

fn line(label: &str, h: &Histogram<u64>) -> f64 {
    let us = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "{label:<58} p50 {:>8.2} µs  p99 {:>8.2} µs  mean {:>8.2} µs",
        us(0.5),
        us(0.99),
        h.mean() / 1000.0
    );
    h.mean() / 1000.0
}

async fn sequential<F, Fut>(mut call: F) -> Histogram<u64>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut h = Histogram::<u64>::new(3).expect("histogram");
    for i in 0..CALLS / 10 {
        call(i).await;
    }
    for i in 0..CALLS {
        let started = Instant::now();
        call(i).await;
        h.record(started.elapsed().as_nanos() as u64)
            .expect("record");
    }
    h
}

/// Decisions per second with `CONCURRENT` callers, each on its own tenant.
async fn concurrent(limiter: Arc<dyn RateLimiter>) -> f64 {
    let started = Instant::now();
    let tasks: Vec<_> = (0..CONCURRENT)
        .map(|_| {
            let limiter = limiter.clone();
            tokio::spawn(async move {
                let company = CompanyId::new();
                for _ in 0..CALLS / CONCURRENT {
                    let _ = limiter
                        .check(company, SubscriptionTier::Pro, LimitClass::Api)
                        .await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    (CALLS / CONCURRENT * CONCURRENT) as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let server = RedisServer::start()?;
    let metrics = Metrics::new();
    let redis_settings = RedisSettings {
        url: Some(Secret::new(server.url())),
        ..RedisSettings::default()
    };
    let redis = Redis::new(&redis_settings, metrics.redis.clone())?.expect("configured");
    let roomy = RateLimitSettings::uniform(1_000_000_000);
    let local: Arc<dyn RateLimiter> = Arc::new(LocalRateLimiter::new(&roomy));
    let shared: Arc<dyn RateLimiter> = Arc::new(SharedRateLimiter::new(&roomy, redis.clone()));
    let tier = SubscriptionTier::Pro;
    println!(
        "rate-limit decisions, {CALLS} sequential calls each; CPU: {} ({} cores); redis-server on loopback\n",
        ils_testkit::cpu_model(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    let company = CompanyId::new();
    let local_mean = line(
        "in process (governor): allowed",
        &sequential(|_| {
            let local = local.clone();
            async move {
                let _ = local.check(company, tier, LimitClass::Api).await;
            }
        })
        .await,
    );
    let ping_mean = line(
        "peer: Redis PING on the same connection",
        &sequential(|_| {
            let mut connection = redis.connection();
            async move {
                let _: String = redis::cmd("PING")
                    .query_async(&mut connection)
                    .await
                    .expect("PING");
            }
        })
        .await,
    );
    let shared_mean = line(
        "shared (Redis GCRA script): allowed",
        &sequential(|_| {
            let shared = shared.clone();
            async move {
                assert!(shared.check(company, tier, LimitClass::Api).await.is_ok());
            }
        })
        .await,
    );

    // A tenant over its budget (one request a minute, spent): the replica's fast path refuses
    // without Redis; the peer asks Redis every time (a limiter that forgets between calls).
    let tight = RateLimitSettings::uniform(1);
    let fast: Arc<dyn RateLimiter> = Arc::new(SharedRateLimiter::new(&tight, redis.clone()));
    let flooded = CompanyId::new();
    assert!(fast.check(flooded, tier, LimitClass::Api).await.is_ok());
    let fast_mean = line(
        "shared, tenant over budget: refused by the fast path",
        &sequential(|_| {
            let fast = fast.clone();
            async move {
                assert!(fast.check(flooded, tier, LimitClass::Api).await.is_err());
            }
        })
        .await,
    );
    let asked_mean = line(
        "shared, tenant over budget: refused by Redis (no fast path)",
        &sequential(|_| {
            let redis = redis.clone();
            let tight = tight.clone();
            async move {
                // A new limiter each time knows nothing of earlier refusals.
                let fresh = SharedRateLimiter::new(&tight, redis);
                assert!(fresh.check(flooded, tier, LimitClass::Api).await.is_err());
            }
        })
        .await,
    );

    println!();
    let local_rate = concurrent(local.clone()).await;
    let shared_rate = concurrent(shared.clone()).await;
    // Every shared figure above must be Redis's: a decision made locally would flatter it.
    anyhow::ensure!(
        metrics.redis.errors_of("rate_limit") == 0 && metrics.redis.fallbacks_of("rate_limit") == 0,
        "the shared limiter fell back to local decisions during the bench ({} errors)",
        metrics.redis.errors_of("rate_limit")
    );
    println!("{CONCURRENT} concurrent callers: in process {local_rate:>12.0} decisions/s");
    println!("{CONCURRENT} concurrent callers: shared     {shared_rate:>12.0} decisions/s");

    println!("\nratios (mean latency):");
    println!(
        "  shared / in process: {:.0}× (+{:.1} µs per request)",
        shared_mean / local_mean.max(1e-6),
        shared_mean - local_mean
    );
    println!(
        "  shared / Redis PING: {:.2}× (the script's own work beyond a round trip)",
        shared_mean / ping_mean.max(1e-6)
    );
    println!(
        "  over budget, asking Redis / fast path: {:.0}×",
        asked_mean / fast_mean.max(1e-6)
    );
    println!(
        "  throughput, in process / shared: {:.1}×",
        local_rate / shared_rate.max(1.0)
    );
    Ok(())
}
