//! The local SQLite store: one file per installation, one tenant's data.
//!
//! Opening applies the migrations in `migrations/sqlite` in order and records the version in
//! `PRAGMA user_version`; a file written by a newer build is refused with a clear message
//! rather than touched. WAL journal, `synchronous = FULL`, foreign keys on, a busy timeout.
//! Every write that sync must carry appends its change to the outbox in the same transaction,
//! stamped by the device's hybrid logical clock.

use std::path::Path;
use std::time::Duration;

use chrono::{NaiveDate, SecondsFormat, Utc};
use ils_core::PatientId;
use ils_core::hlc::{HlcStamp, HybridClock};
use ils_core::patient::PatientData;
use ils_core::validation::ValidationErrors;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;

/// The migrations, in order; the position + 1 is the schema version it brings.
const MIGRATIONS: &[&str] = &[include_str!("../../../migrations/sqlite/0001_init.sql")];

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

#[derive(Debug)]
pub struct Store {
    conn: Connection,
    clock: HybridClock,
}

fn now_ms() -> u64 {
    u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0)
}

fn now_text() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl Store {
    /// Opens (creating if needed) the database at `path` for the device `device`.
    pub fn open(path: &Path, device: u64) -> Result<Self, StoreError> {
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrate(&mut conn)?;
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
        })
    }

    pub fn schema_version(&self) -> Result<u32, StoreError> {
        Ok(self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    /// Adds a patient (validated by the same rules as the central service) and its change.
    pub fn add_patient(
        &mut self,
        data: &PatientData,
        today: NaiveDate,
    ) -> Result<PatientId, StoreError> {
        let data = data.validate(today)?;
        let id = PatientId::new();
        let now = now_text();
        let stamp = self.clock.tick(now_ms());
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO patients (id, customer_number, first_name, last_name, date_of_birth, email, phone, address, notes, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
            params![
                id.to_string(),
                data.customer_number,
                data.first_name,
                data.last_name,
                data.date_of_birth.to_string(),
                data.email,
                data.phone,
                data.address,
                data.notes,
                now,
            ],
        )
        .map_err(|e| match e {
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation => StoreError::Conflict {
                code: "patient.customer_number_taken",
                message: "Another patient of this practice has this customer number".into(),
            },
            other => StoreError::Sqlite(other),
        })?;
        let row = serde_json::json!({ "id": id, "patient": data, "created_at": now });
        append_change(&tx, "patient", &id.to_string(), "upsert", &row, stamp)?;
        tx.commit()?;
        Ok(id)
    }

    pub fn patient_count(&self) -> Result<i64, StoreError> {
        Ok(self.conn.query_row(
            "SELECT count(*) FROM patients WHERE deleted_at IS NULL",
            [],
            |r| r.get(0),
        )?)
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

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let supported = MIGRATIONS.len() as u32;
    let found: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > supported {
        return Err(StoreError::NewerSchema { found, supported });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let version = i as u32 + 1;
        let tx = conn.transaction()?;
        tx.execute_batch(sql)
            .map_err(|source| StoreError::Migration { version, source })?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
    }
    Ok(())
}
