//! `sync_heads`, `sync_feed`, `sync_versions`, `sync_received`, `sync_conflicts`, `devices`,
//! `device_codes`: the tables of sync (see the migration `20261203000001_sync.sql`).

use chrono::{DateTime, Utc};
use ils_core::change::{Entity, Operation};
use ils_core::hlc::HlcStamp;
use ils_core::{ChangeId, DeviceId, UserId};
use serde::Serialize;
use uuid::Uuid;

use crate::db::TenantTx;
use crate::error::{Error, Result};

/// The tenant's head, locked until the transaction ends: the next feed position follows `seq`,
/// and `hlc` is the newest stamp ILS Central has made or accepted for the tenant.
///
/// The row is locked with `SELECT … FOR UPDATE`, which writes nothing: an upsert that "updates"
/// it to itself would write a new version of the row on every write of the tenant, and the
/// append's later update of a row version made by its own transaction would then check the
/// foreign key to `companies` again (PostgreSQL skips that check only for rows it did not
/// make). A tenant's first write creates the row (`ON CONFLICT DO NOTHING` waits for a
/// concurrent creator, then the lock is taken as usual).
pub async fn lock_head(tx: &mut TenantTx) -> Result<(i64, Option<HlcStamp>)> {
    let tenant = tx.tenant();
    for _ in 0..2 {
        let head: Option<(i64, String)> =
            sqlx::query_as("SELECT seq, hlc FROM sync_heads WHERE company_id = $1 FOR UPDATE")
                .bind(tenant)
                .fetch_optional(tx.conn())
                .await?;
        if let Some((seq, hlc)) = head {
            return Ok((seq, hlc.parse().ok()));
        }
        sqlx::query(
            "INSERT INTO sync_heads (company_id, seq, hlc) VALUES ($1, 0, '')
             ON CONFLICT (company_id) DO NOTHING",
        )
        .bind(tenant)
        .execute(tx.conn())
        .await?;
    }
    Err(Error::Internal(format!(
        "the sync head of tenant {tenant} could not be created"
    )))
}

/// One change appended to the feed.
#[derive(Debug)]
pub struct FeedRow {
    pub change_id: ChangeId,
    pub device: DeviceId,
    pub entity: Entity,
    pub entity_id: Uuid,
    pub operation: Operation,
    pub hlc: HlcStamp,
    pub change: String,
}

/// Rows of one append statement: its binds stay far below PostgreSQL's 65,535.
const APPEND_ROWS: usize = 2_000;

/// Appends `rows` after position `after`, makes each the version of its record (the last row
/// of a record wins: rows come in stamp order), moves the head and wakes the replicas' waiting
/// pulls (`NOTIFY ils_sync`), in one statement per 2,000 rows.
///
/// The rows travel as `VALUES` lists and the notification is selected from the head's update:
/// on a distributed PostgreSQL (Citus) an `INSERT … SELECT` from arrays into a table under
/// row-level security would be loaded by `COPY`, which row-level security refuses, and a
/// `RETURNING` may not call `pg_notify` (docs/citus.md).
pub async fn append(
    tx: &mut TenantTx,
    after: i64,
    rows: &[FeedRow],
    head_hlc: HlcStamp,
) -> Result<()> {
    if rows.is_empty() {
        return set_head_clock(tx, head_hlc).await;
    }
    let mut at = after;
    for chunk in rows.chunks(APPEND_ROWS) {
        append_chunk(tx, at, chunk, head_hlc).await?;
        at += i64::try_from(chunk.len()).unwrap_or(i64::MAX);
    }
    Ok(())
}

async fn append_chunk(
    tx: &mut TenantTx,
    after: i64,
    rows: &[FeedRow],
    head_hlc: HlcStamp,
) -> Result<()> {
    let tenant = tx.tenant();
    let mut latest: std::collections::HashMap<(Entity, Uuid), usize> = Default::default();
    for (i, r) in rows.iter().enumerate() {
        latest.insert((r.entity, r.entity_id), i);
    }
    let mut versions: Vec<&FeedRow> = latest.values().map(|&i| &rows[i]).collect();
    versions.sort_by_key(|r| r.hlc);
    let mut q = sqlx::QueryBuilder::<sqlx::Postgres>::new(
        "WITH feed AS (INSERT INTO sync_feed (company_id, seq, change_id, device, entity, entity_id, operation, hlc, change) ",
    );
    let mut seq = after;
    q.push_values(rows, |mut row, r| {
        seq += 1;
        row.push_bind(tenant)
            .push_bind(seq)
            .push_bind(r.change_id.into_uuid())
            .push_bind(r.device.to_string())
            .push_bind(r.entity.as_str())
            .push_bind(r.entity_id)
            .push_bind(r.operation.as_str())
            .push_bind(r.hlc.to_string())
            .push_bind(r.change.as_str());
    });
    q.push(
        "), versions AS (INSERT INTO sync_versions (company_id, entity, entity_id, operation, hlc, change_id) ",
    );
    q.push_values(&versions, |mut row, r| {
        row.push_bind(tenant)
            .push_bind(r.entity.as_str())
            .push_bind(r.entity_id)
            .push_bind(r.operation.as_str())
            .push_bind(r.hlc.to_string())
            .push_bind(r.change_id.into_uuid());
    });
    q.push(
        " ON CONFLICT (company_id, entity, entity_id) DO UPDATE
             SET operation = excluded.operation, hlc = excluded.hlc, change_id = excluded.change_id
         ), head AS (UPDATE sync_heads SET seq = ",
    );
    q.push_bind(seq);
    q.push(", hlc = ");
    q.push_bind(head_hlc.to_string());
    q.push(" WHERE company_id = ");
    q.push_bind(tenant);
    q.push(" RETURNING company_id) SELECT pg_notify('ils_sync', company_id::text) FROM head");
    q.build().execute(tx.conn()).await?;
    Ok(())
}

/// Moves only the head's clock (a push whose every change was superseded or a duplicate).
pub async fn set_head_clock(tx: &mut TenantTx, hlc: HlcStamp) -> Result<()> {
    let tenant = tx.tenant();
    sqlx::query("UPDATE sync_heads SET hlc = $2 WHERE company_id = $1")
        .bind(tenant)
        .bind(hlc.to_string())
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// The version of a record that won so far.
pub type Version = ils_core::change::Held;

pub async fn version(tx: &mut TenantTx, entity: Entity, id: Uuid) -> Result<Option<Version>> {
    let tenant = tx.tenant();
    let row: Option<(String, String, Uuid)> = sqlx::query_as(
        "SELECT operation, hlc, change_id FROM sync_versions
         WHERE company_id = $1 AND entity = $2 AND entity_id = $3",
    )
    .bind(tenant)
    .bind(entity.as_str())
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    row.map(|(operation, hlc, change_id)| {
        Ok(Version {
            operation: Operation::parse(&operation)
                .ok_or_else(|| Error::Internal(format!("stored operation {operation:?}")))?,
            hlc: hlc
                .parse()
                .map_err(|e| Error::Internal(format!("stored stamp: {e}")))?,
            change_id: ChangeId::from_uuid(change_id),
        })
    })
    .transpose()
}

/// The versions held of many records at once.
pub async fn versions(
    tx: &mut TenantTx,
    records: &[(Entity, Uuid)],
) -> Result<std::collections::HashMap<(Entity, Uuid), Version>> {
    let mut out = std::collections::HashMap::new();
    if records.is_empty() {
        return Ok(out);
    }
    let tenant = tx.tenant();
    let rows: Vec<(String, Uuid, String, String, Uuid)> = sqlx::query_as(
        "SELECT v.entity, v.entity_id, v.operation, v.hlc, v.change_id
         FROM sync_versions v
         JOIN unnest($2::text[], $3::uuid[]) AS r(entity, entity_id)
           ON v.entity = r.entity AND v.entity_id = r.entity_id
         WHERE v.company_id = $1",
    )
    .bind(tenant)
    .bind(records.iter().map(|r| r.0.as_str()).collect::<Vec<_>>())
    .bind(records.iter().map(|r| r.1).collect::<Vec<_>>())
    .fetch_all(tx.conn())
    .await?;
    for (entity, id, operation, hlc, change_id) in rows {
        let (Some(entity), Some(operation), Ok(hlc)) = (
            Entity::parse(&entity),
            Operation::parse(&operation),
            hlc.parse::<HlcStamp>(),
        ) else {
            return Err(Error::Internal(format!("stored version of {entity} {id}")));
        };
        out.insert(
            (entity, id),
            Version {
                operation,
                hlc,
                change_id: ChangeId::from_uuid(change_id),
            },
        );
    }
    Ok(out)
}

/// Which of `ids` were accepted before.
pub async fn received(tx: &mut TenantTx, ids: &[Uuid]) -> Result<Vec<Uuid>> {
    let tenant = tx.tenant();
    let rows: Vec<(Uuid,)> = sqlx::query_as(
        "SELECT change_id FROM sync_received WHERE company_id = $1 AND change_id = ANY($2)",
    )
    .bind(tenant)
    .bind(ids)
    .fetch_all(tx.conn())
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Records changes as accepted (applied or superseded).
pub async fn mark_received(tx: &mut TenantTx, rows: &[(ChangeId, Entity, Uuid)]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let tenant = tx.tenant();
    // `VALUES` lists, not `INSERT … SELECT` from arrays: see `append`.
    for batch in rows.chunks(APPEND_ROWS) {
        let mut q = sqlx::QueryBuilder::<sqlx::Postgres>::new(
            "INSERT INTO sync_received (company_id, change_id, entity, entity_id) ",
        );
        q.push_values(batch, |mut row, r| {
            row.push_bind(tenant)
                .push_bind(r.0.into_uuid())
                .push_bind(r.1.as_str())
                .push_bind(r.2);
        });
        q.build().execute(tx.conn()).await?;
    }
    Ok(())
}

/// A change as the feed holds it, if it is there.
pub async fn feed_change(tx: &mut TenantTx, change_id: ChangeId) -> Result<Option<String>> {
    let tenant = tx.tenant();
    let row: Option<(String,)> =
        sqlx::query_as("SELECT change FROM sync_feed WHERE company_id = $1 AND change_id = $2")
            .bind(tenant)
            .bind(change_id.into_uuid())
            .fetch_optional(tx.conn())
            .await?;
    Ok(row.map(|(c,)| c))
}

/// A version that lost to a concurrent one.
#[derive(Debug)]
pub struct NewConflict {
    pub entity: Entity,
    pub entity_id: Uuid,
    pub lost_change_id: ChangeId,
    pub lost: String,
    pub won_change_id: ChangeId,
}

pub async fn record_conflicts(tx: &mut TenantTx, rows: &[NewConflict]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let tenant = tx.tenant();
    // `VALUES` lists, not `INSERT … SELECT` from arrays: see `append`.
    for batch in rows.chunks(APPEND_ROWS) {
        let mut q = sqlx::QueryBuilder::<sqlx::Postgres>::new(
            "INSERT INTO sync_conflicts (company_id, id, entity, entity_id, lost_change_id, lost, won_change_id) ",
        );
        q.push_values(batch, |mut row, r| {
            row.push_bind(tenant)
                .push_bind(Uuid::now_v7())
                .push_bind(r.entity.as_str())
                .push_bind(r.entity_id)
                .push_bind(r.lost_change_id.into_uuid())
                .push_bind(r.lost.as_str())
                .push_bind(r.won_change_id.into_uuid());
        });
        q.build().execute(tx.conn()).await?;
    }
    Ok(())
}

/// A conflict, for a person to review.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ConflictRow {
    pub id: Uuid,
    pub entity: String,
    pub entity_id: Uuid,
    pub lost_change_id: Uuid,
    /// The version that lost, as it travelled (a change envelope).
    #[schema(value_type = ils_core::sync::schema::ChangeEnvelope)]
    pub lost: sqlx::types::Json<serde_json::Value>,
    pub won_change_id: Uuid,
    pub recorded_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolution: Option<String>,
}

pub async fn conflicts(
    tx: &mut TenantTx,
    open_only: bool,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<ConflictRow>> {
    let tenant = tx.tenant();
    let rows = sqlx::query_as(
        "SELECT id, entity, entity_id, lost_change_id, lost::jsonb AS lost, won_change_id, recorded_at,
                resolved_at, resolution
         FROM sync_conflicts
         WHERE company_id = $1 AND (NOT $2 OR resolved_at IS NULL) AND ($3::uuid IS NULL OR id > $3)
         ORDER BY id LIMIT $4",
    )
    .bind(tenant)
    .bind(open_only)
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(tx.conn())
    .await?;
    Ok(rows)
}

/// One entry of the conflict log, locked for its resolution.
pub async fn conflict_for_update(tx: &mut TenantTx, id: Uuid) -> Result<Option<ConflictRow>> {
    let tenant = tx.tenant();
    let row = sqlx::query_as(
        "SELECT id, entity, entity_id, lost_change_id, lost::jsonb AS lost, won_change_id, recorded_at,
                resolved_at, resolution
         FROM sync_conflicts WHERE company_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    Ok(row)
}

/// Marks a conflict resolved by `by`, as `resolution` says.
pub async fn resolve_conflict(
    tx: &mut TenantTx,
    id: Uuid,
    by: ils_core::UserId,
    resolution: &str,
) -> Result<ConflictRow> {
    let tenant = tx.tenant();
    let row = sqlx::query_as(
        "UPDATE sync_conflicts SET resolved_at = now(), resolved_by = $3, resolution = $4
         WHERE company_id = $1 AND id = $2
         RETURNING id, entity, entity_id, lost_change_id, lost::jsonb AS lost, won_change_id,
                   recorded_at, resolved_at, resolution",
    )
    .bind(tenant)
    .bind(id)
    .bind(uuid::Uuid::from(by))
    .bind(resolution)
    .fetch_one(tx.conn())
    .await?;
    Ok(row)
}

/// One change of a pulled page: its position, whether it is a knowledge-base document's new
/// version (which travels with its passages), and its text.
#[derive(Debug)]
pub struct Pulled {
    pub seq: i64,
    pub document_upsert: bool,
    pub change: String,
}

/// The changes after `cursor` that `device` did not make, and the position they reach.
pub async fn pull(
    tx: &mut TenantTx,
    device: DeviceId,
    cursor: i64,
    limit: u32,
) -> Result<(Vec<Pulled>, i64, bool)> {
    let tenant = tx.tenant();
    // One more than asked, to know whether more follow; rows of the pulling device are
    // skipped but still move the cursor.
    let rows: Vec<(i64, String, bool, String)> = sqlx::query_as(
        "SELECT seq, device, entity = 'document' AND operation = 'upsert', change FROM sync_feed
         WHERE company_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
    )
    .bind(tenant)
    .bind(cursor)
    .bind(i64::from(limit) + 1)
    .fetch_all(tx.conn())
    .await?;
    let more = rows.len() > limit as usize;
    let own = device.to_string();
    let mut reached = cursor;
    let mut out = Vec::new();
    for (seq, by, document_upsert, change) in rows.into_iter().take(limit as usize) {
        reached = seq;
        if by != own {
            out.push(Pulled {
                seq,
                document_upsert,
                change,
            });
        }
    }
    Ok((out, reached, more))
}

/// A registered device.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct DeviceRow {
    /// 16 hexadecimal digits.
    pub id: String,
    pub name: String,
    /// `pending`, `approved` or `revoked`.
    pub status: String,
    pub registered_by: Uuid,
    pub approved_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub approved_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_seen_at: Option<DateTime<Utc>>,
}

const DEVICE_COLUMNS: &str = "id, name, status, registered_by, approved_by, created_at, approved_at, \
                              revoked_at, last_seen_at";

pub async fn device(tx: &mut TenantTx, id: DeviceId) -> Result<Option<DeviceRow>> {
    let tenant = tx.tenant();
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {DEVICE_COLUMNS} FROM devices WHERE company_id = $1 AND id = $2"
    )))
    .bind(tenant)
    .bind(id.to_string())
    .fetch_optional(tx.conn())
    .await?)
}

pub async fn devices(tx: &mut TenantTx) -> Result<Vec<DeviceRow>> {
    let tenant = tx.tenant();
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {DEVICE_COLUMNS} FROM devices WHERE company_id = $1 ORDER BY created_at, id"
    )))
    .bind(tenant)
    .fetch_all(tx.conn())
    .await?)
}

pub async fn insert_device(
    tx: &mut TenantTx,
    id: DeviceId,
    name: &str,
    by: UserId,
    approved: bool,
) -> Result<DeviceRow> {
    let tenant = tx.tenant();
    // No `now()` in a `CASE` (Citus refuses it): the transaction's time as a parameter.
    let now = tx.now().await?;
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO devices (company_id, id, name, status, registered_by, approved_by, approved_at)
         VALUES ($1, $2, $3, CASE WHEN $5 THEN 'approved' ELSE 'pending' END, $4,
                 CASE WHEN $5 THEN $4 END, CASE WHEN $5 THEN $6 END)
         RETURNING {DEVICE_COLUMNS}"
    )))
    .bind(tenant)
    .bind(id.to_string())
    .bind(name)
    .bind(by.into_uuid())
    .bind(approved)
    .bind(now)
    .fetch_one(tx.conn())
    .await
    .map_err(Error::on_unique_violation(
        "device.already_registered",
        "This device is registered with the practice already",
    ))
}

/// Moves a device to `approved` or `revoked`; `None` when there is no such device.
pub async fn set_device_status(
    tx: &mut TenantTx,
    id: DeviceId,
    status: &str,
    by: UserId,
) -> Result<Option<DeviceRow>> {
    let tenant = tx.tenant();
    // No `now()` in a `CASE` (Citus refuses it): the transaction's time as a parameter.
    let now = tx.now().await?;
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE devices SET status = $3,
                approved_by = CASE WHEN $3 = 'approved' THEN $4 ELSE approved_by END,
                approved_at = CASE WHEN $3 = 'approved' THEN $5 ELSE approved_at END,
                revoked_at = CASE WHEN $3 = 'revoked' THEN $5 ELSE revoked_at END
         WHERE company_id = $1 AND id = $2 RETURNING {DEVICE_COLUMNS}"
    )))
    .bind(tenant)
    .bind(id.to_string())
    .bind(status)
    .bind(by.into_uuid())
    .bind(now)
    .fetch_optional(tx.conn())
    .await?)
}

pub async fn touch_device(tx: &mut TenantTx, id: DeviceId) -> Result<()> {
    let tenant = tx.tenant();
    sqlx::query("UPDATE devices SET last_seen_at = now() WHERE company_id = $1 AND id = $2")
        .bind(tenant)
        .bind(id.to_string())
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub async fn insert_code(
    tx: &mut TenantTx,
    sha256: &[u8],
    by: UserId,
    expires_at: DateTime<Utc>,
) -> Result<()> {
    let tenant = tx.tenant();
    sqlx::query(
        "INSERT INTO device_codes (company_id, code_sha256, created_by, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(tenant)
    .bind(sha256)
    .bind(by.into_uuid())
    .bind(expires_at)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Uses a registration code once: true when it was valid, unused and unexpired.
pub async fn use_code(tx: &mut TenantTx, sha256: &[u8], device: DeviceId) -> Result<bool> {
    let tenant = tx.tenant();
    let done = sqlx::query(
        "UPDATE device_codes SET used_at = now(), used_by = $3
         WHERE company_id = $1 AND code_sha256 = $2 AND used_at IS NULL AND expires_at > now()",
    )
    .bind(tenant)
    .bind(sha256)
    .bind(device.to_string())
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Gives a new order pushed by a device the practice's number, keeping the device's as its
/// local number.
pub async fn set_local_number(
    tx: &mut TenantTx,
    order: Uuid,
    number: &str,
    local: &str,
) -> Result<()> {
    let tenant = tx.tenant();
    sqlx::query(
        "UPDATE orders SET order_number = $3, local_number = $4 WHERE company_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(order)
    .bind(number)
    .bind(local)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Removes what sync holds of the records `ids` (an erased patient's): their changes in the
/// feed, their versions, the conflicts and the receipts that name them.
pub async fn erase_records(tx: &mut TenantTx, ids: &[Uuid]) -> Result<()> {
    let tenant = tx.tenant();
    sqlx::query(
        "WITH f AS (DELETE FROM sync_feed WHERE company_id = $1 AND entity_id = ANY($2)),
              v AS (DELETE FROM sync_versions WHERE company_id = $1 AND entity_id = ANY($2)),
              r AS (DELETE FROM sync_received WHERE company_id = $1 AND entity_id = ANY($2))
         DELETE FROM sync_conflicts WHERE company_id = $1 AND entity_id = ANY($2)",
    )
    .bind(tenant)
    .bind(ids)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Which of `ids` name a patient, prescription or order the practice holds.
pub async fn records_held(tx: &mut TenantTx, ids: &[Uuid]) -> Result<Vec<Uuid>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let tenant = tx.tenant();
    let rows: Vec<(Uuid,)> = sqlx::query_as(
        "SELECT id FROM patients WHERE company_id = $1 AND id = ANY($2)
         UNION ALL SELECT id FROM prescriptions WHERE company_id = $1 AND id = ANY($2)
         UNION ALL SELECT id FROM orders WHERE company_id = $1 AND id = ANY($2)",
    )
    .bind(tenant)
    .bind(ids)
    .fetch_all(tx.conn())
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// The position of the last audit entry taken from `device`, locked until the push commits.
pub async fn audit_mark(tx: &mut TenantTx, device: DeviceId) -> Result<i64> {
    let tenant = tx.tenant();
    let (seq,): (i64,) = sqlx::query_as(
        "INSERT INTO sync_audit_marks (company_id, device, last_seq) VALUES ($1, $2, 0)
         ON CONFLICT (company_id, device) DO UPDATE SET last_seq = sync_audit_marks.last_seq
         RETURNING last_seq",
    )
    .bind(tenant)
    .bind(device.to_string())
    .fetch_one(tx.conn())
    .await?;
    Ok(seq)
}

/// Writes a device's audit entries into the practice's trail (as of when they happened, with
/// the device) and moves the device's mark. The entries travel as `VALUES` lists (see
/// `append`), 1,000 a statement; then the mark moves.
pub async fn take_device_audit(
    tx: &mut TenantTx,
    device: DeviceId,
    request_id: Option<&str>,
    entries: &[(
        ils_core::sync::DeviceAuditEntry,
        Option<UserId>,
        Option<String>,
    )],
    through: i64,
) -> Result<()> {
    let tenant = tx.tenant();
    let device = device.to_string();
    for batch in entries.chunks(1_000) {
        let mut q = sqlx::QueryBuilder::<sqlx::Postgres>::new(
            "INSERT INTO audit_log (company_id, id, occurred_at, actor_user_id, actor_company_id, actor_role,
                                    action, resource_type, resource_id, outcome, request_id, device, details) ",
        );
        q.push_values(batch, |mut row, (entry, user, role)| {
            let mut details = entry.details.clone();
            if let Some(object) = details.as_object_mut() {
                object.insert("recorded_on".into(), serde_json::json!("device"));
                object.insert("device_seq".into(), serde_json::json!(entry.seq));
            }
            row.push_bind(tenant)
                .push_bind(Uuid::now_v7())
                .push_bind(entry.at)
                .push_bind(user.map(UserId::into_uuid))
                .push_bind(tenant)
                .push_bind(role.clone())
                .push_bind(entry.action.clone())
                .push_bind(entry.resource_type.clone())
                .push_bind(entry.resource_id.clone())
                .push_bind("success")
                .push_bind(request_id.map(str::to_owned))
                .push_bind(device.clone())
                .push_bind(sqlx::types::Json(details));
        });
        q.build().execute(tx.conn()).await?;
    }
    sqlx::query("UPDATE sync_audit_marks SET last_seq = $2 WHERE company_id = $1 AND device = $3")
        .bind(tenant)
        .bind(through)
        .bind(&device)
        .execute(tx.conn())
        .await?;
    Ok(())
}
