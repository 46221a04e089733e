//! The decisions: every rule about the clinical records and the knowledge base, as pure
//! functions. Each takes the acting user ([`Actor`]), the practice's date and time ([`Ctx`]),
//! the current state (`None` when the store found no such record in this practice) and the
//! action, and returns a plan — the new state, the timeline event, the remake, the audit events
//! and the change records for sync — or a [`DomainError`] with a stable code.
//!
//! ILS Central (sqlx on PostgreSQL) and the desktop engine (rusqlite on SQLite) only load the
//! state a decision needs and carry its plan out in one transaction; neither holds a rule of its
//! own. So an action means the same on both halves, and a change pushed by a desktop can be
//! checked by the sync endpoint with the same code.
//!
//! Order of the checks, the same everywhere: permission first (`auth.forbidden`), then the
//! record's existence (`*.not_found`), then the rules.

pub mod assistant;
pub mod conflicts;
pub mod documents;
pub mod orders;
pub mod patients;
pub mod prescriptions;
pub mod sync;
pub mod upload;

use chrono::{DateTime, NaiveDate, Utc};

use crate::audit::AuditEvent;
use crate::change::ChangeDraft;
use crate::error::{DomainError, Resource};
use crate::identity::Actor;

/// Who acts and when, in the practice's own calendar.
#[derive(Clone, Copy, Debug)]
pub struct Ctx<'a> {
    pub actor: &'a Actor,
    /// The practice's date (see [`crate::clock::practice_date`]).
    pub today: NaiveDate,
    /// The moment of the action, for timestamps.
    pub now: DateTime<Utc>,
}

/// The plan of a change to one record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan<T> {
    /// The record as it is to be stored.
    pub record: T,
    pub audit: AuditEvent,
    pub change: ChangeDraft,
}

/// The record, or `*.not_found`.
fn found<T>(record: Option<&T>, resource: Resource) -> Result<&T, DomainError> {
    record.ok_or(DomainError::NotFound(resource))
}

#[cfg(test)]
pub(crate) mod fixtures;
