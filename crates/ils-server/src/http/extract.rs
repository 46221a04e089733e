//! Extractors that authenticate and authorise: [`Auth`] for any signed-in caller, and
//! [`Authorized<P>`] for a route that requires permission `P`. A handler cannot reach tenant data
//! without one of them, because the tenant scope comes only from the principal they yield.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use ils_core::Permission;

use crate::app::AppState;
use crate::auth::Principal;
use crate::auth::principal::{authenticate, record_denial};
use crate::auth::session::Origin;
use crate::error::Error;

/// Request id (from the request-id layer) and the client's device label.
#[derive(Clone, Debug)]
pub struct RequestOrigin(pub Origin);

impl<S: Send + Sync> FromRequestParts<S> for RequestOrigin {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Error> {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let device = header("x-ils-device");
        if let Some(device) = &device
            && (device.len() > 128 || device.chars().any(char::is_control))
        {
            return Err(Error::bad_request(
                "request.invalid_device",
                "The X-ILS-Device header must be at most 128 printable characters",
            ));
        }
        let address = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip());
        Ok(Self(Origin {
            request_id: header("x-request-id"),
            device,
            address,
        }))
    }
}

/// Any authenticated caller.
#[derive(Clone, Debug)]
pub struct Auth(pub Principal);

impl FromRequestParts<AppState> for Auth {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let RequestOrigin(origin) = RequestOrigin::from_request_parts(parts, state).await?;
        let bearer = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                state.metrics.auth_failure("missing_token");
                Error::unauthorized(
                    "auth.missing_token",
                    "Sign in and send the access token as Authorization: Bearer <token>",
                )
            })?;
        let principal = authenticate(state, bearer, origin).await?;
        tracing::Span::current().record(
            "company_id",
            tracing::field::display(principal.company_id()),
        );
        tracing::Span::current().record("user_id", tracing::field::display(principal.user_id()));
        parts.extensions.insert(principal.clone());
        Ok(Auth(principal))
    }
}

/// A permission a route requires, as a type, so that it is part of the handler's signature.
pub trait RequiredPermission {
    const PERMISSION: Permission;
}

/// A caller who holds `P`. Refusals are audited.
#[derive(Debug)]
pub struct Authorized<P>(pub Principal, pub PhantomData<P>);

impl<P: RequiredPermission + Send + Sync> FromRequestParts<AppState> for Authorized<P> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let Auth(principal) = Auth::from_request_parts(parts, state).await?;
        if let Err(refusal) = principal.require(P::PERMISSION) {
            // The route as declared (`GET /api/patients/{id}`), never the raw path: a refusal
            // writes no record id into the log, so none can come back after an erasure.
            let route = parts
                .extensions
                .get::<axum::extract::MatchedPath>()
                .map_or("unmatched", axum::extract::MatchedPath::as_str);
            let resource = format!("{} {route}", parts.method);
            record_denial(state, &principal, &P::PERMISSION.to_string(), &resource).await;
            return Err(refusal);
        }
        Ok(Authorized(principal, PhantomData))
    }
}

macro_rules! permissions {
    ($($name:ident => $perm:path),* $(,)?) => {
        $(
            #[derive(Debug)]
            pub struct $name;
            impl RequiredPermission for $name {
                const PERMISSION: Permission = $perm;
            }
        )*
    };
}

/// Marker types for [`Authorized`].
pub mod need {
    use super::RequiredPermission;
    use ils_core::Permission;
    use ils_core::access::perm;

    permissions! {
        CompanyRead => perm::COMPANY_READ,
        CompanyUpdate => perm::COMPANY_UPDATE,
        UsersRead => perm::USERS_READ,
        UsersCreate => perm::USERS_CREATE,
        UsersUpdate => perm::USERS_UPDATE,
        UsersDelete => perm::USERS_DELETE,
        AuditRead => perm::AUDIT_READ,
        PlatformTenants => perm::PLATFORM_TENANTS,
        PlatformKeys => perm::PLATFORM_KEYS,
        PatientsRead => perm::PATIENTS_READ,
        PatientsCreate => perm::PATIENTS_CREATE,
        PatientsUpdate => perm::PATIENTS_UPDATE,
        PatientsDelete => perm::PATIENTS_DELETE,
        PrescriptionsRead => perm::PRESCRIPTIONS_READ,
        PrescriptionsWrite => perm::PRESCRIPTIONS_WRITE,
        OrdersRead => perm::ORDERS_READ,
        OrdersCreate => perm::ORDERS_CREATE,
        ProductionRead => perm::PRODUCTION_READ,
        GdprExport => perm::GDPR_EXPORT,
        GdprErase => perm::GDPR_ERASE,
        AiChat => perm::AI_CHAT,
        KnowledgeManage => perm::KNOWLEDGE_MANAGE,
    }
}
