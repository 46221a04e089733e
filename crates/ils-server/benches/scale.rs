//! ILS Central beyond one process (`make bench-scale`): the clinic mix of `loadgen` (search,
//! open, prescribe, order, move orders through production, every read and write audited) on one
//! database, against
//!
//! 1. one replica deciding rate limits in process (the single-machine setup),
//! 2. one replica sharing its limits and news through Redis (the cost of the shared limiter),
//! 3. three replicas with Redis, each workstation talking to one of them directly,
//! 4. the same three replicas behind nginx (the load balancer's own cost),
//! 5. one replica on Citus, a coordinator and two workers (the same practices and patients on
//!    a database distributed by `company_id`),
//! 6. three replicas with Redis behind nginx on that Citus cluster,
//!
//! all in one run, on this machine, with requests/s, p50/p99, the ratio to (1) and the CPU each
//! request costs in the replicas (with Redis and nginx), PostgreSQL (on Citus: coordinator and
//! workers apart) and the load generator. On two cores the replicas and the nodes compete for
//! the same CPU: the point is what going distributed costs per request, from which the bench
//! estimates what N machines would serve. `ILS_BENCH_CITUS=0` leaves Citus out (it needs `make
//! setup-citus`, which `make bench-scale` runs).
//!
//! Knobs: ILS_BENCH_TENANTS (10), ILS_BENCH_CLIENTS per tenant (4), ILS_BENCH_SECS per phase
//! (10), ILS_BENCH_PATIENTS per tenant (10000), ILS_BENCH_DB_CONNECTIONS per replica (16; 6
//! each when three run).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use ils_testkit::redis::RedisServer;

mod support;
use support::mix::{ClinicClient, clinic_workstations, overall, run_clinic_phase};
use support::{Cpu, cpu_model, cpu_of, env_or};

/// The processes that serve requests beside the replicas, counted with them.
const SHARED_PARTS: &[&str] = &["nginx", "redis-server"];

struct Measured {
    label: &'static str,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
    /// µs of CPU per request: replicas (with Redis and nginx), database, load generator.
    cpu: (f64, f64, f64),
    /// On Citus: µs of CPU per request on the coordinator and on the workers together.
    citus: Option<(f64, f64)>,
}

/// Where a phase's database runs: one PostgreSQL, or a Citus coordinator and its workers.
#[derive(Clone, Default)]
struct Nodes {
    coordinator: Option<u16>,
    workers: Vec<u16>,
}

impl Nodes {
    /// The CPU ticks of the coordinator and of the workers together, when on Citus.
    fn ticks(&self) -> Option<(u64, u64)> {
        let coordinator = self.coordinator?;
        let by_port = support::postgres_ticks_by_port();
        let of = |port: &u16| by_port.get(port).copied().unwrap_or(0);
        Some((of(&coordinator), self.workers.iter().map(of).sum()))
    }
}

async fn measure(
    label: &'static str,
    http: &reqwest::Client,
    bases: &[&str],
    pids: &[u32],
    clients: &[ClinicClient],
    secs: u64,
    nodes: &Nodes,
) -> Measured {
    run_clinic_phase(http, bases, clients, 2).await;
    let before = cpu_of(pids, SHARED_PARTS);
    let nodes_before = nodes.ticks();
    let (tally, elapsed) = run_clinic_phase(http, bases, clients, secs).await;
    let after = cpu_of(pids, SHARED_PARTS);
    let nodes_after = nodes.ticks();
    let all = overall(&tally);
    let requests = tally.total().max(1) as f64;
    let per = |a: u64, b: u64| b.saturating_sub(a) as f64 * 10_000.0 / requests;
    let Cpu {
        server,
        database,
        client,
    } = before;
    let measured = Measured {
        label,
        rps: tally.total() as f64 / elapsed.as_secs_f64(),
        p50_ms: all.value_at_quantile(0.5) as f64 / 1000.0,
        p99_ms: all.value_at_quantile(0.99) as f64 / 1000.0,
        errors: tally.errors,
        cpu: (
            per(server, after.server),
            per(database, after.database),
            per(client, after.client),
        ),
        citus: nodes_before
            .zip(nodes_after)
            .map(|((c0, w0), (c1, w1))| (per(c0, c1), per(w0, w1))),
    };
    let split = measured
        .citus
        .map(|(c, w)| format!(" (coordinator {c:.0} µs, workers {w:.0} µs)"))
        .unwrap_or_default();
    println!(
        "  {:<44} {:>8.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  CPU/request: replicas+Redis+nginx {:>5.0} µs, database {:>5.0} µs{split}, load generator {:>4.0} µs  ({} errors)",
        measured.label,
        measured.rps,
        measured.p50_ms,
        measured.p99_ms,
        measured.cpu.0,
        measured.cpu.1,
        measured.cpu.2,
        measured.errors
    );
    measured
}

/// `tenants` practices on `running`'s database, each with an ECP, a lab technician and
/// `patients` patients, and `per_tenant` workstations each.
async fn practices(
    running: &support::Running,
    tenants: u64,
    per_tenant: u64,
    patients: u64,
) -> anyhow::Result<Vec<ClinicClient>> {
    let owner = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&running.db.owner_url)
        .await?;
    let mut clients = Vec::new();
    for t in 0..tenants {
        let (domain, password, pair) = support::create_practice(running, t).await?;
        let token = pair["access_token"].as_str().context("token")?.to_owned();
        let company_id = pair["company_id"]
            .as_str()
            .context("company id")?
            .to_owned();
        clients.extend(
            clinic_workstations(
                running,
                &owner,
                &domain,
                &password,
                &token,
                &company_id,
                patients,
                per_tenant,
            )
            .await?,
        );
    }
    sqlx::query("VACUUM ANALYZE").execute(&owner).await?;
    owner.close().await;
    Ok(clients)
}

/// Three replicas sharing Redis on `running`'s database, which share its connections the way
/// one replica did.
async fn three_replicas(
    running: &support::Running,
    with_redis: &[(String, String)],
    db_connections: u64,
) -> anyhow::Result<Vec<support::Server>> {
    let mut env = with_redis.to_vec();
    env.push((
        "ILS_DATABASE__MAX_CONNECTIONS".to_owned(),
        (db_connections / 3).max(2).to_string(),
    ));
    let mut replicas = Vec::new();
    for _ in 0..3 {
        replicas.push(running.start_replica(&env).await?);
    }
    Ok(replicas)
}

/// nginx in front of `upstreams`, on a free loopback port, in its own temporary prefix.
struct Balancer {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Balancer {
    async fn start(http: &reqwest::Client, upstreams: &[&str]) -> anyhow::Result<Self> {
        let binary = ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .find(|p| std::path::Path::new(p).is_file())
            .context("nginx is not installed: `make bench-scale` installs it")?;
        let dir = tempfile::tempdir()?;
        let port = support::free_port()?;
        let servers: String = upstreams
            .iter()
            .map(|u| format!("    server {};\n", u.trim_start_matches("http://")))
            .collect();
        let prefix = dir.path().display();
        // One worker (two cores are shared with everything else); keep-alive to the replicas,
        // as a production balancer would.
        let conf = format!(
            "worker_processes 1;\nerror_log {prefix}/error.log warn;\npid {prefix}/nginx.pid;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {prefix}/body;\n  proxy_temp_path {prefix}/proxy;\n\
             fastcgi_temp_path {prefix}/fastcgi;\n  uwsgi_temp_path {prefix}/uwsgi;\n  scgi_temp_path {prefix}/scgi;\n\
             upstream central {{\n{servers}    keepalive 128;\n  }}\n\
             server {{\n    listen 127.0.0.1:{port};\n    location / {{\n      proxy_pass http://central;\n\
             proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n    }}\n  }}\n}}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), conf)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // nginx's workers drop to an unprivileged user when started as root.
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))?;
        }
        let child = Command::new(binary)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting nginx")?;
        let base = format!("http://127.0.0.1:{port}");
        let started = std::time::Instant::now();
        while !http
            .get(format!("{base}/api/health"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            if started.elapsed() > Duration::from_secs(10) {
                bail!("nginx did not answer within 10 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Self {
            child,
            base,
            _dir: dir,
        })
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let tenants = env_or("ILS_BENCH_TENANTS", 10);
    let per_tenant = env_or("ILS_BENCH_CLIENTS", 4);
    let secs = env_or("ILS_BENCH_SECS", 10);
    let patients_per_tenant = env_or("ILS_BENCH_PATIENTS", 10_000);
    let db_connections = env_or("ILS_BENCH_DB_CONNECTIONS", 16);

    let redis = RedisServer::start()?;
    let with_redis = vec![("ILS_REDIS__URL".to_owned(), redis.url())];
    let with_citus = env_or("ILS_BENCH_CITUS", 1) == 1;
    let mut running = support::start_server(db_connections, &[]).await?;
    let clients = practices(&running, tenants, per_tenant, patients_per_tenant).await?;
    let http = running.http.clone();
    println!(
        "ILS Central scale-out: clinic mix, {tenants} tenants × {patients_per_tenant} patients, {} concurrent workstations, {secs} s per setup; {} cores ({}); PostgreSQL, Citus and Redis on loopback\n",
        clients.len(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model()
    );
    let plain = Nodes::default();

    let mut results = Vec::new();
    let solo = running.server.child.id();
    results.push(
        measure(
            "1 replica, limits in process",
            &http,
            &[&running.server.base],
            &[solo],
            &clients,
            secs,
            &plain,
        )
        .await,
    );
    let _ = running.server.child.kill();
    let _ = running.server.child.wait();

    let shared = running.start_replica(&with_redis).await?;
    results.push(
        measure(
            "1 replica, limits shared in Redis",
            &http,
            &[&shared.base],
            &[shared.child.id()],
            &clients,
            secs,
            &plain,
        )
        .await,
    );
    drop(shared);

    let replicas = three_replicas(&running, &with_redis, db_connections).await?;
    let bases: Vec<&str> = replicas.iter().map(|r| r.base.as_str()).collect();
    let pids: Vec<u32> = replicas.iter().map(|r| r.child.id()).collect();
    results.push(
        measure(
            "3 replicas + Redis, clients spread directly",
            &http,
            &bases,
            &pids,
            &clients,
            secs,
            &plain,
        )
        .await,
    );
    let balancer = Balancer::start(&http, &bases).await?;
    results.push(
        measure(
            "3 replicas + Redis behind nginx",
            &http,
            &[&balancer.base],
            &pids,
            &clients,
            secs,
            &plain,
        )
        .await,
    );
    drop(balancer);
    drop(replicas);
    drop(running);

    if with_citus {
        let db = ils_testkit::TestDb::create_on_citus(&ils_server::db::MIGRATOR).await?;
        let mut citus = support::start_server_on(db, db_connections, &[]).await?;
        let owner = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(&citus.db.owner_url)
            .await?;
        let workers: Vec<(i32,)> = sqlx::query_as(
            "SELECT nodeport FROM pg_dist_node WHERE groupid <> 0 ORDER BY nodeport",
        )
        .fetch_all(&owner)
        .await?;
        owner.close().await;
        let coordinator: u16 = citus
            .db
            .owner_url
            .rsplit_once(':')
            .and_then(|(_, rest)| rest.split('/').next()?.parse().ok())
            .context("the coordinator's port")?;
        let nodes = Nodes {
            coordinator: Some(coordinator),
            workers: workers.into_iter().map(|(p,)| p as u16).collect(),
        };
        let clients = practices(&citus, tenants, per_tenant, patients_per_tenant).await?;
        let solo = citus.server.child.id();
        results.push(
            measure(
                "1 replica on Citus (coordinator + 2 workers)",
                &http,
                &[&citus.server.base],
                &[solo],
                &clients,
                secs,
                &nodes,
            )
            .await,
        );
        let _ = citus.server.child.kill();
        let _ = citus.server.child.wait();
        let replicas = three_replicas(&citus, &with_redis, db_connections).await?;
        let bases: Vec<&str> = replicas.iter().map(|r| r.base.as_str()).collect();
        let pids: Vec<u32> = replicas.iter().map(|r| r.child.id()).collect();
        let balancer = Balancer::start(&http, &bases).await?;
        results.push(
            measure(
                "3 replicas + Redis behind nginx, on Citus",
                &http,
                &[&balancer.base],
                &pids,
                &clients,
                secs,
                &nodes,
            )
            .await,
        );
    }

    let one = &results[0];
    println!(
        "\n  {:<44} {:>10} {:>14} {:>16}",
        "setup", "throughput", "p99", "CPU per request"
    );
    for r in &results {
        let total = r.cpu.0 + r.cpu.1;
        println!(
            "  {:<44} {:>9.2}× {:>12.2} ms {:>8.0} µs ({:+.0} µs)",
            r.label,
            r.rps / one.rps.max(1.0),
            r.p99_ms,
            total,
            total - (one.cpu.0 + one.cpu.1)
        );
    }
    // What N machines would serve: each replica machine (2 cores, as here) gives 2 s of CPU per
    // second to requests costing the replicas' share; one database of 2 cores caps the total.
    let spread = &results[3];
    let per_replica_machine = 2.0e6 / spread.cpu.0.max(1.0);
    let database_cap = 2.0e6 / spread.cpu.1.max(1.0);
    println!(
        "\nestimate from the balanced setup: one 2-core replica machine serves ~{per_replica_machine:.0} clinic requests/s \
         ({:.0} µs of replica, Redis and balancer CPU each); one 2-core PostgreSQL ~{database_cap:.0} ({:.0} µs each). \
         N replica machines: ~min(N × {per_replica_machine:.0}, {database_cap:.0}) requests/s; past {:.1} machines the database \
         is the limit, and must grow (more cores, or Citus workers sharing the tenants).",
        spread.cpu.0,
        spread.cpu.1,
        database_cap / per_replica_machine.max(1.0)
    );
    // On Citus the coordinator's share stays on one machine; the workers' share spreads over
    // the workers (each request is on one tenant's shard, so on one worker).
    if let Some(on_citus) = results.last().filter(|r| r.citus.is_some())
        && let Some((coordinator, workers)) = on_citus.citus
    {
        let replica_machine = 2.0e6 / on_citus.cpu.0.max(1.0);
        let coordinator_cap = 2.0e6 / coordinator.max(1.0);
        let per_worker = 2.0e6 / workers.max(1.0);
        println!(
            "estimate on Citus: each request costs the replicas {:.0} µs, the coordinator {coordinator:.0} µs and the workers {workers:.0} µs ({:+.0} µs of database CPU against one PostgreSQL). With 2-core machines: N replica machines ~N × {replica_machine:.0}, one coordinator ~{coordinator_cap:.0}, W workers ~W × {per_worker:.0} requests/s; the service serves the smallest of the three.",
            on_citus.cpu.0,
            coordinator + workers - spread.cpu.1,
        );
    }
    drop(redis);
    Ok(())
}
