//! The fallback chain of one request, with retries.

use std::time::Duration;

use crate::{ChatRequest, EventStream, LlmError, Provider};

/// Where a request may go: a provider and the model to ask there.
#[derive(Clone, Debug)]
pub struct Target {
    pub provider: std::sync::Arc<Provider>,
    pub model: String,
}

/// Retries of one target: exponential backoff with full jitter, `Retry-After` honoured (up to
/// `max_delay`), only for errors that may pass ([`LlmError::is_retryable`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per target, the first included.
    pub attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 3,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
        }
    }
}

impl RetryPolicy {
    /// The pause before attempt `n + 1` (n ≥ 1) after `error`.
    pub fn delay(&self, n: u32, error: &LlmError) -> Duration {
        if let Some(asked) = error.retry_after() {
            return asked.min(self.max_delay);
        }
        let ceiling = self
            .base_delay
            .saturating_mul(1u32 << (n - 1).min(16))
            .min(self.max_delay);
        // Full jitter: anywhere in [0, ceiling], so that many clients do not retry together.
        ceiling.mul_f64(rand::random::<f64>())
    }
}

/// One try, for the logs and the usage record.
#[derive(Debug)]
pub struct Attempt {
    pub provider: String,
    pub model: String,
    pub error: LlmError,
}

/// Nothing in the chain answered.
#[derive(Debug, thiserror::Error)]
#[error("no model could be reached ({} attempts; last: {})", attempts.len(), last(attempts))]
pub struct ChainError {
    pub attempts: Vec<Attempt>,
}

fn last(attempts: &[Attempt]) -> String {
    attempts.last().map_or_else(
        || "none".into(),
        |a| format!("{} {}: {}", a.provider, a.model, a.error),
    )
}

#[derive(Clone, Debug)]
pub struct Chain {
    pub targets: Vec<Target>,
    pub retry: RetryPolicy,
}

impl Chain {
    /// Streams `request` from the first target that answers; the request's `model` is replaced
    /// by each target's. A refusal that no retry can mend (a bad request, a model that takes
    /// no images) moves on to the next target at once. Returns the target that answered, and
    /// the attempts that failed before it.
    pub async fn stream(
        &self,
        request: &ChatRequest,
    ) -> Result<(Target, EventStream, Vec<Attempt>), ChainError> {
        let mut attempts = Vec::new();
        for target in &self.targets {
            let mut request = request.clone();
            request.model.clone_from(&target.model);
            for n in 1..=self.retry.attempts.max(1) {
                match target.provider.stream(&request).await {
                    Ok(stream) => return Ok((target.clone(), stream, attempts)),
                    Err(error) => {
                        let retry = error.is_retryable() && n < self.retry.attempts;
                        let pause = retry.then(|| self.retry.delay(n, &error));
                        tracing::warn!(
                            provider = target.provider.name(),
                            model = %target.model,
                            attempt = n,
                            %error,
                            "a model call failed"
                        );
                        attempts.push(Attempt {
                            provider: target.provider.name().to_owned(),
                            model: target.model.clone(),
                            error,
                        });
                        match pause {
                            Some(pause) => tokio::time::sleep(pause).await,
                            None => break,
                        }
                    }
                }
            }
        }
        Err(ChainError { attempts })
    }
}
