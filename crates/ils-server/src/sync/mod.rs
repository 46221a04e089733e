//! Sync with the desktops (`docs/sync-protocol.md`): the tenant's feed of changes, push, pull,
//! devices and the conflict log.
//!
//! Every change of a practice's records enters one feed per tenant, in one total order
//! (`sync_feed.seq`), whoever made it: a device's push (`push`) or the API (the clinical use
//! cases stage their plans' changes on the tenant transaction, which appends them when it
//! commits, [`flush`]). Positions and ILS Central's own clock stamps are taken under the tenant's
//! head row, last in the transaction, so that readers never skip a position and ILS Central's
//! stamps order after every stamp it has seen for the tenant.

mod devices;
pub mod notify;
mod push;

pub use devices::{Registration, approve, authorize, create_code, list, register, revoke};
pub use push::push;

use std::sync::OnceLock;

use chrono::Utc;
use ils_core::change::{Change, ChangeDraft};
use ils_core::hlc::{HybridClock, MAX_DRIFT_MS};
use ils_core::sync::PROTOCOL;
use ils_core::{ChangeId, DeviceId, UserId};

use crate::db::TenantTx;
use crate::error::Result;
use crate::store::sync::{self as store, FeedRow};

/// This process's device id for the changes it stamps (the API's writes): random at start, so
/// that replicas never share one. Its low bit is clear, while desktops set theirs, so the two
/// cannot meet.
pub fn replica_device() -> DeviceId {
    static DEVICE: OnceLock<DeviceId> = OnceLock::new();
    const FALLBACK: DeviceId = match DeviceId::new(2) {
        Some(id) => id,
        None => panic!("2 names a device"),
    };
    *DEVICE.get_or_init(|| {
        let raw = (uuid::Uuid::new_v4().as_u64_pair().0 >> 1) & !1;
        DeviceId::new(raw).unwrap_or(FALLBACK)
    })
}

fn now_ms() -> u64 {
    u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0)
}

/// Appends the changes staged on `tx` by the API's use cases, stamped by this replica: called
/// by `TenantTx::commit`, last before the commit.
pub(crate) async fn flush(tx: &mut TenantTx, staged: Vec<(ChangeDraft, UserId)>) -> Result<()> {
    if staged.is_empty() {
        return Ok(());
    }
    let (seq, last) = store::lock_head(tx).await?;
    let device = replica_device();
    let mut clock = HybridClock::new(device.get(), last, MAX_DRIFT_MS);
    if let Some(last) = last {
        // The head's stamp may be another replica's: order after it.
        let _ = clock.observe(last, now_ms());
    }
    let rows: Vec<FeedRow> = staged
        .into_iter()
        .map(|(draft, user)| {
            let change = Change::stamp(draft, ChangeId::new(), clock.tick(now_ms()), device, user);
            feed_row(&change)
        })
        .collect();
    store::append(tx, seq, &rows, clock.last()).await
}

/// The conflict log, a page at a time; its reading is audited with the records it showed (the
/// versions are those records' contents).
pub async fn conflicts(
    tx: &mut TenantTx,
    caller: &crate::clinical::Caller,
    open_only: bool,
    after: Option<uuid::Uuid>,
    limit: u32,
) -> Result<Vec<store::ConflictRow>> {
    let rows = store::conflicts(tx, open_only, after, limit).await?;
    let event = ils_core::audit::AuditEvent::unbound(
        ils_core::audit::AuditAction::SyncConflictList,
        ils_core::audit::resource::CHANGE,
        serde_json::json!({
            "conflict_ids": rows.iter().map(|r| r.id).collect::<Vec<_>>(),
            "record_ids": rows.iter().map(|r| r.entity_id).collect::<Vec<_>>(),
        }),
    );
    crate::clinical::record(tx, caller, &event).await?;
    Ok(rows)
}

/// Resolves an entry of the conflict log: the version that won is kept, or the one that lost
/// is restored as an edit by the caller (`ils_core::decide::conflicts`), in one transaction
/// with the entry's resolution and its audit.
pub async fn resolve_conflict(
    tx: &mut TenantTx,
    caller: &crate::clinical::Caller,
    id: uuid::Uuid,
    resolution: ils_core::decide::conflicts::Resolution,
) -> Result<store::ConflictRow> {
    use ils_core::change::{Entity, Record};
    use ils_core::decide::conflicts::{self as decide, Resolution, Restore};
    use ils_core::error::{DomainError, Resource};

    let row = store::conflict_for_update(tx, id)
        .await?
        .ok_or(DomainError::NotFound(Resource::Conflict))?;
    if row.resolved_at.is_some() {
        return Err(decide::already_resolved().into());
    }
    let lost = Change::decode(&row.lost.0.to_string())
        .map_err(|e| crate::error::Error::Internal(format!("conflict {id}: {e}")))?;
    decide::authorize(&caller.ctx(), &lost)?;
    if resolution == Resolution::Restored {
        let current = match lost.entity {
            Entity::Patient => crate::store::patients::find(
                tx,
                ils_core::PatientId::from(lost.entity_id),
                crate::store::patients::Lock::Update,
            )
            .await?
            .map(|r| Record::Patient(r.record())),
            Entity::Prescription => crate::store::prescriptions::find(
                tx,
                ils_core::PrescriptionId::from(lost.entity_id),
                crate::store::prescriptions::Lock::Update,
            )
            .await?
            .map(|r| Record::Prescription(r.record())),
            _ => None,
        };
        match decide::restore(&lost, current.as_ref())? {
            Restore::Patient(patient, changes) => {
                crate::clinical::patients::update(tx, caller, patient, &changes).await?;
            }
            Restore::Prescription(rx, content) => {
                crate::clinical::prescriptions::update(tx, caller, rx, &content).await?;
            }
            Restore::Nothing => {}
        }
    }
    let row = store::resolve_conflict(tx, id, caller.actor.user_id, resolution.as_str()).await?;
    crate::clinical::record(tx, caller, &decide::resolved(id, &lost, resolution)).await?;
    Ok(row)
}

pub(crate) fn feed_row(change: &Change) -> FeedRow {
    FeedRow {
        change_id: change.id,
        device: change.device,
        entity: change.entity,
        entity_id: change.entity_id,
        operation: change.operation,
        hlc: change.hlc,
        change: change.encode(),
    }
}

/// One page of the tenant's changes made elsewhere than `device`, after `cursor`.
#[derive(Debug)]
pub struct Page {
    /// Each change as the feed holds it (its wire form, `Change::encode`).
    pub changes: Vec<String>,
    pub cursor: i64,
    pub more: bool,
}

impl Page {
    /// The page as `PullPage` JSON, written from the stored texts as they are (a first sync
    /// sends a million of them: none is parsed and written again).
    pub fn into_json(self) -> String {
        let size: usize = self.changes.iter().map(|c| c.len() + 1).sum();
        let mut out = String::with_capacity(size + 64);
        out.push_str(&format!("{{\"protocol\":{PROTOCOL},\"changes\":["));
        for (i, change) in self.changes.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(change);
        }
        out.push_str(&format!(
            "],\"cursor\":{},\"more\":{}}}",
            self.cursor, self.more
        ));
        out
    }
}

pub async fn pull(tx: &mut TenantTx, device: DeviceId, cursor: i64, limit: u32) -> Result<Page> {
    let (rows, reached, more) = store::pull(tx, device, cursor, limit).await?;
    let count = rows.len();
    let mut changes = Vec::with_capacity(count);
    let mut passage_bytes = 0;
    for (i, row) in rows.into_iter().enumerate() {
        let seq = row.seq;
        if !row.document_upsert {
            changes.push(row.change);
            continue;
        }
        let text = with_passages(tx, row.change).await?;
        passage_bytes += text.len();
        changes.push(text);
        // A page of documents stops once it is big enough; the next page goes on from here.
        if passage_bytes > PAGE_PASSAGE_BYTES && i + 1 < count {
            return Ok(Page {
                changes,
                cursor: seq,
                more: true,
            });
        }
    }
    Ok(Page {
        changes,
        cursor: reached,
        more,
    })
}

/// Past this many bytes of documents' passages, a pulled page ends.
const PAGE_PASSAGE_BYTES: usize = 8 << 20;

/// A document's change with the passages and vectors of the version it names, read from the
/// knowledge base. When the knowledge base holds another version (replaced or deleted since),
/// the change goes without them: a later change of the feed carries what replaced it.
async fn with_passages(tx: &mut TenantTx, text: String) -> Result<String> {
    use ils_core::change::{Operation, Record};
    let Ok(mut change) = Change::decode(&text) else {
        return Ok(text);
    };
    let Some(Record::Document(d)) = &mut change.record else {
        return Ok(text);
    };
    if change.operation != Operation::Upsert {
        return Ok(text);
    }
    let id = d.id.into_uuid();
    let current = crate::store::kb::find(tx, id).await?;
    match current {
        // The same test as a re-ingest's: this content, embedded by this model.
        Some(row)
            if ils_core::decide::documents::is_unchanged(
                Some(d),
                &row.content_sha256,
                &row.model,
            ) =>
        {
            d.passages = Some(crate::store::kb::passages(tx, id).await?);
            Ok(change.encode())
        }
        _ => Ok(text),
    }
}
