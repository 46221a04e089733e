//! The OpenAI-compatible chat completions wire format (`POST {base}/chat/completions`).

use serde_json::{Value, json};

use crate::{ChatRequest, Completion, FinishReason, LlmError, Part, Role, StreamEvent, Usage};

pub fn body(request: &ChatRequest, stream: bool) -> Value {
    let messages: Vec<Value> = request
        .messages
        .iter()
        .map(|m| {
            let role = match m.role {
                Role::System => "system",
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            if m.has_images() {
                let parts: Vec<Value> = m
                    .parts
                    .iter()
                    .map(|p| match p {
                        Part::Text { text } => json!({ "type": "text", "text": text }),
                        Part::Image(image) => json!({
                            "type": "image_url",
                            "image_url": {
                                "url": format!("data:{};base64,{}", image.media_type, image.data_base64)
                            }
                        }),
                    })
                    .collect();
                json!({ "role": role, "content": parts })
            } else {
                json!({ "role": role, "content": m.joined_text() })
            }
        })
        .collect();
    let mut body = json!({
        "model": request.model,
        "messages": messages,
        "max_tokens": request.max_tokens,
        "stream": stream,
    });
    if let Some(t) = request.temperature {
        body["temperature"] = json!(t);
    }
    if stream {
        // Ask for the usage chunk at the end of the stream.
        body["stream_options"] = json!({ "include_usage": true });
    }
    body
}

fn finish(reason: &str) -> FinishReason {
    match reason {
        "stop" => FinishReason::Stop,
        "length" => FinishReason::Length,
        "content_filter" => FinishReason::ContentFilter,
        _ => FinishReason::Other,
    }
}

fn usage(value: &Value) -> Option<Usage> {
    let u = value.get("usage").filter(|u| u.is_object())?;
    Some(Usage {
        input_tokens: u["prompt_tokens"].as_u64().unwrap_or(0) as u32,
        output_tokens: u["completion_tokens"].as_u64().unwrap_or(0) as u32,
    })
}

fn error_message(value: &Value) -> Option<String> {
    let e = value.get("error")?;
    Some(
        e["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| e.to_string()),
    )
}

pub fn parse_completion(value: &Value) -> Result<Completion, LlmError> {
    if let Some(message) = error_message(value) {
        return Err(LlmError::Stream(message));
    }
    let choice = value["choices"]
        .get(0)
        .ok_or_else(|| LlmError::Protocol("no choices in the answer".into()))?;
    Ok(Completion {
        text: choice["message"]["content"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        usage: usage(value),
        finish: choice["finish_reason"]
            .as_str()
            .map_or(FinishReason::Other, finish),
        model: value["model"].as_str().unwrap_or_default().to_owned(),
    })
}

/// The events of one `data:` payload of the stream; `Ok(None)` at `[DONE]`.
pub fn parse_chunk(data: &str) -> Result<Option<Vec<StreamEvent>>, LlmError> {
    if data.trim() == "[DONE]" {
        return Ok(None);
    }
    let value: Value = serde_json::from_str(data)
        .map_err(|e| LlmError::Protocol(format!("a stream chunk is not JSON: {e}")))?;
    if let Some(message) = error_message(&value) {
        return Err(LlmError::Stream(message));
    }
    let mut events = Vec::new();
    if let Some(choice) = value["choices"].get(0) {
        if let Some(text) = choice["delta"]["content"].as_str()
            && !text.is_empty()
        {
            events.push(StreamEvent::Delta(text.to_owned()));
        }
        if let Some(reason) = choice["finish_reason"].as_str() {
            events.push(StreamEvent::Finish(finish(reason)));
        }
    }
    if let Some(u) = usage(&value) {
        events.push(StreamEvent::Usage(u));
    }
    Ok(Some(events))
}
