//! Tenants (companies): subscription tiers and their limits, status, and the per-tenant AI
//! configuration that shapes the shared models.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::validation::{FieldError, ValidationErrors, required_text};

/// What a tenant pays for; it sets the tenant's rate limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum SubscriptionTier {
    Free,
    Pro,
    Premium,
    Enterprise,
}

impl SubscriptionTier {
    pub const ALL: [SubscriptionTier; 4] = [
        SubscriptionTier::Free,
        SubscriptionTier::Pro,
        SubscriptionTier::Premium,
        SubscriptionTier::Enterprise,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            SubscriptionTier::Free => "free",
            SubscriptionTier::Pro => "pro",
            SubscriptionTier::Premium => "premium",
            SubscriptionTier::Enterprise => "enterprise",
        }
    }

    /// AI requests a tenant of this tier may make per minute.
    pub const fn ai_requests_per_minute(self) -> u32 {
        match self {
            SubscriptionTier::Free => 10,
            SubscriptionTier::Pro => 20,
            SubscriptionTier::Premium => 50,
            SubscriptionTier::Enterprise => 100,
        }
    }

    /// The default sync budget: changes pushed and pulled per minute across all of a tenant's
    /// devices (a first sync of a million records fits in a minute on the paid tiers). Kept
    /// apart from the API budget, which counts requests: one push may carry 500 changes.
    pub const fn sync_changes_per_minute(self) -> u32 {
        match self {
            SubscriptionTier::Free => 200_000,
            SubscriptionTier::Pro => 2_000_000,
            SubscriptionTier::Premium => 5_000_000,
            SubscriptionTier::Enterprise => 10_000_000,
        }
    }

    /// The default general API budget (requests per minute across all of a tenant's users and
    /// devices). The service's configuration may override it per tier.
    pub const fn default_api_requests_per_minute(self) -> u32 {
        match self {
            SubscriptionTier::Free => 1_200,
            SubscriptionTier::Pro => 6_000,
            SubscriptionTier::Premium => 30_000,
            SubscriptionTier::Enterprise => 120_000,
        }
    }
}

impl fmt::Display for SubscriptionTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SubscriptionTier {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SubscriptionTier::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("unknown tier {s:?}; expected free, pro, premium or enterprise"))
    }
}

/// Whether a tenant may use the service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum CompanyStatus {
    Active,
    Trial,
    /// Every request of the tenant's users is refused with `tenant.suspended`.
    Suspended,
}

impl CompanyStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            CompanyStatus::Active => "active",
            CompanyStatus::Trial => "trial",
            CompanyStatus::Suspended => "suspended",
        }
    }

    pub const fn is_usable(self) -> bool {
        !matches!(self, CompanyStatus::Suspended)
    }
}

impl FromStr for CompanyStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "active" => Ok(CompanyStatus::Active),
            "trial" => Ok(CompanyStatus::Trial),
            "suspended" => Ok(CompanyStatus::Suspended),
            other => Err(format!("unknown company status {other:?}")),
        }
    }
}

/// A tenant's configuration of the shared AI models.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AiConfig {
    pub system_prompt: Option<String>,
    pub temperature: f32,
    pub max_tokens: u32,
    /// Model ids this tenant may use; empty means the platform's defaults.
    pub enabled_models: Vec<String>,
    pub knowledge_base_enabled: bool,
    /// Patient identifiers are replaced by placeholders before a prompt leaves for a cloud
    /// model (on by default; turning it off is audited as such).
    pub redact_patient_data: bool,
    /// Photos of paper prescriptions may be read by the practice's vision model. Off by default:
    /// an image cannot be redacted, so it leaves as it is; turning it on is audited as such.
    pub prescription_capture: bool,
    pub feature_flags: BTreeMap<String, bool>,
}

impl Default for AiConfig {
    fn default() -> Self {
        Self {
            system_prompt: None,
            temperature: 0.2,
            max_tokens: 1024,
            enabled_models: Vec::new(),
            knowledge_base_enabled: true,
            redact_patient_data: true,
            prescription_capture: false,
            feature_flags: BTreeMap::new(),
        }
    }
}

impl AiConfig {
    /// How a change from `self` to `next` turns the redaction of patient data, if it does
    /// (`"on"` or `"off"`): both halves name it in the audit row of the change.
    pub fn redaction_change(&self, next: &AiConfig) -> Option<&'static str> {
        (self.redact_patient_data != next.redact_patient_data).then_some(
            if next.redact_patient_data {
                "on"
            } else {
                "off"
            },
        )
    }

    /// How a change from `self` to `next` turns prescription capture from photos, if it does
    /// (`"on"` or `"off"`): both halves name it in the audit row of the change.
    pub fn capture_change(&self, next: &AiConfig) -> Option<&'static str> {
        (self.prescription_capture != next.prescription_capture).then_some(
            if next.prescription_capture {
                "on"
            } else {
                "off"
            },
        )
    }

    pub const MAX_SYSTEM_PROMPT_CHARS: usize = 8_000;
    pub const MAX_TOKENS: u32 = 32_768;

    /// Checks every field; `prefix` names the field in error messages (e.g. `ai_config`).
    pub fn validate(&self, prefix: &str) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let field = |name: &str| format!("{prefix}.{name}");
        if let Some(prompt) = &self.system_prompt
            && prompt.chars().count() > Self::MAX_SYSTEM_PROMPT_CHARS
        {
            errors.add(
                &field("system_prompt"),
                "ai_config.system_prompt_too_long",
                format!(
                    "The system prompt must be at most {} characters",
                    Self::MAX_SYSTEM_PROMPT_CHARS
                ),
            );
        }
        if let Some(prompt) = &self.system_prompt
            && prompt
                .chars()
                .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            errors.add(
                &field("system_prompt"),
                "ai_config.system_prompt_invalid",
                "The system prompt must not contain control characters other than line breaks and tabs",
            );
        }
        if !(0.0..=2.0).contains(&self.temperature) || self.temperature.is_nan() {
            errors.add(
                &field("temperature"),
                "ai_config.temperature_out_of_range",
                format!(
                    "Temperature must be between 0 and 2, got {}",
                    self.temperature
                ),
            );
        }
        if self.max_tokens == 0 || self.max_tokens > Self::MAX_TOKENS {
            errors.add(
                &field("max_tokens"),
                "ai_config.max_tokens_out_of_range",
                format!(
                    "max_tokens must be between 1 and {}, got {}",
                    Self::MAX_TOKENS,
                    self.max_tokens
                ),
            );
        }
        if self.enabled_models.len() > 50 {
            errors.add(
                &field("enabled_models"),
                "ai_config.too_many_models",
                "At most 50 models can be enabled",
            );
        }
        for (i, model) in self.enabled_models.iter().enumerate() {
            if let Err(e) = model_id(&format!("{}[{i}]", field("enabled_models")), model) {
                errors.check::<()>(Err(e));
            }
        }
        if self.feature_flags.len() > 100
            || self
                .feature_flags
                .keys()
                .any(|k| k.is_empty() || k.len() > 64 || k.chars().any(char::is_control))
        {
            errors.add(
                &field("feature_flags"),
                "ai_config.feature_flags_invalid",
                "At most 100 feature flags, each named with 1 to 64 characters",
            );
        }
        errors.into_result()
    }
}

pub(crate) fn model_id(field: &str, value: &str) -> Result<(), FieldError> {
    let ok = !value.is_empty()
        && value.len() <= 128
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:/@".contains(c));
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            "ai_config.model_id_invalid",
            format!("{value:?} is not a model id (1–128 of letters, digits and -_.:/@)"),
        ))
    }
}

/// A tenant's sign-in domain, e.g. `clarity-optics.example`: lower-case DNS labels.
pub fn normalize_domain(field: &str, value: &str) -> Result<String, FieldError> {
    let domain = value.trim().trim_end_matches('.').to_ascii_lowercase();
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if domain.len() > 253 || domain.split('.').count() < 2 || !domain.split('.').all(label_ok) {
        return Err(FieldError::new(
            field,
            "company.domain_invalid",
            format!("{value:?} is not a domain name like practice.example"),
        ));
    }
    Ok(domain)
}

/// A company's display name.
pub fn company_name(field: &str, value: &str) -> Result<String, FieldError> {
    required_text(field, value, 200, "company.name_invalid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ai_requests_per_minute_by_tier() {
        let expected = [
            (SubscriptionTier::Free, 10),
            (SubscriptionTier::Pro, 20),
            (SubscriptionTier::Premium, 50),
            (SubscriptionTier::Enterprise, 100),
        ];
        for (tier, rpm) in expected {
            assert_eq!(tier.ai_requests_per_minute(), rpm, "{tier}");
            assert_eq!(tier.as_str().parse::<SubscriptionTier>(), Ok(tier));
        }
    }

    #[test]
    fn domains() {
        let cases = [
            ("Clarity-Optics.Example", Some("clarity-optics.example")),
            ("eyes.example.", Some("eyes.example")),
            ("localhost", None),
            ("-bad.example", None),
            ("bad-.example", None),
            ("sp ace.example", None),
            ("a..example", None),
            ("ümlaut.example", None),
            ("", None),
        ];
        for (input, expected) in cases {
            assert_eq!(
                normalize_domain("domain", input).ok().as_deref(),
                expected,
                "{input:?}"
            );
        }
    }

    #[test]
    fn ai_config_validation() {
        assert!(AiConfig::default().validate("ai_config").is_ok());
        let bad = AiConfig {
            temperature: 3.0,
            max_tokens: 0,
            enabled_models: vec!["gpt 4".into()],
            ..AiConfig::default()
        };
        let errors = bad.validate("ai_config").expect_err("three problems");
        let codes: Vec<_> = errors
            .errors
            .iter()
            .map(|e| (e.field.as_str(), e.code))
            .collect();
        assert_eq!(
            codes,
            [
                (
                    "ai_config.temperature",
                    "ai_config.temperature_out_of_range"
                ),
                ("ai_config.max_tokens", "ai_config.max_tokens_out_of_range"),
                ("ai_config.enabled_models[0]", "ai_config.model_id_invalid"),
            ]
        );
    }

    #[test]
    fn ai_config_refuses_control_characters() {
        let with_nul = AiConfig {
            system_prompt: Some("be kind\0".into()),
            ..AiConfig::default()
        };
        let codes: Vec<_> = with_nul
            .validate("c")
            .expect_err("NUL")
            .errors
            .iter()
            .map(|e| e.code)
            .collect();
        assert_eq!(codes, ["ai_config.system_prompt_invalid"]);
        let multiline = AiConfig {
            system_prompt: Some("line one\nline two\ttabbed".into()),
            ..AiConfig::default()
        };
        assert!(multiline.validate("c").is_ok());
        let mut flags = AiConfig::default();
        flags.feature_flags.insert("bad\u{1}".into(), true);
        assert!(flags.validate("c").is_err());
    }

    #[test]
    fn ai_config_refuses_unknown_fields() {
        let err = serde_json::from_str::<AiConfig>(r#"{"temprature": 1}"#).expect_err("typo");
        assert!(err.to_string().contains("temprature"), "{err}");
    }
}
