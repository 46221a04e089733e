//! The local audit log: every read of a patient's record and every mutation, with the
//! signed-in user, written in the same transaction as what it records. The table refuses
//! updates and deletes (triggers in the schema). What an entry says is planned by ils-core's
//! decisions: the same action names and details as ILS Central, never a name or a typed search.

use chrono::{DateTime, Utc};
use ils_core::Actor;
use ils_core::access::perm;
use ils_core::audit::AuditEvent;
use rusqlite::{Connection, params};
use serde::Serialize;

use super::{Store, StoreError, now_text};

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: String,
    /// The user's id (rows written before schema 3 hold the name given then).
    pub actor: String,
    pub action: String,
    pub entity: String,
    pub entity_id: Option<String>,
    pub detail: Option<serde_json::Value>,
}

pub(crate) fn record(
    conn: &Connection,
    actor: &Actor,
    now: DateTime<Utc>,
    event: &AuditEvent,
) -> Result<(), StoreError> {
    let detail = match &event.details {
        serde_json::Value::Object(map) if map.is_empty() => None,
        other => Some(other.to_string()),
    };
    conn.execute(
        "INSERT INTO audit_log (at, actor, action, entity, entity_id, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            now_text(now),
            actor.user_id.to_string(),
            event.action.as_str(),
            event.resource_type,
            event.resource_id,
            detail
        ],
    )?;
    Ok(())
}

impl Store {
    /// The newest `limit` audit entries, optionally about one entity, newest first
    /// (`audit:read`).
    pub fn audit_entries(
        &self,
        entity_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.actor()?.require(perm::AUDIT_READ)?;
        let mut stmt = self.conn().prepare(
            "SELECT id, at, actor, action, entity, entity_id, detail FROM audit_log
             WHERE ?1 IS NULL OR entity_id = ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt
            .query_map(params![entity_id, limit], |r| {
                let detail: Option<String> = r.get(6)?;
                Ok(AuditEntry {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    action: r.get(3)?,
                    entity: r.get(4)?,
                    entity_id: r.get(5)?,
                    detail: detail.and_then(|d| serde_json::from_str(&d).ok()),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}
