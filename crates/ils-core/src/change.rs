//! The change contract: the unit that sync carries between a desktop and ILS Central.
//!
//! A decision ([`crate::decide`]) plans [`ChangeDraft`]s; the store that carries the plan out
//! stamps each one (change id, hybrid-logical-clock stamp, device, acting user) into a
//! [`Change`] in the same transaction as the write it describes. The wire format is documented in
//! `docs/sync-changes.md`; [`Change::encode`] and [`Change::decode`] are its only codec, and a
//! change of a newer format or record schema than this build knows is refused with a message
//! that says so, never half-read.
//!
//! Concurrent versions of one record are resolved by [`merge`], a pure function: erasures beat
//! deletions, deletions beat upserts, and among equals the highest stamp wins (the stamp orders
//! by wall time, counter, then device id), the change id breaking the last tie. It is a total
//! order, so merging is commutative, associative and idempotent, and any delivery order with any
//! number of duplicates ends in the same state.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::hlc::HlcStamp;
use crate::ids::{ChangeId, DeviceId, UserId};
use crate::record::{
    DocumentRecord, OrderEventRecord, OrderRecord, PatientRecord, PrescriptionRecord,
};

/// The envelope format this build writes and the newest it reads.
pub const FORMAT: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// The record as it now is (created or changed).
    Upsert,
    /// The record was deleted (patients: soft-deleted; the record carries its last state).
    Delete,
    /// The record was erased (GDPR): nothing of it travels, and no older change may bring it
    /// back.
    Erase,
}

impl Operation {
    pub const fn as_str(self) -> &'static str {
        match self {
            Operation::Upsert => "upsert",
            Operation::Delete => "delete",
            Operation::Erase => "erase",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Operation::Upsert, Operation::Delete, Operation::Erase]
            .into_iter()
            .find(|o| o.as_str() == s)
    }
}

/// The kinds of record that sync carries, each with the schema version of its record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entity {
    Patient,
    Prescription,
    Order,
    OrderEvent,
    Document,
}

impl Entity {
    pub const ALL: [Entity; 5] = [
        Entity::Patient,
        Entity::Prescription,
        Entity::Order,
        Entity::OrderEvent,
        Entity::Document,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Entity::Patient => "patient",
            Entity::Prescription => "prescription",
            Entity::Order => "order",
            Entity::OrderEvent => "order_event",
            Entity::Document => "document",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// The schema version of this entity's record that this build writes and the newest it
    /// reads. Raise it when the record's shape changes, and keep reading the older ones.
    pub const fn schema(self) -> u32 {
        match self {
            Entity::Patient
            | Entity::Prescription
            | Entity::Order
            | Entity::OrderEvent
            | Entity::Document => 1,
        }
    }
}

/// A record, typed by its entity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    Patient(PatientRecord),
    Prescription(PrescriptionRecord),
    Order(OrderRecord),
    OrderEvent(OrderEventRecord),
    Document(DocumentRecord),
}

impl Record {
    pub fn entity(&self) -> Entity {
        match self {
            Record::Patient(_) => Entity::Patient,
            Record::Prescription(_) => Entity::Prescription,
            Record::Order(_) => Entity::Order,
            Record::OrderEvent(_) => Entity::OrderEvent,
            Record::Document(_) => Entity::Document,
        }
    }

    pub fn entity_id(&self) -> Uuid {
        match self {
            Record::Patient(r) => r.id.into_uuid(),
            Record::Prescription(r) => r.id.into_uuid(),
            Record::Order(r) => r.id.into_uuid(),
            Record::OrderEvent(r) => r.id.into_uuid(),
            Record::Document(r) => r.id.into_uuid(),
        }
    }

    fn to_value(&self) -> Result<Value, serde_json::Error> {
        match self {
            Record::Patient(r) => serde_json::to_value(r),
            Record::Prescription(r) => serde_json::to_value(r),
            Record::Order(r) => serde_json::to_value(r),
            Record::OrderEvent(r) => serde_json::to_value(r),
            Record::Document(r) => serde_json::to_value(r),
        }
    }

    fn from_str(entity: Entity, text: &str) -> Result<Self, serde_json::Error> {
        Ok(match entity {
            Entity::Patient => Record::Patient(serde_json::from_str(text)?),
            Entity::Prescription => Record::Prescription(serde_json::from_str(text)?),
            Entity::Order => Record::Order(serde_json::from_str(text)?),
            Entity::OrderEvent => Record::OrderEvent(serde_json::from_str(text)?),
            Entity::Document => Record::Document(serde_json::from_str(text)?),
        })
    }

    fn from_value(entity: Entity, value: Value) -> Result<Self, serde_json::Error> {
        Ok(match entity {
            Entity::Patient => Record::Patient(serde_json::from_value(value)?),
            Entity::Prescription => Record::Prescription(serde_json::from_value(value)?),
            Entity::Order => Record::Order(serde_json::from_value(value)?),
            Entity::OrderEvent => Record::OrderEvent(serde_json::from_value(value)?),
            Entity::Document => Record::Document(serde_json::from_value(value)?),
        })
    }
}

/// A change as a decision plans it, before a store stamps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeDraft {
    pub operation: Operation,
    pub entity: Entity,
    pub entity_id: Uuid,
    /// The full record for upserts and deletes; nothing for erasures.
    pub record: Option<Record>,
}

impl ChangeDraft {
    pub fn upsert(record: Record) -> Self {
        Self {
            operation: Operation::Upsert,
            entity: record.entity(),
            entity_id: record.entity_id(),
            record: Some(record),
        }
    }

    pub fn delete(record: Record) -> Self {
        Self {
            operation: Operation::Delete,
            entity: record.entity(),
            entity_id: record.entity_id(),
            record: Some(record),
        }
    }

    pub fn erase(entity: Entity, entity_id: Uuid) -> Self {
        Self {
            operation: Operation::Erase,
            entity,
            entity_id,
            record: None,
        }
    }
}

/// One stamped change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub id: ChangeId,
    pub hlc: HlcStamp,
    pub device: DeviceId,
    /// The user who made the change.
    pub user: UserId,
    pub operation: Operation,
    pub entity: Entity,
    pub entity_id: Uuid,
    pub record: Option<Record>,
    /// The stamp of the version of the record this change was made from, when the maker had
    /// one: a replica that holds another version than this one records a conflict when it
    /// applies the change (the maker did not see what it overwrites).
    pub base: Option<HlcStamp>,
}

/// Why a change could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("the change is not valid JSON: {0}")]
    NotJson(String),
    #[error(
        "the change is in format {found}, newer than this build of ILS understands (up to {supported}); update ILS"
    )]
    NewerFormat { found: u32, supported: u32 },
    #[error(
        "the change carries a {entity} record of schema {found}, newer than this build of ILS understands (up to {supported}); update ILS"
    )]
    NewerSchema {
        entity: &'static str,
        found: u32,
        supported: u32,
    },
    #[error(
        "the change is about {0:?}, a kind of record this build of ILS does not know; update ILS"
    )]
    UnknownEntity(String),
    #[error("the change is malformed: {0}")]
    Malformed(String),
}

/// The wire envelope (see `docs/sync-changes.md`).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    format: u32,
    id: ChangeId,
    hlc: HlcStamp,
    device: DeviceId,
    user: UserId,
    operation: Operation,
    entity: Entity,
    entity_id: Uuid,
    schema: u32,
    record: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    base: Option<HlcStamp>,
}

/// The envelope read in one pass, its record left as text: the way every well-formed change of
/// a known format is read (a pull reads a million of them).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvelope<'a> {
    format: u32,
    id: ChangeId,
    hlc: HlcStamp,
    device: DeviceId,
    user: UserId,
    operation: Operation,
    entity: Entity,
    entity_id: Uuid,
    schema: u32,
    #[serde(borrow)]
    record: Option<&'a serde_json::value::RawValue>,
    #[serde(default)]
    base: Option<HlcStamp>,
}

impl Change {
    /// Stamps a planned change; `hlc` must have been made by `device`'s clock.
    pub fn stamp(
        draft: ChangeDraft,
        id: ChangeId,
        hlc: HlcStamp,
        device: DeviceId,
        user: UserId,
    ) -> Self {
        debug_assert_eq!(hlc.device, device.get(), "a device stamps its own changes");
        Self {
            id,
            hlc,
            device,
            user,
            operation: draft.operation,
            entity: draft.entity,
            entity_id: draft.entity_id,
            record: draft.record,
            base: None,
        }
    }

    /// Names the version of the record this change was made from.
    pub fn with_base(mut self, base: Option<HlcStamp>) -> Self {
        self.base = base;
        self
    }

    /// The wire form: one JSON object.
    pub fn encode(&self) -> String {
        let envelope = Envelope {
            format: FORMAT,
            id: self.id,
            hlc: self.hlc,
            device: self.device,
            user: self.user,
            operation: self.operation,
            entity: self.entity,
            entity_id: self.entity_id,
            schema: self.entity.schema(),
            // Records are plain data (strings, numbers, dates): they always serialise.
            record: self.record.as_ref().and_then(|r| r.to_value().ok()),
            base: self.base,
        };
        serde_json::to_string(&envelope).unwrap_or_default()
    }

    /// Reads the wire form, checking that the change is whole and consistent.
    pub fn decode(text: &str) -> Result<Self, CodecError> {
        // One pass for a change of a format and schema this build knows; anything else is
        // read the careful way below, which says precisely what is wrong.
        if let Ok(raw) = serde_json::from_str::<RawEnvelope<'_>>(text)
            && (1..=FORMAT).contains(&raw.format)
            && (1..=raw.entity.schema()).contains(&raw.schema)
        {
            let record = raw
                .record
                .map(|r| {
                    Record::from_str(raw.entity, r.get()).map_err(|e| {
                        CodecError::Malformed(format!("the {} record: {e}", raw.entity.as_str()))
                    })
                })
                .transpose()?;
            return Self::assemble(
                Self {
                    id: raw.id,
                    hlc: raw.hlc,
                    device: raw.device,
                    user: raw.user,
                    operation: raw.operation,
                    entity: raw.entity,
                    entity_id: raw.entity_id,
                    record: None,
                    base: raw.base,
                },
                record,
            );
        }
        Self::decode_carefully(text)
    }

    /// Checks that the parts of a change agree and puts the record in.
    fn assemble(mut change: Self, record: Option<Record>) -> Result<Self, CodecError> {
        if change.hlc.device != change.device.get() {
            return Err(CodecError::Malformed(format!(
                "the stamp {} was not made by device {}",
                change.hlc, change.device
            )));
        }
        match (change.operation, &record) {
            (Operation::Erase, None) => {}
            (Operation::Erase, Some(_)) => {
                return Err(CodecError::Malformed("an erasure carries no record".into()));
            }
            (_, None) => {
                return Err(CodecError::Malformed(format!(
                    "an {} carries the whole record",
                    change.operation.as_str()
                )));
            }
            (_, Some(record)) => {
                if record.entity_id() != change.entity_id {
                    return Err(CodecError::Malformed(format!(
                        "entity_id {} does not match the record's id {}",
                        change.entity_id,
                        record.entity_id()
                    )));
                }
            }
        }
        change.record = record;
        Ok(change)
    }

    fn decode_carefully(text: &str) -> Result<Self, CodecError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| CodecError::NotJson(e.to_string()))?;
        let object = value
            .as_object()
            .ok_or_else(|| CodecError::Malformed("a change is a JSON object".into()))?;
        let number = |key: &str| -> Result<u32, CodecError> {
            object
                .get(key)
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| CodecError::Malformed(format!("{key} must be a whole number")))
        };
        // Versions first, so that a newer change is refused as newer, not as malformed.
        let format = number("format")?;
        if format > FORMAT {
            return Err(CodecError::NewerFormat {
                found: format,
                supported: FORMAT,
            });
        }
        let entity_name = object
            .get("entity")
            .and_then(Value::as_str)
            .ok_or_else(|| CodecError::Malformed("entity must be a string".into()))?;
        let entity = Entity::parse(entity_name)
            .ok_or_else(|| CodecError::UnknownEntity(entity_name.to_owned()))?;
        let schema = number("schema")?;
        if schema > entity.schema() {
            return Err(CodecError::NewerSchema {
                entity: entity.as_str(),
                found: schema,
                supported: entity.schema(),
            });
        }
        if format == 0 || schema == 0 {
            return Err(CodecError::Malformed("format and schema start at 1".into()));
        }
        let envelope: Envelope =
            serde_json::from_value(value).map_err(|e| CodecError::Malformed(e.to_string()))?;
        let record = match envelope.record {
            None => None,
            Some(value) => Some(Record::from_value(entity, value).map_err(|e| {
                CodecError::Malformed(format!("the {} record: {e}", entity.as_str()))
            })?),
        };
        Self::assemble(
            Self {
                id: envelope.id,
                hlc: envelope.hlc,
                device: envelope.device,
                user: envelope.user,
                operation: envelope.operation,
                entity,
                entity_id: envelope.entity_id,
                record: None,
                base: envelope.base,
            },
            record,
        )
    }
}

/// The id an erasure travels under: a name-based UUID (version 5) of `entity:id` in the
/// namespace of the practice's company id. The feed never names an erased record by its own id;
/// a device finds the record it erases by computing this for the records it holds.
pub fn erased_subject(company: crate::ids::CompanyId, entity: Entity, id: Uuid) -> Uuid {
    Uuid::new_v5(
        &company.into_uuid(),
        format!("{}:{id}", entity.as_str()).as_bytes(),
    )
}

/// The version of a record a replica holds, as the merge rule sees it: what a change arriving
/// for the record is weighed against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Held {
    pub operation: Operation,
    pub hlc: HlcStamp,
    pub change_id: ChangeId,
}

impl Change {
    /// This change as a held version.
    pub fn held(&self) -> Held {
        Held {
            operation: self.operation,
            hlc: self.hlc,
            change_id: self.id,
        }
    }

    /// Whether the held version wins over this change ([`precedence`]): then this change is
    /// kept only in the conflict log.
    pub fn loses_to(&self, held: &Held) -> bool {
        (self.operation, self.hlc, self.id) < (held.operation, held.hlc, held.change_id)
    }

    /// Whether this change, winning, replaces a version its maker had not seen: it was made
    /// from another version than the held one (`base`), which another device made. The
    /// replaced version then goes to the conflict log.
    pub fn overwrites_unseen(&self, held: &Held) -> bool {
        self.base != Some(held.hlc) && held.hlc.device != self.device.get()
    }
}

/// The order of precedence between two versions of one record: erasures, then deletions, then
/// upserts; among equals the higher stamp (wall time, counter, device id), then the higher
/// change id.
pub fn precedence(a: &Change, b: &Change) -> Ordering {
    (a.operation, a.hlc, a.id).cmp(&(b.operation, b.hlc, b.id))
}

/// The version of one record that survives when `a` and `b` meet.
pub fn merge<'a>(a: &'a Change, b: &'a Change) -> &'a Change {
    debug_assert_eq!(
        (a.entity, a.entity_id),
        (b.entity, b.entity_id),
        "merge compares versions of one record"
    );
    if precedence(a, b) == Ordering::Less {
        b
    } else {
        a
    }
}

#[cfg(test)]
mod tests;
