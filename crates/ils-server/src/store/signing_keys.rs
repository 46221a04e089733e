//! `signing_keys`: the platform's token-signing keys (not tenant data).

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::error::Result;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct StoredKey {
    pub kid: String,
    /// Sealed under the key-encryption key when `sealed` (always, once the service started).
    pub private_key_der: Vec<u8>,
    pub sealed: bool,
    pub public_key: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
    pub publish_until: Option<DateTime<Utc>>,
}

/// The active key and every retired key still within its publication window.
pub async fn load_current(pool: &PgPool) -> Result<Vec<StoredKey>> {
    let rows = sqlx::query_as(
        "SELECT kid, private_key_der, sealed, public_key, created_at, retired_at, publish_until
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
    sealed_private_key: &[u8],
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
        "INSERT INTO signing_keys (kid, algorithm, private_key_der, sealed, public_key)
         VALUES ($1, 'EdDSA', $2, true, $3)",
    )
    .bind(kid)
    .bind(sealed_private_key)
    .bind(public_key)
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

/// Keys written before sealing: (kid, plaintext private key).
pub async fn unsealed(pool: &PgPool) -> Result<Vec<(String, Vec<u8>)>> {
    Ok(
        sqlx::query_as("SELECT kid, private_key_der FROM signing_keys WHERE NOT sealed")
            .fetch_all(pool)
            .await?,
    )
}

/// Replaces a key's plaintext private key by its sealed form.
pub async fn seal(pool: &PgPool, kid: &str, sealed: &[u8]) -> Result<()> {
    sqlx::query(
        "UPDATE signing_keys SET private_key_der = $2, sealed = true WHERE kid = $1 AND NOT sealed",
    )
    .bind(kid)
    .bind(sealed)
    .execute(pool)
    .await?;
    Ok(())
}
