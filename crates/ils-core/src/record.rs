//! The stored records of one practice: what each half keeps in its database and what a sync
//! change carries whole. Decisions ([`crate::decide`]) take and return these.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ids::{DocumentId, OrderEventId, OrderId, PatientId, PrescriptionId, UserId};
use crate::order::{OrderAction, OrderData, OrderStatus};
use crate::patient::PatientData;
use crate::rx::RxData;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PatientRecord {
    pub id: PatientId,
    pub data: PatientData,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Soft-deleted: gone from every list and lookup, kept for the retention period.
    pub deleted_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PrescriptionRecord {
    pub id: PrescriptionId,
    pub patient_id: PatientId,
    pub data: RxData,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OrderRecord {
    pub id: OrderId,
    /// Given by the store that creates the order (`ORD-000001` on ILS Central, `L000001` on a
    /// desktop).
    pub order_number: String,
    pub status: OrderStatus,
    /// The delivered order this one remakes.
    pub remake_of: Option<OrderId>,
    pub remake_reason: Option<String>,
    pub data: OrderData,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a timeline entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimelineAction {
    /// The order was placed.
    Create,
    /// The order was made as the remake of another.
    CreateRemake,
    /// A status change.
    Took(OrderAction),
}

impl TimelineAction {
    pub const fn as_str(self) -> &'static str {
        match self {
            TimelineAction::Create => "create",
            TimelineAction::CreateRemake => "create_remake",
            TimelineAction::Took(action) => action.as_str(),
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "create" => Some(TimelineAction::Create),
            "create_remake" => Some(TimelineAction::CreateRemake),
            other => OrderAction::parse(other).map(TimelineAction::Took),
        }
    }
}

impl Serialize for TimelineAction {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for TimelineAction {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        TimelineAction::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!("{text:?} is not an order timeline action"))
        })
    }
}

/// One entry of an order's timeline: who moved it from what to what, when, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OrderEventRecord {
    pub id: OrderEventId,
    pub order_id: OrderId,
    /// `create`, `create_remake` or an order action (`submit`, `cancel`, …).
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "submit"))]
    pub action: TimelineAction,
    pub from_status: Option<OrderStatus>,
    pub to_status: OrderStatus,
    pub note: Option<String>,
    pub actor: Option<UserId>,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DocumentFormat {
    Text,
    Markdown,
    Pdf,
}

impl DocumentFormat {
    pub const fn as_str(self) -> &'static str {
        match self {
            DocumentFormat::Text => "text",
            DocumentFormat::Markdown => "markdown",
            DocumentFormat::Pdf => "pdf",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            DocumentFormat::Text,
            DocumentFormat::Markdown,
            DocumentFormat::Pdf,
        ]
        .into_iter()
        .find(|f| f.as_str() == s)
    }
}

/// A knowledge-base document as sync describes it: its identity, the hash of its content and
/// the model that embedded it. The text itself is read from the document's one stored copy when
/// the change is sent, so the outbox never holds copies of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DocumentRecord {
    pub id: DocumentId,
    pub source: String,
    pub title: String,
    pub format: DocumentFormat,
    /// SHA-256 of the original file, hexadecimal.
    pub sha256: String,
    pub byte_size: u64,
    /// The embedding model, `name@version`: vectors of two models never mix.
    pub model: String,
    pub chunks: u32,
    pub ingested_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Only on a change as it travels: the passages of this version with their vectors, so
    /// that a replica with the same model does not embed them again. Neither an outbox nor
    /// ILS Central's feed keeps them; they are read from the one stored copy when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passages: Option<Vec<Passage>>,
}

/// The length of an embedding (all-MiniLM-L6-v2).
pub const EMBEDDING_DIMENSIONS: usize = 384;

/// One passage of a document as sync carries it: where it is in the text, its words, and its
/// vector in the document's model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Passage {
    pub ordinal: u32,
    /// The headings above it, outermost first, joined by " > ".
    pub heading: String,
    pub text: String,
    pub byte_start: u32,
    pub byte_end: u32,
    /// The embedding: 384 little-endian 32-bit floats, base64 (standard alphabet, padded).
    pub vector: String,
}

impl Passage {
    /// The wire form of an embedding.
    pub fn encode_vector(vector: &[f32]) -> String {
        use base64::Engine as _;
        let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    /// The embedding, when it is 384 finite floats.
    pub fn decode_vector(&self) -> Option<Vec<f32>> {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&self.vector)
            .ok()?;
        if bytes.len() != EMBEDDING_DIMENSIONS * 4 {
            return None;
        }
        let vector: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        vector.iter().all(|x| x.is_finite()).then_some(vector)
    }
}
