//! Storage: one module per table, plain SQL over a tenant-bound transaction. Every function on
//! tenant data takes a [`TenantTx`](crate::db::TenantTx) and filters by its tenant as well, so
//! the application and row-level security each refuse another tenant's rows on their own.

pub mod audit;
pub mod companies;
pub mod conversations;
pub mod fine_tuned;
pub mod gdpr;
pub mod kb;
pub mod orders;
pub mod patients;
pub mod prescriptions;
pub mod refresh_tokens;
pub mod signing_keys;
pub mod sync;
pub mod users;

use crate::error::Error;

/// Parses a text column that a CHECK constraint keeps to known values.
pub(crate) fn parse_column<T>(column: &str, value: &str) -> Result<T, Error>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    value
        .parse()
        .map_err(|e| Error::Internal(format!("unexpected {column} value in the database: {e}")))
}
