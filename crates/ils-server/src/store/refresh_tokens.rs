//! `refresh_tokens`: rotating refresh tokens, stored as SHA-256 hashes, grouped in families
//! (one family per sign-in) so that reuse of a rotated token revokes the whole family.

use chrono::{DateTime, Utc};
use ils_core::UserId;
use uuid::Uuid;

use crate::db::TenantTx;
use crate::error::Result;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct StoredRefreshToken {
    pub id: Uuid,
    pub user_id: Uuid,
    pub family_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub rotated_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub device: Option<String>,
}

#[derive(Debug)]
pub struct NewRefreshToken<'a> {
    pub id: Uuid,
    pub user_id: UserId,
    pub family_id: Uuid,
    pub token_hash: &'a [u8],
    pub device: Option<&'a str>,
    pub expires_at: DateTime<Utc>,
}

pub async fn insert(tx: &mut TenantTx, new: &NewRefreshToken<'_>) -> Result<()> {
    let tenant = tx.tenant();
    sqlx::query(
        "INSERT INTO refresh_tokens (company_id, id, user_id, family_id, token_hash, device, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(tenant)
    .bind(new.id)
    .bind(new.user_id.into_uuid())
    .bind(new.family_id)
    .bind(new.token_hash)
    .bind(new.device)
    .bind(new.expires_at)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Serialises every rotation, reuse check and revocation of one family: taken before the token
/// row is read, so a refresh that is still inserting the family's next token cannot slip past a
/// concurrent revocation.
pub async fn lock_family_of(tx: &mut TenantTx, hash: &[u8]) -> Result<Option<Uuid>> {
    let tenant = tx.tenant();
    let family: Option<(Uuid,)> = sqlx::query_as(
        "SELECT family_id FROM refresh_tokens WHERE company_id = $1 AND token_hash = $2",
    )
    .bind(tenant)
    .bind(hash)
    .fetch_optional(tx.conn())
    .await?;
    let Some((family,)) = family else {
        return Ok(None);
    };
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))")
        .bind(family)
        .execute(tx.conn())
        .await?;
    Ok(Some(family))
}

/// Finds a token by hash and locks it, so two concurrent refreshes cannot both rotate it.
pub async fn find_for_update(tx: &mut TenantTx, hash: &[u8]) -> Result<Option<StoredRefreshToken>> {
    let tenant = tx.tenant();
    let row = sqlx::query_as(
        "SELECT id, user_id, family_id, expires_at, rotated_at, revoked_at, device
         FROM refresh_tokens WHERE company_id = $1 AND token_hash = $2 FOR UPDATE",
    )
    .bind(tenant)
    .bind(hash)
    .fetch_optional(tx.conn())
    .await?;
    Ok(row)
}

pub async fn mark_rotated(tx: &mut TenantTx, id: Uuid) -> Result<()> {
    let tenant = tx.tenant();
    sqlx::query("UPDATE refresh_tokens SET rotated_at = now() WHERE company_id = $1 AND id = $2")
        .bind(tenant)
        .bind(id)
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub async fn revoke_family(tx: &mut TenantTx, family_id: Uuid, reason: &str) -> Result<u64> {
    let tenant = tx.tenant();
    let done = sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = now(), revoked_reason = $3
         WHERE company_id = $1 AND family_id = $2 AND revoked_at IS NULL",
    )
    .bind(tenant)
    .bind(family_id)
    .bind(reason)
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected())
}

pub async fn revoke_all_for_user(tx: &mut TenantTx, user_id: UserId, reason: &str) -> Result<u64> {
    let tenant = tx.tenant();
    let done = sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = now(), revoked_reason = $3
         WHERE company_id = $1 AND user_id = $2 AND revoked_at IS NULL",
    )
    .bind(tenant)
    .bind(user_id.into_uuid())
    .bind(reason)
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected())
}
