//! Clinical records: the rules around patients, prescriptions, lens orders and GDPR, on top of
//! the pure domain rules of `ils_core`. Every read of a patient's record and every mutation
//! writes an audit row in the same transaction. Audit details never carry names or clinical
//! values, only ids and kinds of change.

pub mod gdpr;
pub mod orders;
pub mod patients;
pub mod prescriptions;

/// Today's date on the service's clock (UTC).
pub(crate) fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}
