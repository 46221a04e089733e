//! Domain types and rules shared by ILS Desktop and ILS Central.
//!
//! This crate does no I/O and depends on no database, HTTP or UI crate, so that the desktop
//! engine, the central service and the sync endpoint all apply exactly the same rules.

pub mod abilities;
pub mod access;
pub mod audit;
pub mod change;
pub mod claims;
pub mod clock;
pub mod dcs;
pub mod decide;
pub mod error;
pub mod fhir;
pub mod fine_tune;
pub mod hlc;
pub mod identity;
pub mod ids;
pub mod input;
pub mod order;
pub mod patient;
pub mod record;
pub mod rx;
pub mod sync;
pub mod tenant;
pub mod user;
pub mod validation;

pub use access::{Permission, Role};
pub use claims::AccessClaims;
pub use error::{DomainError, ErrorKind, Resource};
pub use identity::Actor;
pub use ids::{
    ChangeId, CompanyId, DeviceId, DocumentId, OrderEventId, OrderId, PatientId, PrescriptionId,
    UserId,
};
pub use tenant::{AiConfig, CompanyStatus, SubscriptionTier};
pub use validation::{FieldError, ValidationErrors};
