//! GDPR export and erasure queries. Every table that holds a patient's or a tenant's data is
//! named here, so a new table must be added here too (the erasure test fails otherwise).

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::db::{PlatformTx, TenantTx};
use crate::error::Result;

/// Rows of `sql` (which must select one row per record and bind `$1` = tenant, `$2` = subject)
/// as JSON objects.
async fn json_rows(
    tx: &mut TenantTx,
    sql: &'static str,
    subject: Option<Uuid>,
) -> Result<Vec<Value>> {
    let tenant = tx.tenant();
    let rows: Vec<(Value,)> = sqlx::query_as(sql)
        .bind(tenant)
        .bind(subject)
        .fetch_all(tx.conn())
        .await?;
    Ok(rows.into_iter().map(|(v,)| v).collect())
}

/// Everything held about one patient, table by table.
pub async fn patient_export(
    tx: &mut TenantTx,
    patient: Uuid,
) -> Result<Vec<(&'static str, Vec<Value>)>> {
    let mut out = Vec::new();
    out.push((
        "patients",
        json_rows(
            tx,
            "SELECT to_jsonb(t) FROM patients t WHERE company_id = $1 AND id = $2",
            Some(patient),
        )
        .await?,
    ));
    out.push(("prescriptions", json_rows(tx, "SELECT to_jsonb(t) FROM prescriptions t WHERE company_id = $1 AND patient_id = $2 ORDER BY id", Some(patient)).await?));
    out.push(("orders", json_rows(tx, "SELECT to_jsonb(t) FROM orders t WHERE company_id = $1 AND patient_id = $2 ORDER BY id", Some(patient)).await?));
    out.push((
        "order_events",
        json_rows(
            tx,
            "SELECT to_jsonb(e) FROM order_events e JOIN orders o ON o.company_id = e.company_id AND o.id = e.order_id
             WHERE e.company_id = $1 AND o.patient_id = $2 ORDER BY e.id",
            Some(patient),
        )
        .await?,
    ));
    out.push((
        "audit_log",
        json_rows(
            tx,
            // Exactly the rows about this patient and their records: by resource id, by the
            // id lists of searches and order lists (which then show only this patient's ids,
            // never another patient's), or by any other mention in the details.
            "WITH mine AS (
                 SELECT $2::text AS id
                 UNION ALL SELECT id::text FROM prescriptions WHERE company_id = $1 AND patient_id = $2
                 UNION ALL SELECT id::text FROM orders WHERE company_id = $1 AND patient_id = $2
             ),
             only_mine AS (
                 SELECT a.id,
                        a.details
                        || CASE WHEN jsonb_typeof(a.details->'patient_ids') = 'array' THEN jsonb_build_object(
                               'patient_ids', (SELECT coalesce(jsonb_agg(x), '[]'::jsonb)
                                               FROM jsonb_array_elements_text(a.details->'patient_ids') x
                                               WHERE x IN (SELECT id FROM mine)))
                           ELSE '{}'::jsonb END
                        || CASE WHEN jsonb_typeof(a.details->'order_ids') = 'array' THEN jsonb_build_object(
                               'order_ids', (SELECT coalesce(jsonb_agg(x), '[]'::jsonb)
                                             FROM jsonb_array_elements_text(a.details->'order_ids') x
                                             WHERE x IN (SELECT id FROM mine)))
                           ELSE '{}'::jsonb END AS details
                 FROM audit_log a WHERE a.company_id = $1
             )
             SELECT to_jsonb(a) || jsonb_build_object('details', m.details)
             FROM audit_log a JOIN only_mine m ON m.id = a.id
             WHERE a.company_id = $1 AND (a.resource_id IN (SELECT id FROM mine)
                OR EXISTS (SELECT 1 FROM mine WHERE m.details::text LIKE '%' || mine.id || '%'))
             ORDER BY a.id",
            Some(patient),
        )
        .await?,
    ));
    Ok(out)
}

/// Everything the tenant holds, table by table (users without password hashes, sessions
/// without token hashes).
pub async fn tenant_export(tx: &mut TenantTx) -> Result<Vec<(&'static str, Vec<Value>)>> {
    let mut out = Vec::new();
    out.push((
        "companies",
        json_rows(
            tx,
            "SELECT to_jsonb(t) FROM companies t WHERE id = $1 AND $2::uuid IS NULL",
            None,
        )
        .await?,
    ));
    out.push((
        "users",
        json_rows(tx, "SELECT to_jsonb(t) - 'password_hash' FROM users t WHERE company_id = $1 AND $2::uuid IS NULL ORDER BY id", None).await?,
    ));
    out.push((
        "refresh_tokens",
        json_rows(tx, "SELECT to_jsonb(t) - 'token_hash' FROM refresh_tokens t WHERE company_id = $1 AND $2::uuid IS NULL ORDER BY id", None).await?,
    ));
    for (name, sql) in [
        (
            "patients",
            "SELECT to_jsonb(t) FROM patients t WHERE company_id = $1 AND $2::uuid IS NULL ORDER BY id",
        ),
        (
            "prescriptions",
            "SELECT to_jsonb(t) FROM prescriptions t WHERE company_id = $1 AND $2::uuid IS NULL ORDER BY id",
        ),
        (
            "orders",
            "SELECT to_jsonb(t) FROM orders t WHERE company_id = $1 AND $2::uuid IS NULL ORDER BY id",
        ),
        (
            "order_events",
            "SELECT to_jsonb(t) FROM order_events t WHERE company_id = $1 AND $2::uuid IS NULL ORDER BY id",
        ),
        (
            "tombstones",
            "SELECT to_jsonb(t) FROM tombstones t WHERE company_id = $1 AND $2::uuid IS NULL ORDER BY id",
        ),
        (
            "kb_documents",
            "SELECT to_jsonb(t) FROM kb_documents t WHERE company_id = $1 AND $2::uuid IS NULL ORDER BY id",
        ),
        (
            // The passages as text, without their embeddings (numbers derived from the text).
            "kb_chunks",
            "SELECT to_jsonb(t) - 'embedding' - 'tsv' FROM kb_chunks t WHERE company_id = $1 AND $2::uuid IS NULL ORDER BY document_id, ordinal",
        ),
        (
            "ai_conversations",
            "SELECT to_jsonb(t) FROM ai_conversations t WHERE company_id = $1 AND $2::uuid IS NULL ORDER BY id",
        ),
        (
            "ai_messages",
            "SELECT to_jsonb(t) FROM ai_messages t WHERE company_id = $1 AND $2::uuid IS NULL ORDER BY conversation_id, created_at, id",
        ),
        (
            "fine_tuned_models",
            "SELECT to_jsonb(t) FROM fine_tuned_models t WHERE company_id = $1 AND $2::uuid IS NULL ORDER BY id",
        ),
        (
            "devices",
            "SELECT to_jsonb(t) FROM devices t WHERE company_id = $1 AND $2::uuid IS NULL ORDER BY id",
        ),
        (
            // Every version of every record as sync carried it.
            "sync_feed",
            "SELECT to_jsonb(t) FROM sync_feed t WHERE company_id = $1 AND $2::uuid IS NULL ORDER BY seq",
        ),
        (
            "sync_conflicts",
            "SELECT to_jsonb(t) FROM sync_conflicts t WHERE company_id = $1 AND $2::uuid IS NULL ORDER BY id",
        ),
        (
            "audit_log",
            "SELECT to_jsonb(t) FROM audit_log t WHERE company_id = $1 AND $2::uuid IS NULL ORDER BY id",
        ),
    ] {
        out.push((name, json_rows(tx, sql, None).await?));
    }
    Ok(out)
}

/// The ids of the patient's prescriptions and orders (for redacting the audit log).
pub async fn patient_record_ids(tx: &mut TenantTx, patient: Uuid) -> Result<Vec<String>> {
    let tenant = tx.tenant();
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT id::text FROM prescriptions WHERE company_id = $1 AND patient_id = $2
         UNION ALL SELECT id::text FROM orders WHERE company_id = $1 AND patient_id = $2",
    )
    .bind(tenant)
    .bind(patient)
    .fetch_all(tx.conn())
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Deletes the patient (prescriptions, orders and their timelines follow by cascade) and
/// redacts the audit log; returns (deleted patients, redacted audit rows).
pub async fn erase_patient(
    tx: &mut TenantTx,
    patient: Uuid,
    replacement: &str,
) -> Result<(u64, i64)> {
    let tenant = tx.tenant();
    let mut ids = patient_record_ids(tx, patient).await?;
    ids.push(patient.to_string());
    erase_from_conversations(tx, patient).await?;
    // Sync's copies of every version of the patient's records, their timelines included.
    let events: Vec<(Uuid,)> = sqlx::query_as(
        "SELECT e.id FROM order_events e JOIN orders o ON o.company_id = e.company_id AND o.id = e.order_id
         WHERE o.company_id = $1 AND o.patient_id = $2",
    )
    .bind(tenant)
    .bind(patient)
    .fetch_all(tx.conn())
    .await?;
    let records: Vec<Uuid> = ids
        .iter()
        .filter_map(|id| id.parse().ok())
        .chain(events.into_iter().map(|(id,)| id))
        .collect();
    crate::store::sync::erase_records(tx, &records).await?;
    let deleted = sqlx::query("DELETE FROM patients WHERE company_id = $1 AND id = $2")
        .bind(tenant)
        .bind(patient)
        .execute(tx.conn())
        .await?
        .rows_affected();
    let (redacted,): (i64,) = sqlx::query_as("SELECT ils_redact_audit_subjects($1, $2)")
        .bind(&ids)
        .bind(replacement)
        .fetch_one(tx.conn())
        .await?;
    Ok((deleted, redacted))
}

/// What the assistant's conversations hold of a patient: in the messages whose words may name
/// them (`ai_messages.lookup_names` / `lookup_numbers`, the keys of `ils_llm::redact::lookup_keys`),
/// and in those conversations' titles, the patient's full name, surname, customer number,
/// phone, e-mail and address are replaced by `[erased]`, and the message no longer lists the
/// patient's keys. A first name alone is left: it names too many people to be the patient's.
async fn erase_from_conversations(tx: &mut TenantTx, patient: Uuid) -> Result<()> {
    let tenant = tx.tenant();
    type Row = (
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT first_name, last_name, customer_number, phone, email, address
         FROM patients WHERE company_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(patient)
    .fetch_optional(tx.conn())
    .await?;
    let Some((first, last, number, phone, email, address)) = row else {
        return Ok(());
    };
    let (names, numbers) = ils_llm::redact::lookup_keys(&[last.as_str()]);
    let numbers: Vec<String> = numbers.into_iter().chain(number.clone()).collect();
    // Longest first, so "Grace Hopper" goes whole before "Hopper" alone.
    let mut phrases: Vec<String> = [
        Some(format!("{first} {last}")),
        Some(format!("{last}, {first}")),
        Some(last.clone()),
        number,
        phone,
        email,
        address,
    ]
    .into_iter()
    .flatten()
    .map(|p| p.trim().to_owned())
    .filter(|p| p.chars().count() >= 2)
    .collect();
    phrases.sort_by_key(|p| std::cmp::Reverse(p.len()));
    phrases.dedup();
    // One case-insensitive pattern of the phrases, each whole (PostgreSQL's \m \M: word
    // boundaries), every character outside letters and digits escaped.
    let pattern = phrases
        .iter()
        .map(|p| {
            let escaped: String = p
                .chars()
                .map(|c| {
                    if c.is_alphanumeric() || c == ' ' {
                        c.to_string()
                    } else {
                        format!("\\{c}")
                    }
                })
                .collect();
            format!("\\m{}\\M", escaped.replace(' ', "\\s+"))
        })
        .collect::<Vec<_>>()
        .join("|");
    sqlx::query(
        "WITH touched AS (
             UPDATE ai_messages m
                SET content = regexp_replace(m.content, $4, '[erased]', 'gi'),
                    lookup_names = ARRAY(SELECT unnest(m.lookup_names) EXCEPT SELECT unnest($2::text[])),
                    lookup_numbers = ARRAY(SELECT unnest(m.lookup_numbers) EXCEPT SELECT unnest($3::text[]))
              WHERE m.company_id = $1
                AND (m.lookup_names && $2::text[] OR m.lookup_numbers && $3::text[])
             RETURNING m.conversation_id)
         UPDATE ai_conversations c SET title = regexp_replace(c.title, $4, '[erased]', 'gi')
          WHERE c.company_id = $1 AND c.id IN (SELECT conversation_id FROM touched)",
    )
    .bind(tenant)
    .bind(&names)
    .bind(&numbers)
    .bind(&pattern)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Which of the subject hashes name an erased record of the tenant.
pub async fn erased(tx: &mut TenantTx, hashes: &[Vec<u8>]) -> Result<Vec<Vec<u8>>> {
    if hashes.is_empty() {
        return Ok(Vec::new());
    }
    let tenant = tx.tenant();
    let rows: Vec<(Vec<u8>,)> = sqlx::query_as(
        "SELECT subject_hash FROM tombstones WHERE company_id = $1 AND subject_hash = ANY($2)",
    )
    .bind(tenant)
    .bind(hashes)
    .fetch_all(tx.conn())
    .await?;
    Ok(rows.into_iter().map(|(h,)| h).collect())
}

pub async fn insert_tombstone(
    tx: &mut TenantTx,
    id: Uuid,
    entity: &str,
    subject_hash: &[u8],
) -> Result<()> {
    let tenant = tx.tenant();
    sqlx::query(
        "INSERT INTO tombstones (company_id, id, entity, subject_hash) VALUES ($1, $2, $3, $4)",
    )
    .bind(tenant)
    .bind(id)
    .bind(entity)
    .bind(subject_hash)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Deletes a whole tenant: the company row, and with it (by cascade) every row of every tenant
/// table, its audit log included. Platform scope only. The row is locked first, so requests of
/// the tenant still running cannot add rows after it is gone (their foreign-key checks wait,
/// then fail). Returns the number of audit rows that went with it.
pub async fn erase_tenant(tx: &mut PlatformTx, company: Uuid, erasure_id: Uuid) -> Result<i64> {
    sqlx::query("SELECT id FROM companies WHERE id = $1 AND NOT is_platform FOR UPDATE")
        .bind(company)
        .execute(tx.conn())
        .await?;
    // Every tenant table goes with the company (ON DELETE CASCADE); the audit log, which has no
    // foreign key (so that audit inserts take no lock on the company), right after it.
    sqlx::query("DELETE FROM companies WHERE id = $1 AND NOT is_platform")
        .bind(company)
        .execute(tx.conn())
        .await?;
    let (audit,): (i64,) = sqlx::query_as("SELECT ils_erase_tenant_audit($1)")
        .bind(company)
        .fetch_one(tx.conn())
        .await?;
    sqlx::query("INSERT INTO tenant_erasures (id, erased_company_id) VALUES ($1, $2)")
        .bind(erasure_id)
        .bind(company)
        .execute(tx.conn())
        .await?;
    Ok(audit)
}

/// When the tenant `company` was erased, if it was (a platform record, readable without a
/// tenant: the tenant's users went with it).
pub async fn tenant_erased(pool: &sqlx::PgPool, company: Uuid) -> Result<Option<DateTime<Utc>>> {
    let row: Option<(DateTime<Utc>,)> = sqlx::query_as(
        "SELECT erased_at FROM tenant_erasures WHERE erased_company_id = $1
         ORDER BY erased_at LIMIT 1",
    )
    .bind(company)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(at,)| at))
}

/// The key of a tenant's erasure lock (the same text any tool must use to take it).
fn erasure_lock_key(tx: &TenantTx) -> String {
    crate::db::erasure_lock_key(tx.company_id())
}

/// Taken shared by every list and search of a tenant's patients or orders, and exclusively by a
/// patient's erasure: a list that starts while an erasure runs waits for it (and no longer sees
/// the patient), and an erasure waits for the lists already running (whose audit rows it then
/// redacts). Single-record reads lock the patient's row instead (measured: for one row, a row
/// lock costs less than the shared advisory lock every request of the tenant takes).
pub async fn lock_for_listing(tx: &mut TenantTx) -> Result<()> {
    if tx.listing_locked {
        return Ok(());
    }
    let key = erasure_lock_key(tx);
    sqlx::query("SELECT pg_advisory_xact_lock_shared(hashtextextended($1, 0))")
        .bind(key)
        .execute(tx.conn())
        .await?;
    tx.listing_locked = true;
    Ok(())
}

/// See [`lock_for_listing`].
pub async fn lock_for_erasure(tx: &mut TenantTx) -> Result<()> {
    let key = erasure_lock_key(tx);
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(key)
        .execute(tx.conn())
        .await?;
    Ok(())
}
