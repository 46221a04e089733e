//! The workloads the load benchmarks share: the operations and their tally, the clinic mix
//! (search, open, prescribe, order, move orders through production) and its bulk-seeded
//! patients, and the report.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
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
    pub fn name(self) -> &'static str {
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

/// One practice workstation in the clinic mix: an ECP and the lab it works with.
#[derive(Clone)]
pub struct ClinicClient {
    pub ecp: String,
    pub lab: String,
    pub patients: Arc<Vec<String>>,
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

/// Runs the clinic mix for `secs`; workstation `i` talks to `bases[i % bases.len()]`.
pub async fn run_clinic_phase(
    http: &reqwest::Client,
    bases: &[&str],
    clients: &[ClinicClient],
    secs: u64,
) -> (Tally, Duration) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (i, client) in clients.iter().enumerate() {
        let http = http.clone();
        let base = bases[i % bases.len()].to_owned();
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

/// A practice's clinic workstations: its ECP and lab technician (added through the API with
/// the administrator's `token`), `patients` patients seeded by the `owner` pool, and
/// `workstations` clients sharing them.
#[allow(clippy::too_many_arguments)]
pub async fn clinic_workstations(
    running: &super::Running,
    owner: &sqlx::PgPool,
    domain: &str,
    password: &str,
    token: &str,
    company_id: &str,
    patients: u64,
    workstations: u64,
) -> anyhow::Result<Vec<ClinicClient>> {
    let mut staff = Vec::new();
    for role in ["ecp", "lab_tech"] {
        staff.push(super::add_user(running, domain, password, token, role).await?);
    }
    let patients = Arc::new(seed_patients(owner, company_id, patients).await?);
    Ok((0..workstations)
        .map(|_| ClinicClient {
            ecp: staff[0].clone(),
            lab: staff[1].clone(),
            patients: patients.clone(),
        })
        .collect())
}

/// Bulk-loads `count` patients into the tenant, straight into PostgreSQL (as the owner).
pub async fn seed_patients(
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
pub struct Tally {
    pub histograms: BTreeMap<Op, Histogram<u64>>,
    pub errors: u64,
}

impl Tally {
    pub fn record(&mut self, op: Op, micros: u64) {
        self.histograms
            .entry(op)
            .or_insert_with(|| Histogram::new_with_bounds(1, 60_000_000, 3).expect("bounds"))
            .saturating_record(micros);
    }

    pub fn merge(&mut self, other: Tally) {
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

    pub fn total(&self) -> u64 {
        self.histograms.values().map(Histogram::len).sum()
    }
}

pub fn report(title: &str, tally: &Tally, elapsed: Duration) -> f64 {
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

/// Every operation's latencies together.
pub fn overall(tally: &Tally) -> Histogram<u64> {
    let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
    for h in tally.histograms.values() {
        all.add(h).expect("same bounds");
    }
    all
}
