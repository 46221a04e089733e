//! The OpenAPI document at `/api/openapi.json`, generated from the handlers' annotations.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::dto;
use super::routes::{
    assistant, auth, capture, company, gdpr, kb, models, orders, patients, platform, sync, system,
    users,
};

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
        capture::capture,
        orders::list, orders::create, orders::get, orders::transition, orders::timeline, orders::dcs,
        orders::production,
        gdpr::export_patient, gdpr::export_company, gdpr::erase_patient, gdpr::erase_company,
        kb::ingest, kb::list, kb::delete, kb::search,
        assistant::chat, assistant::conversations, assistant::conversation, assistant::usage,
        models::list, models::register, models::change_status, models::delete,
        sync::practice, sync::register, sync::list, sync::approve, sync::revoke, sync::create_code, sync::push,
        sync::pull, sync::conflicts, sync::resolve_conflict, sync::tenant_erasure,
    ),
    components(schemas(
        super::error::ErrorBody, dto::UserDto, dto::CompanyDto, dto::AuditDto,
        crate::auth::session::TokenPair, crate::auth::keys::Jwks, crate::auth::keys::Jwk,
    )),
    modifiers(&BearerAuth, &OperationIds),
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

/// Operation ids as `<tag>.<handler>` (`patients.get`, `orders.get`): unique across the
/// document, as OpenAPI requires and as response links name them.
struct OperationIds;

impl Modify for OperationIds {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                let tag = op.tags.as_ref().and_then(|t| t.first()).cloned();
                if let (Some(tag), Some(id)) = (tag, op.operation_id.as_mut()) {
                    *id = format!("{tag}.{id}");
                }
            }
        }
    }
}

/// The document as utoipa builds it.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document as served: JSON, with response links spelled as OpenAPI spells them.
/// utoipa 5.5 serialises a Link's fields in snake case (`operation_id`, `request_body`), which
/// client generators and fuzzers do not read as links; they are renamed here.
pub fn document_json() -> serde_json::Value {
    let mut doc = serde_json::to_value(document()).unwrap_or_default();
    let operations = doc
        .get_mut("paths")
        .and_then(serde_json::Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(serde_json::Value::as_object_mut)
        .flat_map(|item| item.values_mut());
    for op in operations {
        let links = op
            .get_mut("responses")
            .and_then(serde_json::Value::as_object_mut)
            .into_iter()
            .flat_map(|r| r.values_mut())
            .filter_map(|r| r.get_mut("links"))
            .filter_map(serde_json::Value::as_object_mut)
            .flat_map(|l| l.values_mut())
            .filter_map(serde_json::Value::as_object_mut);
        for link in links {
            for (from, to) in [
                ("operation_id", "operationId"),
                ("operation_ref", "operationRef"),
                ("request_body", "requestBody"),
            ] {
                if let Some(v) = link.remove(from) {
                    link.insert(to.to_owned(), v);
                }
            }
        }
    }
    doc
}
