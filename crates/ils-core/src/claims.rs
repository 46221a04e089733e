//! The claims of an ILS access token, shared by the issuer (central) and every verifier
//! (central, and desktops verifying offline against the published keys).

use serde::{Deserialize, Serialize};

use crate::access::{Permission, Role, grants_cover};
use crate::ids::{CompanyId, UserId};

/// The claims of a short-lived access token. Every field is required when decoding: a token
/// missing one is refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The user.
    pub sub: UserId,
    /// The tenant. The only place a request's tenant comes from.
    pub company_id: CompanyId,
    pub role: Role,
    pub permissions: Vec<String>,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
    /// Unique token id, for audit correlation and revocation lists.
    pub jti: String,
    /// The user's token version when the token was issued; a password change raises it, and
    /// tokens of an older version are refused.
    pub ver: i32,
}

impl AccessClaims {
    /// Whether the token grants `permission`. Both the role and the token's own permission list
    /// must allow it, so a token minted with a narrower list is never widened by its role.
    pub fn allows(&self, permission: Permission) -> bool {
        self.role.allows(permission)
            && grants_cover(self.permissions.iter().map(String::as_str), permission)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::perm;

    fn claims(role: Role, permissions: &[&str]) -> AccessClaims {
        AccessClaims {
            sub: UserId::new(),
            company_id: CompanyId::new(),
            role,
            permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
            iat: 0,
            exp: 0,
            iss: "iss".into(),
            aud: "aud".into(),
            jti: "j".into(),
            ver: 0,
        }
    }

    #[test]
    fn both_role_and_token_must_allow() {
        assert!(claims(Role::CompanyAdmin, &["users:*"]).allows(perm::USERS_READ));
        assert!(!claims(Role::CompanyAdmin, &["company:*"]).allows(perm::USERS_READ));
        // A token that claims more than its role holds is still limited by the role.
        assert!(!claims(Role::Ecp, &["*"]).allows(perm::USERS_READ));
    }

    #[test]
    fn decoding_requires_company_id() {
        let json = serde_json::json!({
            "sub": UserId::new(), "role": "ecp", "permissions": [], "iat": 0, "exp": 0,
            "iss": "i", "aud": "a", "jti": "j"
        });
        let err = serde_json::from_value::<AccessClaims>(json).expect_err("must be refused");
        assert!(err.to_string().contains("company_id"), "{err}");
    }
}
