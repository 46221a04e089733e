//! Patients: written with their outbox change and audit row; every read audited.

use chrono::NaiveDate;
use ils_core::PatientId;
use ils_core::patient::PatientData;
use rusqlite::{Row, Transaction, params};
use serde::Serialize;

use super::{Store, StoreError, audit, conflict, now_text};

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StoredPatient {
    pub id: PatientId,
    #[serde(flatten)]
    pub data: PatientData,
    pub created_at: String,
    pub updated_at: String,
}

const COLUMNS: &str = "id, customer_number, first_name, last_name, date_of_birth, email, phone, \
                       address, notes, created_at, updated_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<StoredPatient> {
    let id: String = r.get(0)?;
    let dob: String = r.get(4)?;
    let bad = super::bad_column;
    Ok(StoredPatient {
        id: id.parse().map_err(|e| bad(0, Box::new(e)))?,
        data: PatientData {
            customer_number: r.get(1)?,
            first_name: r.get(2)?,
            last_name: r.get(3)?,
            date_of_birth: dob.parse().map_err(|e| bad(4, Box::new(e)))?,
            email: r.get(5)?,
            phone: r.get(6)?,
            address: r.get(7)?,
            notes: r.get(8)?,
        },
        created_at: r.get(9)?,
        updated_at: r.get(10)?,
    })
}

/// A patient who exists and is not deleted, or NotFound.
pub(crate) fn require(tx: &Transaction<'_>, id: PatientId) -> Result<StoredPatient, StoreError> {
    tx.query_row(
        &format!("SELECT {COLUMNS} FROM patients WHERE id = ?1 AND deleted_at IS NULL"),
        [id.to_string()],
        from_row,
    )
    .map_err(|e| match e {
        rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound {
            what: "patient",
            id: id.to_string(),
        },
        other => other.into(),
    })
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
    /// Adds a patient (validated by the same rules as the central service) and its change.
    pub fn add_patient(
        &mut self,
        data: &PatientData,
        today: NaiveDate,
    ) -> Result<PatientId, StoreError> {
        let data = data.validate(today)?;
        let id = PatientId::new();
        let now = now_text();
        let mut w = self.begin_write()?;
        w.execute(
            "INSERT INTO patients (id, customer_number, first_name, last_name, date_of_birth, email, phone, address, notes, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
            params![
                id.to_string(),
                data.customer_number,
                data.first_name,
                data.last_name,
                data.date_of_birth.to_string(),
                data.email,
                data.phone,
                data.address,
                data.notes,
                now,
            ],
        )
        .map_err(conflict(
            "patient.customer_number_taken",
            "Another patient of this practice has this customer number",
        ))?;
        let row = serde_json::json!({ "id": id, "patient": data, "created_at": now });
        w.change("patient", &id.to_string(), "upsert", &row)?;
        w.audit("patient.create", "patient", Some(&id.to_string()), None)?;
        w.commit()?;
        Ok(id)
    }

    /// One patient's record (audited as a read).
    pub fn patient(&mut self, id: PatientId) -> Result<StoredPatient, StoreError> {
        self.audited_read(|tx, actor| {
            let p = require(tx, id)?;
            audit::record(
                tx,
                actor,
                "patient.read",
                "patient",
                Some(&id.to_string()),
                None,
            )?;
            Ok(p)
        })
    }

    /// Patients by name, then customer number; `query` matches the start of the first or last
    /// name (any case) or the whole customer number. Audited as a read, with the query.
    pub fn search_patients(
        &mut self,
        query: Option<&str>,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<StoredPatient>, StoreError> {
        let query = query.map(str::trim).filter(|q| !q.is_empty());
        if let Some(q) = query
            && q.chars().count() > 100
        {
            return Err(ils_core::validation::ValidationErrors::single(
                "query",
                "patient.query_too_long",
                "Search for at most 100 characters",
            )
            .into());
        }
        let limit = limit.clamp(1, 500);
        self.audited_read(|tx, actor| {
            let mut stmt = tx.prepare(&format!(
                "SELECT {COLUMNS} FROM patients
                 WHERE deleted_at IS NULL
                   AND (?1 IS NULL OR last_name LIKE ?2 ESCAPE '\\' OR first_name LIKE ?2 ESCAPE '\\'
                        OR customer_number = ?1 COLLATE NOCASE)
                 ORDER BY last_name COLLATE NOCASE, first_name COLLATE NOCASE, customer_number
                 LIMIT ?3 OFFSET ?4"
            ))?;
            let rows = stmt
                .query_map(
                    params![query, query.map(like_prefix), limit, offset],
                    from_row,
                )?
                .collect::<Result<Vec<_>, _>>()?;
            let action = if query.is_some() { "patient.search" } else { "patient.list" };
            let detail = serde_json::json!({ "query": query, "results": rows.len() });
            audit::record(tx, actor, action, "patient", None, Some(&detail))?;
            Ok(rows)
        })
    }

    pub fn patient_count(&self) -> Result<i64, StoreError> {
        Ok(self.conn().query_row(
            "SELECT count(*) FROM patients WHERE deleted_at IS NULL",
            [],
            |r| r.get(0),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::like_prefix;

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(like_prefix("O'Neil"), "O'Neil%");
        assert_eq!(like_prefix("50%_a\\"), "50\\%\\_a\\\\%");
    }
}
