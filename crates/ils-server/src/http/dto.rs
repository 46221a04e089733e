//! The types that cross the HTTP boundary. They convert to and from domain types here, so the
//! wire format can evolve without touching the rules below.

use chrono::{DateTime, Utc};
use ils_core::order::{LensType, OrderStatus};
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
    pub role: Role,
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
    pub role: Role,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub role: Option<Role>,
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
    pub ai_config: AiConfig,
    /// Goes up by one with every change of `ai_config`; assistant messages record it.
    pub ai_config_version: i32,
    pub tier: SubscriptionTier,
    pub status: CompanyStatus,
    pub is_platform: bool,
    /// The practice's IANA time zone; its "today" for every date rule.
    #[schema(example = "Europe/London")]
    pub time_zone: String,
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
            ai_config_version: c.ai_config_version,
            tier: c.tier,
            status: c.status,
            is_platform: c.is_platform,
            time_zone: c.time_zone.name().to_owned(),
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOwnCompanyRequest {
    pub name: Option<String>,
    pub ai_config: Option<AiConfig>,
    /// An IANA time zone name, e.g. `Europe/London`.
    pub time_zone: Option<String>,
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
    pub tier: SubscriptionTier,
    pub status: Option<CompanyStatus>,
    pub ai_config: Option<AiConfig>,
    pub admin: Option<FirstAdminRequest>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCompanyRequest {
    pub name: Option<String>,
    pub domain: Option<String>,
    pub tier: Option<SubscriptionTier>,
    pub status: Option<CompanyStatus>,
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
    /// The Redis shared with other replicas: `ok`, `degraded` (this replica works without it
    /// until it answers again; still healthy) or `off` (none configured).
    #[schema(example = "ok")]
    pub redis: &'static str,
    pub version: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedKeyDto {
    pub kid: String,
}

// ---- Clinical records ----

#[derive(Debug, Serialize, ToSchema)]
pub struct PatientDto {
    pub id: Uuid,
    pub customer_number: String,
    pub first_name: String,
    pub last_name: String,
    pub date_of_birth: chrono::NaiveDate,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub notes: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<crate::store::patients::PatientRow> for PatientDto {
    fn from(p: crate::store::patients::PatientRow) -> Self {
        Self {
            id: p.id,
            customer_number: p.customer_number,
            first_name: p.first_name,
            last_name: p.last_name,
            date_of_birth: p.date_of_birth,
            email: p.email,
            phone: p.phone,
            address: p.address,
            notes: p.notes,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PatientSearchParams {
    /// Prefix of the last or first name (case-insensitive).
    pub q: Option<String>,
    pub customer_number: Option<String>,
    pub date_of_birth: Option<chrono::NaiveDate>,
    pub limit: Option<u32>,
    /// The last patient id of the previous page.
    pub after: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PrescriptionDto {
    pub id: Uuid,
    pub patient_id: Uuid,
    /// The prescription (ils-core `RxData`).
    pub rx: ils_core::rx::RxData,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<crate::store::prescriptions::PrescriptionRow> for PrescriptionDto {
    fn from(r: crate::store::prescriptions::PrescriptionRow) -> Self {
        Self {
            id: r.id,
            patient_id: r.patient_id,
            rx: r.data.0,
            created_by: r.created_by,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrescriptionStatusRequest {
    #[schema(example = "cancelled")]
    pub status: ils_core::rx::RxStatus,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderDto {
    pub id: Uuid,
    pub order_number: String,
    #[schema(value_type = OrderStatus)]
    pub status: String,
    /// The order as placed (ils-core `OrderData`).
    pub order: ils_core::order::OrderData,
    pub remake_of: Option<Uuid>,
    pub remake_reason: Option<String>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<crate::store::orders::OrderRow> for OrderDto {
    fn from(o: crate::store::orders::OrderRow) -> Self {
        Self {
            id: o.id,
            order_number: o.order_number,
            status: o.status,
            order: o.data.0,
            remake_of: o.remake_of,
            remake_reason: o.remake_reason,
            created_by: o.created_by,
            created_at: o.created_at,
            updated_at: o.updated_at,
        }
    }
}

/// An order as the production queue shows it: what to make, not for whom.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductionOrderDto {
    pub id: Uuid,
    pub order_number: String,
    #[schema(value_type = OrderStatus)]
    pub status: String,
    #[schema(value_type = LensType)]
    pub lens_type: String,
    pub material: String,
    pub coatings: Vec<String>,
    pub tint: Option<String>,
    pub promised_date: Option<chrono::NaiveDate>,
    pub created_at: DateTime<Utc>,
}

impl From<crate::store::orders::OrderRow> for ProductionOrderDto {
    fn from(o: crate::store::orders::OrderRow) -> Self {
        let d = o.data.0;
        Self {
            id: o.id,
            order_number: o.order_number,
            status: o.status,
            lens_type: d.lens_type.as_str().to_owned(),
            material: d.material,
            coatings: d.coatings,
            tint: d.tint,
            promised_date: d.promised_date,
            created_at: o.created_at,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OrderListParams {
    /// One of draft, submitted, in_production, quality_check, shipped, delivered, cancelled, remade.
    #[param(value_type = Option<OrderStatus>)]
    pub status: Option<String>,
    pub patient_id: Option<Uuid>,
    /// Only open orders whose promised date has passed.
    pub overdue: Option<bool>,
    pub limit: Option<u32>,
    pub after: Option<Uuid>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"action": "submit", "reason": "Frame in stock"}))]
pub struct TransitionRequest {
    pub action: ils_core::order::OrderAction,
    /// Why (required to cancel or remake) or a note for the timeline.
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TransitionDto {
    pub order: OrderDto,
    /// The new linked order a remake created.
    pub remake: Option<OrderDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineEntryDto {
    pub id: Uuid,
    pub action: String,
    #[schema(value_type = Option<OrderStatus>)]
    pub from_status: Option<String>,
    #[schema(value_type = OrderStatus)]
    pub to_status: String,
    pub note: Option<String>,
    pub actor_user_id: Option<Uuid>,
    pub occurred_at: DateTime<Utc>,
}

impl From<crate::store::orders::OrderEventRow> for TimelineEntryDto {
    fn from(e: crate::store::orders::OrderEventRow) -> Self {
        Self {
            id: e.id,
            action: e.action,
            from_status: e.from_status,
            to_status: e.to_status,
            note: e.note,
            actor_user_id: e.actor_user_id,
            occurred_at: e.occurred_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErasureDto {
    /// The tombstone (patient) or erasure record (tenant) id.
    pub erasure_id: Uuid,
}
