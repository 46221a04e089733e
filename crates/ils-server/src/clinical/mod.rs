//! Clinical records: patients, prescriptions, lens orders and GDPR. Each use case takes the
//! caller's tenant transaction, loads the state a decision of `ils_core::decide` needs, and
//! carries out its plan: the rows, the timeline, the audit rows. The rules themselves live in
//! ils-core, shared with the desktop engine; the HTTP handlers open and commit the
//! transaction, so that one transaction can hold several use cases (the sync endpoint applies a
//! batch of changes in one).

pub mod gdpr;
pub mod orders;
pub mod patients;
pub mod prescriptions;

use chrono::{DateTime, NaiveDate, Utc};
use ils_core::Actor;
use ils_core::audit::AuditEvent;
use ils_core::decide::Ctx;

use crate::db::{AuditActor, TenantTx};
use crate::error::Result;
use crate::store::audit::{self, Entry, Outcome};

/// Who acts in a clinical use case, and when, in the practice's calendar.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The user as the domain's decisions see them (from the verified token).
    pub actor: Actor,
    /// The same user as the audit log names them, with the request and device.
    pub audit: AuditActor,
    /// The practice's date.
    pub today: NaiveDate,
    pub now: DateTime<Utc>,
}

impl Caller {
    pub fn ctx(&self) -> Ctx<'_> {
        Ctx {
            actor: &self.actor,
            today: self.today,
            now: self.now,
        }
    }
}

/// Writes a planned audit event as the caller, in the transaction.
pub(crate) async fn record(tx: &mut TenantTx, caller: &Caller, event: &AuditEvent) -> Result<()> {
    audit::record(
        tx,
        &caller.audit,
        Entry {
            action: event.action.as_str(),
            resource_type: event.resource_type,
            resource_id: event.resource_id.clone(),
            outcome: Outcome::Success,
            details: event.details.clone(),
        },
    )
    .await
}
