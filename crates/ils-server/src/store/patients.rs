//! `patients`.

use chrono::{DateTime, NaiveDate, Utc};
use ils_core::PatientId;
use ils_core::order::OrderStatus;
use ils_core::patient::PatientData;
use ils_core::record::PatientRecord;
use uuid::Uuid;

use crate::db::TenantTx;
use crate::error::{Error, Result};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PatientRow {
    pub id: Uuid,
    pub customer_number: String,
    pub first_name: String,
    pub last_name: String,
    pub date_of_birth: NaiveDate,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub notes: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl PatientRow {
    pub fn data(&self) -> PatientData {
        PatientData {
            customer_number: self.customer_number.clone(),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            date_of_birth: self.date_of_birth,
            email: self.email.clone(),
            phone: self.phone.clone(),
            address: self.address.clone(),
            notes: self.notes.clone(),
        }
    }

    /// The row as the domain's decisions see it.
    pub fn record(&self) -> PatientRecord {
        PatientRecord {
            id: PatientId::from_uuid(self.id),
            data: self.data(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            deleted_at: self.deleted_at,
        }
    }
}

const COLUMNS: &str = "id, customer_number, first_name, last_name, date_of_birth, email, phone, address, \
                       notes, created_at, updated_at, deleted_at";

fn not_found() -> Error {
    Error::NotFound {
        resource: "patient",
    }
}

fn taken(err: sqlx::Error) -> Error {
    Error::on_unique_violation(
        "patient.customer_number_taken",
        "Another patient of this practice has this customer number",
    )(err)
}

pub async fn insert(tx: &mut TenantTx, record: &PatientRecord) -> Result<PatientRow> {
    let tenant = tx.tenant();
    let query = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO patients (company_id, id, customer_number, first_name, last_name, date_of_birth, email, phone, address, notes,
                               last_name_key, first_name_key, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING {COLUMNS}"
    )));
    bind_patient(query, tenant, record.id, &record.data)
        .bind(record.created_at)
        .bind(record.updated_at)
        .fetch_one(tx.conn())
        .await
        .map_err(taken)
}

/// Binds $1..$12 of the insert and the update: tenant, id, the fields, the two name keys.
fn bind_patient<'q>(
    q: sqlx::query::QueryAs<'q, sqlx::Postgres, PatientRow, sqlx::postgres::PgArguments>,
    tenant: Uuid,
    id: PatientId,
    p: &'q PatientData,
) -> sqlx::query::QueryAs<'q, sqlx::Postgres, PatientRow, sqlx::postgres::PgArguments> {
    q.bind(tenant)
        .bind(id.into_uuid())
        .bind(&p.customer_number)
        .bind(&p.first_name)
        .bind(&p.last_name)
        .bind(p.date_of_birth)
        .bind(&p.email)
        .bind(&p.phone)
        .bind(&p.address)
        .bind(&p.notes)
        .bind(name_key(&p.last_name))
        .bind(name_key(&p.first_name))
}

/// The search and sort key of a name (see `ils_core::patient::name_key`).
pub use ils_core::patient::name_key;

/// How a read locks the patient row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lock {
    /// Weakly (`FOR KEY SHARE`): even a read locks the row, so that an erasure waits for reads
    /// in flight and no audit row of a read can commit after the erasure redacted the log.
    Read,
    /// The patient is about to change.
    Update,
}

/// A live (not deleted) patient.
pub async fn get(tx: &mut TenantTx, id: PatientId, lock: Lock) -> Result<PatientRow> {
    find(tx, id, lock).await?.ok_or_else(not_found)
}

/// A live (not deleted) patient, if there is one.
pub async fn find(tx: &mut TenantTx, id: PatientId, lock: Lock) -> Result<Option<PatientRow>> {
    let tenant = tx.tenant();
    let lock = match lock {
        Lock::Update => " FOR UPDATE",
        Lock::Read => " FOR KEY SHARE",
    };
    let row: Option<PatientRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM patients WHERE company_id = $1 AND id = $2 AND deleted_at IS NULL{lock}"
    )))
    .bind(tenant)
    .bind(id.into_uuid())
    .fetch_optional(tx.conn())
    .await?;
    Ok(row)
}

/// Whether the patient exists, soft-deleted or not.
pub async fn exists_including_deleted(tx: &mut TenantTx, id: PatientId) -> Result<bool> {
    let tenant = tx.tenant();
    let row: Option<(Uuid,)> =
        sqlx::query_as("SELECT id FROM patients WHERE company_id = $1 AND id = $2")
            .bind(tenant)
            .bind(id.into_uuid())
            .fetch_optional(tx.conn())
            .await?;
    Ok(row.is_some())
}

/// Locks the patient row, soft-deleted or not (erasure); false when there is none.
pub async fn lock_including_deleted(tx: &mut TenantTx, id: PatientId) -> Result<bool> {
    let tenant = tx.tenant();
    let row: Option<(Uuid,)> =
        sqlx::query_as("SELECT id FROM patients WHERE company_id = $1 AND id = $2 FOR UPDATE")
            .bind(tenant)
            .bind(id.into_uuid())
            .fetch_optional(tx.conn())
            .await?;
    Ok(row.is_some())
}

pub async fn update(tx: &mut TenantTx, record: &PatientRecord) -> Result<PatientRow> {
    let tenant = tx.tenant();
    let query = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE patients SET customer_number = $3, first_name = $4, last_name = $5, date_of_birth = $6,
                email = $7, phone = $8, address = $9, notes = $10, last_name_key = $11, first_name_key = $12,
                updated_at = $13
         WHERE company_id = $1 AND id = $2 AND deleted_at IS NULL RETURNING {COLUMNS}"
    )));
    let row: Option<PatientRow> = bind_patient(query, tenant, record.id, &record.data)
        .bind(record.updated_at)
        .fetch_optional(tx.conn())
        .await
        .map_err(taken)?;
    row.ok_or_else(not_found)
}

/// The patient, deleted or not, locked for a change (sync merges deleted patients too).
pub async fn find_any(tx: &mut TenantTx, id: PatientId) -> Result<Option<PatientRow>> {
    let tenant = tx.tenant();
    let row: Option<PatientRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM patients WHERE company_id = $1 AND id = $2 FOR UPDATE"
    )))
    .bind(tenant)
    .bind(id.into_uuid())
    .fetch_optional(tx.conn())
    .await?;
    Ok(row)
}

/// Writes the whole record, its deletion included: a deletion that sync carries brings the
/// record as its maker last saw it, and every replica keeps that version.
pub async fn overwrite(tx: &mut TenantTx, record: &PatientRecord) -> Result<()> {
    let tenant = tx.tenant();
    let query = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE patients SET customer_number = $3, first_name = $4, last_name = $5, date_of_birth = $6,
                email = $7, phone = $8, address = $9, notes = $10, last_name_key = $11, first_name_key = $12,
                updated_at = $13, deleted_at = $14
         WHERE company_id = $1 AND id = $2 RETURNING {COLUMNS}"
    )));
    let row: Option<PatientRow> = bind_patient(query, tenant, record.id, &record.data)
        .bind(record.updated_at)
        .bind(record.deleted_at)
        .fetch_optional(tx.conn())
        .await
        .map_err(taken)?;
    row.map(|_| ()).ok_or_else(not_found)
}

/// Orders of the patient still in progress (a patient with open orders is not soft-deleted).
pub async fn open_orders(tx: &mut TenantTx, id: PatientId) -> Result<i64> {
    let tenant = tx.tenant();
    let (n,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM orders WHERE company_id = $1 AND patient_id = $2
           AND status = ANY($3)",
    )
    .bind(tenant)
    .bind(id.into_uuid())
    .bind(OrderStatus::names(&OrderStatus::OPEN))
    .fetch_one(tx.conn())
    .await?;
    Ok(n)
}

/// Writes the soft deletion the record carries (`deleted_at`).
pub async fn soft_delete(tx: &mut TenantTx, record: &PatientRecord) -> Result<()> {
    let tenant = tx.tenant();
    let done = sqlx::query(
        "UPDATE patients SET deleted_at = $3, updated_at = $4
         WHERE company_id = $1 AND id = $2 AND deleted_at IS NULL",
    )
    .bind(tenant)
    .bind(record.id.into_uuid())
    .bind(record.deleted_at)
    .bind(record.updated_at)
    .execute(tx.conn())
    .await?;
    if done.rows_affected() == 0 {
        return Err(not_found());
    }
    Ok(())
}

/// Search filters; all given ones must match.
#[derive(Debug, Default)]
pub struct Search<'a> {
    /// Prefix of the last name, or of the first name (case-insensitive).
    pub name_prefix: Option<&'a str>,
    pub customer_number: Option<&'a str>,
    pub date_of_birth: Option<NaiveDate>,
}

/// The sort key of a live patient, for keyset pagination (the stored name keys, exactly as the
/// ORDER BY sees them).
pub async fn sort_key(tx: &mut TenantTx, id: PatientId) -> Result<Option<(String, String, Uuid)>> {
    let tenant = tx.tenant();
    let row: Option<(String, String, Uuid)> = sqlx::query_as(
        "SELECT last_name_key, first_name_key, id FROM patients
         WHERE company_id = $1 AND id = $2 AND deleted_at IS NULL",
    )
    .bind(tenant)
    .bind(id.into_uuid())
    .fetch_optional(tx.conn())
    .await?;
    Ok(row)
}

/// The exclusive upper bound of the strings that start with `prefix` (in byte order), or
/// `None` when there is none (a prefix of only U+10FFFF).
fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        if let Some(next) =
            char::from_u32(last as u32 + 1).or_else(|| char::from_u32(last as u32 + 0x801))
        {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// Live patients, ordered by last name, first name (lower-cased, byte order) and id, which is
/// stable; keyset pagination after the given (last name, first name, id). The SQL holds only
/// the filters given, so each combination gets its own statement and every filter can use its
/// index.
///
/// A name prefix matches the last or the first name, in two disjoint branches merged in sort
/// order (`UNION ALL` under the outer `ORDER BY`, a merge of two sorted lists):
/// - the last-name branch reads `patients_last_name` in sort order and stops at the page size;
/// - the first-name branch leaves out the patients the first branch covers, gathers the keys of
///   the others from `patients_first_name_keys` alone (an index-only scan, in first-name
///   order), keeps the page's worth of them in sort order and reads only those rows.
///
/// Each step has one good plan whatever the prefix, so the search runs with plans made once
/// per connection (`Db::tenant_tx_for_patient_search`). A single plan for the old shape read
/// the first-name branch in last-name order, the practice's whole name index when few first
/// names matched; so PostgreSQL planned each search again, which cost more than running it.
pub async fn search(
    tx: &mut TenantTx,
    search: &Search<'_>,
    after: Option<(String, String, Uuid)>,
    limit: u32,
) -> Result<Vec<PatientRow>> {
    type Builder = sqlx::QueryBuilder<sqlx::Postgres>;
    let tenant = tx.tenant();
    let key = "last_name_key, first_name_key, id";
    let prefix = search.name_prefix.map(|prefix| {
        let low = name_key(prefix);
        let high = prefix_upper_bound(&low);
        (low, high)
    });
    // `{column}_key` within the prefix's range.
    let range = |q: &mut Builder, column: &str| {
        if let Some((low, high)) = &prefix {
            q.push(format!("{column}_key >= ")).push_bind(low.clone());
            if let Some(high) = high {
                q.push(format!(" AND {column}_key < "))
                    .push_bind(high.clone());
            }
        }
    };
    // The tenant, live patients, and the filters other than the name.
    let filters = |q: &mut Builder| {
        q.push("company_id = ")
            .push_bind(tenant)
            .push(" AND deleted_at IS NULL");
        if let Some(number) = search.customer_number {
            q.push(" AND customer_number = ")
                .push_bind(number.to_owned());
        }
        if let Some(dob) = search.date_of_birth {
            q.push(" AND date_of_birth = ").push_bind(dob);
        }
        if let Some((last, first, id)) = &after {
            q.push(format!(" AND ({key}) > ("))
                .push_bind(last.clone())
                .push(", ")
                .push_bind(first.clone())
                .push(", ")
                .push_bind(*id)
                .push(")");
        }
    };
    let mut q = Builder::new(format!("SELECT {COLUMNS} FROM ("));
    // In sort order: all matches, or those whose last name has the prefix.
    q.push(format!(
        "(SELECT {COLUMNS}, {key_columns} FROM patients WHERE ",
        key_columns = "last_name_key, first_name_key"
    ));
    filters(&mut q);
    if prefix.is_some() {
        q.push(" AND ");
        range(&mut q, "last_name");
    }
    q.push(format!(" ORDER BY {key} LIMIT "))
        .push_bind(i64::from(limit))
        .push(")");
    if prefix.is_some() {
        // Those whose first name has it and whose last name does not (the keys are NOT NULL).
        q.push(
            " UNION ALL (WITH firsts AS MATERIALIZED (SELECT last_name_key, first_name_key, id \
             FROM patients WHERE ",
        );
        filters(&mut q);
        q.push(" AND ");
        range(&mut q, "first_name");
        q.push(" AND NOT (");
        range(&mut q, "last_name");
        q.push(format!(
            ")) SELECT {COLUMNS}, last_name_key, first_name_key FROM patients WHERE company_id = "
        ));
        q.push_bind(tenant).push(format!(
            " AND id IN (SELECT id FROM firsts ORDER BY {key} LIMIT "
        ));
        q.push_bind(i64::from(limit))
            .push(format!(") ORDER BY {key})"));
    }
    q.push(format!(") AS matches ORDER BY {key} LIMIT "))
        .push_bind(i64::from(limit));
    let rows = q.build_query_as().fetch_all(tx.conn()).await?;
    Ok(rows)
}

/// The practice's patients (deleted ones too: their names are no less private) whose first or
/// last name key is among `names` or whose customer number is among `numbers`: whom a prompt
/// may name, for the redaction before it leaves (at most 500).
type RedactionRow = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

pub async fn for_redaction(
    tx: &mut TenantTx,
    names: &[String],
    numbers: &[String],
) -> Result<Vec<ils_llm::redact::KnownPatient>> {
    let tenant = tx.tenant();
    let rows: Vec<RedactionRow> = sqlx::query_as(
        "SELECT first_name, last_name, customer_number, phone, email, address FROM patients
         WHERE company_id = $1
           AND (last_name_key = ANY($2) OR first_name_key = ANY($2) OR customer_number = ANY($3))
         LIMIT 500",
    )
    .bind(tenant)
    .bind(names)
    .bind(numbers)
    .fetch_all(tx.conn())
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(first_name, last_name, customer_number, phone, email, address)| {
                ils_llm::redact::KnownPatient {
                    first_name,
                    last_name,
                    customer_number: Some(customer_number),
                    phone,
                    email,
                    address,
                }
            },
        )
        .collect())
}

#[cfg(test)]
mod tests {
    use super::prefix_upper_bound;

    #[test]
    fn upper_bounds_of_prefixes() {
        assert_eq!(prefix_upper_bound("smi").as_deref(), Some("smj"));
        assert_eq!(prefix_upper_bound("a").as_deref(), Some("b"));
        assert_eq!(prefix_upper_bound("zö").as_deref(), Some("z÷"));
        assert_eq!(prefix_upper_bound("").as_deref(), None);
        assert_eq!(prefix_upper_bound("a\u{10FFFF}").as_deref(), Some("b"));
    }
}
