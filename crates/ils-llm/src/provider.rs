//! One provider endpoint: configuration, the HTTP call, the stream.

use std::collections::VecDeque;
use std::pin::Pin;
use std::time::Duration;

use futures::{Stream, StreamExt};
use reqwest::header::{HeaderMap, HeaderValue};
use tokio::time::Instant;

use crate::error::TimeoutPhase;
use crate::sse::Decoder;
use crate::{ChatRequest, Completion, FinishReason, LlmError, StreamEvent, anthropic, openai};

/// An API key. Its `Debug` shows nothing of it; it is only ever written into a request header
/// (and read from, or written back to, the configuration it came from).
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProviderKind {
    /// `POST {base_url}/chat/completions`, `Authorization: Bearer`.
    OpenAi,
    /// `POST {base_url}/v1/messages`, `x-api-key`.
    Anthropic,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    /// From sending the request to the first token of the answer.
    pub first_token: Duration,
    /// The whole answer.
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            first_token: Duration::from_secs(30),
            total: Duration::from_secs(180),
        }
    }
}

#[derive(Clone, Debug)]
pub struct ProviderConfig {
    /// A name for logs and usage records (`openai`, `anthropic`, `local-vllm`).
    pub name: String,
    pub kind: ProviderKind,
    /// E.g. `https://api.openai.com/v1`, `http://127.0.0.1:11434/v1` (Ollama),
    /// `https://api.anthropic.com`.
    pub base_url: String,
    pub api_key: Option<ApiKey>,
    /// Models that accept images.
    pub vision_models: Vec<String>,
    pub timeouts: Timeouts,
}

/// The largest request body sent (the prompt is budgeted long before this; images count too).
const MAX_BODY_BYTES: usize = 20 * 1024 * 1024;
/// The largest error body read from a provider.
const MAX_ERROR_BYTES: usize = 64 * 1024;

#[derive(Clone, Debug)]
pub struct Provider {
    config: ProviderConfig,
    http: reqwest::Client,
}

/// The events of one answer, as they arrive.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<StreamEvent, LlmError>> + Send>>;

impl Provider {
    pub fn new(config: ProviderConfig) -> Result<Self, LlmError> {
        // Cloud providers are reached over TLS (the system's OpenSSL and roots); loopback and
        // local servers over plain HTTP.
        let http = reqwest::Client::builder()
            .connect_timeout(config.timeouts.connect)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| LlmError::Invalid(format!("HTTP client: {e}")))?;
        Ok(Self { config, http })
    }

    pub fn config(&self) -> &ProviderConfig {
        &self.config
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The same provider (sharing its connections) with `model` also accepting images.
    pub fn with_vision_model(&self, model: &str) -> Self {
        let mut copy = self.clone();
        if !copy.config.vision_models.iter().any(|m| m == model) {
            copy.config.vision_models.push(model.to_owned());
        }
        copy
    }

    fn check(&self, request: &ChatRequest) -> Result<(), LlmError> {
        if request.max_tokens == 0 {
            return Err(LlmError::Invalid(
                "a request needs a token cap above 0".into(),
            ));
        }
        if request.messages.is_empty() {
            return Err(LlmError::Invalid(
                "a request needs at least one message".into(),
            ));
        }
        if request.has_images() && !self.config.vision_models.contains(&request.model) {
            return Err(LlmError::Invalid(format!(
                "the model {} does not accept images",
                request.model
            )));
        }
        Ok(())
    }

    async fn send(
        &self,
        request: &ChatRequest,
        stream: bool,
        deadline: Instant,
    ) -> Result<reqwest::Response, LlmError> {
        self.check(request)?;
        let (url, body) = match self.config.kind {
            ProviderKind::OpenAi => (
                format!(
                    "{}/chat/completions",
                    self.config.base_url.trim_end_matches('/')
                ),
                openai::body(request, stream),
            ),
            ProviderKind::Anthropic => (
                format!("{}/v1/messages", self.config.base_url.trim_end_matches('/')),
                anthropic::body(request, stream),
            ),
        };
        let body = serde_json::to_vec(&body).map_err(|e| LlmError::Invalid(e.to_string()))?;
        if body.len() > MAX_BODY_BYTES {
            return Err(LlmError::Invalid(format!(
                "the request is {} bytes, more than the {MAX_BODY_BYTES} allowed",
                body.len()
            )));
        }
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        if stream {
            headers.insert("accept", HeaderValue::from_static("text/event-stream"));
        }
        if let Some(key) = &self.config.api_key {
            let mut value = match self.config.kind {
                ProviderKind::OpenAi => HeaderValue::from_str(&format!("Bearer {}", key.expose())),
                ProviderKind::Anthropic => HeaderValue::from_str(key.expose()),
            }
            .map_err(|_| LlmError::Invalid("the API key is not a valid header value".into()))?;
            value.set_sensitive(true);
            let name = match self.config.kind {
                ProviderKind::OpenAi => "authorization",
                ProviderKind::Anthropic => "x-api-key",
            };
            headers.insert(name, value);
        }
        if self.config.kind == ProviderKind::Anthropic {
            headers.insert(
                "anthropic-version",
                HeaderValue::from_static(anthropic::VERSION),
            );
        }
        let sent = self.http.post(url).headers(headers).body(body).send();
        let response = match tokio::time::timeout_at(deadline, sent).await {
            Err(_) => return Err(LlmError::Timeout(TimeoutPhase::FirstToken)),
            Ok(Err(e)) if e.is_connect() => return Err(LlmError::Connect(e.to_string())),
            Ok(Err(e)) if e.is_timeout() => return Err(LlmError::Timeout(TimeoutPhase::Connect)),
            Ok(Err(e)) => return Err(LlmError::Connect(e.to_string())),
            Ok(Ok(r)) => r,
        };
        if response.status().is_success() {
            return Ok(response);
        }
        Err(status_error(response).await)
    }

    /// The whole answer at once.
    pub async fn complete(&self, request: &ChatRequest) -> Result<Completion, LlmError> {
        let t = self.config.timeouts;
        let deadline = Instant::now() + t.first_token.min(t.total);
        let response = self.send(request, false, deadline).await?;
        let total = Instant::now() + t.total;
        let bytes = tokio::time::timeout_at(total, response.bytes())
            .await
            .map_err(|_| LlmError::Timeout(TimeoutPhase::Total))?
            .map_err(|_| LlmError::Cut)?;
        let value: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| LlmError::Protocol(format!("the answer is not JSON: {e}")))?;
        match self.config.kind {
            ProviderKind::OpenAi => openai::parse_completion(&value),
            ProviderKind::Anthropic => anthropic::parse_completion(&value),
        }
    }

    /// The answer as it is written. Errors before the first event (refusals, rate limits,
    /// unreachable provider) come back here; errors after it come through the stream, which
    /// ends with [`LlmError::Cut`] when the provider stops before finishing.
    pub async fn stream(&self, request: &ChatRequest) -> Result<EventStream, LlmError> {
        let t = self.config.timeouts;
        let started = Instant::now();
        let first_token = started + t.first_token.min(t.total);
        let total = started + t.total;
        let response = self.send(request, true, first_token).await?;
        let state = StreamState {
            body: Box::pin(response.bytes_stream()),
            decoder: Decoder::new(),
            kind: self.config.kind,
            anthropic: anthropic::StreamState::default(),
            pending: VecDeque::new(),
            first_token: Some(first_token),
            total,
            done: false,
            finished: false,
        };
        Ok(Box::pin(futures::stream::unfold(state, next_event)))
    }
}

type Body = Pin<Box<dyn Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>;

struct StreamState {
    body: Body,
    decoder: Decoder,
    kind: ProviderKind,
    anthropic: anthropic::StreamState,
    pending: VecDeque<Result<StreamEvent, LlmError>>,
    /// Until the first text arrives.
    first_token: Option<Instant>,
    total: Instant,
    /// The provider said the answer is complete.
    done: bool,
    /// Nothing more will be yielded.
    finished: bool,
}

impl StreamState {
    fn take_events(&mut self, events: Vec<crate::sse::Event>) {
        for event in events {
            let parsed = match self.kind {
                ProviderKind::OpenAi => openai::parse_chunk(&event.data),
                ProviderKind::Anthropic => {
                    self.anthropic.parse(event.event.as_deref(), &event.data)
                }
            };
            match parsed {
                Ok(Some(events)) => self.pending.extend(events.into_iter().map(Ok)),
                Ok(None) => self.done = true,
                Err(e) => {
                    self.pending.push_back(Err(e));
                    self.done = true;
                }
            }
        }
    }
}

async fn next_event(mut s: StreamState) -> Option<(Result<StreamEvent, LlmError>, StreamState)> {
    loop {
        if let Some(event) = s.pending.pop_front() {
            if matches!(event, Ok(StreamEvent::Delta(_))) {
                s.first_token = None;
            }
            if event.is_err() {
                s.finished = true;
                s.pending.clear();
            }
            return Some((event, s));
        }
        if s.finished {
            return None;
        }
        if s.done {
            s.finished = true;
            return None;
        }
        let deadline = s.first_token.map_or(s.total, |f| f.min(s.total));
        match tokio::time::timeout_at(deadline, s.body.next()).await {
            Err(_) => {
                s.finished = true;
                let phase = if s.first_token.is_some() && deadline < s.total {
                    TimeoutPhase::FirstToken
                } else {
                    TimeoutPhase::Total
                };
                return Some((Err(LlmError::Timeout(phase)), s));
            }
            Ok(Some(Ok(chunk))) => match s.decoder.feed(&chunk) {
                Ok(events) => s.take_events(events),
                Err(e) => s.pending.push_back(Err(LlmError::Protocol(e))),
            },
            Ok(Some(Err(_))) | Ok(None) => {
                // The connection ended: take what is left, then it is complete or it was cut.
                match s.decoder.finish() {
                    Ok(Some(event)) => s.take_events(vec![event]),
                    Ok(None) => {}
                    Err(e) => s.pending.push_back(Err(LlmError::Protocol(e))),
                }
                if !s.done {
                    s.pending.push_back(Err(LlmError::Cut));
                }
                s.done = true;
            }
        }
    }
}

/// The error of a refused request, with the provider's own message and its `Retry-After`.
async fn status_error(response: reqwest::Response) -> LlmError {
    let status = response.status().as_u16();
    let retry_after = retry_after(response.headers());
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Ok(Some(Ok(chunk))) =
        tokio::time::timeout(Duration::from_secs(5), stream.next()).await
    {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_ERROR_BYTES {
            break;
        }
    }
    let message = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            v["error"]["message"]
                .as_str()
                .map(str::to_owned)
                .or_else(|| v["error"].as_str().map(str::to_owned))
        })
        .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(300).collect());
    if status == 429 {
        LlmError::RateLimited { retry_after }
    } else {
        LlmError::Status {
            status,
            message,
            retry_after,
        }
    }
}

/// `retry-after-ms` (OpenAI) or `Retry-After` in seconds or as an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    if let Some(ms) = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|ms| ms.is_finite() && *ms >= 0.0)
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    let value = headers.get("retry-after")?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

impl FinishReason {
    pub fn is_complete(self) -> bool {
        matches!(self, FinishReason::Stop)
    }
}
