//! The engine's one error, as every client receives it: `{code, message, fields}`. The code is
//! the domain's (the same as ILS Central's for the same failure) or one of the engine's own;
//! `fields` lists every broken rule with its field path.

use ils_ai::embed::EmbedError;
use ils_core::{DomainError, FieldError};
use serde::Serialize;

use crate::kb::KbError;
use crate::store::StoreError;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct EngineError {
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
    /// Whether the person using ILS can fix it (their input, a file, a permission) rather than
    /// a fault of the program; the CLI's exit code follows from it.
    #[serde(skip)]
    pub user_error: bool,
}

impl EngineError {
    /// Input a person can fix, with its code.
    pub fn input(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
            fields: Vec::new(),
            user_error: true,
        }
    }

    /// A fault of the program or the machine.
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            code: "internal".into(),
            message: message.into(),
            fields: Vec::new(),
            user_error: false,
        }
    }
}

impl From<DomainError> for EngineError {
    fn from(e: DomainError) -> Self {
        Self {
            code: e.code().to_owned(),
            fields: e.fields().to_vec(),
            message: e.to_string(),
            user_error: true,
        }
    }
}

impl From<StoreError> for EngineError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Domain(d) => d.into(),
            other => Self {
                code: other.code().to_owned(),
                user_error: other.is_user_error(),
                message: other.to_string(),
                fields: Vec::new(),
            },
        }
    }
}

impl From<KbError> for EngineError {
    fn from(e: KbError) -> Self {
        match e {
            KbError::Store(s) => s.into(),
            other => Self {
                code: other.code().to_owned(),
                user_error: other.is_user_error(),
                message: other.to_string(),
                fields: Vec::new(),
            },
        }
    }
}

impl From<EmbedError> for EngineError {
    fn from(e: EmbedError) -> Self {
        KbError::Embed(e).into()
    }
}

impl From<ils_core::ValidationErrors> for EngineError {
    fn from(e: ils_core::ValidationErrors) -> Self {
        DomainError::from(e).into()
    }
}
