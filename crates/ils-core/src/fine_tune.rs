//! A practice's fine-tuned models: what a registration holds, how it moves from training to
//! ready or failed, and which model a request for a purpose is routed to. Fine-tuning itself
//! happens at the provider; ILS records the result and routes to it.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::DomainError;
use crate::tenant::{AiConfig, model_id};
use crate::validation::ValidationErrors;

/// What a model is used for. A practice may have a fine-tuned model per purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum AiPurpose {
    /// The assistant's answers.
    Chat,
    /// Reading a paper prescription from a photo (needs a vision-capable model).
    PrescriptionCapture,
}

impl AiPurpose {
    pub const ALL: [AiPurpose; 2] = [AiPurpose::Chat, AiPurpose::PrescriptionCapture];

    pub const fn as_str(self) -> &'static str {
        match self {
            AiPurpose::Chat => "chat",
            AiPurpose::PrescriptionCapture => "prescription_capture",
        }
    }

    /// Whether the purpose sends images, so its model must accept them.
    pub const fn needs_vision(self) -> bool {
        matches!(self, AiPurpose::PrescriptionCapture)
    }
}

impl FromStr for AiPurpose {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AiPurpose::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown purpose {s:?} (chat or prescription_capture)"))
    }
}

/// Where a fine-tuning job stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum FineTuneStatus {
    /// The provider is training it; requests do not use it yet.
    Training,
    /// Deployed: the practice's requests for its purpose go to it.
    Ready,
    /// Training failed, or a deployed model was withdrawn; never used.
    Failed,
}

impl FineTuneStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            FineTuneStatus::Training => "training",
            FineTuneStatus::Ready => "ready",
            FineTuneStatus::Failed => "failed",
        }
    }

    /// The moves a registration may make: training → ready or failed; ready → failed
    /// (withdrawn). A failed model stays failed: register the next attempt anew.
    pub const fn may_become(self, next: FineTuneStatus) -> bool {
        matches!(
            (self, next),
            (FineTuneStatus::Training, FineTuneStatus::Ready)
                | (FineTuneStatus::Training, FineTuneStatus::Failed)
                | (FineTuneStatus::Ready, FineTuneStatus::Failed)
        )
    }
}

impl FromStr for FineTuneStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "training" => Ok(FineTuneStatus::Training),
            "ready" => Ok(FineTuneStatus::Ready),
            "failed" => Ok(FineTuneStatus::Failed),
            other => Err(format!(
                "unknown status {other:?} (training, ready or failed)"
            )),
        }
    }
}

/// One registered fine-tuned model of a practice.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FineTunedModel {
    pub id: Uuid,
    /// The model it was trained from, e.g. `gpt-4o-mini-2024-07-18`.
    pub base_model: String,
    /// The provider (as the service's settings name it) that serves it.
    pub provider: String,
    /// The provider's id of the trained model, e.g. `ft:gpt-4o-mini-2024-07-18:acme::9x8y7z`.
    pub provider_model_id: String,
    pub purpose: AiPurpose,
    /// Whether it accepts images (a purpose that sends them needs one that does).
    pub vision: bool,
    pub status: FineTuneStatus,
    /// Why training failed or the model was withdrawn.
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When it became ready; the latest deployed ready model of a purpose is the one used.
    pub deployed_at: Option<DateTime<Utc>>,
}

/// The longest failure reason kept.
pub const MAX_FAILURE_REASON_CHARS: usize = 1_000;

/// Registers a fine-tuning job (`training`): checks every field and that the provider is one
/// the service knows (`known_providers`).
pub fn register(
    id: Uuid,
    input: &NewFineTunedModel,
    known_providers: &[&str],
    now: DateTime<Utc>,
) -> Result<FineTunedModel, ValidationErrors> {
    let mut errors = ValidationErrors::new();
    let base_model = input.base_model.trim();
    let provider_model_id = input.provider_model_id.trim();
    errors.check(model_id("base_model", base_model));
    errors.check(model_id("provider_model_id", provider_model_id));
    if !known_providers.contains(&input.provider.as_str()) {
        errors.add(
            "provider",
            "fine_tune.provider_unknown",
            if known_providers.is_empty() {
                "No model provider is set up on this service, so no fine-tuned model can be \
                 registered"
                    .to_owned()
            } else {
                format!(
                    "{:?} is not a provider of this service (one of: {})",
                    input.provider,
                    known_providers.join(", ")
                )
            },
        );
    }
    if input.purpose.needs_vision() && !input.vision {
        errors.add(
            "vision",
            "fine_tune.vision_required",
            format!(
                "A model for {} reads images: register one that accepts them (vision: true)",
                input.purpose.as_str()
            ),
        );
    }
    errors.into_result()?;
    Ok(FineTunedModel {
        id,
        base_model: base_model.to_owned(),
        provider: input.provider.clone(),
        provider_model_id: provider_model_id.to_owned(),
        purpose: input.purpose,
        vision: input.vision,
        status: FineTuneStatus::Training,
        failure_reason: None,
        created_at: now,
        deployed_at: None,
    })
}

/// What a registration names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "base_model": "gpt-4o-mini-2024-07-18",
    "provider": "openai",
    "provider_model_id": "ft:gpt-4o-mini-2024-07-18:clarity::9x8y7z",
    "purpose": "chat"
})))]
pub struct NewFineTunedModel {
    pub base_model: String,
    pub provider: String,
    pub provider_model_id: String,
    pub purpose: AiPurpose,
    #[serde(default)]
    pub vision: bool,
}

/// Moves a registration to `next` (ready sets `deployed_at`; failed keeps the reason).
pub fn transition(
    current: &FineTunedModel,
    next: FineTuneStatus,
    failure_reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<FineTunedModel, DomainError> {
    if !current.status.may_become(next) {
        return Err(DomainError::conflict(
            "fine_tune.transition_invalid",
            format!(
                "A {} model cannot become {} (training becomes ready or failed; ready becomes \
                 failed)",
                current.status.as_str(),
                next.as_str()
            ),
        ));
    }
    let reason = failure_reason.map(str::trim).filter(|r| !r.is_empty());
    match (next, reason) {
        (FineTuneStatus::Failed, Some(r)) if r.chars().count() > MAX_FAILURE_REASON_CHARS => {
            return Err(DomainError::validation(
                "failure_reason",
                "fine_tune.failure_reason_too_long",
                format!("The reason must be at most {MAX_FAILURE_REASON_CHARS} characters"),
            ));
        }
        (FineTuneStatus::Failed, None) => {
            return Err(DomainError::validation(
                "failure_reason",
                "fine_tune.failure_reason_required",
                "Say why the model failed or was withdrawn (failure_reason)",
            ));
        }
        (FineTuneStatus::Ready, Some(_)) => {
            return Err(DomainError::validation(
                "failure_reason",
                "fine_tune.failure_reason_unexpected",
                "A ready model has no failure reason",
            ));
        }
        _ => {}
    }
    let mut model = current.clone();
    model.status = next;
    model.failure_reason = reason.map(str::to_owned);
    if next == FineTuneStatus::Ready {
        model.deployed_at = Some(now);
    }
    Ok(model)
}

/// The model a practice's request for `purpose` goes to first: its most recently deployed
/// ready fine-tuned model for that purpose, when the practice's configuration allows its base
/// model (no enabled models means every model). `None`: the shared models, as configured.
pub fn route<'a>(
    purpose: AiPurpose,
    config: &AiConfig,
    models: &'a [FineTunedModel],
) -> Option<&'a FineTunedModel> {
    models
        .iter()
        .filter(|m| m.purpose == purpose && m.status == FineTuneStatus::Ready)
        .filter(|m| !purpose.needs_vision() || m.vision)
        .filter(|m| {
            config.enabled_models.is_empty() || config.enabled_models.contains(&m.base_model)
        })
        .max_by_key(|m| (m.deployed_at, m.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("time")
    }

    fn new(purpose: AiPurpose) -> NewFineTunedModel {
        NewFineTunedModel {
            base_model: "gpt-4o-mini".into(),
            provider: "openai".into(),
            provider_model_id: "ft:gpt-4o-mini:clarity::abc".into(),
            purpose,
            vision: false,
        }
    }

    #[test]
    fn registration_checks_every_field_and_the_provider() {
        let now = at("2026-12-02T10:00:00Z");
        let ok = register(Uuid::nil(), &new(AiPurpose::Chat), &["openai"], now).expect("valid");
        assert_eq!(ok.status, FineTuneStatus::Training);
        assert_eq!(ok.deployed_at, None);

        let bad = NewFineTunedModel {
            base_model: "".into(),
            provider: "azure".into(),
            provider_model_id: "ft model with spaces".into(),
            purpose: AiPurpose::PrescriptionCapture,
            vision: false,
        };
        let errors =
            register(Uuid::nil(), &bad, &["openai", "anthropic"], now).expect_err("four problems");
        let codes: Vec<_> = errors.errors.iter().map(|e| e.code).collect();
        assert_eq!(
            codes,
            [
                "ai_config.model_id_invalid",
                "ai_config.model_id_invalid",
                "fine_tune.provider_unknown",
                "fine_tune.vision_required"
            ]
        );
        assert!(errors.errors[2].message.contains("openai, anthropic"));
        let none = register(Uuid::nil(), &new(AiPurpose::Chat), &[], now).expect_err("none");
        assert!(none.errors[0].message.contains("No model provider"));
    }

    #[test]
    fn the_status_moves_one_way() {
        use FineTuneStatus::*;
        let now = at("2026-12-02T10:00:00Z");
        let training =
            register(Uuid::nil(), &new(AiPurpose::Chat), &["openai"], now).expect("valid");
        let ready = transition(&training, Ready, None, now).expect("deploys");
        assert_eq!(ready.deployed_at, Some(now));
        let withdrawn =
            transition(&ready, Failed, Some(" deleted at the provider "), now).expect("withdrawn");
        assert_eq!(
            withdrawn.failure_reason.as_deref(),
            Some("deleted at the provider")
        );
        assert_eq!(
            withdrawn.deployed_at,
            Some(now),
            "when it was deployed stays known"
        );
        for (from, to) in [
            (&withdrawn, Ready),
            (&withdrawn, Training),
            (&ready, Training),
            (&ready, Ready),
        ] {
            assert!(matches!(
                transition(from, to, None, now),
                Err(DomainError::Conflict {
                    code: "fine_tune.transition_invalid",
                    ..
                })
            ));
        }
        assert!(
            transition(&training, Failed, None, now).is_err(),
            "a reason is required"
        );
        assert!(transition(&training, Failed, Some("  "), now).is_err());
        assert!(transition(&training, Ready, Some("why"), now).is_err());
        assert!(transition(&training, Failed, Some(&"x".repeat(1001)), now).is_err());
    }

    #[test]
    fn requests_route_to_the_latest_ready_model_of_their_purpose_that_the_practice_allows() {
        let model = |id: u128, purpose, status, deployed: Option<&str>, base: &str, vision| {
            FineTunedModel {
                id: Uuid::from_u128(id),
                base_model: base.into(),
                provider: "openai".into(),
                provider_model_id: format!("ft:{id}"),
                purpose,
                vision,
                status,
                failure_reason: None,
                created_at: at("2026-01-01T00:00:00Z"),
                deployed_at: deployed.map(at),
            }
        };
        use AiPurpose::*;
        use FineTuneStatus::*;
        let models = [
            model(
                1,
                Chat,
                Ready,
                Some("2026-03-01T00:00:00Z"),
                "gpt-4o-mini",
                false,
            ),
            model(
                2,
                Chat,
                Ready,
                Some("2026-04-01T00:00:00Z"),
                "gpt-4o",
                false,
            ),
            model(3, Chat, Training, None, "gpt-4o-mini", false),
            model(
                4,
                Chat,
                Failed,
                Some("2026-05-01T00:00:00Z"),
                "gpt-4o-mini",
                false,
            ),
            model(
                5,
                PrescriptionCapture,
                Ready,
                Some("2026-02-01T00:00:00Z"),
                "gpt-4o",
                false,
            ),
        ];
        let all = AiConfig::default();
        assert_eq!(
            route(Chat, &all, &models).map(|m| m.id),
            Some(Uuid::from_u128(2))
        );
        let mini_only = AiConfig {
            enabled_models: vec!["gpt-4o-mini".into()],
            ..AiConfig::default()
        };
        assert_eq!(
            route(Chat, &mini_only, &models).map(|m| m.id),
            Some(Uuid::from_u128(1))
        );
        assert_eq!(
            route(PrescriptionCapture, &all, &models),
            None,
            "not vision-capable"
        );
        assert_eq!(route(Chat, &all, &[]), None);
    }
}
