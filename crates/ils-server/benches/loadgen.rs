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

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
mod support;
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use support::{cpu_model, cpu_now, env_or, report_cpu};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    ReadUser,
    ReadMe,
    UpdateUser,
    Health,
    SearchPatients,
    OpenPatient,
    AddPrescription,
    CreateOrder,
    MoveOrder,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::ReadUser => "GET /api/users/{id}",
            Op::ReadMe => "GET /api/me",
            Op::UpdateUser => "PATCH /api/users/{id}",
            Op::Health => "GET /api/health (baseline)",
            Op::SearchPatients => "search patients (name prefix)",
            Op::OpenPatient => "open a patient",
            Op::AddPrescription => "add a prescription",
            Op::CreateOrder => "create an order",
            Op::MoveOrder => "move an order",
        }
    }
}

struct Client {
    token: String,
    user_id: String,
}

/// One practice workstation in the clinic mix: an ECP and the lab it works with.
#[derive(Clone)]
struct ClinicClient {
    ecp: String,
    lab: String,
    patients: Arc<Vec<String>>,
}

const LAST_NAMES: [&str; 40] = [
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Robinson",
    "Wright",
    "Thompson",
    "Evans",
    "Walker",
    "White",
    "Roberts",
    "Green",
    "Hall",
    "Wood",
    "Jackson",
    "Clarke",
    "Muller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Richard",
    "Petit",
    "Durand",
    "Leroy",
    "Moreau",
    "Simon",
];

fn rx_body() -> Value {
    json!({
        "kind": "spectacle",
        "right": {"sphere": -2.25, "cylinder": -0.75, "axis": 180, "add": 2.0},
        "left": {"sphere": -2.0, "cylinder": -0.5, "axis": 170, "add": 2.0},
        "pd": {"right_distance": 32.0, "left_distance": 31.5},
        "issue_date": "2026-11-01", "expiry_date": "2028-11-01",
        "prescriber": "Dr. Bench"
    })
}

fn order_body(patient: &str, rx: &str) -> Value {
    json!({
        "patient_id": patient, "prescription_id": rx, "lens_type": "progressive",
        "material": "1.6 MR-8", "coatings": ["AR"],
        "frame": {"brand": "Lindberg", "box_a": 52.0, "box_b": 38.0, "dbl": 18.0, "ed": 56.0},
        "measurements": {"right_pd": 32.0, "left_pd": 31.5, "right_segment_height": 19.0, "left_segment_height": 19.0},
        "promised_date": "2099-01-31"
    })
}

/// The practice's and the lab's steps, in order.
const STEPS: [(&str, bool); 5] = [
    ("submit", false),
    ("start_production", true),
    ("send_to_quality_check", true),
    ("ship", true),
    ("deliver", true),
];

async fn run_clinic_phase(
    http: &reqwest::Client,
    base: &str,
    clients: &[ClinicClient],
    secs: u64,
) -> (Tally, Duration) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (i, client) in clients.iter().enumerate() {
        let http = http.clone();
        let base = base.to_owned();
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            let mut n: u64 = (i as u64) * 7919;
            let mut prescriptions: Vec<(String, String)> = Vec::new();
            let mut orders: Vec<(String, usize)> = Vec::new();
            while Instant::now() < deadline {
                n = n
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let pick = (n >> 33) as usize;
                let patient = &client.patients[pick % client.patients.len()];
                let roll = pick % 100;
                let op = match roll {
                    0..30 => Op::SearchPatients,
                    30..60 => Op::OpenPatient,
                    60..75 => Op::AddPrescription,
                    75..87 if !prescriptions.is_empty() => Op::CreateOrder,
                    87..100 if !orders.is_empty() => Op::MoveOrder,
                    _ => Op::AddPrescription,
                };
                let t0 = Instant::now();
                let result = match op {
                    Op::SearchPatients => {
                        let name = LAST_NAMES[pick % LAST_NAMES.len()];
                        http.get(format!("{base}/api/patients?q={}&limit=20", &name[..3]))
                            .bearer_auth(&client.ecp)
                            .send()
                            .await
                    }
                    Op::OpenPatient => {
                        http.get(format!("{base}/api/patients/{patient}"))
                            .bearer_auth(&client.ecp)
                            .send()
                            .await
                    }
                    Op::AddPrescription => {
                        http.post(format!("{base}/api/patients/{patient}/prescriptions"))
                            .bearer_auth(&client.ecp)
                            .json(&rx_body())
                            .send()
                            .await
                    }
                    Op::CreateOrder => {
                        let (p, rx) = &prescriptions[pick % prescriptions.len()];
                        http.post(format!("{base}/api/orders"))
                            .bearer_auth(&client.ecp)
                            .json(&order_body(p, rx))
                            .send()
                            .await
                    }
                    _ => {
                        let idx = pick % orders.len();
                        let (order, step) = &orders[idx];
                        let (action, by_lab) = STEPS[*step];
                        let token = if by_lab { &client.lab } else { &client.ecp };
                        http.post(format!("{base}/api/orders/{order}/transitions"))
                            .bearer_auth(token)
                            .json(&json!({"action": action}))
                            .send()
                            .await
                    }
                };
                let body: Option<Value> = match result {
                    Ok(response) if response.status().is_success() => {
                        Some(response.json().await.unwrap_or(Value::Null))
                    }
                    _ => None,
                };
                let Some(body) = body else {
                    tally.errors += 1;
                    continue;
                };
                tally.record(op, t0.elapsed().as_micros() as u64);
                match op {
                    Op::AddPrescription => {
                        if let Some(id) = body["id"].as_str() {
                            prescriptions.push((patient.clone(), id.to_owned()));
                            if prescriptions.len() > 50 {
                                prescriptions.remove(0);
                            }
                        }
                    }
                    Op::CreateOrder => {
                        if let Some(id) = body["id"].as_str() {
                            orders.push((id.to_owned(), 0));
                        }
                    }
                    Op::MoveOrder => {
                        let idx = pick % orders.len();
                        orders[idx].1 += 1;
                        if orders[idx].1 == STEPS.len() {
                            orders.swap_remove(idx);
                        }
                    }
                    _ => {}
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

/// Bulk-loads `count` patients into the tenant, straight into PostgreSQL (as the owner).
async fn seed_patients(
    owner: &sqlx::PgPool,
    company: &str,
    count: u64,
) -> anyhow::Result<Vec<String>> {
    let names: Vec<String> = LAST_NAMES.iter().map(|s| (*s).to_owned()).collect();
    sqlx::query(
        "INSERT INTO patients (company_id, id, customer_number, first_name, last_name, date_of_birth, email,
                               first_name_key, last_name_key)
         SELECT $1::uuid, gen_random_uuid(), 'P-' || lpad(g::text, 6, '0'), f, l,
                DATE '1940-01-01' + (g * 37 % 25000)::int, 'p' || g || '@example.org', lower(f), lower(l)
         FROM generate_series(1, $3) AS g,
              LATERAL (SELECT (ARRAY['Anna','Ben','Clara','David','Ella','Finn','Greta','Hugo','Ida','Jonas'])[1 + g % 10] AS f,
                              ($2::text[])[1 + (g * 7) % array_length($2::text[], 1)] AS l) AS names",
    )
    .bind(company)
    .bind(&names)
    .bind(count as i64)
    .execute(owner)
    .await?;
    let ids: Vec<(uuid::Uuid,)> = sqlx::query_as(
        "SELECT id FROM patients WHERE company_id = $1::uuid ORDER BY random() LIMIT 2000",
    )
    .bind(company)
    .fetch_all(owner)
    .await?;
    Ok(ids.into_iter().map(|(id,)| id.to_string()).collect())
}

#[derive(Default)]
struct Tally {
    histograms: BTreeMap<Op, Histogram<u64>>,
    errors: u64,
}

impl Tally {
    fn record(&mut self, op: Op, micros: u64) {
        self.histograms
            .entry(op)
            .or_insert_with(|| Histogram::new_with_bounds(1, 60_000_000, 3).expect("bounds"))
            .saturating_record(micros);
    }

    fn merge(&mut self, other: Tally) {
        self.errors += other.errors;
        for (op, h) in other.histograms {
            match self.histograms.get_mut(&op) {
                Some(mine) => mine.add(&h).expect("same bounds"),
                None => {
                    self.histograms.insert(op, h);
                }
            }
        }
    }

    fn total(&self) -> u64 {
        self.histograms.values().map(Histogram::len).sum()
    }
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

fn report(title: &str, tally: &Tally, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    let rps = tally.total() as f64 / secs;
    println!(
        "\n{title}: {:.0} requests/s over {:.1} s ({} errors)",
        rps, secs, tally.errors
    );
    println!(
        "  {:<30} {:>10} {:>9} {:>9} {:>9}",
        "operation", "req/s", "p50 ms", "p95 ms", "p99 ms"
    );
    let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
    for (op, h) in &tally.histograms {
        all.add(h).expect("same bounds");
        println!(
            "  {:<30} {:>10.0} {:>9.2} {:>9.2} {:>9.2}",
            op.name(),
            h.len() as f64 / secs,
            h.value_at_quantile(0.50) as f64 / 1000.0,
            h.value_at_quantile(0.95) as f64 / 1000.0,
            h.value_at_quantile(0.99) as f64 / 1000.0,
        );
    }
    println!(
        "  {:<30} {:>10.0} {:>9.2} {:>9.2} {:>9.2}",
        "all",
        rps,
        all.value_at_quantile(0.50) as f64 / 1000.0,
        all.value_at_quantile(0.95) as f64 / 1000.0,
        all.value_at_quantile(0.99) as f64 / 1000.0,
    );
    rps
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
        let mut staff = Vec::new();
        for role in ["ecp", "lab_tech"] {
            staff.push(support::add_user(&running, &domain, &password, &token, role).await?);
        }
        let patients = Arc::new(seed_patients(&owner, &company_id, patients_per_tenant).await?);
        for _ in 0..per_tenant {
            clinic_clients.push(ClinicClient {
                ecp: staff[0].clone(),
                lab: staff[1].clone(),
                patients: patients.clone(),
            });
        }
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
    run_clinic_phase(http, &server.base, &clinic_clients, 2).await;
    let before = cpu_now(server_pid);
    let (clinic, clinic_elapsed) =
        run_clinic_phase(http, &server.base, &clinic_clients, secs).await;
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
