//! A local server that speaks the OpenAI chat completions and Anthropic Messages wire formats
//! as the providers document them: streaming and not, their error bodies and rate-limit
//! headers, keep-alive comments and pings, errors inside a stream, and connections cut midway.
//! Tests and benchmarks script what each model does next; it records every request it gets.

use std::collections::{HashMap, VecDeque};

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// How an answer goes wrong.
#[derive(Clone, Debug, PartialEq)]
pub enum Failure {
    /// An HTTP error before any answer, in the provider's own error format, with `Retry-After`
    /// (seconds) when given.
    Status {
        status: u16,
        retry_after: Option<u64>,
    },
    /// The connection closes after this many text chunks, without the end of the stream.
    CutAfter(usize),
    /// The provider's in-stream error event after this many text chunks.
    ErrorEventAfter(usize),
}

/// What a model does for one request.
#[derive(Clone, Debug, PartialEq)]
pub struct Script {
    pub text: String,
    /// The answer is sent in pieces of this many characters.
    pub chunk_chars: usize,
    /// Before the response headers.
    pub first_delay: Duration,
    /// Between text chunks.
    pub chunk_delay: Duration,
    /// Keep-alive comments (OpenAI) or pings (Anthropic) before the first text chunk.
    pub keep_alives: usize,
    pub input_tokens: u32,
    pub failure: Option<Failure>,
}

impl Default for Script {
    fn default() -> Self {
        Self {
            text: "Polycarbonate lenses suit children's sports glasses.".into(),
            chunk_chars: 8,
            first_delay: Duration::ZERO,
            chunk_delay: Duration::ZERO,
            keep_alives: 1,
            input_tokens: 42,
            failure: None,
        }
    }
}

impl Script {
    pub fn answer(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            ..Self::default()
        }
    }

    pub fn failing(failure: Failure) -> Self {
        Self {
            failure: Some(failure),
            ..Self::default()
        }
    }

    /// Output tokens: one per chunk, as a stand-in for the provider's tokenizer.
    fn output_tokens(&self) -> u32 {
        self.chunks().len() as u32
    }

    fn chunks(&self) -> Vec<String> {
        let chars: Vec<char> = self.text.chars().collect();
        chars
            .chunks(self.chunk_chars.max(1))
            .map(|c| c.iter().collect())
            .collect()
    }
}

/// A request as the server received it.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
}

#[derive(Debug, Default)]
struct Shared {
    /// Scripts queued per model; the default script when a model's queue is empty.
    scripts: HashMap<String, VecDeque<Script>>,
    default: Script,
    received: Vec<Received>,
    /// Off for benchmarks, which send far more requests than a test reads back.
    not_recording: bool,
    api_key: Option<String>,
}

/// The running server; stops when dropped.
#[derive(Debug)]
pub struct LoopbackServer {
    /// `http://127.0.0.1:<port>`: the Anthropic base URL; the OpenAI one is [`Self::openai_base`].
    pub base_url: String,
    shared: Arc<Mutex<Shared>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LoopbackServer {
    /// Starts on a free loopback port. With `api_key`, requests without it are refused with 401
    /// as the providers refuse them.
    pub async fn start(api_key: Option<&str>) -> std::io::Result<Self> {
        let shared = Arc::new(Mutex::new(Shared {
            api_key: api_key.map(str::to_owned),
            ..Shared::default()
        }));
        let app = Router::new()
            .route("/v1/chat/completions", post(openai))
            .route("/chat/completions", post(openai))
            .route("/v1/messages", post(anthropic))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            base_url,
            shared,
            task,
        })
    }

    /// The OpenAI-compatible base URL (`…/v1`).
    pub fn openai_base(&self) -> String {
        format!("{}/v1", self.base_url)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues what `model` does for its next request.
    pub fn script(&self, model: &str, script: Script) {
        self.lock()
            .scripts
            .entry(model.to_owned())
            .or_default()
            .push_back(script);
    }

    /// What every model does once its queue is empty.
    pub fn set_default(&self, script: Script) {
        self.lock().default = script;
    }

    /// Stops (or resumes) keeping every request for [`Self::received`].
    pub fn set_recording(&self, on: bool) {
        self.lock().not_recording = !on;
    }

    pub fn received(&self) -> Vec<Received> {
        self.lock().received.clone()
    }
}

type SharedState = Arc<Mutex<Shared>>;

fn take(
    shared: &SharedState,
    headers: &HeaderMap,
    path: &str,
    body: &Value,
) -> Result<Script, StatusCode> {
    let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
    if !s.not_recording {
        s.received.push(Received {
            path: path.to_owned(),
            headers: headers.clone(),
            body: body.clone(),
        });
    }
    if let Some(key) = &s.api_key {
        let bearer = format!("Bearer {key}");
        let ok = headers
            .get("authorization")
            .is_some_and(|v| v == bearer.as_str())
            || headers.get("x-api-key").is_some_and(|v| v == key.as_str());
        if !ok {
            return Err(StatusCode::UNAUTHORIZED);
        }
    }
    let model = body["model"].as_str().unwrap_or_default().to_owned();
    let default = s.default.clone();
    Ok(s.scripts
        .get_mut(&model)
        .and_then(VecDeque::pop_front)
        .unwrap_or(default))
}

fn status_response(status: u16, retry_after: Option<u64>, body: Value) -> Response {
    let mut response = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        axum::Json(body),
    )
        .into_response();
    if let Some(secs) = retry_after
        && let Ok(v) = secs.to_string().parse()
    {
        response.headers_mut().insert("retry-after", v);
    }
    response
}

fn sse(frames: Vec<(Duration, String)>, cut: bool) -> Response {
    let stream =
        futures::stream::unfold((frames.into_iter(), cut), |(mut frames, cut)| async move {
            match frames.next() {
                Some((delay, frame)) => {
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    Some((Ok::<_, std::io::Error>(Bytes::from(frame)), (frames, cut)))
                }
                // A cut connection: the body ends with an error, so the client sees the
                // connection close before the end of the stream.
                None if cut => {
                    // What was sent reaches the client first, as on a real connection.
                    tokio::time::sleep(Duration::from_millis(30)).await;
                    Some((
                        Err(std::io::Error::other("connection cut")),
                        (frames, false),
                    ))
                }
                None => None,
            }
        });
    Response::builder()
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

async fn openai(
    State(shared): State<SharedState>,
    headers: HeaderMap,
    body: axum::Json<Value>,
) -> Response {
    let body = body.0;
    let script = match take(&shared, &headers, "/v1/chat/completions", &body) {
        Ok(s) => s,
        Err(status) => {
            return status_response(
                status.as_u16(),
                None,
                json!({ "error": { "message": "Incorrect API key provided.", "type": "invalid_request_error", "param": null, "code": "invalid_api_key" } }),
            );
        }
    };
    if !script.first_delay.is_zero() {
        tokio::time::sleep(script.first_delay).await;
    }
    let model = body["model"].as_str().unwrap_or_default().to_owned();
    if let Some(Failure::Status {
        status,
        retry_after,
    }) = script.failure
    {
        let (kind, code) = match status {
            429 => ("requests", "rate_limit_exceeded"),
            400 => ("invalid_request_error", "invalid_request"),
            _ => ("server_error", "server_error"),
        };
        return status_response(
            status,
            retry_after,
            json!({ "error": { "message": format!("scripted {status}"), "type": kind, "param": null, "code": code } }),
        );
    }
    let chunks = script.chunks();
    let usage = json!({
        "prompt_tokens": script.input_tokens,
        "completion_tokens": script.output_tokens(),
        "total_tokens": script.input_tokens + script.output_tokens(),
    });
    if body["stream"] != true {
        return axum::Json(json!({
            "id": "chatcmpl-loopback", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{ "index": 0, "message": { "role": "assistant", "content": script.text }, "finish_reason": "stop" }],
            "usage": usage,
        }))
        .into_response();
    }
    let chunk = |delta: Value, finish: Value| {
        format!(
            "data: {}\n\n",
            json!({
                "id": "chatcmpl-loopback", "object": "chat.completion.chunk", "created": 0, "model": model,
                "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }],
            })
        )
    };
    let mut frames = vec![(
        Duration::ZERO,
        chunk(json!({"role": "assistant", "content": ""}), Value::Null),
    )];
    for _ in 0..script.keep_alives {
        frames.push((Duration::ZERO, ": keep-alive\n\n".to_owned()));
    }
    for (i, text) in chunks.iter().enumerate() {
        match script.failure {
            Some(Failure::CutAfter(n)) if i == n => return sse(frames, true),
            Some(Failure::ErrorEventAfter(n)) if i == n => {
                frames.push((
                    script.chunk_delay,
                    format!("data: {}\n\n", json!({ "error": { "message": "The server had an error while processing your request.", "type": "server_error" } })),
                ));
                return sse(frames, false);
            }
            _ => {}
        }
        frames.push((
            script.chunk_delay,
            chunk(json!({ "content": text }), Value::Null),
        ));
    }
    frames.push((Duration::ZERO, chunk(json!({}), json!("stop"))));
    if body["stream_options"]["include_usage"] == true {
        frames.push((
            Duration::ZERO,
            format!(
                "data: {}\n\n",
                json!({ "id": "chatcmpl-loopback", "object": "chat.completion.chunk", "created": 0, "model": model, "choices": [], "usage": usage })
            ),
        ));
    }
    frames.push((Duration::ZERO, "data: [DONE]\n\n".to_owned()));
    sse(frames, false)
}

async fn anthropic(
    State(shared): State<SharedState>,
    headers: HeaderMap,
    body: axum::Json<Value>,
) -> Response {
    let body = body.0;
    let script = match take(&shared, &headers, "/v1/messages", &body) {
        Ok(s) => s,
        Err(status) => {
            return status_response(
                status.as_u16(),
                None,
                json!({ "type": "error", "error": { "type": "authentication_error", "message": "invalid x-api-key" } }),
            );
        }
    };
    if headers.get("anthropic-version").is_none() {
        return status_response(
            400,
            None,
            json!({ "type": "error", "error": { "type": "invalid_request_error", "message": "anthropic-version: header is required" } }),
        );
    }
    if !script.first_delay.is_zero() {
        tokio::time::sleep(script.first_delay).await;
    }
    let model = body["model"].as_str().unwrap_or_default().to_owned();
    if let Some(Failure::Status {
        status,
        retry_after,
    }) = script.failure
    {
        let kind = match status {
            429 => "rate_limit_error",
            529 => "overloaded_error",
            400 => "invalid_request_error",
            _ => "api_error",
        };
        return status_response(
            status,
            retry_after,
            json!({ "type": "error", "error": { "type": kind, "message": format!("scripted {status}") } }),
        );
    }
    let chunks = script.chunks();
    if body["stream"] != true {
        return axum::Json(json!({
            "id": "msg_loopback", "type": "message", "role": "assistant", "model": model,
            "content": [{ "type": "text", "text": script.text }],
            "stop_reason": "end_turn", "stop_sequence": null,
            "usage": { "input_tokens": script.input_tokens, "output_tokens": script.output_tokens() },
        }))
        .into_response();
    }
    let event = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
    let mut frames = vec![
        (
            Duration::ZERO,
            event(
                "message_start",
                json!({
                    "type": "message_start",
                    "message": { "id": "msg_loopback", "type": "message", "role": "assistant", "model": model,
                        "content": [], "stop_reason": null, "stop_sequence": null,
                        "usage": { "input_tokens": script.input_tokens, "output_tokens": 1 } }
                }),
            ),
        ),
        (
            Duration::ZERO,
            event(
                "content_block_start",
                json!({
                    "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" }
                }),
            ),
        ),
    ];
    for _ in 0..script.keep_alives {
        frames.push((Duration::ZERO, event("ping", json!({ "type": "ping" }))));
    }
    for (i, text) in chunks.iter().enumerate() {
        match script.failure {
            Some(Failure::CutAfter(n)) if i == n => return sse(frames, true),
            Some(Failure::ErrorEventAfter(n)) if i == n => {
                frames.push((script.chunk_delay, event("error", json!({
                    "type": "error", "error": { "type": "overloaded_error", "message": "Overloaded" }
                }))));
                return sse(frames, false);
            }
            _ => {}
        }
        frames.push((script.chunk_delay, event("content_block_delta", json!({
            "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": text }
        }))));
    }
    frames.push((
        Duration::ZERO,
        event(
            "content_block_stop",
            json!({ "type": "content_block_stop", "index": 0 }),
        ),
    ));
    frames.push((Duration::ZERO, event("message_delta", json!({
        "type": "message_delta", "delta": { "stop_reason": "end_turn", "stop_sequence": null },
        "usage": { "output_tokens": script.output_tokens() }
    }))));
    frames.push((
        Duration::ZERO,
        event("message_stop", json!({ "type": "message_stop" })),
    ));
    sse(frames, false)
}
