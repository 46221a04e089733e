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

/// The providers a settings file names, each built once (one HTTP client and its connection
/// pool per provider), with the models each serves in order.
#[derive(Clone, Debug, Default)]
pub struct Providers {
    entries: Vec<(Arc<Provider>, Vec<String>)>,
}

/// A model to try before the configured ones: a practice's fine-tuned model for the purpose.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preferred {
    /// The provider's name in the settings.
    pub provider: String,
    pub model: String,
    /// Whether it accepts images.
    pub vision: bool,
}

impl Preferred {
    /// A practice's fine-tuned model, as the chain tries it.
    pub fn of(model: &ils_core::fine_tune::FineTunedModel) -> Self {
        Self {
            provider: model.provider.clone(),
            model: model.provider_model_id.clone(),
            vision: model.vision,
        }
    }
}

impl Providers {
    /// The fallback chain of a request for `purpose`, the same on both halves: the practice's
    /// fine-tuned model for it first, when `ils_core::fine_tune::route` picks one, then the
    /// shared models the practice enables.
    pub fn chain_for(
        &self,
        purpose: ils_core::fine_tune::AiPurpose,
        config: &ils_core::AiConfig,
        fine_tuned: &[ils_core::fine_tune::FineTunedModel],
    ) -> Chain {
        let preferred = ils_core::fine_tune::route(purpose, config, fine_tuned).map(Preferred::of);
        self.chain(&config.enabled_models, preferred.as_ref())
    }

    pub fn from_settings(providers: &[ProviderSettings]) -> Result<Self, SettingsError> {
        let mut entries = Vec::new();
        for p in providers {
            if entries
                .iter()
                .any(|(e, _): &(Arc<Provider>, _)| e.name() == p.name)
            {
                return Err(SettingsError(format!(
                    "two providers are named {:?}; each needs its own name",
                    p.name
                )));
            }
            entries.push((Arc::new(build(p)?), p.models.clone()));
        }
        Ok(Self { entries })
    }

    /// The providers' names, as registrations of fine-tuned models name them.
    pub fn names(&self) -> Vec<&str> {
        self.entries.iter().map(|(p, _)| p.name()).collect()
    }

    /// The fallback chain for one request: `preferred` first (when its provider exists), then
    /// every provider's models in order, limited to `enabled_models` (empty: all of them).
    pub fn chain(&self, enabled_models: &[String], preferred: Option<&Preferred>) -> Chain {
        let mut targets = Vec::new();
        if let Some(preferred) = preferred {
            match self
                .entries
                .iter()
                .find(|(p, _)| p.name() == preferred.provider)
            {
                Some((provider, _)) => targets.push(Target {
                    provider: if preferred.vision {
                        Arc::new(provider.with_vision_model(&preferred.model))
                    } else {
                        provider.clone()
                    },
                    model: preferred.model.clone(),
                }),
                None => tracing::warn!(
                    provider = %preferred.provider,
                    model = %preferred.model,
                    "a fine-tuned model's provider is no longer set up; using the shared models"
                ),
            }
        }
        for (provider, models) in &self.entries {
            for model in models {
                if enabled_models.is_empty() || enabled_models.contains(model) {
                    targets.push(Target {
                        provider: provider.clone(),
                        model: model.clone(),
                    });
                }
            }
        }
        Chain {
            targets,
            retry: RetryPolicy::default(),
        }
    }
}

fn build(p: &ProviderSettings) -> Result<Provider, SettingsError> {
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
    .map_err(|e| SettingsError(format!("provider {}: {e}", p.name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(name: &str, models: &[&str]) -> ProviderSettings {
        ProviderSettings {
            name: name.into(),
            kind: "openai".into(),
            base_url: "http://127.0.0.1:9/v1".into(),
            api_key: None,
            api_key_env: None,
            models: models.iter().map(|m| (*m).to_owned()).collect(),
            vision_models: vec![],
            first_token_timeout_secs: None,
            total_timeout_secs: None,
        }
    }

    fn order(chain: &Chain) -> Vec<String> {
        chain
            .targets
            .iter()
            .map(|t| format!("{}/{}", t.provider.name(), t.model))
            .collect()
    }

    #[test]
    fn the_chain_puts_the_preferred_model_first_and_keeps_the_practices_choice() {
        let providers =
            Providers::from_settings(&[settings("a", &["m1", "m2"]), settings("b", &["m3"])])
                .expect("valid");
        assert_eq!(providers.names(), ["a", "b"]);
        assert_eq!(order(&providers.chain(&[], None)), ["a/m1", "a/m2", "b/m3"]);
        assert_eq!(order(&providers.chain(&["m3".into()], None)), ["b/m3"]);
        let preferred = Preferred {
            provider: "a".into(),
            model: "ft:m1:x".into(),
            vision: true,
        };
        let chain = providers.chain(&["m3".into()], Some(&preferred));
        assert_eq!(order(&chain), ["a/ft:m1:x", "b/m3"]);
        assert!(
            chain.targets[0]
                .provider
                .config()
                .vision_models
                .contains(&"ft:m1:x".to_owned())
        );
        let gone = Preferred {
            provider: "c".into(),
            ..preferred
        };
        assert_eq!(
            order(&providers.chain(&[], Some(&gone))),
            ["a/m1", "a/m2", "b/m3"]
        );
    }

    #[test]
    fn settings_that_cannot_work_are_refused() {
        let twice = Providers::from_settings(&[settings("a", &["m"]), settings("a", &["n"])]);
        assert!(
            twice
                .expect_err("named twice")
                .to_string()
                .contains("two providers")
        );
        let mut odd = settings("a", &["m"]);
        odd.kind = "bard".into();
        assert!(Providers::from_settings(&[odd]).is_err());
        let mut env = settings("a", &["m"]);
        env.api_key_env = Some("ILS_TEST_SURELY_UNSET_KEY".into());
        assert!(
            Providers::from_settings(&[env])
                .expect_err("no key")
                .to_string()
                .contains("not set")
        );
    }
}
