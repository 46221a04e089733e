//! The practice this file belongs to (a local tenant, until it connects to ILS Central) and its
//! users. A desktop acts as a user with a role in a tenant, with the same claims and the same
//! permission table as ILS Central; nothing is read or written without one.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use ils_core::access::perm;
use ils_core::audit::{AuditAction, AuditEvent, resource};
use ils_core::error::code;
use ils_core::user::{self, UserStatus};
use ils_core::validation::ValidationErrors;
use ils_core::{Actor, CompanyId, DomainError, Role, UserId};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::sync::{meta, set_meta};
use super::{Store, StoreError, audit, bad_column, now_text};

/// The practice: its tenant id, name and time zone (its "today").
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Practice {
    pub company_id: CompanyId,
    pub name: String,
    pub time_zone: String,
}

/// A user of this practice on this device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LocalUser {
    pub id: UserId,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub role: Role,
    pub status: UserStatus,
    pub created_at: DateTime<Utc>,
}

/// A user to add.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub role: Role,
}

/// A practice to create on this device, with its first administrator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPractice {
    pub name: String,
    /// An IANA time zone name; UTC when absent.
    pub time_zone: Option<String>,
    pub admin: NewUser,
}

/// The practice's time zone (UTC until a practice is created).
pub(crate) fn time_zone(conn: &Connection) -> Result<Tz, StoreError> {
    Ok(meta(conn, "time_zone")?
        .and_then(|tz| tz.parse().ok())
        .unwrap_or(ils_core::clock::DEFAULT_TIME_ZONE))
}

const USER_COLUMNS: &str = "id, email, first_name, last_name, role, status, created_at";

fn user_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<LocalUser> {
    let id: String = r.get(0)?;
    let role: String = r.get(4)?;
    let status: String = r.get(5)?;
    Ok(LocalUser {
        id: id.parse().map_err(|e| bad_column(0, Box::new(e)))?,
        email: r.get(1)?,
        first_name: r.get(2)?,
        last_name: r.get(3)?,
        role: role.parse().map_err(|e| bad_column(4, Box::new(e)))?,
        status: status
            .parse()
            .map_err(|e: String| bad_column(5, e.into()))?,
        created_at: super::time_column(r, 6)?,
    })
}

/// The user's fields, checked by the same rules as ILS Central's.
fn check_user(input: &NewUser, actor_role: Role, prefix: &str) -> Result<NewUser, StoreError> {
    let f = |name: &str| format!("{prefix}{name}");
    let mut errors = ValidationErrors::new();
    let person = user::check_person(
        &mut errors,
        prefix,
        &input.email,
        &input.first_name,
        &input.last_name,
    );
    // The grant rule of ILS Central; a desktop's own users are never platform operators.
    if errors
        .check(user::check_assignable(actor_role, input.role, &f("role")))
        .is_some()
        && input.role == Role::PlatformAdmin
    {
        errors.add(
            &f("role"),
            "user.role_not_assignable",
            "A practice's own users are company_admin, ecp, lab_tech or engineer",
        );
    }
    match person {
        Some(p) if errors.is_empty() => Ok(NewUser {
            email: p.email,
            first_name: p.first_name,
            last_name: p.last_name,
            role: input.role,
        }),
        _ => Err(DomainError::from(errors).into()),
    }
}

impl Store {
    /// The practice, once created.
    pub fn practice(&self) -> Result<Option<Practice>, StoreError> {
        let Some(id) = meta(&self.conn, "company_id")? else {
            return Ok(None);
        };
        Ok(Some(Practice {
            company_id: id
                .parse()
                .map_err(|e| StoreError::Encoding(format!("meta.company_id: {e}")))?,
            name: meta(&self.conn, "practice_name")?.unwrap_or_default(),
            time_zone: time_zone(&self.conn)?.name().to_owned(),
        }))
    }

    /// Creates the practice on this device (a local tenant) and its first administrator, who
    /// is then signed in. Refused when the file already has a practice.
    pub fn create_practice(
        &mut self,
        input: &NewPractice,
    ) -> Result<(Practice, LocalUser), StoreError> {
        let mut errors = ValidationErrors::new();
        let name = errors.check(ils_core::tenant::company_name("name", &input.name));
        let zone = match input.time_zone.as_deref() {
            Some(tz) => errors.check(ils_core::clock::time_zone("time_zone", tz)),
            None => Some(ils_core::clock::DEFAULT_TIME_ZONE),
        };
        if input.admin.role != Role::CompanyAdmin {
            errors.add(
                "admin.role",
                "user.role_not_assignable",
                "The practice's first user is its company_admin",
            );
        }
        let admin = match check_user(&input.admin, Role::CompanyAdmin, "admin.") {
            Ok(admin) => Some(admin),
            Err(StoreError::Domain(DomainError::Validation(v))) => {
                errors.errors.extend(v.errors);
                None
            }
            Err(other) => return Err(other),
        };
        let (Some(name), Some(zone), Some(admin)) = (name, zone, admin) else {
            return Err(DomainError::from(errors).into());
        };
        errors.into_result().map_err(DomainError::from)?;
        let now = self.now();
        let company_id = CompanyId::new();
        let user = LocalUser {
            id: UserId::new(),
            email: admin.email,
            first_name: admin.first_name,
            last_name: admin.last_name,
            role: Role::CompanyAdmin,
            status: UserStatus::Active,
            created_at: now,
        };
        let actor = Actor::with_role(user.id, company_id, user.role);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        if meta(&tx, "company_id")?.is_some() {
            return Err(DomainError::conflict(
                "practice.exists",
                "This database already belongs to a practice",
            )
            .into());
        }
        set_practice(&tx, company_id, &name, zone)?;
        insert_user(&tx, &user, now)?;
        audit::record(
            &tx,
            &actor,
            now,
            &AuditEvent::new(AuditAction::CompanyCreate, resource::COMPANY, company_id)
                .with_details(json!({ "time_zone": zone.name() })),
        )?;
        audit::record(
            &tx,
            &actor,
            now,
            &AuditEvent::new(AuditAction::UserCreate, resource::USER, user.id)
                .with_details(json!({ "role": user.role })),
        )?;
        tx.commit()?;
        self.act_as(actor);
        Ok((
            Practice {
                company_id,
                name,
                time_zone: zone.name().to_owned(),
            },
            user,
        ))
    }

    /// Adds a user with a role (`users:create`, the same grant rules as ILS Central).
    pub fn add_user(&mut self, input: &NewUser) -> Result<LocalUser, StoreError> {
        let actor = self.actor()?.clone();
        actor.require(perm::USERS_CREATE)?;
        let checked = check_user(input, actor.role, "")?;
        let w = self.begin_write()?;
        let user = LocalUser {
            id: UserId::new(),
            email: checked.email,
            first_name: checked.first_name,
            last_name: checked.last_name,
            role: checked.role,
            status: UserStatus::Active,
            created_at: w.now,
        };
        insert_user(&w, &user, w.now).map_err(super::conflict(
            code::USER_EMAIL_TAKEN,
            "Another user of this practice has this e-mail address",
        ))?;
        w.audit(
            &AuditEvent::new(AuditAction::UserCreate, resource::USER, user.id)
                .with_details(json!({ "role": user.role })),
        )?;
        w.commit()?;
        Ok(user)
    }

    /// The practice's users (`users:read`).
    pub fn users(&self) -> Result<Vec<LocalUser>, StoreError> {
        self.actor()?.require(perm::USERS_READ)?;
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {USER_COLUMNS} FROM users ORDER BY last_name, first_name, email"
        ))?;
        let rows = stmt
            .query_map([], user_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The signed-in user, if any (anyone may know who they are).
    pub fn current_user(&self) -> Result<Option<LocalUser>, StoreError> {
        let Ok(actor) = self.actor() else {
            return Ok(None);
        };
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))?;
        let mut rows = stmt.query_map([actor.user_id.to_string()], user_row)?;
        Ok(rows.next().transpose()?)
    }

    /// Signs in a user of this practice by e-mail address. (Passwords, and sign-in against ILS
    /// Central with an offline verifier, arrive with sync; until then whoever may run ILS on
    /// this computer names the user, and the user's role decides what they may do.)
    pub fn sign_in(&mut self, email: &str) -> Result<LocalUser, StoreError> {
        let practice = self.practice()?.ok_or_else(|| {
            DomainError::invalid(
                "practice.missing",
                "This database has no practice yet; create it first (ils-node init)",
            )
        })?;
        let user = self
            .conn
            .query_row(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE email = ?1"),
                [email.trim()],
                user_row,
            )
            .optional()?;
        let user = match user {
            Some(u) if u.status == UserStatus::Active => u,
            Some(_) => {
                return Err(DomainError::Forbidden {
                    message: format!("The user {} is disabled", email.trim()),
                }
                .into());
            }
            None => {
                return Err(DomainError::invalid(
                    "auth.unknown_user",
                    format!(
                        "{:?} is not a user of this practice; an administrator adds users (ils-node users add)",
                        email.trim()
                    ),
                )
                .into());
            }
        };
        self.act_as(Actor::with_role(user.id, practice.company_id, user.role));
        Ok(user)
    }
}

/// Records which practice the file belongs to: its tenant id, name and time zone.
fn set_practice(
    conn: &Connection,
    company: CompanyId,
    name: &str,
    zone: Tz,
) -> Result<(), StoreError> {
    for (key, value) in [
        ("company_id", company.to_string()),
        ("practice_name", name.to_owned()),
        ("time_zone", zone.name().to_owned()),
    ] {
        set_meta(conn, key, &value)?;
    }
    Ok(())
}

fn insert_user(
    conn: &Connection,
    user: &LocalUser,
    now: DateTime<Utc>,
) -> Result<(), rusqlite::Error> {
    conn.execute(
        "INSERT INTO users (id, email, first_name, last_name, role, status, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
        params![
            user.id.to_string(),
            user.email,
            user.first_name,
            user.last_name,
            user.role.as_str(),
            user.status.as_str(),
            now_text(now)
        ],
    )?;
    Ok(())
}

/// An Argon2id verifier of a password, for signing in offline (never the password itself).
pub(crate) fn password_verifier(password: &str) -> Result<String, StoreError> {
    use argon2::password_hash::PasswordHasher as _;
    let salt = *uuid::Uuid::new_v4().as_bytes();
    argon2::Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Encoding(format!("password verifier: {e}")))
}

fn verifies(password: &str, verifier: &str) -> bool {
    use argon2::password_hash::PasswordVerifier;
    PasswordVerifier::<str>::verify_password(
        &argon2::Argon2::default(),
        password.as_bytes(),
        verifier,
    )
    .is_ok()
}

impl Store {
    /// Makes this file the practice ILS Central described and its signed-in user a user here,
    /// with a verifier of their password for offline sign-in; then acts as them. A file that
    /// holds another practice (one started offline) is refused: it cannot be mixed in.
    pub fn adopt_practice(
        &mut self,
        info: &ils_core::sync::PracticeInfo,
        verifier: &str,
    ) -> Result<LocalUser, StoreError> {
        let zone = zone_of(info)?;
        let now = self.now();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let user = adopt_in(&tx, info, zone, verifier, now)?;
        tx.commit()?;
        self.act_as(Actor::with_role(user.id, info.company_id, user.role));
        Ok(user)
    }

    /// Signs in without ILS Central: a user who signed in against it on this device before,
    /// with the same password. A wrong password, or a user who never signed in here, is refused
    /// alike.
    pub fn sign_in_offline(
        &mut self,
        email: &str,
        password: &str,
    ) -> Result<LocalUser, StoreError> {
        let practice = self.practice()?.ok_or_else(|| {
            DomainError::invalid(
                "practice.missing",
                "This database has no practice yet; connect to ILS Central first",
            )
        })?;
        let found: Option<(LocalUser, Option<String>)> = self
            .conn
            .query_row(
                &format!("SELECT {USER_COLUMNS}, password_verifier FROM users WHERE email = ?1"),
                [email.trim()],
                |r| Ok((user_row(r)?, r.get(7)?)),
            )
            .optional()?;
        let refused = || {
            StoreError::Domain(DomainError::invalid(
                "auth.invalid_credentials",
                "The e-mail address or password is wrong (offline, only users who signed in on \
                 this computer before can sign in)",
            ))
        };
        let (user, verifier) = match found {
            Some((user, Some(verifier))) => (user, verifier),
            _ => {
                // The same work as a real check, so that timing tells nothing.
                let _ = verifies(password, &password_verifier("timing")?);
                return Err(refused());
            }
        };
        if !verifies(password, &verifier) {
            return Err(refused());
        }
        if user.status != UserStatus::Active {
            return Err(DomainError::Forbidden {
                message: format!("The user {} is disabled", user.email),
            }
            .into());
        }
        self.act_as(Actor::with_role(user.id, practice.company_id, user.role));
        Ok(user)
    }
}

/// The practice's time zone as ILS Central describes it.
pub(crate) fn zone_of(info: &ils_core::sync::PracticeInfo) -> Result<Tz, StoreError> {
    info.time_zone.parse().map_err(|_| {
        StoreError::Encoding(format!(
            "ILS Central sent the time zone {:?}",
            info.time_zone
        ))
    })
}

/// Makes the file `info`'s practice and its signed-in user a user here, in `tx`.
/// Makes the file `info`'s practice and its signed-in user a user here, in `tx`.
pub(crate) fn adopt_in(
    tx: &Connection,
    info: &ils_core::sync::PracticeInfo,
    zone: Tz,
    verifier: &str,
    now: DateTime<Utc>,
) -> Result<LocalUser, StoreError> {
    match meta(tx, "company_id")? {
        Some(id) if id != info.company_id.to_string() => {
            return Err(DomainError::conflict(
                "sync.practice_mismatch",
                "This database belongs to another practice on ILS Central; connect with a new \
                 data folder",
            )
            .into());
        }
        _ => {}
    }
    set_practice(tx, info.company_id, &info.name, zone)?;
    let u = &info.user;
    tx.execute(
        "INSERT INTO users (id, email, first_name, last_name, role, status, created_at, updated_at,
                            password_verifier)
         VALUES (?1, ?2, ?3, ?4, ?5, 'active', ?6, ?6, ?7)
         ON CONFLICT (id) DO UPDATE SET email = excluded.email, first_name = excluded.first_name,
             last_name = excluded.last_name, role = excluded.role, status = 'active',
             updated_at = excluded.updated_at, password_verifier = excluded.password_verifier",
        params![
            u.id.to_string(),
            u.email,
            u.first_name,
            u.last_name,
            u.role.as_str(),
            now_text(now),
            verifier
        ],
    )
    .map_err(super::conflict(
        code::USER_EMAIL_TAKEN,
        "Another user of this device has this e-mail address",
    ))?;
    Ok(LocalUser {
        id: u.id,
        email: u.email.clone(),
        first_name: u.first_name.clone(),
        last_name: u.last_name.clone(),
        role: u.role,
        status: UserStatus::Active,
        created_at: now,
    })
}
