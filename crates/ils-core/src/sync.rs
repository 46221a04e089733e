//! The sync protocol's messages (version [`PROTOCOL`]), shared by ILS Central's endpoint and the
//! desktop's client; described for people in `docs/sync-protocol.md`.
//!
//! A push carries a bounded batch of one device's changes, each in the wire form of
//! [`crate::change::Change`], and is answered change by change: applied, duplicate (already
//! applied once) or rejected with a code and a message. A pull returns the tenant's changes made
//! elsewhere after a cursor, in the tenant's one total order, a page at a time.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::access::Role;
use crate::ids::{ChangeId, CompanyId, DeviceId, UserId};

/// The protocol version this build speaks.
pub const PROTOCOL: u32 = 1;

/// The most changes one push may carry.
pub const MAX_PUSH_CHANGES: usize = 500;

/// The most entries of a device's audit log one push may carry.
pub const MAX_PUSH_AUDIT: usize = 1_000;

/// The most changes one pull returns, and the default.
pub const MAX_PULL_LIMIT: u32 = 1_000;
pub const DEFAULT_PULL_LIMIT: u32 = 500;

/// `POST /api/sync/push`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PushRequest {
    /// [`PROTOCOL`].
    pub protocol: u32,
    /// The pushing device: registered, approved and not revoked; every change must be its own.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "1f3a5c7e9b2d4f61"))]
    pub device: DeviceId,
    /// The changes, oldest first, each a change envelope (`docs/sync-changes.md`); read one by
    /// one, so that one unreadable change is rejected alone.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<schema::ChangeEnvelope>))]
    pub changes: Vec<Value>,
    /// Entries of the device's own audit log, oldest first, for ILS Central's audit trail
    /// (each once: ILS Central takes those after the last one it has from this device).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audit: Vec<DeviceAuditEntry>,
}

/// One entry of a device's audit log (the same vocabulary as ILS Central's: ids, counts and
/// kinds of change, never a name or a value).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeviceAuditEntry {
    /// Its position in the device's log (increasing).
    pub seq: i64,
    pub at: chrono::DateTime<chrono::Utc>,
    /// The user who acted, when the entry names one by id.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Uuid))]
    pub user: Option<UserId>,
    /// `patient.read`, `order.transition`, `conversation.message`, …
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub details: Value,
}
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PushStatus {
    /// Applied now (or kept as a superseded version, see `conflict`).
    Applied,
    /// Applied by an earlier push; nothing was done again.
    Duplicate,
    /// Refused: `code` and `message` say why. Nothing of it was applied.
    Rejected,
}

/// The answer for one change, in the order they were pushed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PushResult {
    /// The change's id (absent when the change was too broken to name one).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Uuid))]
    pub change_id: Option<ChangeId>,
    pub status: PushStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The change met another version of its record that its maker had not seen; the version
    /// that lost is in the practice's conflict log.
    #[serde(default)]
    pub conflict: bool,
    /// For a new order: the practice's number that ILS Central gave it (the device's own number
    /// stays findable as its local number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_number: Option<String>,
}

/// The answer to a push.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PushResponse {
    pub protocol: u32,
    pub results: Vec<PushResult>,
    /// The device's audit log is in ILS Central's audit trail up to this position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_through: Option<i64>,
}

/// One page of `GET /api/sync/pull`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PullPage {
    pub protocol: u32,
    /// Changes made elsewhere (other devices, the API) after the cursor, in the tenant's order.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<schema::ChangeEnvelope>))]
    pub changes: Vec<Value>,
    /// The cursor to pull from next (the position of the last change this page covered).
    pub cursor: i64,
    /// Whether more changes follow the cursor now.
    pub more: bool,
}

/// `GET /api/sync/practice`: what a device needs to hold the practice and act as the signed-in
/// user (any user of the practice may read it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PracticeInfo {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub company_id: CompanyId,
    pub name: String,
    pub domain: String,
    /// The practice's IANA time zone.
    pub time_zone: String,
    pub user: PracticeUser,
}

/// The signed-in user, as a device keeps them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PracticeUser {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub id: UserId,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub role: Role,
}

impl PushResult {
    pub fn applied(change_id: ChangeId) -> Self {
        Self {
            change_id: Some(change_id),
            status: PushStatus::Applied,
            code: None,
            message: None,
            conflict: false,
            order_number: None,
        }
    }

    pub fn duplicate(change_id: ChangeId) -> Self {
        Self {
            status: PushStatus::Duplicate,
            ..Self::applied(change_id)
        }
    }

    pub fn rejected(change_id: Option<ChangeId>, code: &str, message: impl Into<String>) -> Self {
        Self {
            change_id,
            status: PushStatus::Rejected,
            code: Some(code.to_owned()),
            message: Some(message.into()),
            conflict: false,
            order_number: None,
        }
    }
}

/// The change envelope as the API document describes it (the codec is
/// [`crate::change::Change::encode`] / [`crate::change::Change::decode`]).
#[cfg(feature = "openapi")]
pub mod schema {
    use crate::record::{
        DocumentRecord, OrderEventRecord, OrderRecord, PatientRecord, PrescriptionRecord,
    };

    /// One change (`docs/sync-changes.md`).
    #[derive(Debug, utoipa::ToSchema)]
    pub struct ChangeEnvelope {
        /// The envelope format, 1.
        pub format: u32,
        #[schema(format = Uuid)]
        pub id: String,
        /// The hybrid-logical-clock stamp: wall ms (12 hex), counter (8), device (16).
        #[schema(example = "019aca559e00-00000002-0000000000000abc")]
        pub hlc: String,
        /// The device that made the change (16 hexadecimal digits).
        pub device: String,
        #[schema(format = Uuid)]
        pub user: String,
        /// `upsert`, `delete` or `erase`.
        pub operation: String,
        /// `patient`, `prescription`, `order`, `order_event` or `document`.
        pub entity: String,
        #[schema(format = Uuid)]
        pub entity_id: String,
        /// The record's schema version (1).
        pub schema: u32,
        /// The whole record (none for an erasure).
        pub record: Option<AnyRecord>,
        /// The stamp of the version this change was made from.
        pub base: Option<String>,
    }

    /// The record of a change, by its entity.
    #[derive(Debug, serde::Serialize, utoipa::ToSchema)]
    #[serde(untagged)]
    pub enum AnyRecord {
        Patient(PatientRecord),
        Prescription(PrescriptionRecord),
        Order(OrderRecord),
        OrderEvent(OrderEventRecord),
        Document(DocumentRecord),
    }
}
