//! What the benchmarks against a real `ils-server` process share: starting it on a fresh
//! database (bootstrapped, healthy, the operator signed in), creating practices, CPU sampling
//! from /proc, the machine's CPU model.

#![allow(dead_code)]

pub mod mix;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
pub use ils_testkit::cpu_model;
use serde_json::{Value, json};

pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub struct Server {
    pub child: Child,
    pub base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

pub fn random_password() -> String {
    format!(
        "bench-{}-{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// CPU time (user + system, in clock ticks of 1/100 s) of the server, of every PostgreSQL
/// process and of this load generator, read from /proc: where a request's cost goes, and a
/// figure far steadier than throughput on a shared, noisy machine.
#[derive(Clone, Copy, Debug, Default)]
pub struct Cpu {
    pub server: u64,
    pub database: u64,
    pub client: u64,
}

pub fn proc_ticks(stat: &str) -> Option<u64> {
    // Fields after the command name (which may hold spaces) start with the state (field 3);
    // utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

pub fn cpu_now(server_pid: u32) -> Cpu {
    cpu_of(&[server_pid], &[])
}

/// As [`cpu_now`] for several server processes, counting the processes named `others` (e.g. a
/// load balancer) as server time too.
pub fn cpu_of(server_pids: &[u32], others: &[&str]) -> Cpu {
    let ticks = |pid: &str| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| proc_ticks(&s))
            .unwrap_or(0)
    };
    // CPU ticks of every process whose command name is one of `names`.
    let named = |names: &[&str]| -> u64 {
        std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|pid| pid.bytes().all(|b| b.is_ascii_digit()))
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|c| names.contains(&c.trim()))
            })
            .map(|pid| ticks(&pid))
            .sum()
    };
    let database = named(&["postgres"]);
    let others = named(others);
    Cpu {
        server: server_pids
            .iter()
            .map(|pid| ticks(&pid.to_string()))
            .sum::<u64>()
            + others,
        database,
        client: ticks("self"),
    }
}

/// CPU ticks of PostgreSQL by cluster: every `postgres` process counted with its postmaster,
/// keyed by the port on the postmaster's command line (`-p <port>`, as the test kit starts
/// them). Tells a Citus coordinator's share from its workers'.
pub fn postgres_ticks_by_port() -> std::collections::BTreeMap<u16, u64> {
    let mut processes = std::collections::HashMap::new(); // pid -> (parent, ticks)
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().into_string() else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if !std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .is_ok_and(|c| c.trim() == "postgres")
        {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // The parent is the second field after the command name.
        let parent = stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().nth(1)?.parse::<u32>().ok())
            .unwrap_or(0);
        processes.insert(pid, (parent, proc_ticks(&stat).unwrap_or(0)));
    }
    let port_of = |postmaster: u32| -> Option<u16> {
        let cmdline = std::fs::read(format!("/proc/{postmaster}/cmdline")).ok()?;
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let at = args.iter().position(|a| *a == b"-p")?;
        std::str::from_utf8(args.get(at + 1)?).ok()?.parse().ok()
    };
    let mut by_port = std::collections::BTreeMap::new();
    for (&pid, &(_, ticks)) in &processes {
        let mut root = pid;
        while let Some(&(parent, _)) = processes.get(&root) {
            if !processes.contains_key(&parent) {
                break;
            }
            root = parent;
        }
        if let Some(port) = port_of(root) {
            *by_port.entry(port).or_insert(0) += ticks;
        }
    }
    by_port
}

/// Prints the CPU each request cost, between two samples.
pub fn report_cpu(before: Cpu, after: Cpu, requests: u64) {
    let per = |a: u64, b: u64| (b.saturating_sub(a)) as f64 * 10_000.0 / requests.max(1) as f64;
    let (server, database, client) = (
        per(before.server, after.server),
        per(before.database, after.database),
        per(before.client, after.client),
    );
    println!(
        "  CPU per request: server {server:.0} µs + database {database:.0} µs = {:.0} µs (load generator {client:.0} µs)",
        server + database
    );
}

pub async fn post(
    http: &reqwest::Client,
    url: String,
    token: Option<&str>,
    body: Value,
) -> anyhow::Result<Value> {
    let mut request = http.post(url).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await?;
    let status = response.status();
    let body: Value = response.json().await?;
    if !status.is_success() {
        bail!("{status}: {body}");
    }
    Ok(body)
}

/// A running server on a fresh database, with the platform operator signed in.
pub struct Running {
    pub server: Server,
    pub db: ils_testkit::TestDb,
    pub http: reqwest::Client,
    pub platform_token: String,
    binary: String,
    key_encryption_key: String,
    db_connections: u64,
}

impl Running {
    /// Another `ils-server serve` process on the same database and keys, with `env` added, on
    /// a free port; healthy when returned.
    pub async fn start_replica(&self, env: &[(String, String)]) -> anyhow::Result<Server> {
        let port = free_port()?;
        let mut serve = server_command(
            &self.binary,
            &self.db.service_url,
            &self.key_encryption_key,
            self.db_connections,
            port,
            env,
        );
        let server = Server {
            child: serve
                .arg("serve")
                .stdout(Stdio::null())
                .spawn()
                .context("starting ils-server")?,
            base: format!("http://127.0.0.1:{port}"),
        };
        wait_healthy(&self.http, &server.base).await?;
        Ok(server)
    }
}

/// `binary` with the environment every benchmark's server gets (its database, keys, pool size
/// and port, quiet logs, a budget no benchmark reaches), then `env`.
fn server_command(
    binary: &str,
    database_url: &str,
    key_encryption_key: &str,
    db_connections: u64,
    port: u16,
    env: &[(String, String)],
) -> Command {
    let mut cmd = Command::new(binary);
    cmd.env("ILS_DATABASE__URL", database_url)
        .env("ILS_AUTH__KEY_ENCRYPTION_KEY", key_encryption_key)
        .env("ILS_DATABASE__MAX_CONNECTIONS", db_connections.to_string())
        .env("ILS_LISTEN", format!("127.0.0.1:{port}"))
        .env("ILS_LOG__FILTER", "warn")
        .env("ILS_RATE_LIMITS__API_PER_MINUTE__ENTERPRISE", "10000000");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

async fn wait_healthy(http: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        if http
            .get(format!("{base}/api/health"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!("ils-server at {base} did not become healthy");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Bootstraps and starts `ils-server` (or the binary named by `ILS_BENCH_SERVER`) on a new
/// database, with `env` added to its environment, and waits until it is healthy.
pub async fn start_server(
    db_connections: u64,
    env: &[(String, String)],
) -> anyhow::Result<Running> {
    let db = ils_testkit::TestDb::create(&ils_server::db::MIGRATOR).await?;
    start_server_on(db, db_connections, env).await
}

/// [`start_server`] on the database `db` (e.g. one on Citus).
pub async fn start_server_on(
    db: ils_testkit::TestDb,
    db_connections: u64,
    env: &[(String, String)],
) -> anyhow::Result<Running> {
    let port = free_port()?;
    // Another build of the server (an older commit, for a back-to-back comparison) may be named.
    let binary = std::env::var("ILS_BENCH_SERVER")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_ils-server").to_owned());
    let platform_password = random_password();
    let key_encryption_key = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>())
    };
    let command = || {
        server_command(
            &binary,
            &db.service_url,
            &key_encryption_key,
            db_connections,
            port,
            env,
        )
    };
    let mut bootstrap = command();
    let status = bootstrap
        .args([
            "bootstrap",
            "--domain",
            "platform.bench.example",
            "--email",
            "op@platform.bench.example",
        ])
        .env("ILS_BOOTSTRAP_PASSWORD", &platform_password)
        .stdout(Stdio::null())
        .status()
        .context("bootstrap")?;
    if !status.success() {
        bail!("bootstrap failed");
    }
    let mut serve = command();
    let server = Server {
        child: serve
            .arg("serve")
            .stdout(Stdio::null())
            .spawn()
            .context("starting ils-server")?,
        base: format!("http://127.0.0.1:{port}"),
    };
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(2048)
        .build()?;
    wait_healthy(&http, &server.base).await?;
    let platform = login(
        &http,
        &server.base,
        "platform.bench.example",
        "op@platform.bench.example",
        &platform_password,
    )
    .await?;
    let platform_token = platform["access_token"]
        .as_str()
        .context("token")?
        .to_owned();
    Ok(Running {
        server,
        db,
        http,
        platform_token,
        binary,
        key_encryption_key,
        db_connections,
    })
}

pub async fn login(
    http: &reqwest::Client,
    base: &str,
    domain: &str,
    email: &str,
    password: &str,
) -> anyhow::Result<Value> {
    post(
        http,
        format!("{base}/api/auth/login"),
        None,
        json!({"domain": domain, "email": email, "password": password}),
    )
    .await
}

/// A practice (enterprise tier) with its administrator signed in: (domain, password, the
/// administrator's sign-in answer).
pub async fn create_practice(
    running: &Running,
    index: u64,
) -> anyhow::Result<(String, String, Value)> {
    let domain = format!("tenant{index}.bench.example");
    let password = random_password();
    post(
        &running.http,
        format!("{}/api/platform/companies", running.server.base),
        Some(&running.platform_token),
        json!({"name": format!("Bench {index}"), "domain": domain, "tier": "enterprise",
               "admin": {"email": format!("admin@{domain}"), "password": password, "first_name": "B", "last_name": "A"}}),
    )
    .await?;
    let pair = login(
        &running.http,
        &running.server.base,
        &domain,
        &format!("admin@{domain}"),
        &password,
    )
    .await?;
    Ok((domain, password, pair))
}

/// Adds a user of `role` to a practice and signs them in: their access token.
pub async fn add_user(
    running: &Running,
    domain: &str,
    password: &str,
    admin_token: &str,
    role: &str,
) -> anyhow::Result<String> {
    let email = format!("{role}@{domain}");
    post(
        &running.http,
        format!("{}/api/users", running.server.base),
        Some(admin_token),
        json!({"email": email, "password": password, "first_name": "B", "last_name": "S", "role": role}),
    )
    .await?;
    let pair = login(
        &running.http,
        &running.server.base,
        domain,
        &email,
        password,
    )
    .await?;
    Ok(pair["access_token"].as_str().context("token")?.to_owned())
}
