//! The shared cloud language models, as the assistant on both halves calls them.
//!
//! - [`Provider`]: one endpoint, speaking either the OpenAI-compatible chat completions API
//!   (OpenAI, Azure OpenAI, vLLM, Ollama and llama.cpp servers, through a base URL) or the
//!   Anthropic Messages API; streaming ([`Provider::stream`]) and not ([`Provider::complete`]).
//! - [`Chain`]: the fallback chain of a request (model, then a second model, then another
//!   provider), with retries and exponential backoff with jitter on 429, 5xx and connection
//!   errors, honouring `Retry-After`, before the first token only.
//! - Streams are parsed incrementally ([`sse`]): partial lines, keep-alives, error events and
//!   usage events.
//! - Keys live in [`ApiKey`], whose `Debug` never shows them, and are sent in headers only.
//!
//! With the `loopback` feature, [`loopback`] starts a local server that speaks both wire
//! formats, for tests and benchmarks.

pub mod answer;
pub mod anthropic;
pub mod capture;
mod chain;
pub mod config;
mod error;
pub mod guard;
pub mod openai;
pub mod prompt;
mod provider;
pub mod redact;
pub mod sse;
pub mod transform;
mod types;

#[cfg(feature = "loopback")]
pub mod loopback;

pub use chain::{Attempt, Chain, ChainError, RetryPolicy, Target};
pub use error::{LlmError, TimeoutPhase};
pub use provider::{ApiKey, EventStream, Provider, ProviderConfig, ProviderKind, Timeouts};
pub use types::{
    ChatRequest, Completion, FinishReason, ImagePart, Message, Part, Role, StreamEvent, Usage,
};
