//! ILS Central as three replicas: three `ils-server serve` processes on one test database and
//! one Redis (a real `redis-server` on loopback, started here), each request sent to one of
//! them in turn, as a load balancer would.
//!
//! - A tenant's API budget is one budget, however its requests are spread; so are the
//!   budgets of failed sign-ins, per address and per tenant.
//! - A suspension, a reactivation or a change of tier made through one replica is applied by the
//!   others within a second (their cached standings would otherwise live 30 s here).
//! - A replica killed (SIGKILL) while patients are being created loses no acknowledged write.
//! - With Redis gone, every replica keeps serving on its own limits, says so in its metrics,
//!   and shares the budget again by itself once Redis is back.

#[path = "api/common.rs"]
mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{KEY_ENCRYPTION_KEY, TestApp};
use ils_core::{Role, SubscriptionTier};
use ils_testkit::redis::RedisServer;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The Pro tier's API budget in these tests: requests per minute, the whole minute at once.
const PRO_BUDGET: u32 = 60;

/// An `ils-server serve` process on the test's database and Redis.
struct Replica {
    child: Child,
    base: String,
}

impl Replica {
    async fn start(app: &TestApp, redis: &RedisServer) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_ils-server"))
            .arg("serve")
            .env("ILS_LISTEN", format!("127.0.0.1:{port}"))
            .env("ILS_DATABASE__URL", &app.db.service_url)
            .env("ILS_DATABASE__MAX_CONNECTIONS", "4")
            .env("ILS_AUTH__KEY_ENCRYPTION_KEY", KEY_ENCRYPTION_KEY)
            .env("ILS_AUTH__ARGON2_MEMORY_KIB", "4096")
            .env("ILS_AUTH__ARGON2_ITERATIONS", "1")
            // Standings cached for the longest allowed: only news can make a change seen sooner.
            .env("ILS_AUTH__STATUS_CACHE_SECS", "30")
            .env(
                "ILS_RATE_LIMITS__API_PER_MINUTE__PRO",
                PRO_BUDGET.to_string(),
            )
            .env("ILS_RATE_LIMITS__API_PER_MINUTE__ENTERPRISE", "100000")
            .env("ILS_REDIS__URL", redis.url())
            .env("ILS_REDIS__RETRY_MS", "100")
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ils-server starts");
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        loop {
            if let Ok(r) = app.client.get(format!("{base}/api/health")).send().await
                && r.status().is_success()
            {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "ils-server did not answer within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Self { child, base }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// `/api/health`'s status and what it says of Redis.
    async fn health(&self, app: &TestApp) -> (StatusCode, String) {
        let response = app
            .client
            .get(format!("{}/api/health", self.base))
            .send()
            .await
            .expect("health");
        let status = response.status();
        let body: Value = response.json().await.expect("health body");
        (status, body["redis"].as_str().unwrap_or("").to_owned())
    }

    /// A metric's value in this replica's `/metrics` (summed over its labels), 0 when absent.
    async fn metric(&self, app: &TestApp, name: &str) -> f64 {
        let text = app
            .client
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text");
        text.lines()
            .filter(|l| {
                l.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn send(
    app: &TestApp,
    replica: &Replica,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Result<(StatusCode, Value, Option<String>), reqwest::Error> {
    let mut request = app
        .client
        .request(method, format!("{}{path}", replica.base))
        .bearer_auth(token)
        .timeout(Duration::from_secs(10));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.json().await.unwrap_or(Value::Null);
    Ok((status, body, retry_after))
}

async fn me(app: &TestApp, replica: &Replica, token: &str) -> (StatusCode, Value) {
    let (status, body, _) = send(app, replica, reqwest::Method::GET, "/api/me", token, None)
        .await
        .expect("the replica answers");
    (status, body)
}

/// Requests `/api/me` round-robin over `replicas` `n` times: (allowed, refused).
async fn spend(app: &TestApp, replicas: &[&Replica], token: &str, n: usize) -> (u32, u32) {
    let (mut allowed, mut refused) = (0, 0);
    for i in 0..n {
        let replica = replicas[i % replicas.len()];
        let (status, body, retry_after) =
            send(app, replica, reqwest::Method::GET, "/api/me", token, None)
                .await
                .expect("the replica answers");
        match status {
            StatusCode::OK => allowed += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert_eq!(body["code"], "rate_limit.api", "{body}");
                let wait: u64 = retry_after
                    .expect("a refusal says when to come back")
                    .parse()
                    .expect("Retry-After in seconds");
                assert!((1..=60).contains(&wait), "Retry-After {wait}");
                refused += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    (allowed, refused)
}

/// Polls `/api/me` on `replica` until `done(status, code)`; how long it took.
async fn until(
    app: &TestApp,
    replica: &Replica,
    token: &str,
    done: impl Fn(StatusCode, &str) -> bool,
) -> Duration {
    let started = Instant::now();
    loop {
        let (status, body) = me(app, replica, token).await;
        if done(status, body["code"].as_str().unwrap_or("")) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still {status} {body} after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_share_budgets_and_news_and_lose_no_acknowledged_write() {
    let app = TestApp::spawn().await;
    let redis = RedisServer::start().expect("redis-server");
    let mut replicas = Vec::new();
    for _ in 0..3 {
        replicas.push(Replica::start(&app, &redis).await);
    }
    let all: Vec<&Replica> = replicas.iter().collect();

    // One budget, three doors. Alone, each replica would allow 60 of these 150 (180 in all).
    let pro = app
        .create_tenant("shared-budget", SubscriptionTier::Pro)
        .await;
    let started = Instant::now();
    let (allowed, refused) = spend(&app, &all, &pro.admin_token, 150).await;
    // One more request a second drips in while this runs (60 a minute).
    let refill = started.elapsed().as_secs() as u32 + 1;
    assert!(
        (PRO_BUDGET..=PRO_BUDGET + refill).contains(&allowed),
        "{allowed} allowed and {refused} refused across three replicas; the budget is {PRO_BUDGET}"
    );
    // Spent on every replica, not only on those that refused first.
    for replica in &all {
        assert_eq!(
            me(&app, replica, &pro.admin_token).await.0,
            StatusCode::TOO_MANY_REQUESTS
        );
    }
    // Another tenant draws from its own bucket.
    let other = app
        .create_tenant("other-budget", SubscriptionTier::Pro)
        .await;
    assert_eq!(
        spend(&app, &all, &other.admin_token, 3).await,
        (3, 0),
        "another tenant is not limited by the first one's spending"
    );

    // A change of tier made through one replica: the others draw from the new tier's budget
    // at once, although they cached the old tier for 30 s.
    let company = format!("/api/platform/companies/{}", pro.id);
    let (status, body, _) = send(
        &app,
        &replicas[0],
        reqwest::Method::PATCH,
        &company,
        &app.platform_token,
        Some(json!({"tier": "enterprise"})),
    )
    .await
    .expect("answer");
    assert_eq!(status, StatusCode::OK, "{body}");
    for replica in &all[1..] {
        let took = until(&app, replica, &pro.admin_token, |s, _| s == StatusCode::OK).await;
        assert!(
            took < Duration::from_secs(1),
            "new tier seen after {took:?}"
        );
    }

    // A suspension through one replica is refused by the others within a second.
    let ent = app
        .create_tenant("suspended-news", SubscriptionTier::Enterprise)
        .await;
    for replica in &all {
        assert_eq!(me(&app, replica, &ent.admin_token).await.0, StatusCode::OK);
    }
    let company = format!("/api/platform/companies/{}", ent.id);
    let (status, body, _) = send(
        &app,
        &replicas[2],
        reqwest::Method::PATCH,
        &company,
        &app.platform_token,
        Some(json!({"status": "suspended"})),
    )
    .await
    .expect("answer");
    assert_eq!(status, StatusCode::OK, "{body}");
    for replica in &all[..2] {
        let took = until(&app, replica, &ent.admin_token, |_, code| {
            code == "tenant.suspended"
        })
        .await;
        assert!(
            took < Duration::from_secs(1),
            "suspension seen after {took:?}"
        );
    }
    // And the reactivation, with a new AI configuration, the same way.
    let (status, body, _) = send(
        &app,
        &replicas[1],
        reqwest::Method::PATCH,
        &company,
        &app.platform_token,
        Some(json!({"status": "active", "ai_config": {"temperature": 0.25}})),
    )
    .await
    .expect("answer");
    assert_eq!(status, StatusCode::OK, "{body}");
    for replica in [&replicas[0], &replicas[2]] {
        let took = until(&app, replica, &ent.admin_token, |s, _| s == StatusCode::OK).await;
        assert!(
            took < Duration::from_secs(1),
            "reactivation seen after {took:?}"
        );
        let (status, body, _) = send(
            &app,
            replica,
            reqwest::Method::GET,
            "/api/company",
            &ent.admin_token,
            None,
        )
        .await
        .expect("answer");
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["ai_config"]["temperature"], 0.25, "{body}");
    }

    // A replica killed while patients are created: every patient acknowledged with 201 is
    // there afterwards, whichever replica acknowledged it.
    let (_, ecp) = app.add_user(&ent, Role::Ecp).await;
    let mut acknowledged = Vec::new();
    let mut lost_answers = 0;
    for n in 0..90 {
        if n == 40 {
            replicas[1].kill();
        }
        let replica = &replicas[n % 3];
        let body = json!({
            "customer_number": format!("R-{n}"), "first_name": "Grace", "last_name": "Hopper",
            "date_of_birth": "1956-12-09", "email": null, "phone": null, "address": null,
            "notes": null
        });
        match send(
            &app,
            replica,
            reqwest::Method::POST,
            "/api/patients",
            &ecp,
            Some(body),
        )
        .await
        {
            Ok((StatusCode::CREATED, body, _)) => {
                acknowledged.push(body["id"].as_str().expect("id").to_owned())
            }
            Ok((status, body, _)) => panic!("patient {n}: {status} {body}"),
            Err(_) => lost_answers += 1,
        }
    }
    let sent_to_the_dead = (40..90).filter(|n| n % 3 == 1).count();
    assert_eq!(
        lost_answers, sent_to_the_dead,
        "the dead replica answered nothing"
    );
    assert_eq!(acknowledged.len(), 90 - lost_answers);
    for (i, id) in acknowledged.iter().enumerate() {
        let (status, body, _) = send(
            &app,
            &replicas[if i % 2 == 0 { 0 } else { 2 }],
            reqwest::Method::GET,
            &format!("/api/patients/{id}"),
            &ecp,
            None,
        )
        .await
        .expect("a live replica answers");
        assert_eq!(status, StatusCode::OK, "acknowledged patient {id}: {body}");
    }
    for replica in [&replicas[0], &replicas[2]] {
        assert_eq!(replica.metric(&app, "ils_redis_degraded").await, 0.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_replicas_keep_serving_alone_and_come_back_by_themselves() {
    let app = TestApp::spawn().await;
    let mut redis = RedisServer::start().expect("redis-server");
    let a = Replica::start(&app, &redis).await;
    let b = Replica::start(&app, &redis).await;
    let tenant = app.create_tenant("redis-down", SubscriptionTier::Pro).await;

    redis.stop();
    // Every request is still answered: each replica decides from its own bucket.
    let (allowed, refused) = spend(&app, &[&a, &b], &tenant.admin_token, 40).await;
    assert_eq!(
        (allowed, refused),
        (40, 0),
        "served without Redis, within each replica's own budget"
    );
    for replica in [&a, &b] {
        assert_eq!(replica.metric(&app, "ils_redis_degraded").await, 1.0);
        assert_eq!(
            replica.health(&app).await,
            (StatusCode::OK, "degraded".to_owned()),
            "still healthy: it serves without Redis"
        );
        assert!(replica.metric(&app, "ils_redis_fallbacks_total").await >= 19.0);
        assert!(replica.metric(&app, "ils_redis_errors_total").await >= 1.0);
    }

    // Redis back (empty: it kept nothing): the replicas find it by themselves and share one
    // budget again.
    redis.restart().expect("redis-server again");
    let started = Instant::now();
    for replica in [&a, &b] {
        while replica.metric(&app, "ils_redis_degraded").await != 0.0 {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "a replica did not find Redis again within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    for replica in [&a, &b] {
        assert_eq!(
            replica.health(&app).await,
            (StatusCode::OK, "ok".to_owned())
        );
    }
    let fresh = app.create_tenant("redis-back", SubscriptionTier::Pro).await;
    let started = Instant::now();
    let (allowed, _) = spend(&app, &[&a, &b], &fresh.admin_token, 100).await;
    let refill = started.elapsed().as_secs() as u32 + 1;
    assert!(
        (PRO_BUDGET..=PRO_BUDGET + refill).contains(&allowed),
        "{allowed} allowed by two replicas sharing a budget of {PRO_BUDGET} again"
    );
}

/// A connection to `server` as a replica holds it, reporting to `metrics`.
fn shared_redis(
    server: &RedisServer,
    metrics: &ils_server::metrics::Metrics,
) -> ils_server::shared::Redis {
    use ils_server::config::{RedisSettings, Secret};
    ils_server::shared::Redis::new(
        &RedisSettings {
            url: Some(Secret::new(server.url())),
            ..RedisSettings::default()
        },
        metrics.redis.clone(),
    )
    .expect("redis settings")
    .expect("configured")
}

/// Two limiters on one Redis, as two replicas hold them: one budget between them, refusals
/// that say when to come back, and every decision made by Redis (none counted as a fallback),
/// also for a budget finer than Redis's microsecond clock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_limiters_decide_in_redis_for_any_budget() {
    use ils_core::CompanyId;
    use ils_server::config::RateLimitSettings;
    use ils_server::metrics::Metrics;
    use ils_server::rate_limit::{LimitClass, RateLimiter, SharedRateLimiter};

    let server = RedisServer::start().expect("redis-server");
    let settings = RateLimitSettings::uniform;
    let metrics = Metrics::new();
    let redis = shared_redis(&server, &metrics);
    let tier = SubscriptionTier::Pro;

    let one = SharedRateLimiter::new(&settings(6), redis.clone());
    let other = SharedRateLimiter::new(&settings(6), redis.clone());
    let tenant = CompanyId::new();
    for i in 0..6 {
        let limiter = if i % 2 == 0 { &one } else { &other };
        assert!(limiter.check(tenant, tier, LimitClass::Api).await.is_ok());
    }
    for limiter in [&one, &other] {
        let wait = limiter
            .check(tenant, tier, LimitClass::Api)
            .await
            .expect_err("the shared budget of 6 is spent");
        assert!(
            (Duration::from_secs(8)..=Duration::from_secs(10)).contains(&wait),
            "one unit comes back every 10 s: {wait:?}"
        );
    }
    // Another tenant, another class: buckets of their own.
    assert!(
        one.check(CompanyId::new(), tier, LimitClass::Api)
            .await
            .is_ok()
    );
    assert!(one.check(tenant, tier, LimitClass::Ai).await.is_ok());

    // Over 60 million a minute: finer than a microsecond, still decided in Redis.
    let roomy = SharedRateLimiter::new(&settings(1_000_000_000), redis.clone());
    for _ in 0..200 {
        assert!(roomy.check(tenant, tier, LimitClass::Api).await.is_ok());
    }
    assert_eq!(
        (
            metrics.redis.errors_of("rate_limit"),
            metrics.redis.fallbacks_of("rate_limit")
        ),
        (0, 0),
        "every decision was made by Redis"
    );
}

/// Two sign-in throttles on one Redis, as two replicas hold them: the failed sign-ins of an
/// address and of a tenant are counted once, whichever replica saw them, so spreading guesses
/// over a load balancer buys nothing; the audit rows beyond the tenant's first few become one
/// aggregate per replica that add up to the whole; without Redis each counts on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_the_sign_in_throttle_and_its_audit_aggregates() {
    use ils_core::CompanyId;
    use ils_server::auth::throttle::{AuditFailure, SignInThrottle};
    use ils_server::metrics::Metrics;

    let mut server = RedisServer::start().expect("redis-server");
    let metrics = Metrics::new();
    let redis = shared_redis(&server, &metrics);
    // An hour's window (aligned on Redis's clock: this test would have to straddle a full hour
    // to see two), 4 failures an address, 6 a tenant, the first 2 of a tenant audited.
    let throttle = || SignInThrottle::new(Duration::from_secs(3600), 4, 6, 2, Some(redis.clone()));
    let (one, other) = (throttle(), throttle());
    let here: std::net::IpAddr = [192, 0, 2, 1].into();
    let tenant = CompanyId::new();
    let mut audits = Vec::new();
    for i in 0..4 {
        let replica = if i % 2 == 0 { &one } else { &other };
        assert!(replica.check(Some(here), Some(tenant)).await.is_ok());
        audits.push(replica.failed(Some(here), Some(tenant)).await);
    }
    assert_eq!(
        audits,
        [
            AuditFailure::Row,
            AuditFailure::Row,
            AuditFailure::Aggregate,
            AuditFailure::Aggregate
        ],
        "the tenant's first two failures, on either replica, are audited one by one"
    );
    for replica in [&one, &other] {
        let wait = replica
            .check(Some(here), None)
            .await
            .expect_err("4 failures from this address, on two replicas, spend its budget");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(3600),
            "{wait:?}"
        );
    }
    // Another address: the tenant has 2 failures left, on any replica.
    let there: std::net::IpAddr = [192, 0, 2, 2].into();
    assert!(other.check(Some(there), Some(tenant)).await.is_ok());
    one.failed(Some(there), Some(tenant)).await;
    other.failed(Some(there), Some(tenant)).await;
    for replica in [&one, &other] {
        assert!(
            replica
                .check(Some([192, 0, 2, 3].into()), Some(tenant))
                .await
                .is_err(),
            "6 failures on two replicas spend the tenant's budget, from any address"
        );
    }
    assert!(one.take_unaudited().is_empty() && other.take_unaudited().is_empty());

    // A one-second window, nothing audited one by one: each replica writes one aggregate for
    // what it saw once the window is over, and they add up.
    let brief = || SignInThrottle::new(Duration::from_secs(1), 100, 100, 0, Some(redis.clone()));
    let (one, other) = (brief(), brief());
    let tenant = CompanyId::new();
    for replica in [&one, &other, &one] {
        assert_eq!(
            replica.failed(Some(here), Some(tenant)).await,
            AuditFailure::Aggregate
        );
    }
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let rows: Vec<_> = one
        .take_unaudited()
        .into_iter()
        .chain(other.take_unaudited())
        .collect();
    assert!(rows.iter().all(|row| row.tenant == tenant));
    assert!(
        rows.iter()
            .all(|row| row.until - row.from == chrono::Duration::seconds(1)),
        "{rows:?}"
    );
    assert_eq!(rows.iter().map(|row| row.count).sum::<u32>(), 3, "{rows:?}");
    assert_eq!(
        (
            metrics.redis.errors_of("sign_in"),
            metrics.redis.fallbacks_of("sign_in")
        ),
        (0, 0),
        "every count was kept in Redis"
    );

    // Redis gone: each replica counts on its own, and says so.
    server.stop();
    let alone = throttle();
    for _ in 0..4 {
        alone.failed(Some(here), Some(CompanyId::new())).await;
    }
    assert!(alone.check(Some(here), None).await.is_err());
    assert!(metrics.redis.fallbacks_of("sign_in") >= 1);
}
