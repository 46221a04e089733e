//! The local SQLite store: one file per installation, one practice's data.
//!
//! Opening applies the migrations in `migrations/sqlite` in order and records the version in
//! `PRAGMA user_version`; a file written by a newer build is refused with a clear message
//! rather than touched. WAL journal, `synchronous = FULL`, foreign keys on, a busy timeout.
//!
//! The store carries out the plans of `ils_core::decide`; it holds no business rule. Every
//! write, and every read of a patient's record (which writes its audit row), runs in a
//! transaction that takes SQLite's write lock when it begins (`BEGIN IMMEDIATE`), so that
//! several processes on one file (the app, its sync client, the CLI) wait their turn instead
//! of failing, and a transaction never reads a state another process changes before it
//! writes. A write's record, its change for sync (stamped by the device's hybrid logical clock,
//! whose state lives in the file and advances inside the same transaction) and its audit row
//! commit together.

mod audit;
mod conflicts;
mod conversations;
mod error;
mod orders;
mod patients;
mod practice;
mod prescriptions;
pub(crate) mod sync;
mod upload;
mod vec;
mod wipe;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use ils_core::audit::AuditEvent;
use ils_core::change::{Change, ChangeDraft};
use ils_core::decide::Ctx;
use ils_core::hlc::{HlcStamp, HybridClock, MAX_DRIFT_MS};
use ils_core::{Actor, ChangeId, DeviceId, DomainError};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use serde::Serialize;

pub use audit::AuditEntry;
pub use conversations::{Conversation, Message, MessageRole};
pub use error::StoreError;
pub use orders::{BoardColumn, BoardOrder, OrderBoard, OrderFilter, PatientLabel};
pub(crate) use practice::password_verifier as practice_verifier;
pub use practice::{LocalUser, NewPractice, NewUser, Practice};
pub use sync::{LocalConflict, PullTally, PushTally, RejectedChange, SyncState};
pub use vec::{DIMENSIONS, EMBEDDING_BYTES, blob_to_embedding, embedding_to_blob};

/// The migrations, in order; the position + 1 is the schema version it brings.
pub const MIGRATIONS: &[&str] = &[
    include_str!("../../../../migrations/sqlite/0001_init.sql"),
    include_str!("../../../../migrations/sqlite/0002_records_kb_audit.sql"),
    include_str!("../../../../migrations/sqlite/0003_identity_changes_clock.sql"),
    include_str!("../../../../migrations/sqlite/0004_kb_vector_index.sql"),
    include_str!("../../../../migrations/sqlite/0005_sync.sql"),
    include_str!("../../../../migrations/sqlite/0006_resolutions_and_upload.sql"),
    include_str!("../../../../migrations/sqlite/0007_status_counts.sql"),
];

/// How long a transaction waits for another process's write to finish before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(20);

/// One change waiting for (or done with) sync.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OutboxRow {
    pub seq: i64,
    pub change_id: String,
    pub entity: String,
    pub entity_id: String,
    pub operation: String,
    pub hlc: HlcStamp,
    /// The change as it travels (`docs/sync-changes.md`).
    pub change: String,
}

/// What time it is, for the store. Tests pass a fixed clock.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

pub struct Store {
    conn: Connection,
    path: PathBuf,
    device: DeviceId,
    actor: Option<Actor>,
    clock: Clock,
    /// The knowledge base's vector index (`kb::index`), built at the first search and kept
    /// consistent with the file; behind a mutex because searches take the store shared.
    pub(crate) kb_index: std::sync::Mutex<crate::kb::index::VectorIndex>,
    /// Raised when a write that staged a change for ILS Central commits: the background sync
    /// waits on it to push at once.
    sync_wanted: Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("device", &self.device)
            .field("actor", &self.actor)
            .finish_non_exhaustive()
    }
}

pub(crate) fn now_text(now: DateTime<Utc>) -> String {
    now.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A stored timestamp (RFC 3339).
pub(crate) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

impl Store {
    /// Opens (creating if needed) this installation's database. The device id is made once, at
    /// random, and kept in the file (`meta.device_id`).
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_at(path, MIGRATIONS)
    }

    /// Opens with only the first `migrations.len()` migrations known: how an older build opens a
    /// file (the migration tests use it to write files of every earlier schema).
    #[doc(hidden)]
    pub fn open_at(path: &Path, migrations: &[&str]) -> Result<Self, StoreError> {
        vec::register();
        let opened = (|| {
            let mut conn = Connection::open(path)?;
            conn.busy_timeout(BUSY_TIMEOUT)?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "FULL")?;
            conn.pragma_update(None, "foreign_keys", "ON")?;
            // Deleted content is overwritten, not left in free pages: an erased patient must
            // not survive in the file's bytes.
            conn.pragma_update(None, "secure_delete", "ON")?;
            // Reads (search scans vectors and the full-text index) go through memory mapping
            // and a 64 MiB page cache instead of a read system call per page.
            conn.pragma_update(None, "mmap_size", 1i64 << 30)?;
            conn.pragma_update(None, "cache_size", -65_536)?;
            migrate(&mut conn, migrations)?;
            if migrations.len() >= 5 {
                sync::ensure_indexes(&conn)?;
            }
            let device = device_id(&mut conn)?;
            Ok::<_, StoreError>((conn, device))
        })();
        let (conn, device) = opened.map_err(|e| e.at(path))?;
        Ok(Self {
            conn,
            path: path.to_owned(),
            device,
            actor: None,
            clock: Arc::new(Utc::now),
            kb_index: Default::default(),
            sync_wanted: Arc::default(),
        })
    }

    /// Uses `clock` instead of the system clock (tests that need a fixed "today").
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// This installation's device id.
    pub fn device(&self) -> DeviceId {
        self.device
    }

    /// Who reads and changes records from now on (see `sign_in` for a local user by e-mail).
    pub fn act_as(&mut self, actor: Actor) {
        self.actor = Some(actor);
    }

    pub fn sign_out(&mut self) {
        self.actor = None;
    }

    pub fn actor(&self) -> Result<&Actor, StoreError> {
        self.actor.as_ref().ok_or(StoreError::NotSignedIn)
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    /// The raw connection, for the knowledge base and benchmarks in this crate.
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// The practice's date and the time now, as decisions see them.
    /// The practice's date now, and now.
    pub(crate) fn moment(&self) -> Result<(NaiveDate, DateTime<Utc>), StoreError> {
        let now = self.now();
        let zone = practice::time_zone(&self.conn)?;
        Ok((ils_core::clock::practice_date(now, zone), now))
    }

    /// Starts a write as the signed-in user: the write lock is taken at once.
    pub(crate) fn begin_write(&mut self) -> Result<Write<'_>, StoreError> {
        let actor = self.actor()?.clone();
        let (today, now) = self.moment()?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| StoreError::from(e).at(&self.path))?;
        Ok(Write {
            tx,
            actor,
            device: self.device,
            today,
            now,
            path: &self.path,
            staged: std::cell::Cell::new(false),
            sync_wanted: &self.sync_wanted,
        })
    }

    /// The signal raised each time a write that staged a change for ILS Central commits.
    pub fn sync_wanted(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.sync_wanted)
    }

    pub fn schema_version(&self) -> Result<u32, StoreError> {
        Ok(self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    /// Changes not yet pushed, oldest first.
    pub fn pending_changes(&self) -> Result<Vec<OutboxRow>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT seq, change_id, entity, entity_id, operation, hlc, change FROM outbox
             WHERE pushed_at IS NULL AND rejected_at IS NULL ORDER BY seq",
        )?;
        let rows = stmt
            .query_map([], |r| {
                let hlc: String = r.get(5)?;
                Ok(OutboxRow {
                    seq: r.get(0)?,
                    change_id: r.get(1)?,
                    entity: r.get(2)?,
                    entity_id: r.get(3)?,
                    operation: r.get(4)?,
                    hlc: hlc.parse().map_err(|e| bad_column(5, Box::new(e)))?,
                    change: r.get(6)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Sets one of the practice's settings (`company:update`), audited.
    pub fn set_setting(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        self.set_setting_with(key, value, serde_json::Value::Null)
    }

    /// Sets a setting, with `details` (ids, kinds of change; never values) in its audit row.
    pub fn set_setting_with(
        &mut self,
        key: &str,
        value: &str,
        details: serde_json::Value,
    ) -> Result<(), StoreError> {
        self.actor()?
            .require(ils_core::access::perm::COMPANY_UPDATE)?;
        let w = self.begin_write()?;
        w.execute(
            "INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            params![key, value, now_text(w.now)],
        )?;
        let event = AuditEvent::new(
            ils_core::audit::AuditAction::SettingUpdate,
            ils_core::audit::resource::SETTING,
            key,
        );
        w.audit(&if details.is_null() {
            event
        } else {
            event.with_details(details)
        })?;
        w.commit()
    }

    /// Every value of every table, as text (tests look for what must not be there).
    #[doc(hidden)]
    pub fn dump_text(&self) -> Result<String, StoreError> {
        let mut tables = self.conn.prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND sql NOT LIKE 'CREATE VIRTUAL%'",
        )?;
        let names = tables
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = String::new();
        for name in names {
            let mut stmt = self
                .conn
                .prepare(&format!("SELECT * FROM \"{}\"", name.replace('"', "\"\"")))?;
            let columns = stmt.column_count();
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                for i in 0..columns {
                    match row.get_ref(i)? {
                        rusqlite::types::ValueRef::Text(t) => {
                            out.push_str(&String::from_utf8_lossy(t));
                        }
                        rusqlite::types::ValueRef::Blob(b) => {
                            out.push_str(&String::from_utf8_lossy(b));
                        }
                        _ => {}
                    }
                    out.push('\t');
                }
                out.push('\n');
            }
        }
        Ok(out)
    }

    /// A setting of the practice's, if set.
    pub fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }
}

/// One write transaction (holding the write lock), with who makes it, when, and the device that
/// stamps its changes.
pub(crate) struct Write<'a> {
    pub tx: Transaction<'a>,
    pub actor: Actor,
    pub device: DeviceId,
    pub today: NaiveDate,
    pub now: DateTime<Utc>,
    path: &'a Path,
    /// Whether a change went into the outbox (sync is wanted once this commits).
    staged: std::cell::Cell<bool>,
    sync_wanted: &'a tokio::sync::Notify,
}

impl Write<'_> {
    /// The context decisions take.
    pub fn ctx(&self) -> Ctx<'_> {
        Ctx {
            actor: &self.actor,
            today: self.today,
            now: self.now,
        }
    }

    /// Stamps a planned change with the device's clock and appends it to the outbox, in this
    /// transaction. The clock's last stamp is read and written here too: the write lock makes
    /// the stamps of every process on this file unique and increasing.
    pub fn change(&self, draft: ChangeDraft) -> Result<(), StoreError> {
        let last: Option<String> = self
            .tx
            .query_row("SELECT value FROM meta WHERE key = 'hlc'", [], |r| r.get(0))
            .optional()?;
        let last = last.and_then(|s| s.parse::<HlcStamp>().ok());
        let mut clock = HybridClock::new(self.device.get(), last, MAX_DRIFT_MS);
        let now_ms = u64::try_from(self.now.timestamp_millis()).unwrap_or(0);
        let stamp = clock.tick(now_ms);
        self.tx.execute(
            "INSERT INTO meta (key, value) VALUES ('hlc', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [stamp.to_string()],
        )?;
        let base =
            sync::version(&self.tx, draft.entity, &draft.entity_id.to_string())?.map(|v| v.hlc);
        let change = Change::stamp(
            draft,
            ChangeId::new(),
            stamp,
            self.device,
            self.actor.user_id,
        )
        .with_base(base);
        sync::set_version(&self.tx, &change)?;
        self.tx.execute(
            "INSERT INTO outbox (change_id, entity, entity_id, operation, hlc, change, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                change.id.to_string(),
                change.entity.as_str(),
                change.entity_id.to_string(),
                change.operation.as_str(),
                stamp.to_string(),
                change.encode(),
                now_text(self.now)
            ],
        )?;
        self.staged.set(true);
        Ok(())
    }

    /// Writes a planned audit event as the signed-in user, in this transaction.
    pub fn audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        audit::record(&self.tx, &self.actor, self.now, event)
    }

    pub fn commit(self) -> Result<(), StoreError> {
        let path = self.path;
        let (staged, wanted) = (self.staged.get(), self.sync_wanted);
        self.tx.commit().map_err(|e| StoreError::from(e).at(path))?;
        if staged {
            wanted.notify_one();
        }
        Ok(())
    }
}

impl<'a> std::ops::Deref for Write<'a> {
    type Target = Transaction<'a>;
    fn deref(&self) -> &Transaction<'a> {
        &self.tx
    }
}

/// Turns a refusal of the domain into the store's error.
impl From<DomainError> for StoreError {
    fn from(e: DomainError) -> Self {
        StoreError::Domain(e)
    }
}

fn migrate(conn: &mut Connection, migrations: &[&str]) -> Result<(), StoreError> {
    let supported = migrations.len() as u32;
    let found: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > supported {
        return Err(StoreError::NewerSchema { found, supported });
    }
    for (i, sql) in migrations.iter().enumerate().skip(found as usize) {
        let version = i as u32 + 1;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Another process may have migrated while this one waited for the lock.
        let now: u32 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if now >= version {
            continue;
        }
        tx.execute_batch(sql)
            .map_err(|source| StoreError::Migration { version, source })?;
        if version == 3 {
            // Name keys are Unicode lower case, which SQL cannot compute here.
            patients::fill_name_keys(&tx)
                .map_err(|source| StoreError::Migration { version, source })?;
        }
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
    }
    Ok(())
}

/// This installation's device id, made at random (never 0) the first time.
fn device_id(conn: &mut Connection) -> Result<DeviceId, StoreError> {
    let read = |conn: &Connection| -> Result<Option<DeviceId>, StoreError> {
        let text: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = 'device_id'", [], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(text.and_then(|v| u64::from_str_radix(&v, 16).ok().and_then(DeviceId::new)))
    };
    if let Some(id) = read(conn)? {
        return Ok(id);
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let id = match read(&tx)? {
        Some(id) => id,
        None => {
            let raw = (uuid::Uuid::new_v4().as_u64_pair().0 >> 1) | 1;
            let id = DeviceId::new(raw).ok_or_else(|| StoreError::Encoding("device id".into()))?;
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('device_id', ?1)",
                [id.to_string()],
            )?;
            id
        }
    };
    tx.commit()?;
    Ok(id)
}

/// The open order statuses (`OrderStatus::OPEN`) as a JSON list, for `json_each` in a query.
pub(crate) fn open_statuses() -> String {
    let names = ils_core::order::OrderStatus::names(&ils_core::order::OrderStatus::OPEN);
    serde_json::to_string(&names).unwrap_or_default()
}

/// Whose open orders to count.
#[derive(Clone, Copy, Debug)]
pub(crate) enum OrdersOf {
    Patient,
    Prescription,
}

/// Orders still in progress (`OrderStatus::OPEN`) of a patient or a prescription: such a
/// patient is not deleted, such a prescription not withdrawn.
pub(crate) fn open_orders(conn: &Connection, of: OrdersOf, id: &str) -> Result<u64, StoreError> {
    let sql = match of {
        OrdersOf::Patient => {
            "SELECT count(*) FROM orders WHERE patient_id = ?1
               AND status IN (SELECT value FROM json_each(?2))"
        }
        OrdersOf::Prescription => {
            "SELECT count(*) FROM orders WHERE prescription_id = ?1
               AND status IN (SELECT value FROM json_each(?2))"
        }
    };
    let n: i64 = conn.query_row(sql, params![id, open_statuses()], |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// A stored timestamp column (RFC 3339), or a conversion error naming the column.
pub(crate) fn time_column(r: &rusqlite::Row<'_>, column: usize) -> rusqlite::Result<DateTime<Utc>> {
    let text: String = r.get(column)?;
    parse_time(&text).ok_or_else(|| bad_column(column, format!("bad time {text:?}").into()))
}

/// A stored text column that does not parse as what it should hold (an id, a date, a record).
pub(crate) fn bad_column(
    column: usize,
    error: Box<dyn std::error::Error + Send + Sync>,
) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, error)
}

/// Maps a unique-constraint failure to the domain's conflict.
pub(crate) fn conflict(
    code: &'static str,
    message: &'static str,
) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| match e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            StoreError::Domain(DomainError::conflict(code, message))
        }
        other => StoreError::Sqlite(other),
    }
}
