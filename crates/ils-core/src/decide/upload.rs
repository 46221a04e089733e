//! A practice that started offline joins ILS Central: everything it recorded goes up once, with
//! its ids.
//!
//! The practice's records keep their ids; what changes is who made them. A user of the offline
//! practice becomes the ILS Central user with the same e-mail address, and takes that user's id
//! and role; a local user without such an account stops the upload before anything is written,
//! naming the addresses to create first (attributions are never guessed or merged into someone
//! else's). Uploading a whole practice is an administrator's act.

use std::collections::HashMap;

use crate::access::Role;
use crate::access::perm;
use crate::error::{DomainError, code};
use crate::identity::Actor;
use crate::ids::UserId;
use crate::user::UserStatus;

/// A user of the offline practice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalUser {
    pub id: UserId,
    pub email: String,
}

/// A user of the practice on ILS Central.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CentralUser {
    pub id: UserId,
    pub email: String,
    pub role: Role,
    pub status: UserStatus,
}

/// A local user and the ILS Central user they become.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Alias {
    pub local: UserId,
    pub central: UserId,
    pub role: Role,
}

/// Whether the signed-in ILS Central user may upload an offline practice into their practice.
pub fn authorize(actor: &Actor) -> Result<(), DomainError> {
    actor
        .require(perm::COMPANY_UPDATE)
        .map_err(|_| DomainError::Forbidden {
            message: "Uploading a practice that started offline takes an administrator of the \
                      practice on ILS Central; sign in as one to connect this computer"
                .into(),
        })
}

/// Pairs every local user with the ILS Central user of the same e-mail address (compared
/// without regard to case). Refused, naming them, when some have no active account there.
pub fn aliases(local: &[LocalUser], central: &[CentralUser]) -> Result<Vec<Alias>, DomainError> {
    let by_email: HashMap<String, &CentralUser> = central
        .iter()
        .filter(|u| u.status == UserStatus::Active)
        .map(|u| (u.email.to_lowercase(), u))
        .collect();
    let mut missing = Vec::new();
    let mut pairs = Vec::new();
    for user in local {
        match by_email.get(&user.email.to_lowercase()) {
            Some(c) => pairs.push(Alias {
                local: user.id,
                central: c.id,
                role: c.role,
            }),
            None => missing.push(user.email.to_lowercase()),
        }
    }
    if !missing.is_empty() {
        missing.sort();
        return Err(DomainError::conflict(
            code::SYNC_USERS_MISSING,
            format!(
                "These users of this computer have no active account in the practice on ILS \
                 Central: {}. Create them there with the same e-mail addresses (or reactivate \
                 them), then connect again; nothing has been changed here",
                missing.join(", ")
            ),
        ));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> UserId {
        UserId::from(uuid::Uuid::from_u128(n))
    }

    fn central(n: u128, email: &str, role: Role, status: UserStatus) -> CentralUser {
        CentralUser {
            id: id(n),
            email: email.into(),
            role,
            status,
        }
    }

    #[test]
    fn local_users_become_the_central_users_of_their_e_mail_address() {
        let local = [
            LocalUser {
                id: id(1),
                email: "Boss@Demo.example".into(),
            },
            LocalUser {
                id: id(2),
                email: "olive@demo.example".into(),
            },
        ];
        let there = [
            central(
                10,
                "boss@demo.example",
                Role::CompanyAdmin,
                UserStatus::Active,
            ),
            central(20, "olive@demo.example", Role::LabTech, UserStatus::Active),
            central(30, "other@demo.example", Role::Ecp, UserStatus::Active),
        ];
        assert_eq!(
            aliases(&local, &there).expect("all there"),
            vec![
                Alias {
                    local: id(1),
                    central: id(10),
                    role: Role::CompanyAdmin
                },
                Alias {
                    local: id(2),
                    central: id(20),
                    role: Role::LabTech
                },
            ]
        );
    }

    #[test]
    fn a_local_user_without_an_active_account_stops_the_upload_and_is_named() {
        let local = [
            LocalUser {
                id: id(1),
                email: "boss@demo.example".into(),
            },
            LocalUser {
                id: id(2),
                email: "olive@demo.example".into(),
            },
            LocalUser {
                id: id(3),
                email: "zed@demo.example".into(),
            },
        ];
        let there = [
            central(
                10,
                "boss@demo.example",
                Role::CompanyAdmin,
                UserStatus::Active,
            ),
            central(20, "olive@demo.example", Role::Ecp, UserStatus::Disabled),
        ];
        let refused = aliases(&local, &there).expect_err("two missing");
        assert_eq!(refused.code(), code::SYNC_USERS_MISSING);
        assert!(
            refused
                .to_string()
                .contains("olive@demo.example, zed@demo.example"),
            "{refused}"
        );
    }
}
