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
    // Pieces of the answer that are already waiting go out as one event: under load the
    // model is often ahead of the client, and each event would otherwise cost a write.
    let stream = futures::stream::unfold(
        (receiver, None::<ChatEvent>),
        |(mut receiver, pending)| async move {
            let mut event = match pending {
                Some(event) => event,
                None => receiver.recv().await?,
            };
            let mut next = None;
            if let ChatEvent::Delta { text } = &mut event {
                while let Ok(more) = receiver.try_recv() {
                    match more {
                        ChatEvent::Delta { text: piece } => text.push_str(&piece),
                        other => {
                            next = Some(other);
                            break;
                        }
                    }
                }
            }
            let name = match &event {
                ChatEvent::Passages { .. } => "passages",
                ChatEvent::Delta { .. } => "delta",
                ChatEvent::Done { .. } => "done",
            };
            let sse = Event::default()
                .event(name)
                .json_data(&event)
                .unwrap_or_else(|_| Event::default().event(name));
            Some((Ok(sse), (receiver, next)))
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

#[derive(Debug, serde::Serialize, ToSchema)]
pub struct ConversationDto {
    pub id: Uuid,
    pub user_id: Uuid,
    pub title: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<crate::store::conversations::ConversationRow> for ConversationDto {
    fn from(c: crate::store::conversations::ConversationRow) -> Self {
        Self {
            id: c.id,
            user_id: c.user_id,
            title: c.title,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Debug, serde::Serialize, ToSchema)]
pub struct MessageDto {
    pub id: Uuid,
    /// user or assistant.
    pub role: String,
    pub content: String,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub prompt_tokens: Option<i32>,
    pub output_tokens: Option<i32>,
    pub latency_ms: Option<i32>,
    /// The passages the model was given (chunk ids).
    pub passage_ids: Vec<Uuid>,
    /// answered, truncated, cut, cancelled, offline or unreachable.
    pub outcome: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<crate::store::conversations::MessageRow> for MessageDto {
    fn from(m: crate::store::conversations::MessageRow) -> Self {
        Self {
            id: m.id,
            role: m.role,
            content: m.content,
            model: m.model,
            provider: m.provider,
            prompt_tokens: m.prompt_tokens,
            output_tokens: m.output_tokens,
            latency_ms: m.latency_ms,
            passage_ids: m.passage_ids,
            outcome: m.outcome,
            created_at: m.created_at,
        }
    }
}

#[derive(Debug, serde::Serialize, ToSchema)]
pub struct ConversationWithMessages {
    pub conversation: ConversationDto,
    pub messages: Vec<MessageDto>,
}

#[derive(Debug, serde::Serialize, ToSchema)]
pub struct UsageDto {
    pub day: chrono::NaiveDate,
    pub model: String,
    pub conversations: i64,
    pub answers: i64,
    /// As the providers counted them.
    pub prompt_tokens: i64,
    pub output_tokens: i64,
    pub avg_latency_ms: f64,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UsageParams {
    /// 1 to 366 (default 30).
    pub days: Option<i32>,
}

/// The caller's conversations, newest first (all of the practice's for an administrator).
#[utoipa::path(get, path = "/api/master-ai/conversations", tag = "assistant",
    responses((status = 200, body = Vec<ConversationDto>), (status = 403, body = ErrorBody)))]
pub async fn conversations(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::AiChat>,
) -> Result<Json<Vec<ConversationDto>>> {
    let mut tx = state.db.tenant_tx(&p.tenant()).await?;
    let rows = assistant::conversations(&mut tx, &p.caller(), 200).await?;
    tx.end_read();
    Ok(Json(rows.into_iter().map(ConversationDto::from).collect()))
}

/// A conversation with its messages (its owner's, or an administrator's); audited.
#[utoipa::path(get, path = "/api/master-ai/conversations/{id}", tag = "assistant", params(("id" = Uuid, Path)),
    responses((status = 200, body = ConversationWithMessages), (status = 404, body = ErrorBody)))]
pub async fn conversation(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::AiChat>,
    crate::http::error::Path(id): crate::http::error::Path<Uuid>,
) -> Result<Json<ConversationWithMessages>> {
    let mut tx = state.db.tenant_tx(&p.tenant()).await?;
    let (c, messages) = assistant::read_conversation(&mut tx, &p.caller(), id).await?;
    tx.commit().await?;
    Ok(Json(ConversationWithMessages {
        conversation: c.into(),
        messages: messages.into_iter().map(MessageDto::from).collect(),
    }))
}

/// The assistant's use by day and model (company administrators).
#[utoipa::path(get, path = "/api/master-ai/usage", tag = "assistant", params(UsageParams),
    responses((status = 200, body = Vec<UsageDto>), (status = 403, body = ErrorBody)))]
pub async fn usage(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::CompanyRead>,
    crate::http::error::Query(q): crate::http::error::Query<UsageParams>,
) -> Result<Json<Vec<UsageDto>>> {
    let days = ils_core::decide::assistant::usage_days(q.days)?;
    let mut tx = state.db.tenant_tx(&p.tenant()).await?;
    let rows = assistant::usage(&mut tx, &p.caller(), days).await?;
    tx.end_read();
    Ok(Json(
        rows.into_iter()
            .map(|u| UsageDto {
                day: u.day,
                model: u.model,
                conversations: u.conversations,
                answers: u.answers,
                prompt_tokens: u.prompt_tokens,
                output_tokens: u.output_tokens,
                avg_latency_ms: u.avg_latency_ms,
            })
            .collect(),
    ))
}
