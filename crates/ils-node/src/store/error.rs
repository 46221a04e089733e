//! The store's errors: the domain's refusals with their stable codes, and what can go wrong
//! with the file itself, said so that a person can act on it.

use std::path::{Path, PathBuf};

use ils_core::{DomainError, ErrorKind};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A rule of the domain refused the action (the same code ILS Central gives).
    #[error(transparent)]
    Domain(DomainError),
    #[error(
        "this database was written by a newer version of ILS (schema {found}, this build knows up to {supported}); update ILS to open it"
    )]
    NewerSchema { found: u32, supported: u32 },
    #[error("migration to schema {version} failed: {source}")]
    Migration {
        version: u32,
        #[source]
        source: rusqlite::Error,
    },
    #[error("nobody is signed in on this device; sign in before reading or changing records")]
    NotSignedIn,
    #[error("{path} is not an ILS database (SQLite says: file is not a database)")]
    NotADatabase { path: PathBuf },
    #[error(
        "cannot write to {path}: the file or its folder is read-only. ILS records every read of a patient's record in the audit log, so it needs write access even to look; check the permissions of the file, its folder and the -wal and -shm files beside it"
    )]
    ReadOnly { path: PathBuf },
    #[error(
        "{path} is busy: another ILS program kept it locked for too long; try again in a moment"
    )]
    Busy { path: PathBuf },
    #[error("cannot open {path}: {reason}")]
    CannotOpen { path: PathBuf, reason: String },
    #[error("could not encode a record: {0}")]
    Encoding(String),
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// Whether the file can be opened for writing and its folder can take the journal files.
fn writable(path: &Path) -> bool {
    let file = std::fs::OpenOptions::new().append(true).open(path).is_ok();
    let folder = path.parent().is_none_or(|dir| {
        let probe = dir.join(format!(".ils-write-probe-{}", std::process::id()));
        let ok = std::fs::File::create(&probe).is_ok();
        let _ = std::fs::remove_file(&probe);
        ok
    });
    file && folder
}

impl StoreError {
    /// Names the file in errors about the file itself.
    pub(crate) fn at(self, path: &Path) -> Self {
        use rusqlite::ErrorCode as C;
        let StoreError::Sqlite(rusqlite::Error::SqliteFailure(failure, message)) = &self else {
            return self;
        };
        let path = path.to_owned();
        match failure.code {
            C::NotADatabase => StoreError::NotADatabase { path },
            C::ReadOnly => StoreError::ReadOnly { path },
            // SQLite cannot open a file it may read but not write when its journal files are
            // to be made: say what the person can fix.
            C::CannotOpen | C::PermissionDenied if path.exists() && !writable(&path) => {
                StoreError::ReadOnly { path }
            }
            C::DatabaseBusy | C::DatabaseLocked => StoreError::Busy { path },
            C::CannotOpen | C::PermissionDenied => StoreError::CannotOpen {
                path,
                reason: message
                    .clone()
                    .unwrap_or_else(|| "the file or its folder cannot be opened".into()),
            },
            _ => self,
        }
    }

    /// The stable code clients branch on (the domain's own, or one of the store's).
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::Domain(e) => e.code(),
            StoreError::NotSignedIn => ils_core::error::code::NOT_SIGNED_IN,
            StoreError::NewerSchema { .. } => "store.newer_schema",
            StoreError::NotADatabase { .. } => "store.not_a_database",
            StoreError::ReadOnly { .. } => "store.read_only",
            StoreError::Busy { .. } => "store.busy",
            StoreError::CannotOpen { .. } => "store.cannot_open",
            StoreError::Migration { .. } | StoreError::Encoding(_) | StoreError::Sqlite(_) => {
                "internal"
            }
        }
    }

    /// Whether the person using ILS can fix it (a refusal, a file to fix), as opposed to a
    /// fault of the program.
    pub fn is_user_error(&self) -> bool {
        !matches!(
            self,
            StoreError::Migration { .. } | StoreError::Encoding(_) | StoreError::Sqlite(_)
        )
    }

    /// The domain's kind of refusal, if this is one.
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            StoreError::Domain(e) => Some(e.kind()),
            _ => None,
        }
    }
}
