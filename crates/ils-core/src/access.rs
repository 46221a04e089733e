//! Roles and permissions: who may do what. Deny by default: a permission is held only when one
//! of the role's grants covers it.
//!
//! A permission is `resource:action`. A grant may use `*` for the action (`users:*`) or be `*`
//! alone (everything). Only exact resources match; there is no prefix matching, so `user:*`
//! never covers `users:read`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The role of a user inside their company.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Role {
    /// The platform operator. Manages tenants; any access to a tenant's data is audited.
    PlatformAdmin,
    /// A practice's administrator: its users, settings, AI configuration and audit trail.
    CompanyAdmin,
    /// Eye-care professional (optometrist, optician): patients, orders, the assistant.
    Ecp,
    /// Lab technician: order status through production.
    LabTech,
    /// Lab or practice engineer: production and technical data.
    Engineer,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::PlatformAdmin,
        Role::CompanyAdmin,
        Role::Ecp,
        Role::LabTech,
        Role::Engineer,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Role::PlatformAdmin => "platform_admin",
            Role::CompanyAdmin => "company_admin",
            Role::Ecp => "ecp",
            Role::LabTech => "lab_tech",
            Role::Engineer => "engineer",
        }
    }

    /// The grants of this role. This table is the single source of truth; ARCHITECTURE.md
    /// documents it.
    pub const fn grants(self) -> &'static [&'static str] {
        match self {
            Role::PlatformAdmin => &["*"],
            Role::CompanyAdmin => &[
                "users:*",
                "company:*",
                "ai:*",
                "audit:read",
                "gdpr:*",
                "patients:read",
                "prescriptions:read",
                "orders:read",
            ],
            Role::Ecp => &[
                "orders:create",
                "orders:read",
                "patients:*",
                "prescriptions:*",
                "ai:chat",
            ],
            Role::LabTech => &["orders:read", "orders:update", "production:*"],
            Role::Engineer => &["production:*", "technical:*"],
        }
    }

    /// Whether this role holds `permission`.
    pub fn allows(self, permission: Permission) -> bool {
        grants_cover(self.grants().iter().copied(), permission)
    }

    /// The grants as owned strings, as they are written into an access token.
    pub fn permission_strings(self) -> Vec<String> {
        self.grants().iter().map(|g| (*g).to_owned()).collect()
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error(
    "unknown role {0:?}; expected one of platform_admin, company_admin, ecp, lab_tech, engineer"
)]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// A permission that a route requires: `resource:action`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Permission {
    pub resource: &'static str,
    pub action: &'static str,
}

impl Permission {
    pub const fn new(resource: &'static str, action: &'static str) -> Self {
        Self { resource, action }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.resource, self.action)
    }
}

/// The permissions routes require, named once so that a typo cannot create a new one.
pub mod perm {
    use super::Permission;

    pub const COMPANY_READ: Permission = Permission::new("company", "read");
    pub const COMPANY_UPDATE: Permission = Permission::new("company", "update");
    pub const USERS_READ: Permission = Permission::new("users", "read");
    pub const USERS_CREATE: Permission = Permission::new("users", "create");
    pub const USERS_UPDATE: Permission = Permission::new("users", "update");
    pub const USERS_DELETE: Permission = Permission::new("users", "delete");
    pub const AUDIT_READ: Permission = Permission::new("audit", "read");
    pub const AI_CHAT: Permission = Permission::new("ai", "chat");
    /// Adding, replacing and removing the practice's knowledge-base documents (company
    /// administrators, through `ai:*`). Searching them is part of `ai:chat`.
    pub const KNOWLEDGE_MANAGE: Permission = Permission::new("ai", "knowledge");
    pub const PATIENTS_READ: Permission = Permission::new("patients", "read");
    pub const PATIENTS_CREATE: Permission = Permission::new("patients", "create");
    pub const PATIENTS_UPDATE: Permission = Permission::new("patients", "update");
    pub const PATIENTS_DELETE: Permission = Permission::new("patients", "delete");
    pub const PRESCRIPTIONS_READ: Permission = Permission::new("prescriptions", "read");
    pub const PRESCRIPTIONS_WRITE: Permission = Permission::new("prescriptions", "write");
    pub const ORDERS_READ: Permission = Permission::new("orders", "read");
    pub const ORDERS_CREATE: Permission = Permission::new("orders", "create");
    pub const ORDERS_UPDATE: Permission = Permission::new("orders", "update");
    pub const PRODUCTION_READ: Permission = Permission::new("production", "read");
    /// GDPR export of one patient's or the whole company's data.
    pub const GDPR_EXPORT: Permission = Permission::new("gdpr", "export");
    /// GDPR erasure of a patient.
    pub const GDPR_ERASE: Permission = Permission::new("gdpr", "erase");
    pub const PLATFORM_TENANTS: Permission = Permission::new("platform", "tenants");
    pub const PLATFORM_KEYS: Permission = Permission::new("platform", "keys");

    /// Every permission above, for listing what a role holds (`crate::abilities`).
    pub const ALL: [Permission; 23] = [
        COMPANY_READ,
        COMPANY_UPDATE,
        USERS_READ,
        USERS_CREATE,
        USERS_UPDATE,
        USERS_DELETE,
        AUDIT_READ,
        AI_CHAT,
        KNOWLEDGE_MANAGE,
        PATIENTS_READ,
        PATIENTS_CREATE,
        PATIENTS_UPDATE,
        PATIENTS_DELETE,
        PRESCRIPTIONS_READ,
        PRESCRIPTIONS_WRITE,
        ORDERS_READ,
        ORDERS_CREATE,
        ORDERS_UPDATE,
        PRODUCTION_READ,
        GDPR_EXPORT,
        GDPR_ERASE,
        PLATFORM_TENANTS,
        PLATFORM_KEYS,
    ];
}

/// Whether any of `grants` covers `permission`.
pub fn grants_cover<'a>(grants: impl IntoIterator<Item = &'a str>, permission: Permission) -> bool {
    grants
        .into_iter()
        .any(|grant| grant_covers(grant, permission))
}

fn grant_covers(grant: &str, permission: Permission) -> bool {
    if grant == "*" {
        return true;
    }
    let Some((resource, action)) = grant.split_once(':') else {
        return false;
    };
    resource == permission.resource && (action == "*" || action == permission.action)
}

#[cfg(test)]
mod tests {
    use super::perm::*;
    use super::*;

    #[test]
    fn role_table() {
        use Role::*;
        // (role, permission, allowed)
        let cases = [
            (PlatformAdmin, PLATFORM_TENANTS, true),
            (PlatformAdmin, USERS_DELETE, true),
            (CompanyAdmin, USERS_DELETE, true),
            (CompanyAdmin, COMPANY_UPDATE, true),
            (CompanyAdmin, AUDIT_READ, true),
            (CompanyAdmin, PLATFORM_TENANTS, false),
            (CompanyAdmin, Permission::new("patients", "read"), true),
            (CompanyAdmin, Permission::new("patients", "update"), false),
            (Ecp, Permission::new("orders", "create"), true),
            (Ecp, Permission::new("orders", "update"), false),
            (Ecp, Permission::new("patients", "delete"), true),
            (Ecp, AI_CHAT, true),
            (Ecp, USERS_READ, false),
            (LabTech, Permission::new("orders", "update"), true),
            (LabTech, Permission::new("orders", "create"), false),
            (LabTech, Permission::new("production", "anything"), true),
            (LabTech, AI_CHAT, false),
            (Engineer, Permission::new("technical", "read"), true),
            (Engineer, Permission::new("orders", "read"), false),
            (Engineer, COMPANY_READ, false),
        ];
        for (role, permission, expected) in cases {
            assert_eq!(role.allows(permission), expected, "{role} × {permission}");
        }
    }

    #[test]
    fn grants_match_whole_resources_only() {
        assert!(!grant_covers("user:*", USERS_READ));
        assert!(!grant_covers("users", USERS_READ));
        assert!(!grant_covers("", USERS_READ));
        assert!(!grant_covers("users:rea", USERS_READ));
        assert!(grant_covers("users:read", USERS_READ));
    }

    #[test]
    fn roles_round_trip_as_text() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().ok(), Some(role));
            let json = serde_json::to_string(&role).expect("serialises");
            assert_eq!(json, format!("\"{}\"", role.as_str()));
        }
        assert!("root".parse::<Role>().is_err());
    }
}
