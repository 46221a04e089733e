//! `POST /api/prescriptions/capture`: a photo of a paper prescription read into a draft.

use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::app::AppState;
use crate::capture::{self, Captured};
use crate::error::Result;
use crate::http::error::{ErrorBody, Json};
use crate::http::extract::{Authorized, need};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaptureBody {
    /// `image/jpeg`, `image/png` or `image/webp`.
    pub media_type: String,
    /// The photo's bytes, base64 (at most 8 MB decoded).
    pub image_base64: String,
}

/// Reads a photo of a paper prescription with the practice's vision model into a draft: the
/// prescription as read (only the fields read), the fields it could not read, and every rule
/// the draft breaks. Nothing is saved: confirm the draft, corrected, with
/// `POST /api/patients/{id}/prescriptions`. The practice must allow prescription capture in its
/// AI configuration (the photo leaves unredacted); each capture is audited.
#[utoipa::path(post, path = "/api/prescriptions/capture", tag = "prescriptions", request_body = CaptureBody,
    responses((status = 200, body = Captured),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody, description = "capture not allowed by the practice's AI configuration"),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody),
        (status = 503, body = ErrorBody, description = "no vision model answered")))]
pub async fn capture(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::PrescriptionsWrite>,
    Json(body): Json<CaptureBody>,
) -> Result<axum::Json<Captured>> {
    Ok(axum::Json(
        capture::capture(&state, &p, &body.media_type, &body.image_base64).await?,
    ))
}
