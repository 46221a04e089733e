//! One vocabulary of errors for both halves. A rule refuses with a [`DomainError`] whose `code`
//! is stable: ILS Central's HTTP edge, the desktop engine, its CLI and the Tauri commands all
//! show the same code and the same field names for the same failure, and clients branch on the
//! code, never on the message.
//!
//! Field-level problems keep their own codes (`rx.axis_out_of_range`, …) in
//! [`ValidationErrors`]; the codes that are not about one field are named in [`code`].

use serde::Serialize;

use crate::validation::{FieldError, ValidationErrors};

/// The kinds of record a rule can find missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    Patient,
    Prescription,
    Order,
    Document,
    User,
    Conversation,
    FineTunedModel,
    /// An entry of the sync conflict log.
    Conflict,
}

impl Resource {
    pub const fn as_str(self) -> &'static str {
        match self {
            Resource::Patient => "patient",
            Resource::Prescription => "prescription",
            Resource::Order => "order",
            Resource::Document => "document",
            Resource::User => "user",
            Resource::Conversation => "conversation",
            Resource::FineTunedModel => "fine_tuned_model",
            Resource::Conflict => "sync_conflict",
        }
    }

    /// `patient.not_found`, …
    pub const fn not_found_code(self) -> &'static str {
        match self {
            Resource::Patient => "patient.not_found",
            Resource::Prescription => "prescription.not_found",
            Resource::Order => "order.not_found",
            Resource::Document => "document.not_found",
            Resource::User => "user.not_found",
            Resource::Conversation => "conversation.not_found",
            Resource::FineTunedModel => "fine_tuned_model.not_found",
            Resource::Conflict => "sync_conflict.not_found",
        }
    }
}

/// The codes that are not about one input field.
pub mod code {
    /// Every validation failure without a more precise code.
    pub const VALIDATION_FAILED: &str = "validation.failed";
    /// The acting user's role does not allow the action.
    pub const FORBIDDEN: &str = "auth.forbidden";
    /// Nobody is signed in (desktop): nothing is read or written anonymously.
    pub const NOT_SIGNED_IN: &str = "auth.not_signed_in";
    pub const CUSTOMER_NUMBER_TAKEN: &str = "patient.customer_number_taken";
    pub const PATIENT_HAS_OPEN_ORDERS: &str = "patient.has_open_orders";
    pub const PATIENT_SEARCH_INVALID: &str = "patient.search_invalid";
    pub const RX_STATUS_CHANGE_NOT_ALLOWED: &str = "rx.status_change_not_allowed";
    pub const RX_HAS_OPEN_ORDERS: &str = "rx.has_open_orders";
    pub const RX_NOT_EDITABLE: &str = "rx.not_editable";
    /// The practice's AI configuration does not allow reading prescriptions from photos.
    pub const RX_CAPTURE_NOT_ALLOWED: &str = "rx.capture_not_allowed";
    pub const USER_EMAIL_TAKEN: &str = "user.email_taken";
    pub const PAGINATION_INVALID_CURSOR: &str = "pagination.invalid_cursor";
    /// A pushed change whose operation the record does not allow (an erasure from a device, a
    /// deleted order).
    pub const SYNC_OPERATION_NOT_ALLOWED: &str = "sync.operation_not_allowed";
    /// A pushed change about a kind of record that does not sync yet.
    pub const SYNC_ENTITY_NOT_SUPPORTED: &str = "sync.entity_not_supported";
    /// A pushed change that alters what never changes once written.
    pub const SYNC_RECORD_IMMUTABLE: &str = "sync.record_immutable";
    /// A conflict's lost version that an edit cannot bring back (an order, a deletion).
    pub const SYNC_CANNOT_RESTORE: &str = "sync.cannot_restore";
    /// A synced document whose passages are missing or malformed.
    pub const KB_PASSAGES_INVALID: &str = "kb.passages_invalid";
    /// A practice that started offline has users with no account on ILS Central.
    pub const SYNC_USERS_MISSING: &str = "sync.users_missing";
    /// A conflict that was resolved already.
    pub const SYNC_CONFLICT_RESOLVED: &str = "sync.conflict_resolved";
}

/// How a [`DomainError`] is answered: the HTTP status and the CLI exit code follow from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request cannot even be considered (a search text that is no search): 400.
    Invalid,
    /// One or more fields break the rules: 422.
    Validation,
    /// The role does not allow it: 403.
    Forbidden,
    /// No such record in this practice (another practice's record is indistinguishable): 404.
    NotFound,
    /// The current state does not allow it: 409.
    Conflict,
}

/// A refusal by a domain rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("{0}")]
    Validation(#[from] ValidationErrors),
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    #[error("{message}")]
    Forbidden { message: String },
    #[error("{} not found", .0.as_str())]
    NotFound(Resource),
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
}

impl DomainError {
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        DomainError::Invalid {
            code,
            message: message.into(),
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        DomainError::Conflict {
            code,
            message: message.into(),
        }
    }

    pub fn validation(field: &str, code: &'static str, message: impl Into<String>) -> Self {
        DomainError::Validation(ValidationErrors::single(field, code, message))
    }

    /// The stable code: a validation failure takes the code of its first field.
    pub fn code(&self) -> &'static str {
        match self {
            DomainError::Validation(v) => {
                v.errors.first().map_or(code::VALIDATION_FAILED, |e| e.code)
            }
            DomainError::Invalid { code, .. } | DomainError::Conflict { code, .. } => code,
            DomainError::Forbidden { .. } => code::FORBIDDEN,
            DomainError::NotFound(resource) => resource.not_found_code(),
        }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            DomainError::Validation(_) => ErrorKind::Validation,
            DomainError::Invalid { .. } => ErrorKind::Invalid,
            DomainError::Forbidden { .. } => ErrorKind::Forbidden,
            DomainError::NotFound(_) => ErrorKind::NotFound,
            DomainError::Conflict { .. } => ErrorKind::Conflict,
        }
    }

    /// Every field problem (empty unless this is a validation failure).
    pub fn fields(&self) -> &[FieldError] {
        match self {
            DomainError::Validation(v) => &v.errors,
            _ => &[],
        }
    }
}

impl From<FieldError> for DomainError {
    fn from(error: FieldError) -> Self {
        DomainError::Validation(ValidationErrors {
            errors: vec![error],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_kinds() {
        let cases: Vec<(DomainError, &str, ErrorKind)> = vec![
            (
                DomainError::validation("right.axis", "rx.axis_out_of_range", "Axis"),
                "rx.axis_out_of_range",
                ErrorKind::Validation,
            ),
            (
                DomainError::Validation(ValidationErrors::new()),
                "validation.failed",
                ErrorKind::Validation,
            ),
            (
                DomainError::NotFound(Resource::Patient),
                "patient.not_found",
                ErrorKind::NotFound,
            ),
            (
                DomainError::Forbidden {
                    message: "no".into(),
                },
                "auth.forbidden",
                ErrorKind::Forbidden,
            ),
            (
                DomainError::conflict(code::RX_HAS_OPEN_ORDERS, "x"),
                "rx.has_open_orders",
                ErrorKind::Conflict,
            ),
        ];
        for (error, expected_code, expected_kind) in cases {
            assert_eq!(error.code(), expected_code, "{error:?}");
            assert_eq!(error.kind(), expected_kind, "{error:?}");
        }
        assert_eq!(
            DomainError::NotFound(Resource::Order).to_string(),
            "order not found"
        );
    }
}
