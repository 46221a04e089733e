//! A practice that started offline (`init`) joins ILS Central (`ils_core::decide::upload`):
//! in one transaction its users take the ids of their ILS Central accounts everywhere a user is
//! named (records, the outbox's changes, the versions sync keeps), the file becomes the ILS
//! Central practice's, and every change it ever made stays in the outbox to go up once, with
//! the records' own ids. The audit log never changes: its entries keep the local ids, and
//! `user_aliases` names the ILS Central user when they are sent to ILS Central's trail.

use ils_core::decide::upload::{Alias, LocalUser};
use ils_core::{Actor, UserId};
use rusqlite::{Connection, TransactionBehavior, params};
use serde_json::Value;

use super::practice::{self, LocalUser as StoredUser};
use super::sync::{SERVER, meta};
use super::{Store, StoreError};

/// The columns that name a user, besides `users.id`.
const USER_COLUMNS: [(&str, &str); 6] = [
    ("prescriptions", "created_by"),
    ("orders", "created_by"),
    ("order_events", "actor"),
    ("documents", "ingested_by"),
    ("conversations", "created_by"),
    ("sync_conflicts", "resolved_by"),
];

/// The columns holding changes as they travel (JSON naming their makers and records' authors).
const CHANGE_COLUMNS: [(&str, &str, &str); 2] = [
    ("outbox", "seq", "change"),
    ("sync_versions", "rowid", "change"),
];

impl Store {
    /// The users of a practice created on this computer that has never been connected to ILS
    /// Central (`None`: an empty file, or one connected before).
    pub fn offline_practice_users(&self) -> Result<Option<Vec<LocalUser>>, StoreError> {
        if meta(&self.conn, "company_id")?.is_none() || meta(&self.conn, SERVER)?.is_some() {
            return Ok(None);
        }
        let mut stmt = self
            .conn
            .prepare("SELECT id, email FROM users ORDER BY email")?;
        let users = stmt
            .query_map([], |r| {
                let id: String = r.get(0)?;
                Ok((id, r.get::<_, String>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .map(|(id, email)| {
                let id = uuid::Uuid::parse_str(&id)
                    .map_err(|e| StoreError::Encoding(format!("user id {id}: {e}")))?;
                Ok(LocalUser {
                    id: UserId::from(id),
                    email,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Some(users))
    }

    /// Makes this offline practice `info`'s practice on ILS Central, its users the ILS Central
    /// users `aliases` pair them with; then signs in the ILS Central user as [`Store::adopt_practice`]
    /// does. All or nothing.
    pub fn join_practice(
        &mut self,
        info: &ils_core::sync::PracticeInfo,
        aliases: &[Alias],
        verifier: &str,
    ) -> Result<StoredUser, StoreError> {
        let zone = practice::zone_of(info)?;
        let now = self.now();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        rename_users(&tx, aliases)?;
        tx.execute(
            "UPDATE meta SET value = ?1 WHERE key = 'company_id'",
            [info.company_id.to_string()],
        )?;
        let user = practice::adopt_in(&tx, info, zone, verifier, now)?;
        tx.commit()?;
        self.act_as(Actor::with_role(user.id, info.company_id, user.role));
        Ok(user)
    }
}

fn rename_users(tx: &Connection, aliases: &[Alias]) -> Result<(), StoreError> {
    let ids: Vec<(String, String)> = aliases
        .iter()
        .map(|a| (a.local.to_string(), a.central.to_string()))
        .collect();
    for (alias, (local, central)) in aliases.iter().zip(&ids) {
        tx.execute(
            "UPDATE users SET id = ?2, role = ?3 WHERE id = ?1",
            params![local, central, alias.role.as_str()],
        )?;
        for (table, column) in USER_COLUMNS {
            tx.execute(
                &format!("UPDATE {table} SET {column} = ?2 WHERE {column} = ?1"),
                params![local, central],
            )?;
        }
        tx.execute(
            "INSERT INTO user_aliases (local_id, central_id) VALUES (?1, ?2)
             ON CONFLICT (local_id) DO UPDATE SET central_id = excluded.central_id",
            params![local, central],
        )?;
    }
    for (table, key, column) in CHANGE_COLUMNS {
        let rows: Vec<(i64, String)> = tx
            .prepare(&format!("SELECT {key}, {column} FROM {table}"))?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let mut update = tx.prepare(&format!(
            "UPDATE {table} SET {column} = ?2 WHERE {key} = ?1"
        ))?;
        for (row, text) in rows {
            let mut value: Value = serde_json::from_str(&text)
                .map_err(|e| StoreError::Encoding(format!("{table} {row}: {e}")))?;
            if rename_in(&mut value, &ids) {
                update.execute(params![row, value.to_string()])?;
            }
        }
    }
    Ok(())
}

/// Replaces every string of `value` that is a local user's id by the ILS Central id; whether
/// anything changed. Ids are random UUIDs, so no other string can be equal to one.
fn rename_in(value: &mut Value, ids: &[(String, String)]) -> bool {
    match value {
        Value::String(s) => match ids.iter().find(|(local, _)| local == s) {
            Some((_, central)) => {
                *s = central.clone();
                true
            }
            None => false,
        },
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |changed, v| rename_in(v, ids) | changed),
        Value::Object(fields) => fields
            .values_mut()
            .fold(false, |changed, v| rename_in(v, ids) | changed),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_string_naming_a_local_user_is_renamed_and_nothing_else() {
        let ids = vec![("l-1".to_owned(), "c-1".to_owned())];
        let mut v = serde_json::json!({
            "user": "l-1", "record": {"created_by": "l-1", "notes": "l-1 said so", "n": 1},
            "list": ["x", "l-1"]
        });
        assert!(rename_in(&mut v, &ids));
        assert_eq!(
            v,
            serde_json::json!({
                "user": "c-1", "record": {"created_by": "c-1", "notes": "l-1 said so", "n": 1},
                "list": ["x", "c-1"]
            })
        );
        assert!(!rename_in(&mut v, &ids));
    }
}
