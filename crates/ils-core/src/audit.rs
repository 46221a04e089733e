//! The audit vocabulary of the clinical records and the knowledge base: the action names and
//! what their details may hold, decided once for both halves. Details carry ids, counts and
//! kinds of change, never a name, a typed search text or a clinical value.

use serde::Serialize;
use serde_json::{Value, json};

/// What was done. The text form (`patient.read`, …) is what audit rows store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum AuditAction {
    #[serde(rename = "patient.create")]
    PatientCreate,
    #[serde(rename = "patient.read")]
    PatientRead,
    #[serde(rename = "patient.update")]
    PatientUpdate,
    #[serde(rename = "patient.delete")]
    PatientDelete,
    /// A search or list of patients: a read of every patient it shows.
    #[serde(rename = "patient.search")]
    PatientSearch,
    #[serde(rename = "prescription.create")]
    PrescriptionCreate,
    #[serde(rename = "prescription.read")]
    PrescriptionRead,
    #[serde(rename = "prescription.list")]
    PrescriptionList,
    #[serde(rename = "prescription.update")]
    PrescriptionUpdate,
    #[serde(rename = "prescription.status")]
    PrescriptionStatus,
    #[serde(rename = "prescription.export_fhir")]
    PrescriptionExportFhir,
    /// A photo of a paper prescription read by the practice's vision model into a draft (the
    /// image left unredacted; the details hold the model and counts, never the values).
    #[serde(rename = "prescription.capture")]
    PrescriptionCapture,
    #[serde(rename = "order.create")]
    OrderCreate,
    #[serde(rename = "order.read")]
    OrderRead,
    #[serde(rename = "order.list")]
    OrderList,
    #[serde(rename = "order.transition")]
    OrderTransition,
    #[serde(rename = "order.timeline")]
    OrderTimeline,
    #[serde(rename = "order.export_dcs")]
    OrderExportDcs,
    #[serde(rename = "kb.document_add")]
    DocumentAdd,
    #[serde(rename = "kb.document_replace")]
    DocumentReplace,
    #[serde(rename = "kb.document_delete")]
    DocumentDelete,
    #[serde(rename = "company.create")]
    CompanyCreate,
    /// A device registered with the practice (approved at once with a registration code).
    #[serde(rename = "device.register")]
    DeviceRegister,
    #[serde(rename = "device.approve")]
    DeviceApprove,
    #[serde(rename = "device.revoke")]
    DeviceRevoke,
    /// A one-time registration code made (its value is never stored or logged).
    #[serde(rename = "device.code_create")]
    DeviceCodeCreate,
    /// A push that met a version of a record its maker had not seen.
    #[serde(rename = "sync.conflict")]
    SyncConflict,
    /// A pushed change refused (the code says why).
    #[serde(rename = "sync.reject")]
    SyncReject,
    /// The conflict log read: the versions it showed are records' contents.
    #[serde(rename = "sync.conflict_list")]
    SyncConflictList,
    /// A conflict resolved: the winner kept, or the lost version restored (as an edit).
    #[serde(rename = "sync.conflict_resolve")]
    SyncConflictResolve,
    #[serde(rename = "user.create")]
    UserCreate,
    #[serde(rename = "setting.update")]
    SettingUpdate,
    #[serde(rename = "conversation.create")]
    ConversationCreate,
    #[serde(rename = "conversation.message")]
    ConversationMessage,
    #[serde(rename = "conversation.read")]
    ConversationRead,
    #[serde(rename = "ai.model_register")]
    ModelRegister,
    #[serde(rename = "ai.model_status")]
    ModelStatus,
    #[serde(rename = "ai.model_delete")]
    ModelDelete,
}

impl AuditAction {
    pub const fn as_str(self) -> &'static str {
        match self {
            AuditAction::PatientCreate => "patient.create",
            AuditAction::PatientRead => "patient.read",
            AuditAction::PatientUpdate => "patient.update",
            AuditAction::PatientDelete => "patient.delete",
            AuditAction::PatientSearch => "patient.search",
            AuditAction::PrescriptionCreate => "prescription.create",
            AuditAction::PrescriptionCapture => "prescription.capture",
            AuditAction::PrescriptionRead => "prescription.read",
            AuditAction::PrescriptionList => "prescription.list",
            AuditAction::PrescriptionUpdate => "prescription.update",
            AuditAction::PrescriptionStatus => "prescription.status",
            AuditAction::PrescriptionExportFhir => "prescription.export_fhir",
            AuditAction::OrderCreate => "order.create",
            AuditAction::OrderRead => "order.read",
            AuditAction::OrderList => "order.list",
            AuditAction::OrderTransition => "order.transition",
            AuditAction::OrderTimeline => "order.timeline",
            AuditAction::OrderExportDcs => "order.export_dcs",
            AuditAction::DocumentAdd => "kb.document_add",
            AuditAction::DocumentReplace => "kb.document_replace",
            AuditAction::DocumentDelete => "kb.document_delete",
            AuditAction::CompanyCreate => "company.create",
            AuditAction::DeviceRegister => "device.register",
            AuditAction::DeviceApprove => "device.approve",
            AuditAction::DeviceRevoke => "device.revoke",
            AuditAction::DeviceCodeCreate => "device.code_create",
            AuditAction::SyncConflict => "sync.conflict",
            AuditAction::SyncReject => "sync.reject",
            AuditAction::SyncConflictList => "sync.conflict_list",
            AuditAction::SyncConflictResolve => "sync.conflict_resolve",
            AuditAction::UserCreate => "user.create",
            AuditAction::SettingUpdate => "setting.update",
            AuditAction::ConversationCreate => "conversation.create",
            AuditAction::ConversationMessage => "conversation.message",
            AuditAction::ConversationRead => "conversation.read",
            AuditAction::ModelRegister => "ai.model_register",
            AuditAction::ModelStatus => "ai.model_status",
            AuditAction::ModelDelete => "ai.model_delete",
        }
    }
}

/// The kinds of resource audit rows name.
pub mod resource {
    pub const PATIENT: &str = "patient";
    pub const PRESCRIPTION: &str = "prescription";
    /// A prescription read from a photo, before anyone confirms it.
    pub const PRESCRIPTION_CAPTURE: &str = "prescription_capture";
    pub const ORDER: &str = "order";
    pub const DOCUMENT: &str = "document";
    pub const COMPANY: &str = "company";
    pub const USER: &str = "user";
    pub const SETTING: &str = "setting";
    pub const DEVICE: &str = "device";
    pub const DEVICE_CODE: &str = "device_code";
    /// A change pushed by a device (its id).
    pub const CHANGE: &str = "change";
    pub const CONVERSATION: &str = "conversation";
    pub const FINE_TUNED_MODEL: &str = "fine_tuned_model";
}

/// One audit row, as a decision plans it. Who acted, when and from where is added by the store
/// that writes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditEvent {
    pub action: AuditAction,
    pub resource_type: &'static str,
    pub resource_id: Option<String>,
    /// Ids, counts and kinds of change only.
    pub details: Value,
}

impl AuditEvent {
    pub fn new(action: AuditAction, resource_type: &'static str, id: impl ToString) -> Self {
        Self {
            action,
            resource_type,
            resource_id: Some(id.to_string()),
            details: json!({}),
        }
    }

    /// An event about no single record (a search, a list).
    pub fn unbound(action: AuditAction, resource_type: &'static str, details: Value) -> Self {
        Self {
            action,
            resource_type,
            resource_id: None,
            details,
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
}
