//! `/api/patients` and `/api/prescriptions`: patient records and their prescriptions.

use axum::extract::State;
use axum::http::StatusCode;
use ils_core::decide::patients::PatientQuery;
use ils_core::patient::{PatientChanges, PatientData};
use ils_core::rx::RxData;
use ils_core::{PatientId, PrescriptionId};

use super::{Created, created, next_cursor, page_limit};
use crate::app::AppState;
use crate::clinical::prescriptions::Source;
use crate::clinical::{patients, prescriptions};
use crate::error::Result;
use crate::http::dto::{
    Page, PatientDto, PatientSearchParams, PrescriptionDto, PrescriptionStatusRequest,
};
use crate::http::error::{ErrorBody, Json, Path, Query};
use crate::http::extract::{Authorized, need};

/// Search patients by name prefix, customer number or date of birth; ordered by name.
#[utoipa::path(get, path = "/api/patients", tag = "patients", params(PatientSearchParams),
    responses((status = 200, body = Page<PatientDto>), (status = 400, body = ErrorBody)))]
pub async fn search(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::PatientsRead>,
    Query(q): Query<PatientSearchParams>,
) -> Result<Json<Page<PatientDto>>> {
    let limit = page_limit(q.limit, state.settings.http.max_page_size)?;
    let input = patients::SearchInput {
        query: PatientQuery {
            name_prefix: q.q,
            customer_number: q.customer_number,
            date_of_birth: q.date_of_birth,
        },
        after: q.after,
        limit,
    };
    let mut tx = state.db.tenant_tx_for_patient_search(&p.tenant()).await?;
    let rows = patients::search(&mut tx, &p.caller(), &input).await?;
    tx.commit().await?;
    let next = next_cursor(&rows, limit, |r| r.id);
    Ok(Json(Page {
        items: rows.into_iter().map(PatientDto::from).collect(),
        next,
    }))
}

/// Registers a patient. The customer number must be new in the practice.
#[utoipa::path(post, path = "/api/patients", tag = "patients", request_body = PatientData,
    responses(
        (status = 201, body = PatientDto, headers(("location" = String, description = "/api/patients/{id}")),
            links(
                ("get" = (operation_id = "patients.get", parameters(("id" = "$response.body#/id")))),
                ("update" = (operation_id = "patients.update", parameters(("id" = "$response.body#/id")))),
                ("prescriptions" = (operation_id = "prescriptions.list_prescriptions", parameters(("id" = "$response.body#/id")))),
                ("prescribe" = (operation_id = "prescriptions.create_prescription", parameters(("id" = "$response.body#/id")))),
                ("import_fhir" = (operation_id = "prescriptions.import_fhir", parameters(("id" = "$response.body#/id")))),
                ("export" = (operation_id = "gdpr.export_patient", parameters(("id" = "$response.body#/id")))),
                ("delete" = (operation_id = "patients.delete", parameters(("id" = "$response.body#/id")))),
            )),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::PatientsCreate>,
    Json(body): Json<PatientData>,
) -> Result<Created<PatientDto>> {
    let mut tx = state.db.tenant_tx(&p.tenant()).await?;
    let row = patients::create(&mut tx, &p.caller(), &body).await?;
    tx.commit().await?;
    Ok(created(format!("/api/patients/{}", row.id), row.into()))
}

/// Opens a patient record (audited).
#[utoipa::path(get, path = "/api/patients/{id}", tag = "patients", params(("id" = Uuid, Path)),
    responses((status = 200, body = PatientDto), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::PatientsRead>,
    Path(id): Path<PatientId>,
) -> Result<Json<PatientDto>> {
    let mut tx = state.db.tenant_tx(&p.tenant()).await?;
    let row = patients::get(&mut tx, &p.caller(), id).await?;
    tx.commit().await?;
    Ok(Json(row.into()))
}

/// Changes a patient; absent fields stay, `null` clears an optional one.
#[utoipa::path(patch, path = "/api/patients/{id}", tag = "patients", params(("id" = Uuid, Path)), request_body = PatientChanges,
    responses((status = 200, body = PatientDto), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::PatientsUpdate>,
    Path(id): Path<PatientId>,
    Json(body): Json<PatientChanges>,
) -> Result<Json<PatientDto>> {
    let mut tx = state.db.tenant_tx(&p.tenant()).await?;
    let row = patients::update(&mut tx, &p.caller(), id, &body).await?;
    tx.commit().await?;
    Ok(Json(row.into()))
}

/// Removes a patient from every list (soft delete; GDPR erasure is separate).
#[utoipa::path(delete, path = "/api/patients/{id}", tag = "patients", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::PatientsDelete>,
    Path(id): Path<PatientId>,
) -> Result<StatusCode> {
    let mut tx = state.db.tenant_tx(&p.tenant()).await?;
    patients::delete(&mut tx, &p.caller(), id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The patient's prescriptions, newest first.
#[utoipa::path(get, path = "/api/patients/{id}/prescriptions", tag = "prescriptions", params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<PrescriptionDto>), (status = 404, body = ErrorBody)))]
pub async fn list_prescriptions(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::PrescriptionsRead>,
    Path(id): Path<PatientId>,
) -> Result<Json<Vec<PrescriptionDto>>> {
    let mut tx = state.db.tenant_tx(&p.tenant()).await?;
    let rows = prescriptions::list_for_patient(&mut tx, &p.caller(), id).await?;
    tx.commit().await?;
    Ok(Json(rows.into_iter().map(PrescriptionDto::from).collect()))
}

/// Writes a prescription for the patient (active unless `status` says draft).
#[utoipa::path(post, path = "/api/patients/{id}/prescriptions", tag = "prescriptions", params(("id" = Uuid, Path)),
    request_body = RxData,
    responses((status = 201, body = PrescriptionDto, headers(("location" = String, description = "/api/prescriptions/{id}")),
            links(
                ("get" = (operation_id = "prescriptions.get_prescription", parameters(("id" = "$response.body#/id")))),
                ("update" = (operation_id = "prescriptions.update_prescription", parameters(("id" = "$response.body#/id")))),
                ("set_status" = (operation_id = "prescriptions.set_prescription_status", parameters(("id" = "$response.body#/id")))),
                ("fhir" = (operation_id = "prescriptions.export_fhir", parameters(("id" = "$response.body#/id")))),
                ("order" = (operation_id = "orders.create", request_body = json!({
                    "patient_id": "$response.body#/patient_id", "prescription_id": "$response.body#/id",
                    "lens_type": "single_vision", "material": "CR-39"}))),
            )),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_prescription(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::PrescriptionsWrite>,
    Path(id): Path<PatientId>,
    Json(body): Json<serde_json::Value>,
) -> Result<Created<PrescriptionDto>> {
    // Read with every structural problem named by its path, as the desktop reads it.
    let rx = RxData::from_json(&body)?;
    let mut tx = state.db.tenant_tx(&p.tenant()).await?;
    let row = prescriptions::create(&mut tx, &p.caller(), id, &rx, Source::Form).await?;
    tx.commit().await?;
    Ok(created(
        format!("/api/prescriptions/{}", row.id),
        row.into(),
    ))
}

/// Imports a FHIR R4 VisionPrescription for the patient.
#[utoipa::path(post, path = "/api/patients/{id}/prescriptions/fhir", tag = "prescriptions", params(("id" = Uuid, Path)),
    request_body(content = Object, content_type = "application/json",
        description = "A FHIR R4 `VisionPrescription` resource (http://hl7.org/fhir/R4/visionprescription.html): \
            `lensSpecification` per eye with `product` lens or contact, `sphere`, `cylinder`, `axis`, `add`, `prism`; \
            `dateWritten`; `prescriber.display`",
        example = json!({
            "resourceType": "VisionPrescription", "status": "active", "created": "2026-11-02",
            "dateWritten": "2026-11-02", "prescriber": {"display": "Dr Jane Smith"},
            "lensSpecification": [
                {"product": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/ex-visionprescriptionproduct", "code": "lens"}]},
                 "eye": "right", "sphere": -1.25, "cylinder": -0.5, "axis": 90},
                {"product": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/ex-visionprescriptionproduct", "code": "lens"}]},
                 "eye": "left", "sphere": -1.0}
            ]})),
    responses((status = 201, body = PrescriptionDto, headers(("location" = String, description = "/api/prescriptions/{id}"))),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn import_fhir(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::PrescriptionsWrite>,
    Path(id): Path<PatientId>,
    Json(body): Json<serde_json::Value>,
) -> Result<Created<PrescriptionDto>> {
    let mut tx = state.db.tenant_tx(&p.tenant()).await?;
    let row = prescriptions::import_fhir(&mut tx, &p.caller(), id, &body).await?;
    tx.commit().await?;
    Ok(created(
        format!("/api/prescriptions/{}", row.id),
        row.into(),
    ))
}

#[utoipa::path(get, path = "/api/prescriptions/{id}", tag = "prescriptions", params(("id" = Uuid, Path)),
    responses((status = 200, body = PrescriptionDto), (status = 404, body = ErrorBody)))]
pub async fn get_prescription(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::PrescriptionsRead>,
    Path(id): Path<PrescriptionId>,
) -> Result<Json<PrescriptionDto>> {
    let mut tx = state.db.tenant_tx(&p.tenant()).await?;
    let row = prescriptions::get(&mut tx, &p.caller(), id).await?;
    tx.commit().await?;
    Ok(Json(row.into()))
}

/// Replaces the content of a draft prescription (an active one is corrected by marking it
/// entered in error and writing a new one; the status changes through PATCH).
#[utoipa::path(put, path = "/api/prescriptions/{id}", tag = "prescriptions", params(("id" = Uuid, Path)),
    request_body = RxData,
    responses((status = 200, body = PrescriptionDto), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_prescription(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::PrescriptionsWrite>,
    Path(id): Path<PrescriptionId>,
    Json(body): Json<serde_json::Value>,
) -> Result<Json<PrescriptionDto>> {
    let rx = RxData::from_json(&body)?;
    let mut tx = state.db.tenant_tx(&p.tenant()).await?;
    let row = prescriptions::update(&mut tx, &p.caller(), id, &rx).await?;
    tx.commit().await?;
    Ok(Json(row.into()))
}

/// Activates, cancels or marks a prescription entered-in-error.
#[utoipa::path(patch, path = "/api/prescriptions/{id}", tag = "prescriptions", params(("id" = Uuid, Path)),
    request_body = PrescriptionStatusRequest,
    responses((status = 200, body = PrescriptionDto), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn set_prescription_status(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::PrescriptionsWrite>,
    Path(id): Path<PrescriptionId>,
    Json(body): Json<PrescriptionStatusRequest>,
) -> Result<Json<PrescriptionDto>> {
    let mut tx = state.db.tenant_tx(&p.tenant()).await?;
    let row = prescriptions::set_status(&mut tx, &p.caller(), id, body.status).await?;
    tx.commit().await?;
    Ok(Json(row.into()))
}

/// The prescription as a FHIR R4 VisionPrescription resource.
#[utoipa::path(get, path = "/api/prescriptions/{id}/fhir", tag = "prescriptions", params(("id" = Uuid, Path)),
    responses((status = 200, content_type = "application/fhir+json", body = Object), (status = 404, body = ErrorBody)))]
pub async fn export_fhir(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::PrescriptionsRead>,
    Path(id): Path<PrescriptionId>,
) -> Result<axum::response::Response> {
    use axum::response::IntoResponse;
    let mut tx = state.db.tenant_tx(&p.tenant()).await?;
    let resource = prescriptions::export_fhir(&mut tx, &p.caller(), id).await?;
    tx.commit().await?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/fhir+json")],
        axum::Json(resource),
    )
        .into_response())
}
