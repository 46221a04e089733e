//! Resolving an entry of this device's conflict log: keep the version that won, or restore the
//! one that lost as an edit by the signed-in user (`ils_core::decide::conflicts`), in one
//! transaction with the entry's resolution and its audit. The edit syncs like any other.

use ils_core::change::{Change, Entity, Record};
use ils_core::decide::conflicts::{self as decide, Resolution, Restore};
use ils_core::{DomainError, PatientId, PrescriptionId, Resource};
use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, now_text, patients, prescriptions};

impl Store {
    /// Resolves the conflict `id` as `resolution` says.
    pub fn resolve_conflict(&mut self, id: &str, resolution: Resolution) -> Result<(), StoreError> {
        let w = self.begin_write()?;
        let entry: Option<(String, Option<String>)> = w
            .query_row(
                "SELECT lost, resolved_at FROM sync_conflicts WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((lost, resolved_at)) = entry else {
            return Err(DomainError::NotFound(Resource::Conflict).into());
        };
        if resolved_at.is_some() {
            return Err(decide::already_resolved().into());
        }
        let lost = Change::decode(&lost)
            .map_err(|e| StoreError::Encoding(format!("conflict {id}: {e}")))?;
        decide::authorize(&w.ctx(), &lost)?;
        if resolution == Resolution::Restored {
            let current = match lost.entity {
                Entity::Patient => {
                    patients::find(&w, PatientId::from(lost.entity_id))?.map(Record::Patient)
                }
                Entity::Prescription => {
                    prescriptions::find(&w, PrescriptionId::from(lost.entity_id))?
                        .map(Record::Prescription)
                }
                _ => None,
            };
            match decide::restore(&lost, current.as_ref())? {
                Restore::Patient(patient, changes) => {
                    patients::update_in(&w, patient, &changes)?;
                }
                Restore::Prescription(rx, content) => {
                    prescriptions::update_in(&w, rx, &content)?;
                }
                Restore::Nothing => {}
            }
        }
        w.execute(
            "UPDATE sync_conflicts SET resolved_at = ?2, resolution = ?3, resolved_by = ?4
             WHERE id = ?1",
            params![
                id,
                now_text(w.now),
                resolution.as_str(),
                w.actor.user_id.to_string()
            ],
        )?;
        let uuid = uuid::Uuid::parse_str(id).unwrap_or_default();
        w.audit(&decide::resolved(uuid, &lost, resolution))?;
        w.commit()
    }
}
