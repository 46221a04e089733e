//! What sync keeps in the file: the version of each record (`sync_versions`), the conflict log,
//! the outbox's answers from ILS Central (sent, or refused with a reason), and the pull cursor.
//!
//! A pulled page is applied in one transaction with the cursor's move, so a crash leaves either
//! the page and its cursor or neither. Pulled changes are merged by `ils_core::change::merge`
//! against the version this device holds; the losing version goes to the conflict log when its
//! maker had not seen the winner. The device's clock observes every pulled stamp, so what is
//! changed here afterwards orders after what was pulled.

use chrono::{DateTime, Utc};
use ils_core::change::{Change, Entity, Operation, Record};
use ils_core::hlc::{HlcStamp, HybridClock, MAX_DRIFT_MS};
use ils_core::sync::{PushResult, PushStatus};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

use super::{Store, StoreError, now_text, orders, patients, prescriptions};

/// The version of a record this device holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Version {
    pub operation: Operation,
    pub hlc: HlcStamp,
    pub change_id: String,
    pub change: String,
}

pub(crate) fn version(
    conn: &Connection,
    entity: Entity,
    id: &str,
) -> Result<Option<Version>, StoreError> {
    let row: Option<(String, String, String, String)> = conn
        .prepare_cached(
            "SELECT operation, hlc, change_id, change FROM sync_versions
             WHERE entity = ?1 AND entity_id = ?2",
        )?
        .query_row(params![entity.as_str(), id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    row.map(|(operation, hlc, change_id, change)| {
        Ok(Version {
            operation: Operation::parse(&operation).ok_or_else(|| {
                StoreError::Encoding(format!("sync_versions.operation {operation:?}"))
            })?,
            hlc: hlc
                .parse()
                .map_err(|e| StoreError::Encoding(format!("sync_versions.hlc: {e}")))?,
            change_id,
            change,
        })
    })
    .transpose()
}

/// Makes `change` the version of its record.
pub(crate) fn set_version(conn: &Connection, change: &Change) -> Result<(), StoreError> {
    set_version_text(conn, change, &change.encode())
}

/// Makes `change`, whose wire form is `text`, the version of its record.
fn set_version_text(conn: &Connection, change: &Change, text: &str) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO sync_versions (entity, entity_id, operation, hlc, change_id, change)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (entity, entity_id) DO UPDATE SET operation = excluded.operation,
             hlc = excluded.hlc, change_id = excluded.change_id, change = excluded.change",
    )?
    .execute(params![
        change.entity.as_str(),
        change.entity_id.to_string(),
        change.operation.as_str(),
        change.hlc.to_string(),
        change.id.to_string(),
        text,
    ])?;
    Ok(())
}

pub(crate) fn meta(conn: &Connection, key: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()?)
}

pub(crate) fn set_meta(conn: &Connection, key: &str, value: &str) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

/// Where sync stands, for the interface and `ils-node sync status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SyncState {
    /// The ILS Central this device syncs with, once connected.
    pub server: Option<String>,
    /// The practice's domain there.
    pub domain: Option<String>,
    pub device: String,
    /// The feed position pulled up to.
    pub cursor: i64,
    pub last_success: Option<DateTime<Utc>>,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
    /// Changes made here and not yet accepted by ILS Central.
    pub pending: u64,
    /// Changes ILS Central refused, kept for a person to see.
    pub rejected: u64,
    /// Conflicts not yet reviewed.
    pub conflicts: u64,
    /// Whether the last sync reached ILS Central (unknown until this program syncs once).
    pub online: Option<bool>,
    /// When the background sync tries again after a failure, if it is waiting.
    pub retry_at: Option<DateTime<Utc>>,
    /// Where this device keeps the signed-in user's session with ILS Central between runs.
    pub session_kept: Option<crate::Kept>,
}

/// A change ILS Central refused, with its reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RejectedChange {
    pub change_id: String,
    pub entity: String,
    pub entity_id: String,
    pub operation: String,
    pub code: String,
    pub message: String,
    pub rejected_at: DateTime<Utc>,
}

/// A version that lost to a concurrent one on this device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LocalConflict {
    pub id: String,
    pub entity: String,
    pub entity_id: String,
    pub lost_change_id: String,
    /// The version that lost, as it travelled.
    pub lost: serde_json::Value,
    pub won_change_id: String,
    /// `concurrent_edit`, or `customer_number_taken` (this device's patient kept a
    /// provisional number).
    pub reason: String,
    pub recorded_at: DateTime<Utc>,
}

/// What a push's answers did here.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PushTally {
    pub applied: u64,
    pub duplicate: u64,
    pub rejected: u64,
    /// Applied, but met a version its maker had not seen (kept in ILS Central's conflict log).
    pub conflicts: u64,
}

/// What a pulled page did here.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PullTally {
    pub applied: u64,
    /// Older than the version held here: kept in the conflict log instead.
    pub superseded: u64,
    pub conflicts: u64,
    /// Patients erased here because ILS Central erased them.
    pub erased: u64,
}

pub(crate) const SERVER: &str = "sync.server";
pub(crate) const DOMAIN: &str = "sync.domain";
const CURSOR: &str = "sync.cursor";
const LAST_SUCCESS: &str = "sync.last_success";
const LAST_ERROR: &str = "sync.last_error";
const AUDIT_CURSOR: &str = "sync.audit_cursor";

// The sync panel's counts, asked for at every start of the window and after every change: each
// reads a partial index of its rows, never the whole outbox (a test checks the plans).
const COUNT_PENDING: &str =
    "SELECT count(*) FROM outbox WHERE pushed_at IS NULL AND rejected_at IS NULL";
const COUNT_REJECTED: &str = "SELECT count(*) FROM outbox WHERE rejected_at IS NOT NULL";
const COUNT_OPEN_CONFLICTS: &str = "SELECT count(*) FROM sync_conflicts WHERE resolved_at IS NULL";

fn count(conn: &Connection, sql: &str) -> Result<u64, StoreError> {
    let n: i64 = conn.query_row(sql, [], |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Why a version lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reason {
    ConcurrentEdit,
    CustomerNumberTaken,
}

impl Reason {
    const fn as_str(self) -> &'static str {
        match self {
            Reason::ConcurrentEdit => "concurrent_edit",
            Reason::CustomerNumberTaken => "customer_number_taken",
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn record_conflict(
    conn: &Connection,
    entity: Entity,
    entity_id: &str,
    lost_change_id: &str,
    lost: &str,
    won_change_id: &str,
    reason: Reason,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO sync_conflicts (id, entity, entity_id, lost_change_id, lost, won_change_id, reason,
                                     recorded_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            uuid::Uuid::now_v7().to_string(),
            entity.as_str(),
            entity_id,
            lost_change_id,
            lost,
            won_change_id,
            reason.as_str(),
            now_text(now)
        ],
    )?;
    Ok(())
}

/// A pulled patient takes a customer number another patient holds here (one ILS Central never
/// accepted with it: it refused it, or has not seen it yet). ILS Central's patient keeps the
/// number; the one here gets a provisional number ("C-7.dup-1a2b3c") and a conflict entry, so
/// a person gives it another number. Nothing is lost or merged.
fn free_customer_number(
    conn: &Connection,
    pulled: &ils_core::record::PatientRecord,
    won_change_id: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let holder: Option<String> = conn
        .prepare_cached("SELECT id FROM patients WHERE customer_number = ?1 AND id <> ?2")?
        .query_row(
            params![pulled.data.customer_number, pulled.id.to_string()],
            |r| r.get(0),
        )
        .optional()?;
    let Some(holder) = holder else {
        return Ok(());
    };
    let number = &pulled.data.customer_number;
    let keep: String = number.chars().take(32 - ".dup-000000".len()).collect();
    let provisional = format!(
        "{keep}.dup-{}",
        &uuid::Uuid::now_v7().simple().to_string()[26..]
    );
    conn.execute(
        "UPDATE patients SET customer_number = ?2 WHERE id = ?1",
        params![holder, provisional],
    )?;
    let lost = version(conn, Entity::Patient, &holder)?;
    record_conflict(
        conn,
        Entity::Patient,
        &holder,
        lost.as_ref().map_or("", |v| v.change_id.as_str()),
        lost.as_ref().map_or("{}", |v| v.change.as_str()),
        won_change_id,
        Reason::CustomerNumberTaken,
        now,
    )
}

/// Erases the patient an erasure names (by its subject, see `ils_core::change::erased_subject`)
/// and everything of theirs: prescriptions, orders and timelines, the outbox's changes about
/// them (sent or not: they hold the patient's data, and must never be sent again), their
/// versions and conflicts; the audit log's rows keep their events with the ids redacted; the
/// assistant's messages and conversation titles lose the patient's names and numbers. Returns
/// whether this device held the patient.
fn erase_patient(
    conn: &Connection,
    company: ils_core::CompanyId,
    subject: uuid::Uuid,
) -> Result<bool, StoreError> {
    let mut stmt = conn.prepare("SELECT id FROM patients")?;
    let ids = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    drop(stmt);
    let Some(patient) = ids.into_iter().find(|id| {
        id.parse::<uuid::Uuid>().is_ok_and(|uuid| {
            ils_core::change::erased_subject(company, Entity::Patient, uuid) == subject
        })
    }) else {
        return Ok(false);
    };
    let mut records: Vec<String> = vec![patient.clone()];
    for sql in [
        "SELECT id FROM prescriptions WHERE patient_id = ?1",
        "SELECT id FROM orders WHERE patient_id = ?1",
        "SELECT e.event_id FROM order_events e JOIN orders o ON o.id = e.order_id
         WHERE o.patient_id = ?1 AND e.event_id IS NOT NULL",
    ] {
        let mut stmt = conn.prepare(sql)?;
        let found = stmt
            .query_map([&patient], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        records.extend(found);
    }
    // What the assistant's messages may hold of them, longest first.
    type Who = (
        String,
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let who: Option<Who> = conn
        .query_row(
            "SELECT first_name, last_name, customer_number, phone, email, address
             FROM patients WHERE id = ?1",
            [&patient],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            },
        )
        .optional()?;
    let mut phrases: Vec<String> = match who {
        Some((first, last, number, phone, email, address)) => [
            Some(format!("{first} {last}")),
            Some(format!("{last}, {first}")),
            Some(last),
            Some(number),
            phone,
            email,
            address,
        ]
        .into_iter()
        .flatten()
        .filter(|p| p.chars().count() >= 3)
        .collect(),
        None => Vec::new(),
    };
    phrases.sort_by_key(|p| std::cmp::Reverse(p.chars().count()));
    for phrase in &phrases {
        conn.execute(
            "UPDATE messages SET content = replace(content, ?1, '[erased]')
             WHERE instr(content, ?1) > 0",
            [phrase],
        )?;
        conn.execute(
            "UPDATE conversations SET title = replace(title, ?1, '[erased]')
             WHERE instr(title, ?1) > 0",
            [phrase],
        )?;
    }
    conn.execute(
        "DELETE FROM order_events WHERE order_id IN (SELECT id FROM orders WHERE patient_id = ?1)",
        [&patient],
    )?;
    conn.execute("DELETE FROM orders WHERE patient_id = ?1", [&patient])?;
    conn.execute(
        "DELETE FROM prescriptions WHERE patient_id = ?1",
        [&patient],
    )?;
    conn.execute("DELETE FROM patients WHERE id = ?1", [&patient])?;
    let replacement = format!("erased:{subject}");
    let list = serde_json::to_string(&records).map_err(|e| StoreError::Encoding(e.to_string()))?;
    for sql in [
        "DELETE FROM outbox WHERE entity_id IN (SELECT value FROM json_each(?1))",
        "DELETE FROM outbox_v1 WHERE entity_id IN (SELECT value FROM json_each(?1))",
        "DELETE FROM sync_versions WHERE entity_id IN (SELECT value FROM json_each(?1))",
        "DELETE FROM sync_conflicts WHERE entity_id IN (SELECT value FROM json_each(?1))",
    ] {
        conn.execute(sql, [&list])?;
    }
    conn.execute(
        "UPDATE audit_log SET entity_id = ?2
         WHERE entity_id IN (SELECT value FROM json_each(?1))",
        params![list, replacement],
    )?;
    for id in &records {
        conn.execute(
            "UPDATE audit_log SET detail = replace(detail, ?1, ?2) WHERE instr(detail, ?1) > 0",
            params![id, replacement],
        )?;
    }
    Ok(true)
}

/// The indexes a first sync may have left to build.
pub(crate) fn ensure_indexes(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE INDEX IF NOT EXISTS patients_name_key ON patients (last_name_key, first_name_key, id)",
    )?;
    Ok(())
}

/// Writes a pulled record into its table.
fn write_record(conn: &Connection, record: &Record) -> Result<(), StoreError> {
    match record {
        Record::Patient(p) => patients::write(conn, p),
        Record::Prescription(rx) => prescriptions::write(conn, rx),
        Record::Order(o) => orders::write_order(conn, o),
        Record::OrderEvent(e) => orders::write_event(conn, e),
        // Written with their passages by `apply_page`.
        Record::Document(_) => Ok(()),
    }
}

impl Store {
    /// Where sync stands.
    pub fn sync_state(&self) -> Result<SyncState, StoreError> {
        let conn = &self.conn;
        Ok(SyncState {
            server: meta(conn, SERVER)?,
            domain: meta(conn, DOMAIN)?,
            device: self.device.to_string(),
            cursor: self.sync_cursor()?,
            last_success: meta(conn, LAST_SUCCESS)?
                .as_deref()
                .and_then(super::parse_time),
            last_error: meta(conn, LAST_ERROR)?,
            pending: count(conn, COUNT_PENDING)?,
            rejected: count(conn, COUNT_REJECTED)?,
            conflicts: count(conn, COUNT_OPEN_CONFLICTS)?,
            online: None,
            retry_at: None,
            session_kept: None,
        })
    }

    /// The feed position pulled up to.
    pub fn sync_cursor(&self) -> Result<i64, StoreError> {
        Ok(meta(&self.conn, CURSOR)?
            .and_then(|c| c.parse().ok())
            .unwrap_or(0))
    }

    /// Records the ILS Central this device syncs with.
    pub fn set_sync_server(&mut self, server: &str, domain: &str) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        set_meta(&tx, SERVER, server)?;
        set_meta(&tx, DOMAIN, domain)?;
        tx.commit()?;
        Ok(())
    }

    /// Notes how the last sync ended: `None` for success.
    pub fn record_sync_outcome(&mut self, error: Option<&str>) -> Result<(), StoreError> {
        let now = now_text(self.now());
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        match error {
            None => {
                set_meta(&tx, LAST_SUCCESS, &now)?;
                tx.execute("DELETE FROM meta WHERE key = ?1", [LAST_ERROR])?;
            }
            Some(e) => set_meta(&tx, LAST_ERROR, e)?,
        }
        tx.commit()?;
        Ok(())
    }

    /// Up to `limit` entries of this device's audit log not yet in ILS Central's trail.
    pub fn outgoing_audit(
        &self,
        limit: usize,
    ) -> Result<Vec<ils_core::sync::DeviceAuditEntry>, StoreError> {
        let after: i64 = meta(&self.conn, AUDIT_CURSOR)?
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, at, coalesce((SELECT central_id FROM user_aliases WHERE local_id = actor), actor),
                    action, entity, entity_id, detail
             FROM audit_log WHERE id > ?1 ORDER BY id LIMIT ?2",
        )?;
        let rows = stmt
            .query_map(
                params![after, i64::try_from(limit).unwrap_or(i64::MAX)],
                |r| {
                    let actor: String = r.get(2)?;
                    let detail: Option<String> = r.get(6)?;
                    Ok(ils_core::sync::DeviceAuditEntry {
                        seq: r.get(0)?,
                        at: super::time_column(r, 1)?,
                        // Rows written before schema 3 name the user as typed, not by id.
                        user: actor.parse().ok(),
                        action: r.get(3)?,
                        resource_type: r.get(4)?,
                        resource_id: r.get(5)?,
                        details: detail
                            .and_then(|d| serde_json::from_str(&d).ok())
                            .unwrap_or_else(|| serde_json::json!({})),
                    })
                },
            )?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Notes that ILS Central's trail holds this device's audit log up to `through`.
    pub fn audit_sent(&mut self, through: i64) -> Result<(), StoreError> {
        set_meta(&self.conn, AUDIT_CURSOR, &through.to_string())
    }

    /// Before a first sync (nothing pulled yet): the patients' name index is dropped, to be
    /// built once at the end ([`Store::end_first_sync`]) instead of updated a million times.
    /// Opening the file rebuilds it if a crash came in between.
    pub fn begin_first_sync(&mut self) -> Result<(), StoreError> {
        self.conn
            .execute_batch("DROP INDEX IF EXISTS patients_name_key")?;
        Ok(())
    }

    pub fn end_first_sync(&mut self) -> Result<(), StoreError> {
        ensure_indexes(&self.conn)
    }

    /// Up to `limit` changes waiting to be pushed, oldest first: (outbox position, whether it
    /// is a document's new version, wire form).
    fn outgoing(&self, limit: usize) -> Result<Vec<(i64, bool, String)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, entity = 'document' AND operation = 'upsert', change FROM outbox
             WHERE pushed_at IS NULL AND rejected_at IS NULL ORDER BY seq LIMIT ?1",
        )?;
        let rows = stmt
            .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The next push: up to `limit` changes and about `max_bytes`, as they travel. A document's
    /// change takes the passages and vectors of its version; one whose version this file no
    /// longer holds (replaced or deleted since) is not sent, the later change of the same
    /// document standing for it; one too large for any push is kept, refused, with its reason.
    pub fn next_push(
        &mut self,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        loop {
            let rows = self.outgoing(limit)?;
            if rows.is_empty() {
                return Ok(Vec::new());
            }
            let mut batch = Vec::new();
            let mut bytes = 0;
            let mut skipped = Vec::new();
            let mut too_large = Vec::new();
            for (seq, document_upsert, text) in rows {
                let text = if document_upsert {
                    match self.with_passages(&text)? {
                        Some(full) => full,
                        None => {
                            skipped.push(seq);
                            continue;
                        }
                    }
                } else {
                    text
                };
                if text.len() > max_bytes.saturating_mul(2) {
                    too_large.push(seq);
                    continue;
                }
                if !batch.is_empty() && bytes + text.len() > max_bytes {
                    break;
                }
                bytes += text.len();
                batch.push((seq, text));
            }
            let now = now_text(self.now());
            for seq in skipped {
                self.conn.execute(
                    "UPDATE outbox SET pushed_at = ?2 WHERE seq = ?1",
                    params![seq, now],
                )?;
            }
            for seq in too_large {
                self.conn.execute(
                    "UPDATE outbox SET rejected_at = ?2, rejected_code = 'kb.too_large_to_sync',
                         rejected_message = 'This document is too large to send to ILS Central \
                         in one piece; split the file into smaller ones and add them again'
                     WHERE seq = ?1",
                    params![seq, now],
                )?;
            }
            if !batch.is_empty() {
                return Ok(batch);
            }
        }
    }

    /// A document change as it travels: with its passages when this file holds its version,
    /// `None` when it holds another (the change is superseded here). Other changes as they are.
    fn with_passages(&self, text: &str) -> Result<Option<String>, StoreError> {
        let mut change =
            Change::decode(text).map_err(|e| StoreError::Encoding(format!("outbox: {e}")))?;
        if change.operation != Operation::Upsert {
            return Ok(Some(text.to_owned()));
        }
        let Some(Record::Document(d)) = &mut change.record else {
            return Ok(Some(text.to_owned()));
        };
        match crate::kb::synced::passages_of(&self.conn, d)? {
            Some(passages) => {
                d.passages = Some(passages);
                Ok(Some(change.encode()))
            }
            None => Ok(None),
        }
    }

    /// Records ILS Central's answers to a push (`results[i]` answers outbox row `seqs[i]`) in
    /// one transaction: applied and duplicate changes are sent; refused ones keep their reason;
    /// a new order takes the practice's number, its own kept as its local number.
    pub fn record_push(
        &mut self,
        seqs: &[i64],
        results: &[PushResult],
    ) -> Result<PushTally, StoreError> {
        if seqs.len() != results.len() {
            return Err(StoreError::Encoding(format!(
                "ILS Central answered {} of {} changes",
                results.len(),
                seqs.len()
            )));
        }
        let now = now_text(self.now());
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut tally = PushTally::default();
        for (seq, result) in seqs.iter().zip(results) {
            let (entity, entity_id): (String, String) = tx.query_row(
                "SELECT entity, entity_id FROM outbox WHERE seq = ?1",
                [seq],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            match result.status {
                PushStatus::Applied | PushStatus::Duplicate => {
                    tx.execute(
                        "UPDATE outbox SET pushed_at = ?2 WHERE seq = ?1",
                        params![seq, now],
                    )?;
                    if result.status == PushStatus::Applied {
                        tally.applied += 1;
                    } else {
                        tally.duplicate += 1;
                    }
                    tally.conflicts += u64::from(result.conflict);
                }
                PushStatus::Rejected => {
                    tx.execute(
                        "UPDATE outbox SET rejected_at = ?2, rejected_code = ?3, rejected_message = ?4
                         WHERE seq = ?1",
                        params![
                            seq,
                            now,
                            result.code.as_deref().unwrap_or("sync.rejected"),
                            result.message.as_deref().unwrap_or("")
                        ],
                    )?;
                    tally.rejected += 1;
                }
            }
            if let (Some(number), "order") = (&result.order_number, entity.as_str()) {
                tx.execute(
                    "UPDATE orders SET local_number = coalesce(local_number, order_number),
                                       order_number = ?2
                     WHERE id = ?1 AND order_number <> ?2",
                    params![entity_id, number],
                )?;
            }
        }
        tx.commit()?;
        Ok(tally)
    }

    /// Applies a pulled page and moves the cursor to `cursor`, in one transaction.
    pub fn apply_pulled(
        &mut self,
        changes: &[(Change, String)],
        cursor: i64,
    ) -> Result<PullTally, StoreError> {
        let now = self.now();
        let now_ms = u64::try_from(now.timestamp_millis()).unwrap_or(0);
        let device = self.device;
        // A pulled page and its cursor commit together, so a page lost to a power cut is
        // pulled again: its commit need not wait for the disk (only the device's own writes
        // must). A first sync writes far more than the default cache holds.
        // Pages written many times over a long pull reach the database file once per ~40 MB
        // of log instead of once per 4 MB.
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        self.conn.pragma_update(None, "cache_size", -262_144)?;
        self.conn
            .query_row("PRAGMA wal_autocheckpoint = 10000", [], |_| Ok(()))?;
        let applied = self.apply_page(changes, cursor, now, now_ms, device);
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        self.conn
            .query_row("PRAGMA wal_autocheckpoint = 1000", [], |_| Ok(()))?;
        let tally = applied?;
        if tally.erased > 0 {
            // The erased pages leave the write-ahead log now, not at the next checkpoint; and
            // the erasure itself waits for the disk.
            self.conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        }
        Ok(tally)
    }

    fn apply_page(
        &mut self,
        changes: &[(Change, String)],
        cursor: i64,
        now: DateTime<Utc>,
        now_ms: u64,
        device: ils_core::DeviceId,
    ) -> Result<PullTally, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let last = meta(&tx, "hlc")?.and_then(|s| s.parse::<HlcStamp>().ok());
        let company: Option<ils_core::CompanyId> =
            meta(&tx, "company_id")?.and_then(|s| s.parse().ok());
        let mut clock = HybridClock::new(device.get(), last, MAX_DRIFT_MS);
        let mut tally = PullTally::default();
        for (change, text) in changes {
            if change.device == device {
                continue;
            }
            // ILS Central refuses stamps far ahead; one that still is ahead of this computer's
            // clock (this clock is behind) is taken as it is, the clock following it.
            let _ = clock.observe(change.hlc, now_ms);
            if change.operation == Operation::Erase {
                if change.entity == Entity::Patient
                    && let Some(company) = company
                    && erase_patient(&tx, company, change.entity_id)?
                {
                    tally.erased += 1;
                }
                continue;
            }
            let id = change.entity_id.to_string();
            let held = version(&tx, change.entity, &id)?;
            if let Some(held) = &held {
                if held.change_id == change.id.to_string() {
                    continue;
                }
                let current = ils_core::change::Held {
                    operation: held.operation,
                    hlc: held.hlc,
                    change_id: held.change_id.parse().map_err(|e| {
                        StoreError::Encoding(format!("sync_versions.change_id: {e}"))
                    })?,
                };
                if change.loses_to(&current) {
                    record_conflict(
                        &tx,
                        change.entity,
                        &id,
                        &change.id.to_string(),
                        text,
                        &held.change_id,
                        Reason::ConcurrentEdit,
                        now,
                    )?;
                    tally.superseded += 1;
                    continue;
                }
                // This device's own version, replaced by one whose maker had not seen it.
                if change.overwrites_unseen(&current)
                    && held.hlc.device == device.get()
                    && !held.change.is_empty()
                {
                    record_conflict(
                        &tx,
                        change.entity,
                        &id,
                        &held.change_id,
                        &held.change,
                        &change.id.to_string(),
                        Reason::ConcurrentEdit,
                        now,
                    )?;
                    tally.conflicts += 1;
                }
            }
            match &change.record {
                Some(Record::Document(d)) if change.operation == Operation::Delete => {
                    crate::kb::synced::delete(&tx, d.id)?;
                }
                Some(Record::Document(d)) => match &d.passages {
                    Some(passages) => crate::kb::synced::write(&tx, d, passages)?,
                    // Replaced or deleted on ILS Central since it was made: a later change of
                    // the feed carries what followed.
                    None => {
                        tally.superseded += 1;
                        continue;
                    }
                },
                Some(record) => {
                    if let Record::Patient(p) = record {
                        free_customer_number(&tx, p, &change.id.to_string(), now)?;
                    }
                    write_record(&tx, record)?;
                }
                None => {}
            }
            // A pulled version's text is not kept: if it later loses to a concurrent change,
            // ILS Central, where the two met, has logged that conflict already.
            set_version_text(&tx, change, "")?;
            tally.applied += 1;
        }
        set_meta(&tx, "hlc", &clock.last().to_string())?;
        set_meta(&tx, CURSOR, &cursor.to_string())?;
        tx.commit()?;
        Ok(tally)
    }

    /// Every change this device made, as it travels (tests build their oracle from it).
    #[doc(hidden)]
    pub fn outbox_changes(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT change FROM outbox ORDER BY seq")?;
        let rows = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The changes ILS Central refused, newest first.
    pub fn rejected_changes(&self) -> Result<Vec<RejectedChange>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT change_id, entity, entity_id, operation, rejected_code, rejected_message, rejected_at
             FROM outbox WHERE rejected_at IS NOT NULL ORDER BY seq DESC",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(RejectedChange {
                    change_id: r.get(0)?,
                    entity: r.get(1)?,
                    entity_id: r.get(2)?,
                    operation: r.get(3)?,
                    code: r.get(4)?,
                    message: r.get(5)?,
                    rejected_at: super::time_column(r, 6)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The conflicts no one has reviewed, oldest first.
    pub fn sync_conflicts(&self) -> Result<Vec<LocalConflict>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, entity, entity_id, lost_change_id, lost, won_change_id, recorded_at, reason
             FROM sync_conflicts WHERE resolved_at IS NULL ORDER BY recorded_at, id",
        )?;
        let rows = stmt
            .query_map([], |r| {
                let lost: String = r.get(4)?;
                Ok(LocalConflict {
                    id: r.get(0)?,
                    entity: r.get(1)?,
                    entity_id: r.get(2)?,
                    lost_change_id: r.get(3)?,
                    lost: serde_json::from_str(&lost)
                        .map_err(|e| super::bad_column(4, Box::new(e)))?,
                    won_change_id: r.get(5)?,
                    recorded_at: super::time_column(r, 6)?,
                    reason: r.get(7)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The counts cost what there is to count: a practice with years of changes in its outbox
    /// must not read them all at every start (schema 7 added the index of refused changes).
    #[test]
    fn status_counts_read_partial_indexes_not_tables() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(&dir.path().join("practice.db")).expect("open");
        for sql in [COUNT_PENDING, COUNT_REJECTED, COUNT_OPEN_CONFLICTS] {
            let plan: Vec<String> = store
                .conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .expect("plan")
                .query_map([], |r| r.get::<_, String>(3))
                .expect("rows")
                .collect::<Result<_, _>>()
                .expect("plan rows");
            assert!(
                plan.iter().all(|step| step.contains("USING")),
                "{sql}: {plan:?}"
            );
        }
    }
}
