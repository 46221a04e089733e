//! Patients: carried out from `ils_core::decide::patients`, each write with its change and
//! audit row, every read audited.

use ils_core::decide::patients::{self as decide, PatientQuery};
use ils_core::error::code;
use ils_core::patient::{PatientChanges, PatientData, name_key};
use ils_core::record::PatientRecord;
use ils_core::{DomainError, PatientId};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{
    OrdersOf, Store, StoreError, bad_column, now_text, open_orders, parse_time, time_column,
};

const COLUMNS: &str = "id, customer_number, first_name, last_name, date_of_birth, email, phone, \
                       address, notes, created_at, updated_at, deleted_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<PatientRecord> {
    let id: String = r.get(0)?;
    let dob: String = r.get(4)?;
    let deleted: Option<String> = r.get(11)?;
    Ok(PatientRecord {
        id: id.parse().map_err(|e| bad_column(0, Box::new(e)))?,
        data: PatientData {
            customer_number: r.get(1)?,
            first_name: r.get(2)?,
            last_name: r.get(3)?,
            date_of_birth: dob.parse().map_err(|e| bad_column(4, Box::new(e)))?,
            email: r.get(5)?,
            phone: r.get(6)?,
            address: r.get(7)?,
            notes: r.get(8)?,
        },
        created_at: time_column(r, 9)?,
        updated_at: time_column(r, 10)?,
        deleted_at: deleted.as_deref().and_then(parse_time),
    })
}

/// A patient who exists and is not deleted.
pub(crate) fn find(conn: &Connection, id: PatientId) -> Result<Option<PatientRecord>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM patients WHERE id = ?1 AND deleted_at IS NULL"),
            [id.to_string()],
            from_row,
        )
        .optional()?)
}

/// Writes the record (insert or update) with its name keys.
pub(crate) fn write(w: &Connection, p: &PatientRecord) -> Result<(), StoreError> {
    let d = &p.data;
    w.prepare_cached(
        "INSERT INTO patients (id, customer_number, first_name, last_name, date_of_birth, email, phone,
                               address, notes, created_at, updated_at, deleted_at, last_name_key, first_name_key)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
         ON CONFLICT (id) DO UPDATE SET customer_number = excluded.customer_number,
             first_name = excluded.first_name, last_name = excluded.last_name,
             date_of_birth = excluded.date_of_birth, email = excluded.email, phone = excluded.phone,
             address = excluded.address, notes = excluded.notes, updated_at = excluded.updated_at,
             deleted_at = excluded.deleted_at, last_name_key = excluded.last_name_key,
             first_name_key = excluded.first_name_key",
    )?
    .execute(params![
            p.id.to_string(),
            d.customer_number,
            d.first_name,
            d.last_name,
            d.date_of_birth.to_string(),
            d.email,
            d.phone,
            d.address,
            d.notes,
            now_text(p.created_at),
            now_text(p.updated_at),
            p.deleted_at.map(now_text),
            name_key(&d.last_name),
            name_key(&d.first_name),
        ],
    )
    .map_err(super::conflict(
        code::CUSTOMER_NUMBER_TAKEN,
        "Another patient of this practice has this customer number",
    ))?;
    Ok(())
}

/// Fills the name keys of rows written before schema 3 (SQLite's `lower()` folds ASCII only).
pub(crate) fn fill_name_keys(conn: &Connection) -> Result<(), rusqlite::Error> {
    let rows: Vec<(String, String, String)> = conn
        .prepare("SELECT id, last_name, first_name FROM patients WHERE last_name_key IS NULL")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    for (id, last, first) in rows {
        conn.execute(
            "UPDATE patients SET last_name_key = ?2, first_name_key = ?3 WHERE id = ?1",
            params![id, name_key(&last), name_key(&first)],
        )?;
    }
    Ok(())
}

/// Escapes `%`, `_` and `\` for a LIKE pattern with `ESCAPE '\'`.
fn like_prefix(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 1);
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

impl Store {
    /// Every patient, deleted ones included, unaudited (tests compare replicas with it).
    #[doc(hidden)]
    pub fn dump_patients(&self) -> Result<Vec<PatientRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {COLUMNS} FROM patients ORDER BY id"))?;
        let rows = stmt
            .query_map([], from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Adds a patient.
    pub fn add_patient(&mut self, data: &PatientData) -> Result<PatientRecord, StoreError> {
        let w = self.begin_write()?;
        let plan = decide::create(&w.ctx(), data)?;
        write(&w, &plan.record)?;
        w.change(plan.change)?;
        w.audit(&plan.audit)?;
        w.commit()?;
        Ok(plan.record)
    }

    /// Changes a patient: absent fields stay, `null` clears an optional one.
    pub fn update_patient(
        &mut self,
        id: PatientId,
        changes: &PatientChanges,
    ) -> Result<PatientRecord, StoreError> {
        let w = self.begin_write()?;
        let record = update_in(&w, id, changes)?;
        w.commit()?;
        Ok(record)
    }

    /// Soft-deletes a patient (refused while orders are open).
    pub fn delete_patient(&mut self, id: PatientId) -> Result<(), StoreError> {
        let w = self.begin_write()?;
        let current = find(&w, id)?;
        let open = match &current {
            Some(_) => open_orders(&w, OrdersOf::Patient, &id.to_string())?,
            None => 0,
        };
        let plan = decide::delete(&w.ctx(), current.as_ref(), open)?;
        write(&w, &plan.record)?;
        w.change(plan.change)?;
        w.audit(&plan.audit)?;
        w.commit()?;
        Ok(())
    }

    /// One patient's record (audited as a read).
    pub fn patient(&mut self, id: PatientId) -> Result<PatientRecord, StoreError> {
        let w = self.begin_write()?;
        let found = find(&w, id)?;
        let event = decide::read(&w.ctx(), found.as_ref())?;
        w.audit(&event)?;
        w.commit()?;
        found.ok_or(StoreError::Domain(DomainError::NotFound(
            ils_core::Resource::Patient,
        )))
    }

    /// Patients matching every filter given, by name (the start of the first or last name, any
    /// case), customer number or date of birth, ordered by last name, first name and id; no
    /// filter lists them all. Audited as a read of every patient shown.
    pub fn search_patients(
        &mut self,
        query: &PatientQuery,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<PatientRecord>, StoreError> {
        let limit = limit.clamp(1, 500);
        let w = self.begin_write()?;
        let query = decide::search(&w.ctx(), query)?;
        let rows = {
            let mut stmt = w.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM patients
                 WHERE deleted_at IS NULL
                   AND (?1 IS NULL OR last_name_key LIKE ?1 ESCAPE '\\' OR first_name_key LIKE ?1 ESCAPE '\\')
                   AND (?2 IS NULL OR customer_number = ?2)
                   AND (?3 IS NULL OR date_of_birth = ?3)
                 ORDER BY last_name_key, first_name_key, id
                 LIMIT ?4 OFFSET ?5"
            ))?;
            stmt.query_map(
                params![
                    query
                        .name_prefix
                        .as_deref()
                        .map(|p| like_prefix(&name_key(p))),
                    query.customer_number,
                    query.date_of_birth.map(|d| d.to_string()),
                    limit,
                    offset
                ],
                from_row,
            )?
            .collect::<Result<Vec<_>, _>>()?
        };
        let shown: Vec<PatientId> = rows.iter().map(|p| p.id).collect();
        w.audit(&decide::searched(&query, &shown))?;
        w.commit()?;
        Ok(rows)
    }

    /// The practice's patients (deleted ones too: their names are no less private) whose first
    /// or last name key is among `names` or whose customer number is among `numbers`: whom a
    /// prompt may name, for the redaction before it leaves (at most 500). Not audited: nothing
    /// is shown, the names only keep the prompt from carrying them.
    pub fn patients_for_redaction(
        &self,
        names: &[String],
        numbers: &[String],
    ) -> Result<Vec<ils_llm::redact::KnownPatient>, StoreError> {
        let names = serde_json::to_string(names).unwrap_or_else(|_| "[]".into());
        let numbers = serde_json::to_string(numbers).unwrap_or_else(|_| "[]".into());
        let mut stmt = self.conn().prepare_cached(
            "SELECT first_name, last_name, customer_number, phone, email, address FROM patients
             WHERE last_name_key IN (SELECT value FROM json_each(?1))
                OR first_name_key IN (SELECT value FROM json_each(?1))
                OR customer_number IN (SELECT value FROM json_each(?2))
             LIMIT 500",
        )?;
        let rows = stmt
            .query_map(params![names, numbers], |r| {
                Ok(ils_llm::redact::KnownPatient {
                    first_name: r.get(0)?,
                    last_name: r.get(1)?,
                    customer_number: r.get(2)?,
                    phone: r.get(3)?,
                    email: r.get(4)?,
                    address: r.get(5)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    pub fn patient_count(&self) -> Result<i64, StoreError> {
        Ok(self.conn().query_row(
            "SELECT count(*) FROM patients WHERE deleted_at IS NULL",
            [],
            |r| r.get(0),
        )?)
    }
}

/// A patient's edit, in `w`.
pub(crate) fn update_in(
    w: &super::Write<'_>,
    id: PatientId,
    changes: &PatientChanges,
) -> Result<PatientRecord, StoreError> {
    let current = find(w, id)?;
    let plan = decide::update(&w.ctx(), current.as_ref(), changes)?;
    write(w, &plan.record)?;
    w.change(plan.change)?;
    w.audit(&plan.audit)?;
    Ok(plan.record)
}

#[cfg(test)]
mod tests {
    use super::like_prefix;

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(like_prefix("o'neil"), "o'neil%");
        assert_eq!(like_prefix("50%_a\\"), "50\\%\\_a\\\\%");
    }
}
