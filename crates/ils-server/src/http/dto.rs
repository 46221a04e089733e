//! The types that cross the HTTP boundary. They convert to and from domain types here, so the
//! wire format can evolve without touching the rules below.

use chrono::{DateTime, Utc};
use ils_core::user::UserStatus;
use ils_core::{AiConfig, CompanyStatus, Role, SubscriptionTier};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::store::audit::AuditRow;

/// `Debug` that shows which fields are present but never a password.
macro_rules! redacted_debug {
    ($ty:ident { $($field:ident),* }) => {
        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    $(.field(stringify!($field), &self.$field))*
                    .finish_non_exhaustive()
            }
        }
    };
}
redacted_debug!(LoginRequest { domain, email });
redacted_debug!(RefreshRequest {});
redacted_debug!(CreateUserRequest { email, role });
redacted_debug!(SetPasswordRequest {});
redacted_debug!(ChangePasswordRequest {});
redacted_debug!(FirstAdminRequest { email });
use crate::store::companies::Company;
use crate::store::users::User;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The company's sign-in domain, e.g. `clarity-optics.example`.
    pub domain: String,
    pub email: String,
    pub password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserDto {
    pub id: Uuid,
    pub company_id: Uuid,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    #[schema(value_type = String, example = "ecp")]
    pub role: Role,
    #[schema(value_type = String, example = "active")]
    pub status: UserStatus,
    pub locked_until: Option<DateTime<Utc>>,
    pub last_login_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<User> for UserDto {
    fn from(u: User) -> Self {
        Self {
            id: u.id.into_uuid(),
            company_id: u.company_id.into_uuid(),
            email: u.email,
            first_name: u.first_name,
            last_name: u.last_name,
            role: u.role,
            status: u.status,
            locked_until: u.locked_until,
            last_login_at: u.last_login_at,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    pub email: String,
    pub password: String,
    pub first_name: String,
    pub last_name: String,
    #[schema(value_type = String, example = "ecp")]
    pub role: Role,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    #[schema(value_type = Option<String>)]
    pub role: Option<Role>,
    #[schema(value_type = Option<String>)]
    pub status: Option<UserStatus>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPasswordRequest {
    pub password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CompanyDto {
    pub id: Uuid,
    pub name: String,
    pub domain: String,
    #[schema(value_type = Object)]
    pub ai_config: AiConfig,
    #[schema(value_type = String, example = "pro")]
    pub tier: SubscriptionTier,
    #[schema(value_type = String, example = "active")]
    pub status: CompanyStatus,
    pub is_platform: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Company> for CompanyDto {
    fn from(c: Company) -> Self {
        Self {
            id: c.id.into_uuid(),
            name: c.name,
            domain: c.domain,
            ai_config: c.ai_config,
            tier: c.tier,
            status: c.status,
            is_platform: c.is_platform,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOwnCompanyRequest {
    pub name: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub ai_config: Option<AiConfig>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FirstAdminRequest {
    pub email: String,
    pub password: String,
    pub first_name: String,
    pub last_name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCompanyRequest {
    pub name: String,
    pub domain: String,
    #[schema(value_type = String, example = "pro")]
    pub tier: SubscriptionTier,
    #[schema(value_type = Option<String>, example = "trial")]
    pub status: Option<CompanyStatus>,
    #[schema(value_type = Option<Object>)]
    pub ai_config: Option<AiConfig>,
    pub admin: Option<FirstAdminRequest>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCompanyRequest {
    pub name: Option<String>,
    pub domain: Option<String>,
    #[schema(value_type = Option<String>)]
    pub tier: Option<SubscriptionTier>,
    #[schema(value_type = Option<String>)]
    pub status: Option<CompanyStatus>,
    #[schema(value_type = Option<Object>)]
    pub ai_config: Option<AiConfig>,
}

/// Keyset pagination: `limit` rows after the id `after`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// 1 to 200 (default 50).
    pub limit: Option<u32>,
    /// The last id of the previous page.
    pub after: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T: ToSchema> {
    pub items: Vec<T>,
    /// Pass as `after` (or `before` for the audit log) to get the next page; absent on the last.
    pub next: Option<Uuid>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    pub limit: Option<u32>,
    /// Rows older than this audit id.
    pub before: Option<Uuid>,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub actor_user_id: Option<Uuid>,
    pub action: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditDto {
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub actor_user_id: Option<Uuid>,
    pub actor_company_id: Option<Uuid>,
    pub actor_role: Option<String>,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub outcome: String,
    pub request_id: Option<String>,
    pub device: Option<String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

impl From<AuditRow> for AuditDto {
    fn from(r: AuditRow) -> Self {
        Self {
            id: r.id,
            occurred_at: r.occurred_at,
            actor_user_id: r.actor_user_id,
            actor_company_id: r.actor_company_id,
            actor_role: r.actor_role,
            action: r.action,
            resource_type: r.resource_type,
            resource_id: r.resource_id,
            outcome: r.outcome,
            request_id: r.request_id,
            device: r.device,
            details: r.details.0,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthDto {
    pub status: &'static str,
    pub database: &'static str,
    pub version: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedKeyDto {
    pub kid: String,
}
