//! `POST /api/master-ai/chat`: the assistant, streamed as server-sent events.

use std::convert::Infallible;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::app::AppState;
use crate::assistant::{self, ChatEvent};
use crate::error::Result;
use crate::http::error::{ErrorBody, Json};
use crate::http::extract::{Authorized, need};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"question": "Which lenses suit children's sports glasses?"}))]
pub struct ChatBody {
    /// 1 to 4,000 characters.
    pub question: String,
    /// Continue this conversation (its id, from an earlier answer's `passages` event).
    pub conversation_id: Option<Uuid>,
}

/// Asks the assistant. The answer streams as server-sent events: `passages` (the conversation
/// id and the numbered passages given to the model), `delta` (pieces of the answer), then
/// `done` (the outcome, the model, the provider's token counts, the latency). Refusals come
/// before the stream, as JSON errors.
#[utoipa::path(post, path = "/api/master-ai/chat", tag = "assistant", request_body = ChatBody,
    responses((status = 200, content_type = "text/event-stream", body = String,
        description = "events `passages`, `delta`…, `done`, each with a JSON data line"),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn chat(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::AiChat>,
    Json(body): Json<ChatBody>,
) -> Result<Sse<impl Stream<Item = std::result::Result<Event, Infallible>>>> {
    let receiver = assistant::chat(&state, &p, &body.question, body.conversation_id).await?;
    let stream = futures::stream::unfold(receiver, |mut receiver| async move {
        let event = receiver.recv().await?;
        let name = match &event {
            ChatEvent::Passages { .. } => "passages",
            ChatEvent::Delta { .. } => "delta",
            ChatEvent::Done { .. } => "done",
        };
        let sse = Event::default()
            .event(name)
            .json_data(&event)
            .unwrap_or_else(|_| Event::default().event(name));
        Some((Ok(sse), receiver))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
