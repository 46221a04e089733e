//! The OpenAPI document at `/api/openapi.json`, generated from the handlers' annotations.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::dto;
use super::routes::{auth, company, gdpr, orders, patients, platform, system, users};

#[derive(OpenApi)]
#[openapi(
    info(title = "ILS Central", description = "The multi-tenant service of ILS, for optical and eye-care practices."),
    paths(
        system::health, system::metrics, system::jwks, system::openapi,
        auth::login, auth::refresh, auth::logout,
        users::me, users::change_password, users::list, users::create, users::get, users::update,
        users::delete, users::set_password, users::audit,
        company::get, company::update,
        platform::list, platform::create, platform::get, platform::update, platform::rotate_keys,
        patients::search, patients::create, patients::get, patients::update, patients::delete,
        patients::list_prescriptions, patients::create_prescription, patients::import_fhir,
        patients::get_prescription, patients::update_prescription, patients::set_prescription_status, patients::export_fhir,
        orders::list, orders::create, orders::get, orders::transition, orders::timeline, orders::dcs,
        orders::production,
        gdpr::export_patient, gdpr::export_company, gdpr::erase_patient, gdpr::erase_company,
    ),
    components(schemas(
        super::error::ErrorBody, dto::UserDto, dto::CompanyDto, dto::AuditDto,
        crate::auth::session::TokenPair, crate::auth::keys::Jwks, crate::auth::keys::Jwk,
    )),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
