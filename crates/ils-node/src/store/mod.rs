//! The local SQLite store: one file per installation, one tenant's data.
//!
//! Opening applies the migrations in `migrations/sqlite` in order and records the version in
//! `PRAGMA user_version`; a file written by a newer build is refused with a clear message
//! rather than touched. WAL journal, `synchronous = FULL`, foreign keys on, a busy timeout.
//! Every write that sync must carry appends its change to the outbox in the same transaction,
//! stamped by the device's hybrid logical clock.

mod audit;
mod conversations;
mod orders;
mod patients;
mod prescriptions;
mod vec;

use std::path::Path;
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use ils_core::hlc::{HlcStamp, HybridClock};
use ils_core::validation::ValidationErrors;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;

pub use audit::AuditEntry;
pub use conversations::{Conversation, Message, MessageRole};
pub use orders::{OrderEvent, OrderFilter, StoredOrder};
pub use patients::StoredPatient;
pub use prescriptions::StoredPrescription;
pub use vec::{EMBEDDING_BYTES, blob_to_embedding, embedding_to_blob, quantize_binary};

/// The migrations, in order; the position + 1 is the schema version it brings.
pub const MIGRATIONS: &[&str] = &[
    include_str!("../../../../migrations/sqlite/0001_init.sql"),
    include_str!("../../../../migrations/sqlite/0002_records_kb_audit.sql"),
];

/// Remote stamps more than this far ahead of the local clock are refused as broken clocks.
const MAX_CLOCK_DRIFT_MS: u64 = 24 * 3_600_000;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "this database was written by a newer version of ILS (schema {found}, this build knows up to {supported}); update ILS to open it"
    )]
    NewerSchema { found: u32, supported: u32 },
    #[error("migration to schema {version} failed: {source}")]
    Migration {
        version: u32,
        #[source]
        source: rusqlite::Error,
    },
    #[error("{0}")]
    Validation(#[from] ValidationErrors),
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("{what} {id} was not found")]
    NotFound { what: &'static str, id: String },
    #[error("could not encode a record: {0}")]
    Encoding(String),
    #[error("nobody is signed in on this device; sign in before reading or changing records")]
    NotSignedIn,
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// One change waiting for (or done with) sync.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OutboxRow {
    pub seq: i64,
    pub change_id: String,
    pub entity: String,
    pub entity_id: String,
    pub operation: String,
    pub row_json: String,
    pub hlc: HlcStamp,
}

/// The signed-in user, as the audit log names them (e.g. their e-mail address).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor(String);

impl Actor {
    /// A user name of 1–200 printable characters.
    pub fn new(name: &str) -> Result<Self, ValidationErrors> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
            return Err(ValidationErrors::single(
                "user",
                "actor.invalid",
                "The signed-in user must be a name of 1 to 200 printable characters",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug)]
pub struct Store {
    conn: Connection,
    clock: HybridClock,
    actor: Option<Actor>,
}

pub(crate) fn now_ms() -> u64 {
    u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0)
}

pub(crate) fn now_text() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl Store {
    /// Opens (creating if needed) the database at `path` for the device `device`.
    pub fn open(path: &Path, device: u64) -> Result<Self, StoreError> {
        Self::open_at(path, device, MIGRATIONS)
    }

    /// Opens this installation's database, creating it if needed; the device id is made once,
    /// at random, and kept in the file (`meta.device_id`).
    pub fn open_installation(path: &Path) -> Result<Self, StoreError> {
        let mut store = Self::open_at(path, 0, MIGRATIONS)?;
        let device = store.device_id()?;
        let last = store.clock.last();
        store.clock = HybridClock::new(
            device,
            (last.wall_ms > 0).then_some(last),
            MAX_CLOCK_DRIFT_MS,
        );
        Ok(store)
    }

    /// This installation's device id, made at random the first time it is asked for.
    pub fn device_id(&mut self) -> Result<u64, StoreError> {
        let tx = self.conn.transaction()?;
        let existing: Option<String> = tx
            .query_row("SELECT value FROM meta WHERE key = 'device_id'", [], |r| {
                r.get(0)
            })
            .optional()?;
        let id = match existing.and_then(|v| u64::from_str_radix(&v, 16).ok()) {
            Some(id) => id,
            None => {
                // Never 0, so a stamp always names a real device.
                let id = (uuid::Uuid::new_v4().as_u64_pair().0 >> 1) | 1;
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('device_id', ?1)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    [format!("{id:016x}")],
                )?;
                id
            }
        };
        tx.commit()?;
        Ok(id)
    }

    /// Opens with only the first `migrations.len()` migrations known: how an older build opens a
    /// file (the migration tests use it to write files of every earlier schema).
    #[doc(hidden)]
    pub fn open_at(path: &Path, device: u64, migrations: &[&str]) -> Result<Self, StoreError> {
        vec::register();
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Reads (search scans vectors and the full-text index) go through memory mapping and a
        // 64 MiB page cache instead of a read system call per page.
        conn.pragma_update(None, "mmap_size", 1i64 << 30)?;
        conn.pragma_update(None, "cache_size", -65_536)?;
        migrate(&mut conn, migrations)?;
        let last: Option<String> = conn
            .query_row(
                "SELECT hlc FROM outbox ORDER BY hlc DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?;
        let last = last.and_then(|s| s.parse().ok());
        Ok(Self {
            conn,
            clock: HybridClock::new(device, last, MAX_CLOCK_DRIFT_MS),
            actor: None,
        })
    }

    /// Who reads and changes records from now on; the audit log names them.
    pub fn sign_in(&mut self, actor: Actor) {
        self.actor = Some(actor);
    }

    pub fn sign_out(&mut self) {
        self.actor = None;
    }

    pub fn actor(&self) -> Result<&Actor, StoreError> {
        self.actor.as_ref().ok_or(StoreError::NotSignedIn)
    }

    /// The raw connection, for the knowledge base and benchmarks in this crate.
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Starts a write as the signed-in user.
    pub(crate) fn begin_write(&mut self) -> Result<Write<'_>, StoreError> {
        let actor = self.actor()?.clone();
        let tx = self.conn.transaction()?;
        Ok(Write {
            tx,
            actor,
            clock: &mut self.clock,
        })
    }

    /// Runs `f` in a read transaction that also writes its audit rows, so a read is never
    /// returned without its audit row.
    pub(crate) fn audited_read<T>(
        &mut self,
        f: impl FnOnce(&Transaction<'_>, &Actor) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let actor = self.actor()?.clone();
        let tx = self.conn.transaction()?;
        let value = f(&tx, &actor)?;
        tx.commit()?;
        Ok(value)
    }

    /// A setting's value, if set.
    pub fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    pub fn set_setting(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        let w = self.begin_write()?;
        w.execute(
            "INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            params![key, value, now_text()],
        )?;
        w.audit("setting.update", "setting", Some(key), None)?;
        w.commit()?;
        Ok(())
    }

    pub fn schema_version(&self) -> Result<u32, StoreError> {
        Ok(self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    /// Changes not yet pushed, oldest first.
    pub fn pending_changes(&self) -> Result<Vec<OutboxRow>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT seq, change_id, entity, entity_id, operation, row_json, hlc FROM outbox
             WHERE pushed_at IS NULL ORDER BY seq",
        )?;
        let rows = stmt
            .query_map([], |r| {
                let hlc: String = r.get(6)?;
                Ok(OutboxRow {
                    seq: r.get(0)?,
                    change_id: r.get(1)?,
                    entity: r.get(2)?,
                    entity_id: r.get(3)?,
                    operation: r.get(4)?,
                    row_json: r.get(5)?,
                    hlc: hlc.parse().map_err(|e| {
                        rusqlite::Error::FromSqlConversionFailure(
                            6,
                            rusqlite::types::Type::Text,
                            Box::new(e),
                        )
                    })?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}

/// One write transaction, with who makes it and the clock that stamps its changes.
pub(crate) struct Write<'a> {
    pub tx: Transaction<'a>,
    pub actor: Actor,
    clock: &'a mut HybridClock,
}

impl Write<'_> {
    /// Appends a change for sync, stamped now, in this transaction.
    pub fn change(
        &mut self,
        entity: &str,
        entity_id: &str,
        operation: &str,
        row: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let stamp = self.clock.tick(now_ms());
        append_change(&self.tx, entity, entity_id, operation, row, stamp)
    }

    /// Records an audit entry as the signed-in user, in this transaction.
    pub fn audit(
        &self,
        action: &str,
        entity: &str,
        entity_id: Option<&str>,
        detail: Option<&serde_json::Value>,
    ) -> Result<(), StoreError> {
        audit::record(&self.tx, &self.actor, action, entity, entity_id, detail)
    }

    pub fn commit(self) -> Result<(), StoreError> {
        Ok(self.tx.commit()?)
    }
}

impl<'a> std::ops::Deref for Write<'a> {
    type Target = Transaction<'a>;
    fn deref(&self) -> &Transaction<'a> {
        &self.tx
    }
}

fn append_change(
    tx: &Transaction<'_>,
    entity: &str,
    entity_id: &str,
    operation: &str,
    row: &serde_json::Value,
    stamp: HlcStamp,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO outbox (change_id, entity, entity_id, operation, row_json, hlc, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            uuid::Uuid::now_v7().to_string(),
            entity,
            entity_id,
            operation,
            row.to_string(),
            stamp.to_string(),
            now_text()
        ],
    )?;
    Ok(())
}

fn migrate(conn: &mut Connection, migrations: &[&str]) -> Result<(), StoreError> {
    let supported = migrations.len() as u32;
    let found: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > supported {
        return Err(StoreError::NewerSchema { found, supported });
    }
    for (i, sql) in migrations.iter().enumerate().skip(found as usize) {
        let version = i as u32 + 1;
        let tx = conn.transaction()?;
        tx.execute_batch(sql)
            .map_err(|source| StoreError::Migration { version, source })?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
    }
    Ok(())
}

/// A stored text column that does not parse as what it should hold (an id, a date, a record).
pub(crate) fn bad_column(
    column: usize,
    error: Box<dyn std::error::Error + Send + Sync>,
) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, error)
}

/// Maps a unique-constraint failure to a conflict a person can act on.
pub(crate) fn conflict(
    code: &'static str,
    message: &'static str,
) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| match e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            StoreError::Conflict {
                code,
                message: message.to_owned(),
            }
        }
        other => StoreError::Sqlite(other),
    }
}
