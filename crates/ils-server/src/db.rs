//! The database handle and the two scopes every query runs in.
//!
//! A storage function takes a [`TenantTx`]: a transaction already bound to one tenant with
//! `set_config('ils.company_id', …, true)`, so row-level security applies, and that carries the
//! tenant id for the application's own `WHERE company_id = …` (the first wall). A `TenantTx` can
//! only be opened from a [`TenantCtx`], and a `TenantCtx` can only be made inside this crate from
//! something verified: an access token, a password check, a refresh token.
//!
//! Platform administration uses a [`PlatformTx`]: its only extra power is seeing every row of
//! `companies`; to touch a tenant's own tables it enters that tenant explicitly.

use std::time::Duration;

use ils_core::{CompanyId, Role, UserId};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, PgConnection, PgPool, Postgres, Transaction};

use crate::config::DatabaseSettings;
use crate::error::{Error, Result};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

/// Who is acting, for audit rows.
#[derive(Clone, Debug)]
pub struct AuditActor {
    pub user_id: Option<UserId>,
    pub company_id: CompanyId,
    pub role: Option<Role>,
    pub request_id: Option<String>,
    pub device: Option<String>,
}

/// A verified tenant. Constructed only inside this crate, from verified credentials.
#[derive(Clone, Debug)]
pub struct TenantCtx {
    company_id: CompanyId,
    actor: AuditActor,
}

impl TenantCtx {
    pub(crate) fn verified(company_id: CompanyId, actor: AuditActor) -> Self {
        Self { company_id, actor }
    }

    pub fn company_id(&self) -> CompanyId {
        self.company_id
    }

    pub fn actor(&self) -> &AuditActor {
        &self.actor
    }
}

/// A verified platform administrator (or the bootstrap command).
#[derive(Clone, Debug)]
pub struct PlatformCtx {
    home: CompanyId,
    actor: AuditActor,
}

impl PlatformCtx {
    pub(crate) fn verified(home: CompanyId, actor: AuditActor) -> Self {
        Self { home, actor }
    }

    pub fn home(&self) -> CompanyId {
        self.home
    }

    pub fn actor(&self) -> &AuditActor {
        &self.actor
    }
}

#[derive(Clone, Debug)]
pub struct Db {
    pool: PgPool,
    /// The database is a Citus coordinator: the tenant setting travels in a query of its own.
    distributed: bool,
}

/// A transaction bound to one tenant.
#[derive(Debug)]
pub struct TenantTx {
    tx: Transaction<'static, Postgres>,
    company_id: CompanyId,
    /// Whether the tenant's erasure lock is held shared (`store::gdpr::lock_for_listing`).
    pub(crate) listing_locked: bool,
    /// Changes of the tenant's records made in this transaction, with the user who made each:
    /// appended to the tenant's sync feed when it commits (`sync::flush`).
    staged: Vec<(ils_core::change::ChangeDraft, UserId)>,
}

impl TenantTx {
    pub fn company_id(&self) -> CompanyId {
        self.company_id
    }

    /// The transaction's `now()`, for statements that choose a time in a `CASE`: Citus
    /// refuses functions that are not immutable there ("non-IMMUTABLE functions are not allowed
    /// in CASE or COALESCE statements"), so such statements take it as a parameter. The same
    /// value as `now()` in any statement of this transaction.
    pub async fn now(&mut self) -> Result<chrono::DateTime<chrono::Utc>> {
        let (now,): (chrono::DateTime<chrono::Utc>,) = sqlx::query_as("SELECT now()")
            .fetch_one(&mut *self.tx)
            .await?;
        Ok(now)
    }

    /// The tenant id as a bind parameter for the application-side `company_id = $n` filter.
    pub fn tenant(&self) -> uuid::Uuid {
        self.company_id.into_uuid()
    }

    pub fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    /// Notes a change of one of the tenant's records, made in this transaction by `user`, for
    /// the tenant's sync feed.
    pub fn stage(&mut self, draft: ils_core::change::ChangeDraft, user: UserId) {
        self.staged.push((draft, user));
    }

    /// Commits; the changes staged are appended to the tenant's sync feed first, in the same
    /// transaction.
    pub async fn commit(mut self) -> Result<()> {
        let staged = std::mem::take(&mut self.staged);
        crate::sync::flush(&mut self, staged).await?;
        self.tx.commit().await.map_err(Error::from)
    }

    /// Ends a transaction that only read (and wrote no audit row), without a round trip of its
    /// own: the `ROLLBACK` is queued on the connection and travels with the pool's check of the
    /// connection when it takes it back (sqlx pings every connection it is returned), before
    /// any other request can use it. For a read there is nothing to commit.
    pub fn end_read(self) {
        drop(self.tx);
    }
}

/// A platform-administration transaction: sees all companies; enters one tenant at a time.
#[derive(Debug)]
pub struct PlatformTx {
    inner: TenantTx,
    home: CompanyId,
}

impl PlatformTx {
    /// For queries on `companies`, which the platform scope sees whole.
    pub fn conn(&mut self) -> &mut PgConnection {
        self.inner.conn()
    }

    /// Binds the rest of the transaction to `company_id` until another tenant is entered.
    pub async fn enter_tenant(&mut self, company_id: CompanyId) -> Result<&mut TenantTx> {
        // `SET` takes no bind parameters; the id is a UUID, whose text form cannot carry SQL.
        let statement = format!(
            "SET LOCAL ils.company_id = '{}'",
            company_id.into_uuid().hyphenated()
        );
        sqlx::raw_sql(AssertSqlSafe(statement))
            .execute(self.inner.conn())
            .await?;
        self.inner.company_id = company_id;
        Ok(&mut self.inner)
    }

    /// Back to the platform operator's own company (for its own audit rows).
    pub async fn enter_home(&mut self) -> Result<&mut TenantTx> {
        self.enter_tenant(self.home).await
    }

    pub async fn commit(self) -> Result<()> {
        self.inner.commit().await
    }
}

impl Db {
    pub async fn connect(settings: &DatabaseSettings) -> Result<Self> {
        let options: PgConnectOptions = settings
            .url
            .expose()
            .parse()
            .map_err(|e| Error::Internal(format!("invalid database.url: {e}")))?;
        let options = options.application_name("ils-server");
        let distributed = is_citus(&options).await?;
        // On Citus, workers see a `SET LOCAL` only when the coordinator passes it on.
        let options = if distributed {
            options.options([("citus.propagate_set_commands", "local")])
        } else {
            options
        };
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .min_connections(1.min(settings.max_connections))
            .acquire_timeout(Duration::from_millis(settings.acquire_timeout_ms))
            .connect_with(options)
            .await
            .map_err(Error::Unavailable)?;
        if distributed {
            tracing::info!(
                "the database is a Citus coordinator: tenant settings are passed on to its workers"
            );
        }
        Ok(Self { pool, distributed })
    }

    pub fn from_pool(pool: PgPool) -> Self {
        Self {
            pool,
            distributed: false,
        }
    }

    /// Whether the database is a Citus coordinator.
    pub fn is_distributed(&self) -> bool {
        self.distributed
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Opens a transaction bound to the tenant. `BEGIN` and the tenant setting travel in one
    /// round trip; the id is a UUID, whose text form cannot carry SQL. The setting is made with
    /// `SET LOCAL`, which a distributed PostgreSQL (Citus, with
    /// `citus.propagate_set_commands = 'local'`) passes on to its workers, where the row-level
    /// security policies run; `set_config` would not be passed on.
    pub async fn tenant_tx(&self, ctx: &TenantCtx) -> Result<TenantTx> {
        self.begin_scoped(ctx.company_id, false, false).await
    }

    /// A tenant transaction for a list or search of patients or orders: the tenant's erasure
    /// lock is taken shared in the same round trip as `BEGIN` (see
    /// `store::gdpr::lock_for_listing`, which then has nothing left to do).
    pub async fn tenant_tx_for_listing(&self, ctx: &TenantCtx) -> Result<TenantTx> {
        self.begin_scoped(ctx.company_id, false, true).await
    }

    /// A listing transaction for the patient search, whose statements run with plans made once
    /// per connection (`plan_cache_mode = force_generic_plan`, set in the `BEGIN` round trip).
    /// PostgreSQL keeps planning a statement for each set of values while it estimates that
    /// such plans cost less; for the search, whose every step has one good plan
    /// (`store::patients::search`), planning cost more than running it. (Not on Citus, which
    /// cannot distribute a generic plan.)
    pub async fn tenant_tx_for_patient_search(&self, ctx: &TenantCtx) -> Result<TenantTx> {
        self.begin_with(
            ctx.company_id,
            false,
            true,
            "; SET LOCAL plan_cache_mode = force_generic_plan",
        )
        .await
    }

    /// Reads rows of one tenant in a single round trip: `BEGIN`, the tenant setting, the read
    /// and `COMMIT` travel together as one simple query, under the same row-level security as
    /// any tenant transaction. For reads that write nothing (no audit row) and whose only
    /// values are typed ids: `select` comes from [`ReadById`], which can only put UUIDs in it.
    ///
    /// A read without texts runs as `EXECUTE` of a statement the connection prepared once
    /// (`PREPARE`, on the first read of that kind the connection serves), so PostgreSQL plans it
    /// once per connection instead of once per request: planning a simple query under
    /// row-level security cost more than running it (see the README's performance section).
    pub async fn read_tenant_rows<T>(&self, ctx: &TenantCtx, select: ReadById) -> Result<Vec<T>>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
    {
        let rows = if self.distributed {
            // Citus passes a `SET LOCAL` on to its workers by replaying the whole query string
            // it came in, so the setting cannot share a string with the select.
            use futures::TryStreamExt;
            let mut tx = self.begin_scoped(ctx.company_id, false, false).await?;
            let rows = sqlx::raw_sql(AssertSqlSafe(select.literal()))
                .fetch(&mut *tx.tx)
                .try_collect::<Vec<_>>()
                .await?;
            tx.tx.commit().await?;
            rows
        } else {
            let scoped = |read: &str| {
                format!(
                    "BEGIN; SET LOCAL ils.company_id = '{}'; SET LOCAL ils.platform = 'off'; {read}; COMMIT",
                    ctx.company_id.into_uuid().hyphenated(),
                )
            };
            let mut conn = self.pool.acquire().await?;
            if !select.is_prepared() {
                read_once(&mut conn, scoped(&select.literal())).await?
            } else {
                match read_once(&mut conn, scoped(&select.execute())).await {
                    Err(e) if is_unknown_statement(&e) => {
                        // This connection has not prepared this read yet (a new connection, or
                        // one whose session was reset): prepare it, and read again.
                        sqlx::raw_sql(AssertSqlSafe(select.prepare()))
                            .execute(&mut *conn)
                            .await?;
                        read_once(&mut conn, scoped(&select.execute())).await?
                    }
                    other => other?,
                }
            }
        };
        rows.iter()
            .map(|row| T::from_row(row).map_err(Error::from))
            .collect()
    }

    pub async fn platform_tx(&self, ctx: &PlatformCtx) -> Result<PlatformTx> {
        let inner = self.begin_scoped(ctx.home, true, false).await?;
        Ok(PlatformTx {
            inner,
            home: ctx.home,
        })
    }

    async fn begin_scoped(
        &self,
        company_id: CompanyId,
        platform: bool,
        listing: bool,
    ) -> Result<TenantTx> {
        self.begin_with(company_id, platform, listing, "").await
    }

    /// `settings`: more `SET LOCAL`s of the planner (fixed text, each after a `;`) sent with the
    /// tenant's on plain PostgreSQL; a Citus coordinator plans as it must.
    async fn begin_with(
        &self,
        company_id: CompanyId,
        platform: bool,
        listing: bool,
        settings: &'static str,
    ) -> Result<TenantTx> {
        let uuid: uuid::Uuid = company_id.into_uuid();
        if self.distributed {
            // Citus replays the query string of a `SET LOCAL` on every worker the transaction
            // reaches: the settings travel alone, after `BEGIN` (one round trip more).
            let mut tx = self.pool.begin().await?;
            // The plan settings stay on plain PostgreSQL: a Citus coordinator cannot make a
            // distributed plan of a generic one ("could not create distributed plan").
            let statement = format!(
                "SET LOCAL ils.company_id = '{}'; SET LOCAL ils.platform = '{}'",
                uuid.hyphenated(),
                if platform { "on" } else { "off" }
            );
            sqlx::raw_sql(AssertSqlSafe(statement))
                .execute(&mut *tx)
                .await?;
            if listing {
                // Advisory locks live on the coordinator, where every replica connects.
                sqlx::query("SELECT pg_advisory_xact_lock_shared(hashtextextended($1, 0))")
                    .bind(erasure_lock_key(company_id))
                    .execute(&mut *tx)
                    .await?;
            }
            return Ok(TenantTx {
                tx,
                company_id,
                listing_locked: listing,
                staged: Vec::new(),
            });
        }
        let mut statement = format!(
            "BEGIN; SET LOCAL ils.company_id = '{}'; SET LOCAL ils.platform = '{}'{settings}",
            uuid.hyphenated(),
            if platform { "on" } else { "off" }
        );
        if listing {
            statement.push_str(&format!(
                "; SELECT pg_advisory_xact_lock_shared(hashtextextended('{}', 0))",
                erasure_lock_key(company_id)
            ));
        }
        let tx = self.pool.begin_with(AssertSqlSafe(statement)).await?;
        Ok(TenantTx {
            tx,
            company_id,
            listing_locked: listing,
            staged: Vec::new(),
        })
    }

    /// `SELECT 1` within `timeout`, for the health check.
    pub async fn ping(&self, timeout: Duration) -> Result<()> {
        match tokio::time::timeout(timeout, sqlx::query("SELECT 1").execute(&self.pool)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(Error::Unavailable(e)),
            Err(_) => Err(Error::Unavailable(sqlx::Error::PoolTimedOut)),
        }
    }
}

/// A `SELECT` whose only values are ids, for [`Db::read_tenant_rows`]: the SQL text is the
/// code's own (never input) and each `{}` in it is filled with a UUID's text, which cannot
/// carry SQL. The texts a request needs are made when it needs them: on plain PostgreSQL only
/// the `EXECUTE` (and, once per connection, the `PREPARE`); on Citus the statement with its
/// values written in.
#[derive(Debug)]
pub struct ReadById {
    template: String,
    ids: Vec<uuid::Uuid>,
    /// Markers of `template` and the hex-carried text arrays that replace them (`with_texts`);
    /// a read with texts is never prepared.
    texts: Vec<(String, String)>,
}

impl ReadById {
    /// `template` with each `{}` standing for the next of `ids`.
    pub fn new(template: &str, ids: &[uuid::Uuid]) -> Self {
        debug_assert_eq!(template.matches("{}").count(), ids.len(), "{template}");
        Self {
            template: template.to_owned(),
            ids: ids.to_vec(),
            texts: Vec::new(),
        }
    }

    /// Replaces `marker` with a text array holding `values`, carried hex-encoded
    /// (`convert_from(decode('…', 'hex'), 'UTF8')`): the SQL text gains hex digits only, so no
    /// value can carry SQL. Such a read is planned each time (its texts are part of its text).
    pub fn with_texts(mut self, marker: &str, values: &[String]) -> Self {
        let json = serde_json::to_string(values).unwrap_or_else(|_| "[]".into());
        let hex: String = json.bytes().map(|b| format!("{b:02x}")).collect();
        let array = format!(
            "ARRAY(SELECT jsonb_array_elements_text(convert_from(decode('{hex}', 'hex'), 'UTF8')::jsonb))"
        );
        self.texts.push((marker.to_owned(), array));
        self
    }

    /// The template with each `{}` replaced by `fill(n)`, n counting from 1.
    fn fill(&self, mut fill: impl FnMut(usize) -> String) -> String {
        let mut parts = self.template.split("{}");
        let mut sql = String::with_capacity(self.template.len() + self.ids.len() * 48);
        sql.push_str(parts.next().unwrap_or_default());
        for (n, part) in parts.enumerate() {
            sql.push_str(&fill(n + 1));
            sql.push_str(part);
        }
        sql
    }

    /// The statement with its values written in (`'<uuid>'::uuid`, and the texts).
    fn literal(&self) -> String {
        let mut sql = self.fill(|n| {
            let id = self.ids.get(n - 1).copied().unwrap_or_default();
            format!("'{}'::uuid", id.hyphenated())
        });
        for (marker, array) in &self.texts {
            sql = sql.replacen(marker.as_str(), array, 1);
        }
        sql
    }

    /// Whether the read runs as a statement prepared once per connection.
    fn is_prepared(&self) -> bool {
        self.texts.is_empty() && !self.ids.is_empty()
    }

    /// The prepared statement's name: a hash of the template, so two different reads never
    /// share one, whatever order a connection meets them in.
    fn name(&self) -> String {
        format!("ils_read_{:016x}", fnv1a(self.template.as_bytes()))
    }

    /// `PREPARE <name>(uuid, …) AS <template with $n>`: sent once per connection.
    fn prepare(&self) -> String {
        let types = vec!["uuid"; self.ids.len()].join(", ");
        format!(
            "PREPARE {}({types}) AS {}",
            self.name(),
            self.fill(|n| format!("${n}"))
        )
    }

    /// `EXECUTE <name>('<uuid>'::uuid, …)`: what each request sends.
    fn execute(&self) -> String {
        let args: Vec<String> = self
            .ids
            .iter()
            .map(|id| format!("'{}'::uuid", id.hyphenated()))
            .collect();
        format!("EXECUTE {}({})", self.name(), args.join(", "))
    }
}

/// FNV-1a, 64 bits: a stable name for a prepared read (not a security boundary).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Runs one simple query of a one-round-trip read and collects its rows. A failed statement
/// leaves the transaction aborted and skips the `COMMIT`: it is ended here, so that the
/// connection goes back to the pool clean.
async fn read_once(
    conn: &mut PgConnection,
    statement: String,
) -> std::result::Result<Vec<sqlx::postgres::PgRow>, sqlx::Error> {
    use futures::TryStreamExt;
    let fetched = sqlx::raw_sql(AssertSqlSafe(statement))
        .fetch(&mut *conn)
        .try_collect()
        .await;
    if fetched.is_err() {
        let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
    }
    fetched
}

/// `invalid_sql_statement_name`: the connection has no statement of that name.
fn is_unknown_statement(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "26000")
}

/// The name of a tenant's erasure lock (a UUID inside: safe in a literal).
pub(crate) fn erasure_lock_key(company_id: CompanyId) -> String {
    format!("ils.erasure:{}", company_id.into_uuid().hyphenated())
}

/// Runs the migrations over `url` (the owner's connection).
pub async fn migrate(url: &str) -> Result<()> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .map_err(Error::Unavailable)?;
    MIGRATOR
        .run(&pool)
        .await
        .map_err(|e| Error::Internal(format!("migration failed: {e}")))?;
    pool.close().await;
    Ok(())
}

/// Whether the database at `options` is a Citus coordinator (the extension is installed).
async fn is_citus(options: &PgConnectOptions) -> Result<bool> {
    use sqlx::Connection;
    let mut conn = PgConnection::connect_with(options)
        .await
        .map_err(Error::Unavailable)?;
    let citus: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus')")
            .fetch_one(&mut conn)
            .await?;
    conn.close().await.ok();
    Ok(citus)
}

#[cfg(test)]
mod tests {
    use super::ReadById;

    #[test]
    fn a_read_by_id_holds_only_the_ids() {
        let a = uuid::Uuid::now_v7();
        let b = uuid::Uuid::now_v7();
        let read = ReadById::new("SELECT x FROM t WHERE company_id = {} AND id = {}", &[a, b]);
        assert_eq!(
            read.literal(),
            format!("SELECT x FROM t WHERE company_id = '{a}'::uuid AND id = '{b}'::uuid")
        );
        assert!(read.is_prepared());
        let prepare = read.prepare();
        let name = prepare
            .strip_prefix("PREPARE ")
            .and_then(|rest| rest.split('(').next())
            .expect("name");
        assert!(name.starts_with("ils_read_"), "{name}");
        assert_eq!(
            prepare,
            format!(
                "PREPARE {name}(uuid, uuid) AS SELECT x FROM t WHERE company_id = $1 AND id = $2"
            )
        );
        assert_eq!(
            read.execute(),
            format!("EXECUTE {name}('{a}'::uuid, '{b}'::uuid)")
        );
        // Another read never shares the name, whatever its values.
        let other = ReadById::new("SELECT y FROM t WHERE company_id = {} AND id = {}", &[a, b]);
        assert!(other.is_prepared());
        assert!(!other.prepare().contains(name));
        assert!(!other.execute().contains(name));
    }

    #[test]
    fn texts_travel_as_hex_digits_only() {
        let hostile = vec![
            "O'Brien'); DROP TABLE patients; --".to_owned(),
            "Ωmega".to_owned(),
        ];
        let read = ReadById::new("SELECT f({words})", &[]).with_texts("{words}", &hostile);
        let sql = read.literal();
        let inside = sql
            .split("decode('")
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            .expect("hex literal");
        assert!(inside.chars().all(|c| c.is_ascii_hexdigit()), "{sql}");
        assert!(!sql.contains("DROP"));
        assert!(!read.is_prepared(), "texts are never prepared");
        let bytes: Vec<u8> = (0..inside.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&inside[i..i + 2], 16).expect("hex"))
            .collect();
        let back: Vec<String> = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(back, hostile);
    }
}
