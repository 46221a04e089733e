//! Who acts: a user with a role in one tenant. ILS Central builds an [`Actor`] from a verified
//! access token; the desktop engine from its signed-in user. Every decision in
//! [`crate::decide`] takes one and checks the same permission table ([`crate::access`]), so a
//! role may do exactly the same things on both halves.

use serde::{Deserialize, Serialize};

use crate::access::{Permission, Role, grants_cover};
use crate::claims::AccessClaims;
use crate::error::DomainError;
use crate::ids::{CompanyId, UserId};

/// The acting user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub user_id: UserId,
    pub company_id: CompanyId,
    pub role: Role,
    /// The grants the credential carries; the role must allow a permission as well.
    pub permissions: Vec<String>,
}

impl Actor {
    /// A user holding every grant of their role (the desktop's own users).
    pub fn with_role(user_id: UserId, company_id: CompanyId, role: Role) -> Self {
        Self {
            user_id,
            company_id,
            role,
            permissions: role.permission_strings(),
        }
    }

    /// Whether both the role and the credential's own grants allow `permission`.
    pub fn allows(&self, permission: Permission) -> bool {
        self.role.allows(permission)
            && grants_cover(self.permissions.iter().map(String::as_str), permission)
    }

    /// `Ok` when the actor holds `permission`, else `auth.forbidden` naming it.
    pub fn require(&self, permission: Permission) -> Result<(), DomainError> {
        if self.allows(permission) {
            Ok(())
        } else {
            Err(DomainError::Forbidden {
                message: format!(
                    "The role {} does not have permission {permission}",
                    self.role
                ),
            })
        }
    }

    /// `Ok` when the actor holds any of `permissions`, else `auth.forbidden` saying what
    /// `doing` needs.
    pub fn require_any(&self, permissions: &[Permission], doing: &str) -> Result<(), DomainError> {
        if permissions.iter().any(|p| self.allows(*p)) {
            return Ok(());
        }
        let needed: Vec<String> = permissions.iter().map(ToString::to_string).collect();
        Err(DomainError::Forbidden {
            message: format!(
                "The role {} cannot {doing} (needs {})",
                self.role,
                needed.join(" or ")
            ),
        })
    }
}

impl From<&AccessClaims> for Actor {
    fn from(claims: &AccessClaims) -> Self {
        Self {
            user_id: claims.sub,
            company_id: claims.company_id,
            role: claims.role,
            permissions: claims.permissions.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::perm;

    #[test]
    fn the_role_and_the_grants_must_both_allow() {
        let ecp = Actor::with_role(UserId::new(), CompanyId::new(), Role::Ecp);
        assert!(ecp.require(perm::PATIENTS_CREATE).is_ok());
        let err = ecp
            .require(perm::USERS_CREATE)
            .expect_err("an ECP manages no users");
        assert_eq!(err.code(), "auth.forbidden");
        assert_eq!(
            err.to_string(),
            "The role ecp does not have permission users:create"
        );
        let narrowed = Actor {
            permissions: vec!["patients:read".into()],
            ..ecp
        };
        assert!(!narrowed.allows(perm::PATIENTS_CREATE));
        assert_eq!(
            narrowed
                .require_any(
                    &[perm::ORDERS_CREATE, perm::ORDERS_UPDATE],
                    "cancel an order"
                )
                .expect_err("no")
                .to_string(),
            "The role ecp cannot cancel an order (needs orders:create or orders:update)"
        );
    }
}
