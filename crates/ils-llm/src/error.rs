use std::time::Duration;

/// Which limit a request ran into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutPhase {
    Connect,
    /// No first token (or first byte of the answer) in time.
    FirstToken,
    /// The whole answer took too long.
    Total,
}

#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("the request was refused before sending: {0}")]
    Invalid(String),
    #[error("could not reach the provider: {0}")]
    Connect(String),
    #[error("the provider did not answer in time ({0:?})")]
    Timeout(TimeoutPhase),
    #[error("the provider is rate limiting (HTTP 429){}", retry_note(*retry_after))]
    RateLimited { retry_after: Option<Duration> },
    #[error("the provider answered HTTP {status}: {message}")]
    Status {
        status: u16,
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("the provider reported an error in the stream: {0}")]
    Stream(String),
    #[error("the provider's answer could not be read: {0}")]
    Protocol(String),
    #[error("the answer was cut off before it finished")]
    Cut,
}

fn retry_note(after: Option<Duration>) -> String {
    after.map_or_else(String::new, |d| format!("; retry after {} s", d.as_secs()))
}

impl LlmError {
    /// Whether trying again (after a pause) may succeed: rate limits, server errors, overload,
    /// connection failures and timeouts. A refused request (4xx other than 429) will not.
    pub fn is_retryable(&self) -> bool {
        match self {
            LlmError::RateLimited { .. } | LlmError::Connect(_) | LlmError::Timeout(_) => true,
            LlmError::Status { status, .. } => *status >= 500 || *status == 408 || *status == 409,
            LlmError::Stream(message) => {
                message.contains("overloaded") || message.contains("rate_limit")
            }
            LlmError::Cut => true,
            LlmError::Invalid(_) | LlmError::Protocol(_) => false,
        }
    }

    /// What the provider asked us to wait, if anything.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            LlmError::RateLimited { retry_after } | LlmError::Status { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }
}
