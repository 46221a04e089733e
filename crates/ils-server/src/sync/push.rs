//! A device's push: its changes checked by the API's own decisions, merged with the versions
//! ILS Central holds, applied in one transaction, answered change by change.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use ils_core::audit::{AuditAction, resource};
use ils_core::change::{Change, Entity, Operation, Record};
use ils_core::decide::Ctx;
use ils_core::decide::sync::{self as decide, Loaded, OpenOrdersOf};
use ils_core::hlc::{HybridClock, MAX_DRIFT_MS};
use ils_core::sync::{
    MAX_PUSH_AUDIT, MAX_PUSH_CHANGES, PROTOCOL, PushRequest, PushResponse, PushResult,
};
use ils_core::{Actor, ChangeId, OrderEventId, OrderId, PatientId, PrescriptionId, Role, UserId};
use serde_json::json;
use uuid::Uuid;

use super::{devices, feed_row, now_ms};
use crate::clinical::Caller;
use crate::db::{AuditActor, TenantTx};
use crate::error::{Error, Result};
use crate::store::audit::{self, Entry, Outcome};
use crate::store::sync::{self as store, FeedRow, NewConflict, Version};
use crate::store::{kb, orders, patients, prescriptions};

/// Why a change was refused: its code and a message a person can act on.
struct Refusal {
    code: String,
    message: String,
}

impl From<ils_core::DomainError> for Refusal {
    fn from(e: ils_core::DomainError) -> Self {
        Refusal {
            code: e.code().to_owned(),
            message: e.to_string(),
        }
    }
}

fn refusal(code: &str, message: impl Into<String>) -> Refusal {
    Refusal {
        code: code.to_owned(),
        message: message.into(),
    }
}

/// A refusal from writing a change (a customer number another patient holds, …); errors of
/// the database itself are not the change's fault and end the push.
fn write_refusal(error: Error) -> std::result::Result<Refusal, Error> {
    match error {
        Error::Conflict { code, message }
        | Error::BadRequest { code, message }
        | Error::Forbidden { code, message } => Ok(refusal(code, message)),
        Error::Validation(v) => Ok(Refusal::from(ils_core::DomainError::Validation(v))),
        Error::NotFound { resource } => Ok(refusal(
            &format!("{resource}.not_found"),
            format!("{resource} not found"),
        )),
        other => Err(other),
    }
}

/// What a push keeps while it walks the batch.
struct Batch {
    feed: Vec<FeedRow>,
    received: Vec<(ChangeId, Entity, Uuid)>,
    conflicts: Vec<NewConflict>,
    /// The versions this batch made, over the stored ones.
    versions: HashMap<(Entity, Uuid), (Version, String)>,
    seen: HashSet<ChangeId>,
    makers: HashMap<UserId, Option<(Actor, Role)>>,
    /// The versions ILS Central held of the batch's records when it began.
    stored: HashMap<(Entity, Uuid), Version>,
    /// The audit rows, written together at the end.
    audits: Vec<(AuditActor, Entry<'static>)>,
    /// Whether a savepoint is open (the next change releases it and opens its own in one
    /// round trip).
    savepoint: bool,
}

/// Applies a device's push in `tx` (the caller commits). The device must be approved.
pub async fn push(
    tx: &mut TenantTx,
    caller: &Caller,
    time_zone: chrono_tz::Tz,
    request: &PushRequest,
) -> Result<PushResponse> {
    if request.protocol != PROTOCOL {
        return Err(Error::bad_request(
            "sync.protocol_unsupported",
            format!(
                "This server speaks sync protocol {PROTOCOL}, the device {}; update the older one",
                request.protocol
            ),
        ));
    }
    if request.audit.len() > MAX_PUSH_AUDIT {
        return Err(Error::bad_request(
            "sync.batch_too_large",
            format!(
                "A push carries at most {MAX_PUSH_AUDIT} audit entries; this one carries {}",
                request.audit.len()
            ),
        ));
    }
    check_device_audit(&request.audit)?;
    if request.changes.len() > MAX_PUSH_CHANGES {
        return Err(Error::bad_request(
            "sync.batch_too_large",
            format!(
                "A push carries at most {MAX_PUSH_CHANGES} changes; this one carries {}",
                request.changes.len()
            ),
        ));
    }
    devices::authorize(tx, request.device).await?;
    let (seq, last) = store::lock_head(tx).await?;
    let mut clock = HybridClock::new(super::replica_device().get(), last, MAX_DRIFT_MS);
    let decoded: Vec<std::result::Result<Change, Refusal>> = request
        .changes
        .iter()
        .map(|value| {
            Change::decode(&value.to_string()).map_err(|e| {
                let code = match e {
                    ils_core::change::CodecError::NewerFormat { .. }
                    | ils_core::change::CodecError::NewerSchema { .. }
                    | ils_core::change::CodecError::UnknownEntity(_) => "sync.newer_change",
                    _ => "sync.malformed_change",
                };
                refusal(code, e.to_string())
            })
        })
        .collect();
    let ids: Vec<Uuid> = decoded
        .iter()
        .filter_map(|c| c.as_ref().ok().map(|c| c.id.into_uuid()))
        .collect();
    let already: HashSet<Uuid> = store::received(tx, &ids).await?.into_iter().collect();
    // Nothing about an erased patient comes back, from any outbox however old.
    let company = caller.actor.company_id;
    let named: Vec<Option<Vec<u8>>> = decoded
        .iter()
        .map(|c| {
            c.as_ref()
                .ok()
                .and_then(named_patient)
                .map(|p| crate::clinical::gdpr::subject_hash(company, "patient", p.into_uuid()))
        })
        .collect();
    let hashes: Vec<Vec<u8>> = named.iter().flatten().cloned().collect();
    let erased: HashSet<Vec<u8>> = crate::store::gdpr::erased(tx, &hashes)
        .await?
        .into_iter()
        .collect();
    let records: Vec<(Entity, Uuid)> = decoded
        .iter()
        .filter_map(|c| c.as_ref().ok().map(|c| (c.entity, c.entity_id)))
        .collect();
    let stored = store::versions(tx, &records).await?;
    let mut batch = Batch {
        stored,
        audits: Vec::new(),
        savepoint: false,
        feed: Vec::new(),
        received: Vec::new(),
        conflicts: Vec::new(),
        versions: HashMap::new(),
        seen: HashSet::new(),
        makers: HashMap::new(),
    };
    let mut results = Vec::with_capacity(decoded.len());
    for ((raw, change), hash) in request.changes.iter().zip(decoded).zip(named) {
        let change = match change {
            Ok(c) if hash.is_some_and(|h| erased.contains(&h)) => Err(refusal(
                "sync.erased",
                "The patient this change is about was erased (GDPR); the change is dropped and \
                 the patient does not come back",
            ))
            .map_err(|r| (Some(c.id), r)),
            Ok(c) => Ok(c),
            Err(r) => Err((None, r)),
        };
        let result = match change {
            Err((Some(id), refused)) => {
                reject_audited(&mut batch, caller, request, id, &refused);
                PushResult::rejected(Some(id), &refused.code, refused.message)
            }
            Err((None, refused)) => {
                let id = raw
                    .get("id")
                    .and_then(|v| v.as_str())
                    .and_then(|s| s.parse().ok());
                PushResult::rejected(id, &refused.code, refused.message)
            }
            Ok(change) => {
                if already.contains(&change.id.into_uuid()) || batch.seen.contains(&change.id) {
                    PushResult::duplicate(change.id)
                } else {
                    let id = change.id;
                    let outcome = one(
                        tx, caller, time_zone, request, &mut clock, &mut batch, change,
                    )
                    .await?;
                    match outcome {
                        Ok(result) => {
                            batch.seen.insert(id);
                            result
                        }
                        Err(refused) => {
                            reject_audited(&mut batch, caller, request, id, &refused);
                            PushResult::rejected(Some(id), &refused.code, refused.message)
                        }
                    }
                }
            }
        };
        results.push(result);
    }
    if batch.feed.is_empty() {
        store::set_head_clock(tx, clock.last()).await?;
    } else {
        store::append(tx, seq, &batch.feed, clock.last()).await?;
    }
    store::mark_received(tx, &batch.received).await?;
    store::record_conflicts(tx, &batch.conflicts).await?;
    audit::record_many(tx, std::mem::take(&mut batch.audits)).await?;
    let audit_through = device_audit(tx, caller, request, &mut batch).await?;
    Ok(PushResponse {
        protocol: PROTOCOL,
        results,
        audit_through,
    })
}

/// Whether the audit entries are what a device's log holds: ILS Central's vocabulary, in
/// order, within bounds. Refused whole (422, naming the entry) otherwise.
fn check_device_audit(entries: &[ils_core::sync::DeviceAuditEntry]) -> Result<()> {
    let name = |s: &str, max: usize| {
        !s.is_empty()
            && s.len() <= max
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
    };
    let mut errors = ils_core::ValidationErrors::new();
    let mut last = 0i64;
    for (i, e) in entries.iter().enumerate() {
        let at = |f: &str| format!("audit[{i}].{f}");
        if e.seq <= last {
            errors.add(
                &at("seq"),
                "sync.audit_out_of_order",
                "Audit entries come once, in increasing order",
            );
        }
        last = e.seq;
        if !name(&e.action, 100) {
            errors.add(
                &at("action"),
                "sync.audit_invalid",
                "An action is an audit action name like patient.read",
            );
        }
        if !name(&e.resource_type, 50) {
            errors.add(
                &at("resource_type"),
                "sync.audit_invalid",
                "A resource type is a name like patient",
            );
        }
        if e.resource_id
            .as_deref()
            .is_some_and(|r| r.len() > 200 || r.chars().any(char::is_control))
        {
            errors.add(
                &at("resource_id"),
                "sync.audit_invalid",
                "A resource id is at most 200 printable characters",
            );
        }
        if !e.details.is_object() && !e.details.is_null() || e.details.to_string().len() > 16_384 {
            errors.add(
                &at("details"),
                "sync.audit_invalid",
                "Details are a JSON object of at most 16 KB",
            );
        }
    }
    errors.into_result().map_err(Error::from)
}

/// Takes the device's audit entries it has not sent before into the practice's trail: each
/// names its user when that is a user of the practice, is dated when it happened (never later
/// than now), and carries the device. Returns the position now taken.
async fn device_audit(
    tx: &mut TenantTx,
    caller: &Caller,
    request: &PushRequest,
    batch: &mut Batch,
) -> Result<Option<i64>> {
    if request.audit.is_empty() {
        return Ok(None);
    }
    let mark = store::audit_mark(tx, request.device).await?;
    let now = Utc::now();
    let mut taken = Vec::new();
    for entry in request.audit.iter().filter(|e| e.seq > mark) {
        let mut entry = entry.clone();
        entry.at = entry.at.min(now);
        if entry.details.is_null() {
            entry.details = json!({});
        }
        let (user, role) = match entry.user {
            Some(user) => match maker(tx, batch, user).await? {
                Some((_, role)) => (Some(user), Some(role.as_str().to_owned())),
                None => (None, None),
            },
            None => (None, None),
        };
        taken.push((entry, user, role));
    }
    // An entry made offline may name a patient's record erased meanwhile: the trail never
    // takes back the id of a clinical record this practice no longer holds ("unknown").
    let mut named = Vec::new();
    for (entry, ..) in &taken {
        let resource = CLINICAL
            .contains(&entry.resource_type.as_str())
            .then_some(entry.resource_id.as_deref())
            .flatten();
        collect_ids(resource, &entry.details, false, &mut named);
    }
    let held: HashSet<Uuid> = store::records_held(tx, &named).await?.into_iter().collect();
    for (entry, ..) in &mut taken {
        if CLINICAL.contains(&entry.resource_type.as_str())
            && let Some(id) = entry.resource_id.as_deref()
            && id.parse::<Uuid>().is_ok_and(|u| !held.contains(&u))
        {
            entry.resource_id = Some("unknown".into());
        }
        redact_details(&mut entry.details, &held, false);
    }
    let through = request.audit.last().map_or(mark, |e| e.seq).max(mark);
    if !taken.is_empty() {
        let request_id = caller.audit.request_id.as_deref();
        store::take_device_audit(tx, request.device, request_id, &taken, through).await?;
    }
    Ok(Some(through))
}

/// The kinds of clinical record an audit entry may name, and the detail keys that hold their
/// ids.
const CLINICAL: [&str; 3] = ["patient", "prescription", "order"];
const CLINICAL_KEYS: [&str; 6] = [
    "patient_id",
    "patient_ids",
    "prescription_id",
    "prescription_ids",
    "order_id",
    "order_ids",
];

/// The clinical records' ids an audit entry names (its resource, and the ids under the
/// clinical keys of its details).
fn collect_ids(
    resource: Option<&str>,
    details: &serde_json::Value,
    clinical: bool,
    out: &mut Vec<Uuid>,
) {
    if let Some(id) = resource.and_then(|r| r.parse().ok()) {
        out.push(id);
    }
    match details {
        serde_json::Value::String(s) if clinical => {
            if let Ok(id) = s.parse() {
                out.push(id);
            }
        }
        serde_json::Value::Array(items) => items
            .iter()
            .for_each(|v| collect_ids(None, v, clinical, out)),
        serde_json::Value::Object(map) => map.iter().for_each(|(k, v)| {
            collect_ids(
                None,
                v,
                clinical || CLINICAL_KEYS.contains(&k.as_str()),
                out,
            )
        }),
        _ => {}
    }
}

/// Replaces the ids of clinical records the practice does not hold by `"unknown"`.
fn redact_details(details: &mut serde_json::Value, held: &HashSet<Uuid>, clinical: bool) {
    match details {
        serde_json::Value::String(s)
            if clinical && s.parse::<Uuid>().is_ok_and(|u| !held.contains(&u)) =>
        {
            *s = "unknown".into();
        }
        serde_json::Value::Array(items) => items
            .iter_mut()
            .for_each(|v| redact_details(v, held, clinical)),
        serde_json::Value::Object(map) => map.iter_mut().for_each(|(k, v)| {
            redact_details(v, held, clinical || CLINICAL_KEYS.contains(&k.as_str()))
        }),
        _ => {}
    }
}

/// The patient a change is about, if it names one.
fn named_patient(change: &Change) -> Option<PatientId> {
    match &change.record {
        Some(Record::Patient(p)) => Some(p.id),
        Some(Record::Prescription(rx)) => Some(rx.patient_id),
        Some(Record::Order(o)) => Some(o.data.patient_id),
        _ => None,
    }
}

/// The audit actor of a change: its maker, on the pushing device, in the push's request.
fn audit_actor(caller: &Caller, request: &PushRequest, maker: UserId, role: Role) -> AuditActor {
    AuditActor {
        user_id: Some(maker),
        company_id: caller.audit.company_id,
        role: Some(role),
        request_id: caller.audit.request_id.clone(),
        device: Some(request.device.to_string()),
    }
}

fn reject_audited(
    batch: &mut Batch,
    caller: &Caller,
    request: &PushRequest,
    id: ChangeId,
    refused: &Refusal,
) {
    let actor = AuditActor {
        device: Some(request.device.to_string()),
        ..caller.audit.clone()
    };
    batch.audits.push((
        actor,
        Entry {
            action: AuditAction::SyncReject.as_str(),
            resource_type: resource::CHANGE,
            resource_id: Some(id.to_string()),
            outcome: Outcome::Denied,
            details: json!({ "code": refused.code }),
        },
    ));
}

/// One change: checked, merged, applied. `Err(Refusal)` rejects the change alone.
async fn one(
    tx: &mut TenantTx,
    caller: &Caller,
    time_zone: chrono_tz::Tz,
    request: &PushRequest,
    clock: &mut HybridClock,
    batch: &mut Batch,
    mut change: Change,
) -> Result<std::result::Result<PushResult, Refusal>> {
    if change.device != request.device {
        return Ok(Err(refusal(
            "sync.wrong_device",
            format!(
                "The change was made by device {}, not by the pushing device {}; a device pushes \
                 its own changes",
                change.device, request.device
            ),
        )));
    }
    if let Err(drift) = clock.observe(change.hlc, now_ms()) {
        return Ok(Err(refusal(
            "sync.clock_ahead",
            format!("{drift}; set this computer's date and time right, then sync again"),
        )));
    }
    let Some((actor, role)) = maker(tx, batch, change.user).await? else {
        return Ok(Err(refusal(
            "sync.unknown_user",
            "The change was made by a user who is not an active user of this practice",
        )));
    };
    let key = (change.entity, change.entity_id);
    let stored = match batch.versions.get(&key) {
        Some((version, _)) => Some(*version),
        None => batch.stored.get(&key).copied(),
    };
    let audit_as = audit_actor(caller, request, change.user, role);
    if let Some(version) = &stored
        && change.loses_to(version)
    {
        // A concurrent version already won: this one is kept in the conflict log only.
        strip_passages(&mut change);
        batch.conflicts.push(NewConflict {
            entity: change.entity,
            entity_id: change.entity_id,
            lost_change_id: change.id,
            lost: change.encode(),
            won_change_id: version.change_id,
        });
        batch
            .received
            .push((change.id, change.entity, change.entity_id));
        conflict_audited(batch, &audit_as, &change, version.change_id, change.id);
        return Ok(Ok(PushResult {
            conflict: true,
            ..PushResult::applied(change.id)
        }));
    }
    // The rules apply at the moment the maker acted, never later than now.
    let now = Utc::now();
    let at: DateTime<Utc> = decide::acted_at(&change).map_or(now, |t| t.min(now));
    let ctx = Ctx {
        actor: &actor,
        today: ils_core::clock::practice_date(at, time_zone),
        now: at,
    };
    let loaded = load(tx, &change).await?;
    let event = match decide::check(&ctx, &change, &loaded) {
        Ok(event) => event,
        Err(e) => return Ok(Err(e.into())),
    };
    // A write that fails (a customer number taken) undoes itself alone.
    let open = if batch.savepoint {
        "RELEASE SAVEPOINT sync_change; SAVEPOINT sync_change"
    } else {
        "SAVEPOINT sync_change"
    };
    sqlx::raw_sql(open).execute(tx.conn()).await?;
    batch.savepoint = true;
    let order_number = match apply(tx, &mut change, &loaded).await {
        Ok(number) => number,
        Err(e) => {
            sqlx::raw_sql("ROLLBACK TO SAVEPOINT sync_change")
                .execute(tx.conn())
                .await?;
            return Ok(Err(write_refusal(e)?));
        }
    };
    if let Some(event) = &event {
        let mut details = event.details.clone();
        if let Some(object) = details.as_object_mut() {
            object.insert("pushed_by".into(), json!(caller.actor.user_id));
        }
        batch.audits.push((
            audit_as.clone(),
            Entry {
                action: event.action.as_str(),
                resource_type: event.resource_type,
                resource_id: event.resource_id.clone(),
                outcome: Outcome::Success,
                details,
            },
        ));
    }
    // The maker had not seen the version this change replaces: keep that one for review.
    let mut conflict = false;
    if let Some(version) = &stored
        && change.overwrites_unseen(version)
    {
        let lost = match batch.versions.get(&key) {
            Some((_, text)) => Some(text.clone()),
            None => store::feed_change(tx, version.change_id).await?,
        };
        if let Some(lost) = lost {
            batch.conflicts.push(NewConflict {
                entity: change.entity,
                entity_id: change.entity_id,
                lost_change_id: version.change_id,
                lost,
                won_change_id: change.id,
            });
            conflict_audited(batch, &audit_as, &change, change.id, version.change_id);
            conflict = true;
        }
    }
    let row = feed_row(&change);
    batch.versions.insert(
        key,
        (
            Version {
                operation: change.operation,
                hlc: change.hlc,
                change_id: change.id,
            },
            row.change.clone(),
        ),
    );
    batch
        .received
        .push((change.id, change.entity, change.entity_id));
    batch.feed.push(row);
    Ok(Ok(PushResult {
        conflict,
        order_number,
        ..PushResult::applied(change.id)
    }))
}

fn conflict_audited(
    batch: &mut Batch,
    actor: &AuditActor,
    change: &Change,
    won: ChangeId,
    lost: ChangeId,
) {
    batch.audits.push((
        actor.clone(),
        Entry {
            action: AuditAction::SyncConflict.as_str(),
            resource_type: change.entity.as_str(),
            resource_id: Some(change.entity_id.to_string()),
            outcome: Outcome::Success,
            details: json!({ "won": won, "lost": lost }),
        },
    ));
}

async fn maker(
    tx: &mut TenantTx,
    batch: &mut Batch,
    user: UserId,
) -> Result<Option<(Actor, Role)>> {
    if let Some(known) = batch.makers.get(&user) {
        return Ok(known.clone());
    }
    let found = devices::maker(tx, user).await?;
    batch.makers.insert(user, found.clone());
    Ok(found)
}

/// Loads what the decision needs, as `decide::sync::needs` says.
/// A document's passages travel with its change but are kept only in the knowledge base.
pub(crate) fn strip_passages(change: &mut Change) {
    if let Some(Record::Document(d)) = &mut change.record {
        d.passages = None;
    }
}

async fn load(tx: &mut TenantTx, change: &Change) -> Result<Loaded> {
    let needs = decide::needs(change);
    let current = match change.entity {
        Entity::Patient => patients::find_any(tx, PatientId::from_uuid(change.entity_id))
            .await?
            .map(|r| Record::Patient(r.record())),
        Entity::Prescription => prescriptions::find(
            tx,
            PrescriptionId::from_uuid(change.entity_id),
            prescriptions::Lock::Update,
        )
        .await?
        .map(|r| Record::Prescription(r.record())),
        Entity::Order => orders::find(
            tx,
            OrderId::from_uuid(change.entity_id),
            orders::Lock::Update,
        )
        .await?
        .map(|r| r.record())
        .transpose()?
        .map(Record::Order),
        Entity::OrderEvent => orders::find_event(tx, OrderEventId::from_uuid(change.entity_id))
            .await?
            .map(Record::OrderEvent),
        Entity::Document => kb::find(tx, change.entity_id)
            .await?
            .map(|r| r.record())
            .transpose()?
            .map(Record::Document),
    };
    let patient = match needs.patient {
        Some(id) => patients::find(tx, id, patients::Lock::Read)
            .await?
            .map(|r| r.record()),
        None => None,
    };
    let prescription = match needs.prescription {
        Some(id) => prescriptions::find(tx, id, prescriptions::Lock::Share)
            .await?
            .map(|r| r.record()),
        None => None,
    };
    let order = match needs.order {
        Some(id) => orders::find(tx, id, orders::Lock::Read)
            .await?
            .map(|r| r.record())
            .transpose()?,
        None => None,
    };
    let open_orders = match needs.open_orders {
        Some(OpenOrdersOf::Patient(id)) => patients::open_orders(tx, id).await?,
        Some(OpenOrdersOf::Prescription(id)) => {
            orders::open_for_prescription(tx, id.into_uuid()).await?
        }
        None => 0,
    };
    Ok(Loaded {
        current,
        patient,
        prescription,
        order,
        open_orders: u64::try_from(open_orders).unwrap_or(0),
    })
}

/// Writes the change's record. A new order gets the practice's number (returned), the device's
/// kept as its local number; an order's number is always the one ILS Central holds, so the
/// feed carries it.
async fn apply(tx: &mut TenantTx, change: &mut Change, loaded: &Loaded) -> Result<Option<String>> {
    let exists = loaded.current.is_some();
    match (&mut change.record, change.operation) {
        (Some(Record::Patient(p)), Operation::Upsert) if exists => {
            patients::update(tx, p).await?;
        }
        (Some(Record::Patient(p)), Operation::Upsert) => {
            patients::insert(tx, p).await?;
        }
        (Some(Record::Patient(p)), Operation::Delete) => patients::overwrite(tx, p).await?,
        (Some(Record::Prescription(rx)), _) if exists => {
            prescriptions::update(tx, rx).await?;
        }
        (Some(Record::Prescription(rx)), _) => {
            prescriptions::insert(tx, rx).await?;
        }
        (Some(Record::Order(o)), _) => {
            if let Some(Record::Order(current)) = &loaded.current {
                o.order_number = current.order_number.clone();
                if current.status != o.status {
                    orders::set_status(tx, o).await?;
                }
            } else {
                let local = std::mem::take(&mut o.order_number);
                o.order_number = orders::next_number(tx).await?;
                orders::insert(tx, o).await?;
                store::set_local_number(tx, o.id.into_uuid(), &o.order_number, &local).await?;
                return Ok(Some(o.order_number.clone()));
            }
        }
        (Some(Record::OrderEvent(e)), _) if !exists => orders::record_event(tx, e).await?,
        (Some(Record::Document(d)), Operation::Upsert) => {
            // The passages go into the knowledge base, not into the feed (read back from
            // there when the change is pulled).
            let passages = d.passages.take().unwrap_or_default();
            if let Some(other) = kb::find_by_source(tx, &d.source).await?
                && other.id != d.id.into_uuid()
            {
                return Err(Error::Conflict {
                    code: "kb.source_taken",
                    message: format!(
                        "Another document of the practice comes from {:?}; rename the file or \
                         delete the other document first",
                        d.source
                    ),
                });
            }
            let chunks = passages
                .into_iter()
                .map(|p| kb::NewChunk {
                    ordinal: i32::try_from(p.ordinal).unwrap_or(i32::MAX),
                    embedding: p.decode_vector().unwrap_or_default(),
                    heading: p.heading,
                    text: p.text,
                    byte_start: i32::try_from(p.byte_start).unwrap_or(i32::MAX),
                    byte_end: i32::try_from(p.byte_end).unwrap_or(i32::MAX),
                })
                .collect();
            kb::upsert(tx, d).await?;
            kb::replace_chunks(tx, d.id.into_uuid(), chunks).await?;
        }
        (Some(Record::Document(d)), _) => kb::delete(tx, d.id.into_uuid()).await?,
        _ => {}
    }
    Ok(None)
}
