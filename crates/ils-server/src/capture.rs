//! Prescription capture on ILS Central: a photo of a paper prescription read by the practice's
//! vision model into a draft that the ils-core rules judge (`ils_core::rx::capture`). Nothing is
//! saved: a person confirms the draft, corrected, through the ordinary create endpoint, which
//! applies the same rules again. The photo cannot be redacted, so the practice must allow
//! capture in its AI configuration (an audited change), and every capture is audited (which
//! model read it and how much it could not read; never a value).

use base64::Engine as _;
use ils_core::decide::prescriptions as decide;
use ils_core::fine_tune::AiPurpose;
use ils_core::rx::capture::{self, CaptureDraft};
use ils_core::{ValidationErrors, validation::FieldError};
use ils_llm::ImagePart;
use serde::Serialize;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::Principal;
use crate::clinical::record;
use crate::error::{Error, Result};
use crate::store::{companies, fine_tuned};

/// A capture's result: the draft, and which model read it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Captured {
    /// The audit row's id for this capture.
    pub capture_id: Uuid,
    /// The prescription as read, in the ILS form (only the fields read; `RxData` once complete).
    #[schema(value_type = Object)]
    pub prescription: serde_json::Value,
    /// Fields that could not be read, by path: left empty for a person to fill in.
    pub unread: Vec<String>,
    /// Every rule the draft breaks, by field, as saving it would report.
    pub problems: Vec<FieldError>,
    /// Whether the model's reply was a JSON object at all.
    pub reply_readable: bool,
    pub model: String,
    pub provider: String,
}

/// The most output a reading may take (the JSON of every field is a few hundred tokens).
const MAX_TOKENS: u32 = 1_200;

pub async fn capture(
    state: &AppState,
    principal: &Principal,
    media_type: &str,
    image_base64: &str,
) -> Result<Captured> {
    crate::assistant::spend_ai_budget(state, principal).await?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(image_base64.trim())
        .map_err(|_| {
            ValidationErrors::single(
                "image_base64",
                "input.invalid",
                "image_base64 must be the photo's bytes in base64 (standard alphabet)",
            )
        })?;
    capture::check_image("image_base64", media_type, &bytes)?;
    let caller = principal.caller();
    let mut tx = state.db.tenant_tx(&principal.tenant()).await?;
    let config = companies::get_own(&mut tx).await?.ai_config;
    let fine_tuned = fine_tuned::list(&mut tx).await?;
    tx.end_read();
    // Before anything leaves: may this user, and does the practice allow photos out?
    decide::authorize_capture(&caller.actor, &config)?;
    let chain = state
        .providers
        .chain_for(AiPurpose::PrescriptionCapture, &config, &fine_tuned);
    let request = ils_llm::capture::request(
        ImagePart {
            media_type: media_type.to_owned(),
            data_base64: base64::engine::general_purpose::STANDARD.encode(&bytes),
        },
        &capture::FIELDS,
        MAX_TOKENS,
    );
    let (reply, target) = ils_llm::capture::read(&chain, &request)
        .await
        .map_err(|e| Error::ModelUnavailable {
            message: format!(
                "No vision model of this practice could read the photo ({e}); enter the \
                 prescription by hand or try again later"
            ),
        })?;
    let draft: CaptureDraft =
        capture::draft(ils_llm::capture::parse_reply(&reply).as_ref(), caller.today);
    let capture_id = Uuid::now_v7();
    let mut tx = state.db.tenant_tx(&principal.tenant()).await?;
    record(
        &mut tx,
        &caller,
        &decide::capture_audited(capture_id, &target.model, target.provider.name(), &draft),
    )
    .await?;
    tx.commit().await?;
    Ok(Captured {
        capture_id,
        prescription: draft.prescription,
        unread: draft.unread,
        problems: draft.problems.errors,
        reply_readable: draft.reply_readable,
        model: target.model,
        provider: target.provider.name().to_owned(),
    })
}
