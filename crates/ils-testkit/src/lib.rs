//! Test and benchmark support for ILS: a real PostgreSQL with pgvector.
//!
//! With `DATABASE_URL` set (a role that may create databases and roles), that server is used.
//! Without it, the first caller starts a throwaway cluster in a temporary directory on a free
//! loopback port, shared by the whole process. A watchdog process stops the cluster and deletes
//! its directory as soon as this process ends, however it ends (success, panic, kill).
//!
//! Each test gets its own database, migrated by the owner (superuser); the service under test
//! connects as `ils_service`, a login role that is a member of `ils_app`, owns nothing and has
//! no BYPASSRLS, exactly as in production.
//!
//! With `ILS_TESTKIT_CITUS=1` (and no `DATABASE_URL`) the throwaway cluster is a Citus
//! coordinator with two workers, each on its own port, and every test database is made on all
//! three with the workers added, so that the migrations distribute the schema (`make
//! test-citus`; Citus from `make setup-citus`).
//!
//! [`proxy`] is a loopback TCP proxy a test can cut, to take a server away from a client;
//! [`redis::RedisServer`] a real Redis on loopback, for the replicas' shared state.

pub mod proxy;
pub mod redis;
mod rng;

pub use rng::Rng;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use anyhow::{Context, bail};
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection};

/// The login role the service uses in tests.
pub const SERVICE_ROLE: &str = "ils_service";

struct Server {
    /// A superuser URL without a database name.
    host: String,
    port: u16,
    admin_user: String,
    admin_password: Option<String>,
    /// Ports of the Citus workers (on `host`, same administrator), when the cluster is one.
    workers: Vec<u16>,
}

static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
static CITUS: OnceLock<Result<Server, String>> = OnceLock::new();

/// A Citus coordinator with two workers, whatever the environment asks for the tests (a
/// benchmark comparing both stores in one run): the tests' own cluster when it is one.
fn citus_server() -> anyhow::Result<&'static Server> {
    if citus_requested() {
        return server();
    }
    match CITUS.get_or_init(|| start_citus().map_err(|e| format!("{e:#}"))) {
        Ok(server) => Ok(server),
        Err(e) => bail!("no Citus cluster: {e}"),
    }
}

fn server() -> anyhow::Result<&'static Server> {
    let result = SERVER.get_or_init(|| match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => parse_external(&url).map_err(|e| format!("{e:#}")),
        _ if citus_requested() => start_citus().map_err(|e| format!("{e:#}")),
        _ => start_cluster().map_err(|e| format!("{e:#}")),
    });
    match result {
        Ok(server) => Ok(server),
        Err(e) => bail!("no PostgreSQL for the tests: {e}"),
    }
}

fn parse_external(url: &str) -> anyhow::Result<Server> {
    let options: sqlx::postgres::PgConnectOptions = url.parse().context("parsing DATABASE_URL")?;
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let userinfo = rest.split_once('@').map(|(u, _)| u).unwrap_or("");
    let (user, password) = match userinfo.split_once(':') {
        Some((u, p)) => (u.to_owned(), Some(p.to_owned())),
        None if !userinfo.is_empty() => (userinfo.to_owned(), None),
        None => ("postgres".to_owned(), None),
    };
    Ok(Server {
        host: options.get_host().to_owned(),
        port: options.get_port(),
        admin_user: user,
        admin_password: password,
        workers: Vec::new(),
    })
}

/// Whether the tests asked for a Citus cluster (`ILS_TESTKIT_CITUS=1`).
pub fn citus_requested() -> bool {
    std::env::var("ILS_TESTKIT_CITUS").is_ok_and(|v| v == "1")
}

/// Whether the tests run on a Citus cluster.
pub fn on_citus() -> bool {
    server().is_ok_and(|s| !s.workers.is_empty())
}

/// Where the PostgreSQL programs are (server and clients of one version): `PG_BIN`, then
/// `pg_config --bindir`, then the newest `/usr/lib/postgresql/<version>/bin`.
pub fn pg_bin() -> PathBuf {
    if let Ok(dir) = std::env::var("PG_BIN") {
        return PathBuf::from(dir);
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").exists() {
            return dir;
        }
    }
    // The newest server the distribution installed, e.g. /usr/lib/postgresql/15/bin.
    let mut versions: Vec<u32> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .collect();
    versions.sort_unstable();
    match versions.last() {
        Some(v) => PathBuf::from(format!("/usr/lib/postgresql/{v}/bin")),
        None => PathBuf::from("/usr/lib/postgresql/15/bin"),
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Runs `program` as the `postgres` system user when we are root (initdb refuses root).
fn as_pg_user(program: &Path) -> Command {
    if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

fn run(mut cmd: Command, what: &str) -> anyhow::Result<()> {
    let out = cmd.output().with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn start_cluster() -> anyhow::Result<Server> {
    Ok(Server {
        host: "127.0.0.1".into(),
        port: start_node("")?,
        admin_user: "postgres".into(),
        admin_password: None,
        workers: Vec::new(),
    })
}

/// A coordinator and two workers, each its own throwaway cluster with Citus preloaded.
fn start_citus() -> anyhow::Result<Server> {
    let sharedir = Command::new(pg_bin().join("pg_config"))
        .arg("--sharedir")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    if !Path::new(&sharedir)
        .join("extension/citus.control")
        .exists()
    {
        bail!("Citus is not installed in this PostgreSQL: run `make setup-citus`");
    }
    // Four shards a table keep a test database small; a maintenance daemon per database and
    // node needs a worker process of its own; distributed transactions are prepared.
    let options = "-c shared_preload_libraries=citus -c citus.shard_count=4 \
                   -c max_worker_processes=256 -c max_prepared_transactions=400 \
                   -c citus.node_conninfo=sslmode=disable";
    let port = start_node(options)?;
    let workers = vec![start_node(options)?, start_node(options)?];
    Ok(Server {
        host: "127.0.0.1".into(),
        port,
        admin_user: "postgres".into(),
        admin_password: None,
        workers,
    })
}

/// Starts one throwaway cluster with `extra` server options; returns its port.
fn start_node(extra: &str) -> anyhow::Result<u16> {
    let bin = pg_bin();
    if !bin.join("initdb").exists() {
        bail!(
            "PostgreSQL server binaries not found in {}; run `make setup` (scripts/setup-system.sh) or set DATABASE_URL",
            bin.display()
        );
    }
    let dir = tempfile::Builder::new()
        .prefix("ils-pg-")
        .tempdir()
        .context("creating the cluster directory")?
        .keep();
    if is_root() {
        run(
            {
                let mut c = Command::new("chown");
                c.args(["-R", "postgres:postgres"]).arg(&dir);
                c
            },
            "chown of the cluster directory",
        )?;
    }
    let data = dir.join("data");
    let mut initdb = as_pg_user(&bin.join("initdb"));
    initdb.arg("-D").arg(&data).args([
        "-U",
        "postgres",
        "--auth=trust",
        "-E",
        "UTF8",
        "--no-sync",
        "--locale=C",
    ]);
    run(initdb, "initdb")?;

    let port = free_port()?;
    // ILS_TESTKIT_PG_OPTIONS adds server options, e.g. `-c shared_preload_libraries=
    // pg_stat_statements` to see what a benchmark's statements cost.
    let options = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
         -c full_page_writes=off -c max_connections=400 -c shared_buffers=128MB {extra} {}",
        dir.display(),
        std::env::var("ILS_TESTKIT_PG_OPTIONS").unwrap_or_default()
    );
    let mut start = as_pg_user(&bin.join("pg_ctl"));
    start
        .arg("-D")
        .arg(&data)
        .args(["-o", &options, "-l"])
        .arg(dir.join("server.log"))
        .args(["-w", "-t", "60", "start"]);
    start.stdout(Stdio::null());
    run(start, "pg_ctl start")?;

    spawn_watchdog(&bin, &data, &dir)?;
    Ok(port)
}

/// A detached shell that waits for this process to end, then stops the cluster and removes it.
fn spawn_watchdog(bin: &Path, data: &Path, dir: &Path) -> anyhow::Result<()> {
    let pid = std::process::id();
    let stop = if is_root() {
        format!(
            "runuser -u postgres -- {} -D {} -m immediate stop",
            bin.join("pg_ctl").display(),
            data.display()
        )
    } else {
        format!(
            "{} -D {} -m immediate stop",
            bin.join("pg_ctl").display(),
            data.display()
        )
    };
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; {stop} >/dev/null 2>&1; rm -rf {}",
        dir.display()
    );
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    cmd.spawn().context("starting the cluster watchdog")?;
    Ok(())
}

impl Server {
    fn url(&self, user: &str, password: Option<&str>, database: &str) -> String {
        let auth = match password {
            Some(p) => format!("{user}:{p}"),
            None => user.to_owned(),
        };
        format!("postgres://{auth}@{}:{}/{database}", self.host, self.port)
    }

    fn admin_url(&self, database: &str) -> String {
        self.url(&self.admin_user, self.admin_password.as_deref(), database)
    }

    fn worker_admin_url(&self, port: u16, database: &str) -> String {
        Server {
            host: self.host.clone(),
            port,
            admin_user: self.admin_user.clone(),
            admin_password: self.admin_password.clone(),
            workers: Vec::new(),
        }
        .admin_url(database)
    }

    /// Makes database `name` on every worker with the extensions the schema needs, and adds
    /// the workers to the coordinator's `name` (which must exist), before the migrations run.
    async fn prepare_citus_database(&self, name: &str) -> anyhow::Result<()> {
        for &port in &self.workers {
            let mut admin = PgConnection::connect(&self.worker_admin_url(port, "postgres"))
                .await
                .context("connecting to a Citus worker")?;
            ensure_roles(&mut admin).await?;
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut admin)
                .await
                .context("creating the test database on a worker")?;
            admin.close().await.ok();
            let mut db = PgConnection::connect(&self.worker_admin_url(port, name)).await?;
            sqlx::raw_sql("CREATE EXTENSION citus; CREATE EXTENSION vector")
                .execute(&mut db)
                .await
                .context("Citus and pgvector on a worker")?;
            db.close().await.ok();
        }
        let mut coordinator = PgConnection::connect(&self.admin_url(name)).await?;
        sqlx::raw_sql("CREATE EXTENSION citus; CREATE EXTENSION vector")
            .execute(&mut coordinator)
            .await
            .context("Citus and pgvector on the coordinator")?;
        sqlx::query("SELECT citus_set_coordinator_host($1, $2)")
            .bind(&self.host)
            .bind(i32::from(self.port))
            .execute(&mut coordinator)
            .await
            .context("citus_set_coordinator_host")?;
        for &port in &self.workers {
            // Adding a node syncs metadata over fresh connections to every worker; with tests
            // creating databases side by side one of them now and then fails ("failure on
            // connection marked as essential"). Adding the same node again is harmless.
            let mut attempt = 0;
            loop {
                attempt += 1;
                let added = sqlx::query("SELECT citus_add_node($1, $2)")
                    .bind(&self.host)
                    .bind(i32::from(port))
                    .execute(&mut coordinator)
                    .await;
                match added {
                    Ok(_) => break,
                    Err(e) if attempt < 5 => {
                        eprintln!("citus_add_node, attempt {attempt}: {e}; trying again");
                        tokio::time::sleep(std::time::Duration::from_millis(200 * attempt)).await;
                    }
                    Err(e) => return Err(e).context("citus_add_node"),
                }
            }
        }
        coordinator.close().await.ok();
        Ok(())
    }
}

/// A fresh, migrated database for one test.
#[derive(Debug, Clone)]
pub struct TestDb {
    pub name: String,
    /// Superuser connection (owner of the schema; bypasses RLS). For setup and catalog checks.
    pub owner_url: String,
    /// The service's connection: `ils_service`, subject to RLS.
    pub service_url: String,
}

impl TestDb {
    pub async fn create(migrator: &Migrator) -> anyhow::Result<Self> {
        Self::create_in(server()?, migrator).await
    }

    /// A fresh, migrated database on a Citus coordinator with two workers (started once per
    /// process, on loopback, like the tests' cluster), whatever `ILS_TESTKIT_CITUS` says.
    pub async fn create_on_citus(migrator: &Migrator) -> anyhow::Result<Self> {
        Self::create_in(citus_server()?, migrator).await
    }

    /// Making a database on a Citus cluster while other tests make theirs now and then fails in
    /// one of its steps (extensions, metadata sync over fresh connections to the workers); a
    /// fresh database under a new name is made instead, and the error is printed so that the
    /// step shows in the test's output. On plain PostgreSQL the first error is returned.
    async fn create_in(server: &Server, migrator: &Migrator) -> anyhow::Result<Self> {
        let attempts = if server.workers.is_empty() { 1 } else { 3 };
        let mut attempt = 0;
        loop {
            attempt += 1;
            match Self::create_once(server, migrator).await {
                Err(e) if attempt < attempts => {
                    eprintln!(
                        "making a Citus test database, attempt {attempt}: {e:#}; trying again"
                    );
                    tokio::time::sleep(std::time::Duration::from_millis(300 * attempt)).await;
                }
                made => return made,
            }
        }
    }

    async fn create_once(server: &Server, migrator: &Migrator) -> anyhow::Result<Self> {
        let name = format!("ils_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&server.admin_url("postgres"))
            .await
            .context("connecting to PostgreSQL as the administrator")?;
        ensure_roles(&mut admin).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .context("creating the test database")?;
        admin.close().await.ok();
        if !server.workers.is_empty() {
            server.prepare_citus_database(&name).await?;
        }

        let owner_url = server.admin_url(&name);
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect(&owner_url)
            .await?;
        migrator
            .run(&pool)
            .await
            .context("migrating the test database")?;
        pool.close().await;

        let service_password = std::env::var("ILS_TEST_SERVICE_PASSWORD").ok();
        Ok(Self {
            service_url: server.url(SERVICE_ROLE, service_password.as_deref(), &name),
            owner_url,
            name,
        })
    }
}

async fn ensure_roles(admin: &mut PgConnection) -> anyhow::Result<()> {
    // Concurrent test processes may race to create the roles; a duplicate is fine.
    let password = std::env::var("ILS_TEST_SERVICE_PASSWORD").ok();
    let password_clause = password
        .as_deref()
        .map(|p| format!(" PASSWORD '{}'", p.replace('\'', "''")))
        .unwrap_or_default();
    let statement = format!(
        "DO $$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ils_app') THEN
                CREATE ROLE ils_app NOLOGIN NOBYPASSRLS;
            END IF;
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{SERVICE_ROLE}') THEN
                CREATE ROLE {SERVICE_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE INHERIT IN ROLE ils_app{password_clause};
            END IF;
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
         END $$"
    );
    sqlx::query(sqlx::AssertSqlSafe(statement))
        .execute(admin)
        .await
        .context("creating the service roles")?;
    Ok(())
}

/// The machine's CPU model (`model name` of /proc/cpuinfo), printed beside every benchmark's
/// figures: the same code runs at different speeds on an AMD EPYC and an Intel Xeon.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}
