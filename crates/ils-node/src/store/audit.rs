//! The local audit log: every read of a patient's record and every mutation, with the
//! signed-in user, written in the same transaction as what it records. The table refuses
//! updates and deletes (triggers in the schema).

use rusqlite::{Transaction, params};
use serde::Serialize;

use super::{Actor, Store, StoreError, now_text};

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub entity: String,
    pub entity_id: Option<String>,
    pub detail: Option<serde_json::Value>,
}

pub(crate) fn record(
    tx: &Transaction<'_>,
    actor: &Actor,
    action: &str,
    entity: &str,
    entity_id: Option<&str>,
    detail: Option<&serde_json::Value>,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO audit_log (at, actor, action, entity, entity_id, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            now_text(),
            actor.as_str(),
            action,
            entity,
            entity_id,
            detail.map(serde_json::Value::to_string)
        ],
    )?;
    Ok(())
}

impl Store {
    /// The newest `limit` audit entries, optionally about one entity, newest first.
    pub fn audit_entries(
        &self,
        entity_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
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
