//! The service's one error type. Library code returns it; the HTTP edge maps it once to a
//! status and a JSON body `{code, message, details?}` (see `http::error`).

use std::time::Duration;

use ils_core::ValidationErrors;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Validation(#[from] ValidationErrors),

    /// The request itself could not be understood (bad JSON, bad query string, bad id).
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },

    /// Missing, invalid or expired credentials.
    #[error("{message}")]
    Unauthorized { code: &'static str, message: String },

    /// Authenticated, but not allowed.
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },

    /// The resource does not exist in the caller's tenant (another tenant's resource is
    /// indistinguishable from a missing one).
    #[error("{resource} not found")]
    NotFound { resource: &'static str },

    #[error("{message}")]
    Conflict { code: &'static str, message: String },

    #[error("rate limit exceeded; retry in {} s", retry_after.as_secs().max(1))]
    RateLimited {
        code: &'static str,
        retry_after: Duration,
    },

    #[error("too many failed sign-in attempts; retry in {} s", retry_after.as_secs().max(1))]
    LockedOut { retry_after: Duration },

    #[error("the database is unavailable")]
    Unavailable(#[source] sqlx::Error),

    /// No model the request may use answered (a provider down, none set up for images).
    #[error("{message}")]
    ModelUnavailable { message: String },

    #[error("database error")]
    Database(#[source] sqlx::Error),

    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Error::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Error::Unauthorized {
            code,
            message: message.into(),
        }
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Error::Forbidden {
            code,
            message: message.into(),
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Error::Conflict {
            code,
            message: message.into(),
        }
    }

    pub fn validation(field: &str, code: &'static str, message: impl Into<String>) -> Self {
        Error::Validation(ValidationErrors::single(field, code, message))
    }

    /// Maps a unique-constraint violation to a conflict with `code`, anything else stays a
    /// database error.
    pub fn on_unique_violation(
        code: &'static str,
        message: &str,
    ) -> impl FnOnce(sqlx::Error) -> Self {
        move |err| match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => Error::conflict(code, message),
            _ => Error::from(err),
        }
    }
}

impl From<ils_core::DomainError> for Error {
    /// The domain's refusals keep their codes; the kind decides the status at the edge.
    fn from(error: ils_core::DomainError) -> Self {
        use ils_core::DomainError as D;
        match error {
            D::Validation(errors) => Error::Validation(errors),
            D::Invalid { code, message } => Error::BadRequest { code, message },
            D::Forbidden { message } => Error::Forbidden {
                code: ils_core::error::code::FORBIDDEN,
                message,
            },
            D::NotFound(resource) => Error::NotFound {
                resource: resource.as_str(),
            },
            D::Conflict { code, message } => Error::Conflict { code, message },
        }
    }
}

impl From<ils_core::FieldError> for Error {
    fn from(error: ils_core::FieldError) -> Self {
        Error::Validation(ValidationErrors {
            errors: vec![error],
        })
    }
}

impl From<sqlx::Error> for Error {
    /// Connection-level failures (server gone, database missing or closed to connections, too
    /// many connections, shutting down: any error that ends the session, `FATAL`) mean
    /// "unavailable" (503); everything else is a database error (500).
    fn from(error: sqlx::Error) -> Self {
        let unavailable = match &error {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
            sqlx::Error::Database(db) => {
                db.code().is_some_and(|code| {
                    code == "3D000"
                        || ["08", "53", "57"]
                            .iter()
                            .any(|class| code.starts_with(class))
                }) || db
                    .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                    .is_some_and(|pg| {
                        matches!(
                            pg.severity(),
                            sqlx::postgres::PgSeverity::Fatal | sqlx::postgres::PgSeverity::Panic
                        )
                    })
            }
            _ => false,
        };
        if unavailable {
            return Error::Unavailable(error);
        }
        // Data exceptions (class 22: text PostgreSQL cannot store such as NUL, out-of-range
        // values) and CHECK violations come from input that slipped past validation: the
        // client gets a 400, the log gets the detail.
        if let sqlx::Error::Database(db) = &error
            && let Some(code) = db.code()
            && (code.starts_with("22") || code == "23514")
        {
            tracing::warn!(sqlstate = %code, error = %db, "input refused by the database");
            return Error::bad_request(
                "request.invalid_value",
                "A value in the request cannot be stored (e.g. it contains a NUL character or is out of range)",
            );
        }
        Error::Database(error)
    }
}
