//! Providers as a settings file names them, the same on both halves: kind, address, key (in the
//! file or an environment variable), models in order. `chain` turns them into the fallback
//! chain a request uses, limited to the models a practice enabled.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{ApiKey, Chain, Provider, ProviderConfig, ProviderKind, RetryPolicy, Target, Timeouts};

/// The settings name something that cannot work (an unknown kind, a key variable not set).
#[derive(Debug, thiserror::Error)]
#[error("the assistant's settings are wrong: {0}")]
pub struct SettingsError(pub String);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSettings {
    pub name: String,
    /// `openai` (any OpenAI-compatible server) or `anthropic`.
    pub kind: String,
    pub base_url: String,
    /// The key, from the settings file (shown nowhere: `Debug` hides it).
    #[serde(default)]
    pub api_key: Option<ApiKey>,
    /// Or the environment variable that holds it.
    #[serde(default)]
    pub api_key_env: Option<String>,
    pub models: Vec<String>,
    #[serde(default)]
    pub vision_models: Vec<String>,
    #[serde(default)]
    pub first_token_timeout_secs: Option<u64>,
    #[serde(default)]
    pub total_timeout_secs: Option<u64>,
}

/// The fallback chain the settings and the practice's configuration allow.
pub fn chain(
    providers: &[ProviderSettings],
    enabled_models: &[String],
) -> Result<Chain, SettingsError> {
    let mut targets = Vec::new();
    for p in providers {
        let kind = match p.kind.as_str() {
            "openai" => ProviderKind::OpenAi,
            "anthropic" => ProviderKind::Anthropic,
            other => {
                return Err(SettingsError(format!(
                    "provider {}: kind must be openai or anthropic, not {other:?}",
                    p.name
                )));
            }
        };
        let api_key = match (&p.api_key, &p.api_key_env) {
            (Some(key), _) => Some(key.clone()),
            (None, Some(var)) => Some(ApiKey::new(std::env::var(var).map_err(|_| {
                SettingsError(format!(
                    "provider {}: the environment variable {var} (its key) is not set",
                    p.name
                ))
            })?)),
            (None, None) => None,
        };
        let defaults = Timeouts::default();
        let provider = Arc::new(
            Provider::new(ProviderConfig {
                name: p.name.clone(),
                kind,
                base_url: p.base_url.clone(),
                api_key,
                vision_models: p.vision_models.clone(),
                timeouts: Timeouts {
                    connect: defaults.connect,
                    first_token: p
                        .first_token_timeout_secs
                        .map_or(defaults.first_token, Duration::from_secs),
                    total: p
                        .total_timeout_secs
                        .map_or(defaults.total, Duration::from_secs),
                },
            })
            .map_err(|e| SettingsError(format!("provider {}: {e}", p.name)))?,
        );
        for model in &p.models {
            if enabled_models.is_empty() || enabled_models.contains(model) {
                targets.push(Target {
                    provider: provider.clone(),
                    model: model.clone(),
                });
            }
        }
    }
    Ok(Chain {
        targets,
        retry: RetryPolicy::default(),
    })
}
