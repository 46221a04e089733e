//! A practice's devices: registered by a signed-in user, approved by a company administrator
//! or at once with a one-time registration code an administrator made, listed, revoked. Only an
//! approved device pushes and pulls.

use chrono::{DateTime, Duration, Utc};
use ils_core::access::perm;
use ils_core::audit::{AuditAction, AuditEvent, resource};
use ils_core::{DeviceId, UserId};
use rand::Rng;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::clinical::{Caller, record};
use crate::db::TenantTx;
use crate::error::{Error, Result};
use crate::store::sync::{self as store, DeviceRow};

/// How long a registration code stays usable.
pub const CODE_LIFETIME: Duration = Duration::hours(24);

/// The alphabet of registration codes: no 0/O, 1/I/L, so that a code read aloud or typed from
/// paper is not mistaken.
const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

fn code_digest(code: &str) -> Vec<u8> {
    let normal: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    Sha256::digest(normal.as_bytes()).to_vec()
}

fn admin(caller: &Caller) -> Result<()> {
    caller
        .actor
        .require(perm::COMPANY_UPDATE)
        .map_err(Error::from)
}

/// Makes a one-time registration code (shown once; only its SHA-256 is kept).
pub async fn create_code(tx: &mut TenantTx, caller: &Caller) -> Result<(String, DateTime<Utc>)> {
    admin(caller)?;
    let raw: String = {
        let mut rng = rand::rng();
        (0..12)
            .map(|_| char::from(CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())]))
            .collect()
    };
    let code = format!("{}-{}-{}", &raw[..4], &raw[4..8], &raw[8..]);
    let expires_at = caller.now + CODE_LIFETIME;
    store::insert_code(tx, &code_digest(&code), caller.actor.user_id, expires_at).await?;
    record(
        tx,
        caller,
        &AuditEvent::unbound(
            AuditAction::DeviceCodeCreate,
            resource::DEVICE_CODE,
            json!({ "expires_at": expires_at }),
        ),
    )
    .await?;
    Ok((code, expires_at))
}

/// What a device sends to register.
#[derive(Debug)]
pub struct Registration {
    pub device: DeviceId,
    pub name: String,
    pub code: Option<String>,
}

/// Registers a device: approved at once with a valid code, else pending an administrator.
pub async fn register(tx: &mut TenantTx, caller: &Caller, reg: &Registration) -> Result<DeviceRow> {
    let name = reg.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ils_core::ValidationErrors::single(
            "name",
            "device.name_invalid",
            "A device name is 1–100 printable characters (for example \"Front desk\")",
        )
        .into());
    }
    let approved = match &reg.code {
        Some(code) => {
            if !store::use_code(tx, &code_digest(code), reg.device).await? {
                return Err(ils_core::ValidationErrors::single(
                    "code",
                    "device.code_invalid",
                    "This registration code is unknown, used or expired; ask an administrator \
                     for a new one",
                )
                .into());
            }
            true
        }
        None => false,
    };
    let row = store::insert_device(tx, reg.device, name, caller.actor.user_id, approved).await?;
    record(
        tx,
        caller,
        &AuditEvent::new(AuditAction::DeviceRegister, resource::DEVICE, reg.device)
            .with_details(json!({ "status": row.status, "with_code": approved })),
    )
    .await?;
    Ok(row)
}

pub async fn list(tx: &mut TenantTx, caller: &Caller) -> Result<Vec<DeviceRow>> {
    admin(caller)?;
    store::devices(tx).await
}

async fn set_status(
    tx: &mut TenantTx,
    caller: &Caller,
    device: DeviceId,
    status: &str,
    action: AuditAction,
) -> Result<DeviceRow> {
    admin(caller)?;
    let current = store::device(tx, device)
        .await?
        .ok_or(Error::NotFound { resource: "device" })?;
    if current.status == "revoked" {
        return Err(Error::conflict(
            "device.revoked",
            "This device was revoked; it must register again under a new id",
        ));
    }
    let row = store::set_device_status(tx, device, status, caller.actor.user_id)
        .await?
        .ok_or(Error::NotFound { resource: "device" })?;
    record(
        tx,
        caller,
        &AuditEvent::new(action, resource::DEVICE, device)
            .with_details(json!({ "from": current.status, "to": status })),
    )
    .await?;
    Ok(row)
}

pub async fn approve(tx: &mut TenantTx, caller: &Caller, device: DeviceId) -> Result<DeviceRow> {
    set_status(tx, caller, device, "approved", AuditAction::DeviceApprove).await
}

pub async fn revoke(tx: &mut TenantTx, caller: &Caller, device: DeviceId) -> Result<DeviceRow> {
    set_status(tx, caller, device, "revoked", AuditAction::DeviceRevoke).await
}

/// A device may push and pull only when it is registered with this practice and approved.
pub async fn authorize(tx: &mut TenantTx, device: DeviceId) -> Result<()> {
    let row = store::device(tx, device).await?;
    match row.as_ref().map(|d| d.status.as_str()) {
        Some("approved") => store::touch_device(tx, device).await,
        Some("pending") => Err(Error::Forbidden {
            code: "device.not_approved",
            message: "This device waits for an administrator's approval (or register it with \
                      a registration code)"
                .into(),
        }),
        Some(_) => Err(Error::Forbidden {
            code: "device.revoked",
            message: "This device was revoked by an administrator; it can no longer sync".into(),
        }),
        None => Err(Error::Forbidden {
            code: "device.unknown",
            message: "This device is not registered with the practice; register it first".into(),
        }),
    }
}

/// The user a pushed change names, as the decisions see them: an active user of this practice.
pub(crate) async fn maker(
    tx: &mut TenantTx,
    user: UserId,
) -> Result<Option<(ils_core::Actor, ils_core::Role)>> {
    match crate::store::users::get(tx, user).await {
        Ok(u) if u.status == ils_core::user::UserStatus::Active => Ok(Some((
            ils_core::Actor::with_role(u.id, u.company_id, u.role),
            u.role,
        ))),
        Ok(_) | Err(Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}
