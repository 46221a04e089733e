//! The Anthropic Messages wire format (`POST {base}/v1/messages`, `anthropic-version:
//! 2023-06-01`).

use serde_json::{Value, json};

use crate::{ChatRequest, Completion, FinishReason, LlmError, Part, Role, StreamEvent, Usage};

pub const VERSION: &str = "2023-06-01";

pub fn body(request: &ChatRequest, stream: bool) -> Value {
    // System messages go into `system`; the rest alternate user/assistant.
    let system: Vec<String> = request
        .messages
        .iter()
        .filter(|m| m.role == Role::System)
        .map(|m| m.joined_text())
        .collect();
    let messages: Vec<Value> = request
        .messages
        .iter()
        .filter(|m| m.role != Role::System)
        .map(|m| {
            let role = if m.role == Role::Assistant {
                "assistant"
            } else {
                "user"
            };
            let content: Vec<Value> = m
                .parts
                .iter()
                .map(|p| match p {
                    Part::Text { text } => json!({ "type": "text", "text": text }),
                    Part::Image(image) => json!({
                        "type": "image",
                        "source": {
                            "type": "base64",
                            "media_type": image.media_type,
                            "data": image.data_base64,
                        }
                    }),
                })
                .collect();
            json!({ "role": role, "content": content })
        })
        .collect();
    let mut body = json!({
        "model": request.model,
        "messages": messages,
        "max_tokens": request.max_tokens,
        "stream": stream,
    });
    if !system.is_empty() {
        body["system"] = json!(system.join("\n\n"));
    }
    if let Some(t) = request.temperature {
        body["temperature"] = json!(t);
    }
    body
}

fn finish(reason: &str) -> FinishReason {
    match reason {
        "end_turn" | "stop_sequence" => FinishReason::Stop,
        "max_tokens" => FinishReason::Length,
        "refusal" => FinishReason::ContentFilter,
        _ => FinishReason::Other,
    }
}

fn error_message(value: &Value) -> Option<String> {
    if value["type"] != "error" {
        return None;
    }
    let e = &value["error"];
    Some(format!(
        "{}: {}",
        e["type"].as_str().unwrap_or("error"),
        e["message"].as_str().unwrap_or_default()
    ))
}

pub fn parse_completion(value: &Value) -> Result<Completion, LlmError> {
    if let Some(message) = error_message(value) {
        return Err(LlmError::Stream(message));
    }
    let text: String = value["content"]
        .as_array()
        .ok_or_else(|| LlmError::Protocol("no content in the answer".into()))?
        .iter()
        .filter(|b| b["type"] == "text")
        .filter_map(|b| b["text"].as_str())
        .collect();
    let u = &value["usage"];
    Ok(Completion {
        text,
        usage: u.is_object().then(|| Usage {
            input_tokens: u["input_tokens"].as_u64().unwrap_or(0) as u32,
            output_tokens: u["output_tokens"].as_u64().unwrap_or(0) as u32,
        }),
        finish: value["stop_reason"]
            .as_str()
            .map_or(FinishReason::Other, finish),
        model: value["model"].as_str().unwrap_or_default().to_owned(),
    })
}

/// Usage is split across the stream: input tokens in `message_start`, output tokens (running
/// total) in `message_delta`. This keeps what was seen so far.
#[derive(Debug, Default)]
pub struct StreamState {
    input_tokens: u32,
    output_tokens: u32,
}

impl StreamState {
    /// The events of one stream event; `Ok(None)` at `message_stop`.
    pub fn parse(
        &mut self,
        event: Option<&str>,
        data: &str,
    ) -> Result<Option<Vec<StreamEvent>>, LlmError> {
        let value: Value = serde_json::from_str(data)
            .map_err(|e| LlmError::Protocol(format!("a stream event is not JSON: {e}")))?;
        if let Some(message) = error_message(&value) {
            return Err(LlmError::Stream(message));
        }
        let kind = event.or(value["type"].as_str()).unwrap_or_default();
        let mut events = Vec::new();
        match kind {
            "message_start" => {
                let u = &value["message"]["usage"];
                self.input_tokens = u["input_tokens"].as_u64().unwrap_or(0) as u32;
                self.output_tokens = u["output_tokens"].as_u64().unwrap_or(0) as u32;
            }
            "content_block_delta" => {
                if value["delta"]["type"] == "text_delta"
                    && let Some(text) = value["delta"]["text"].as_str()
                    && !text.is_empty()
                {
                    events.push(StreamEvent::Delta(text.to_owned()));
                }
            }
            "message_delta" => {
                if let Some(n) = value["usage"]["output_tokens"].as_u64() {
                    self.output_tokens = n as u32;
                }
                if let Some(n) = value["usage"]["input_tokens"].as_u64() {
                    self.input_tokens = n as u32;
                }
                events.push(StreamEvent::Usage(Usage {
                    input_tokens: self.input_tokens,
                    output_tokens: self.output_tokens,
                }));
                if let Some(reason) = value["delta"]["stop_reason"].as_str() {
                    events.push(StreamEvent::Finish(finish(reason)));
                }
            }
            "message_stop" => return Ok(None),
            // ping, content_block_start/stop and events added later: nothing to show.
            _ => {}
        }
        Ok(Some(events))
    }
}
