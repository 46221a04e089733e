//! `signing_keys`: the platform's token-signing keys (not tenant data).

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::error::Result;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct StoredKey {
    pub kid: String,
    pub private_key_der: Vec<u8>,
    pub public_key: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
    pub publish_until: Option<DateTime<Utc>>,
}

/// The active key and every retired key still within its publication window.
pub async fn load_current(pool: &PgPool) -> Result<Vec<StoredKey>> {
    let rows = sqlx::query_as(
        "SELECT kid, private_key_der, public_key, created_at, retired_at, publish_until
         FROM signing_keys WHERE retired_at IS NULL OR publish_until > now()
         ORDER BY created_at DESC",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// Makes `new` the active key, retiring the previous one (published until `publish_secs` from
/// now), inside the caller's transaction. Replicas serialise on an advisory lock. With
/// `only_if_none_active`, does nothing when a key is already active (first start).
pub async fn rotate(
    conn: &mut sqlx::PgConnection,
    kid: &str,
    private_key_der: &[u8],
    public_key: &[u8],
    publish_secs: u64,
    only_if_none_active: bool,
) -> Result<bool> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('ils.signing_keys'))")
        .execute(&mut *conn)
        .await?;
    if only_if_none_active {
        let (active,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM signing_keys WHERE retired_at IS NULL")
                .fetch_one(&mut *conn)
                .await?;
        if active > 0 {
            return Ok(false);
        }
    }
    sqlx::query(
        "UPDATE signing_keys SET retired_at = now(), publish_until = now() + make_interval(secs => $1)
         WHERE retired_at IS NULL",
    )
    .bind(publish_secs as f64)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO signing_keys (kid, algorithm, private_key_der, public_key) VALUES ($1, 'EdDSA', $2, $3)",
    )
    .bind(kid)
    .bind(private_key_der)
    .bind(public_key)
    .execute(&mut *conn)
    .await?;
    Ok(true)
}
