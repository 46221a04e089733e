//! Load generator: N tenants × M concurrent clients against a real `ils-server` process on
//! loopback (release build, real PostgreSQL), with authenticated reads and writes.
//!
//! It prints requests/s and p50/p95/p99 per operation, and the same figures for a baseline run
//! against `/api/health` (no authentication, one `SELECT 1`) so that the cost of authentication,
//! tenancy scoping and auditing shows as a ratio.
//!
//! A second part runs a realistic clinic mix over tenants holding ILS_BENCH_PATIENTS patients
//! each (10,000 by default, seeded in bulk): search patients by name prefix, open a patient,
//! add a prescription, create a lens order from it, and move orders through production (the
//! practice submits, the lab does the rest).
//!
//! `cargo bench -p ils-server --bench loadgen` (or `make bench`). Knobs (environment):
//! ILS_BENCH_TENANTS (10), ILS_BENCH_CLIENTS per tenant (4), ILS_BENCH_SECS per phase (10),
//! ILS_BENCH_WRITE_PERCENT (20), ILS_BENCH_PATIENTS per tenant (10000), ILS_BENCH_DB_CONNECTIONS
//! (the server's pool size, 16), ILS_BENCH_SERVER (another `ils-server` binary to measure, e.g.
//! one built from an earlier commit).

use std::time::{Duration, Instant};

use anyhow::Context;
mod support;
use serde_json::json;
use support::mix::{Op, Tally, clinic_workstations, report, run_clinic_phase};
use support::{cpu_model, cpu_now, env_or, report_cpu};

struct Client {
    token: String,
    user_id: String,
}

async fn run_phase(
    http: &reqwest::Client,
    base: &str,
    clients: &[Client],
    secs: u64,
    write_percent: u64,
    baseline: bool,
) -> (Tally, Duration) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (i, client) in clients.iter().enumerate() {
        let http = http.clone();
        let base = base.to_owned();
        let token = client.token.clone();
        let user_id = client.user_id.clone();
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            let mut n: u64 = i as u64;
            while Instant::now() < deadline {
                n = n.wrapping_add(1);
                let op = if baseline {
                    Op::Health
                } else if n % 100 < write_percent {
                    Op::UpdateUser
                } else if n.is_multiple_of(2) {
                    Op::ReadUser
                } else {
                    Op::ReadMe
                };
                let request = match op {
                    Op::Health => http.get(format!("{base}/api/health")),
                    Op::ReadMe => http.get(format!("{base}/api/me")).bearer_auth(&token),
                    Op::ReadUser => http
                        .get(format!("{base}/api/users/{user_id}"))
                        .bearer_auth(&token),
                    // The core phase only draws the four operations above.
                    _ => http
                        .patch(format!("{base}/api/users/{user_id}"))
                        .bearer_auth(&token)
                        .json(&json!({ "last_name": format!("Load{}", n % 1000) })),
                };
                let t0 = Instant::now();
                let ok = match request.send().await {
                    Ok(response) => {
                        let ok = response.status().is_success();
                        let _ = response.bytes().await;
                        ok
                    }
                    Err(_) => false,
                };
                if ok {
                    tally.record(op, t0.elapsed().as_micros() as u64);
                } else {
                    tally.errors += 1;
                }
            }
            tally
        }));
    }
    let mut total = Tally::default();
    for task in tasks {
        total.merge(task.await.expect("client task"));
    }
    (total, started.elapsed())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; there is nothing to filter.
    let tenants = env_or("ILS_BENCH_TENANTS", 10);
    let per_tenant = env_or("ILS_BENCH_CLIENTS", 4);
    let secs = env_or("ILS_BENCH_SECS", 10);
    let write_percent = env_or("ILS_BENCH_WRITE_PERCENT", 20).min(100);
    let patients_per_tenant = env_or("ILS_BENCH_PATIENTS", 10_000);
    let db_connections = env_or("ILS_BENCH_DB_CONNECTIONS", 16);

    let running = support::start_server(db_connections, &[]).await?;
    let (server, http) = (&running.server, &running.http);
    let owner = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&running.db.owner_url)
        .await?;
    let mut clients = Vec::new();
    let mut clinic_clients = Vec::new();
    let seeding = Instant::now();
    for t in 0..tenants {
        let (domain, password, pair) = support::create_practice(&running, t).await?;
        let token = pair["access_token"].as_str().context("token")?.to_owned();
        let user_id = pair["user_id"].as_str().context("user id")?.to_owned();
        let company_id = pair["company_id"]
            .as_str()
            .context("company id")?
            .to_owned();
        for _ in 0..per_tenant {
            clients.push(Client {
                token: token.clone(),
                user_id: user_id.clone(),
            });
        }
        // The clinic mix: an ECP and a lab technician of this practice, and its patients.
        clinic_clients.extend(
            clinic_workstations(
                &running,
                &owner,
                &domain,
                &password,
                &token,
                &company_id,
                patients_per_tenant,
                per_tenant,
            )
            .await?,
        );
    }

    // As on a live database: statistics gathered and the bulk load vacuumed before measuring.
    sqlx::query("VACUUM ANALYZE").execute(&owner).await?;
    let seeding_secs = seeding.elapsed().as_secs_f64();
    println!(
        "ILS Central load test: {tenants} tenants × {per_tenant} clients = {} concurrent, {secs} s per phase, {write_percent}% writes, {} cores ({})",
        clients.len(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model()
    );
    let server_pid = server.child.id();
    // Warm-up: connections, caches.
    run_phase(http, &server.base, &clients, 2, write_percent, false).await;
    let before = cpu_now(server_pid);
    let (base_tally, base_elapsed) = run_phase(http, &server.base, &clients, secs, 0, true).await;
    let after = cpu_now(server_pid);
    let baseline = report(
        "baseline (/api/health: no auth, one SELECT 1)",
        &base_tally,
        base_elapsed,
    );
    report_cpu(before, after, base_tally.total());
    let before = cpu_now(server_pid);
    let (tally, elapsed) =
        run_phase(http, &server.base, &clients, secs, write_percent, false).await;
    let after = cpu_now(server_pid);
    let authenticated = report(
        "authenticated mix (JWT + standing + tenant transaction [+ audit])",
        &tally,
        elapsed,
    );
    report_cpu(before, after, tally.total());
    println!(
        "\nratio authenticated / baseline throughput: {:.2}×",
        authenticated / baseline.max(1.0)
    );

    println!(
        "\nclinic mix: {tenants} tenants × {patients_per_tenant} patients (seeded in {:.1} s), {} concurrent workstations",
        seeding_secs,
        clinic_clients.len()
    );
    run_clinic_phase(http, &[&server.base], &clinic_clients, 2).await;
    let before = cpu_now(server_pid);
    let (clinic, clinic_elapsed) =
        run_clinic_phase(http, &[&server.base], &clinic_clients, secs).await;
    let after = cpu_now(server_pid);
    let clinic_rps = report(
        "clinic mix (every read and write audited)",
        &clinic,
        clinic_elapsed,
    );
    report_cpu(before, after, clinic.total());
    println!(
        "\nratio clinic mix / baseline throughput: {:.2}×",
        clinic_rps / baseline.max(1.0)
    );
    drop(running);
    Ok(())
}
