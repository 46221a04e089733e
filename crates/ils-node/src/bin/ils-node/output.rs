//! Printing results and errors, as text for people or JSON for scripts.

use ils_ai::embed::EmbedError;
use ils_node::StoreError;
use ils_node::kb::KbError;
use serde::Serialize;

/// Everything a command can fail with; mapped once to a message and an exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Kb(#[from] KbError),
    #[error(transparent)]
    Embed(#[from] EmbedError),
    #[error("{0}")]
    Other(String),
}

impl CliError {
    /// Whether the person running the command can fix it (exit code 2) or not (1).
    pub fn is_user_error(&self) -> bool {
        match self {
            CliError::Input(_) => true,
            CliError::Store(e) | CliError::Kb(KbError::Store(e)) => matches!(
                e,
                StoreError::Validation(_)
                    | StoreError::Conflict { .. }
                    | StoreError::NotFound { .. }
                    | StoreError::NotSignedIn
                    | StoreError::NewerSchema { .. }
            ),
            CliError::Kb(e) => !matches!(e, KbError::Embed(_) | KbError::Io { .. }),
            CliError::Embed(e) => {
                matches!(e, EmbedError::Missing { .. } | EmbedError::Corrupt { .. })
            }
            CliError::Other(_) => false,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            CliError::Input(_) => "input.invalid",
            CliError::Store(StoreError::Validation(_)) => "validation_failed",
            CliError::Store(StoreError::Conflict { code, .. }) => code,
            CliError::Store(StoreError::NotFound { .. }) | CliError::Kb(KbError::NotFound(_)) => {
                "not_found"
            }
            CliError::Store(StoreError::NotSignedIn) => "not_signed_in",
            CliError::Store(StoreError::NewerSchema { .. }) => "schema.newer",
            CliError::Kb(KbError::Unsupported { .. }) => "kb.unsupported_file",
            CliError::Kb(KbError::Unreadable { .. }) => "kb.unreadable_file",
            CliError::Kb(KbError::Cancelled { .. }) => "kb.cancelled",
            CliError::Kb(KbError::BadQuery { .. }) => "kb.bad_query",
            CliError::Embed(_) | CliError::Kb(KbError::Embed(_)) => "model.unavailable",
            _ => "internal",
        }
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::Other(e.to_string())
    }
}

pub type CliResult<T = ()> = Result<T, CliError>;

#[derive(Clone, Copy, Debug)]
pub struct Out {
    pub json: bool,
}

impl Out {
    pub fn new(json: bool) -> Self {
        Self { json }
    }

    /// Prints `value` as JSON, or `human(value)` as text.
    pub fn emit<T: Serialize>(&self, value: &T, human: impl FnOnce(&T) -> String) {
        if self.json {
            match serde_json::to_string_pretty(value) {
                Ok(s) => println!("{s}"),
                Err(e) => eprintln!("error: cannot print the result as JSON: {e}"),
            }
        } else {
            let text = human(value);
            if !text.is_empty() {
                println!("{}", text.trim_end());
            }
        }
    }

    pub fn error(&self, e: &CliError) {
        let fields = match e {
            CliError::Store(StoreError::Validation(v)) => Some(v),
            _ => None,
        };
        if self.json {
            let body = serde_json::json!({
                "error": {
                    "code": e.code(),
                    "message": e.to_string(),
                    "fields": fields.map(|v| &v.errors),
                }
            });
            eprintln!("{body}");
        } else {
            eprintln!("error: {e}");
            if let Some(v) = fields
                && v.errors.len() > 1
            {
                for f in &v.errors {
                    eprintln!("  - {}: {}", f.field, f.message);
                }
            }
        }
    }
}
