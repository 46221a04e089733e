//! Conversations with the assistant: every message kept, assistant messages with the model,
//! token counts and latency. The assistant that writes them comes later; the store is here so
//! the schema is complete and tested.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, now_text};
use ils_core::audit::{AuditAction, AuditEvent, resource};
use ils_core::validation::ValidationErrors;
use ils_core::{DomainError, Resource};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageRole {
    User,
    Assistant,
    System,
}

impl MessageRole {
    pub const fn as_str(self) -> &'static str {
        match self {
            MessageRole::User => "user",
            MessageRole::Assistant => "assistant",
            MessageRole::System => "system",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Conversation {
    pub id: String,
    pub title: String,
    pub created_by: String,
    pub created_at: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: MessageRole,
    pub content: String,
    pub citations: Option<serde_json::Value>,
    pub model: Option<String>,
    pub prompt_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub latency_ms: Option<i64>,
}

fn check_text(field: &str, value: &str, max: usize) -> Result<(), StoreError> {
    if value.trim().is_empty() || value.chars().count() > max {
        return Err(DomainError::from(ValidationErrors::single(
            field,
            "conversation.text_invalid",
            format!("The {field} must be 1 to {max} characters"),
        ))
        .into());
    }
    Ok(())
}

impl Store {
    pub fn create_conversation(&mut self, title: &str) -> Result<Conversation, StoreError> {
        check_text("title", title, 200)?;
        let w = self.begin_write()?;
        let c = Conversation {
            id: uuid::Uuid::now_v7().to_string(),
            title: title.trim().to_owned(),
            created_by: w.actor.user_id.to_string(),
            created_at: now_text(w.now),
        };
        w.execute(
            "INSERT INTO conversations (id, title, created_by, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?4)",
            params![c.id, c.title, c.created_by, c.created_at],
        )?;
        w.audit(&AuditEvent::new(
            AuditAction::ConversationCreate,
            resource::CONVERSATION,
            &c.id,
        ))?;
        w.commit()?;
        Ok(c)
    }

    pub fn add_message(&mut self, conversation: &str, m: &Message) -> Result<(), StoreError> {
        check_text("content", &m.content, 100_000)?;
        let w = self.begin_write()?;
        let exists: Option<i64> = w
            .query_row(
                "SELECT 1 FROM conversations WHERE id = ?1",
                [conversation],
                |r| r.get(0),
            )
            .optional()?;
        if exists.is_none() {
            return Err(DomainError::NotFound(Resource::Conversation).into());
        }
        let now = now_text(w.now);
        w.execute(
            "INSERT INTO messages (id, conversation_id, role, content, citations, model, prompt_tokens, output_tokens, latency_ms, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                uuid::Uuid::now_v7().to_string(),
                conversation,
                m.role.as_str(),
                m.content,
                m.citations.as_ref().map(serde_json::Value::to_string),
                m.model,
                m.prompt_tokens,
                m.output_tokens,
                m.latency_ms,
                now
            ],
        )?;
        w.execute(
            "UPDATE conversations SET updated_at = ?2 WHERE id = ?1",
            params![conversation, now],
        )?;
        w.audit(
            &AuditEvent::new(
                AuditAction::ConversationMessage,
                resource::CONVERSATION,
                conversation,
            )
            .with_details(serde_json::json!({ "role": m.role })),
        )?;
        w.commit()?;
        Ok(())
    }

    /// A conversation, whoever started it.
    pub fn conversation(&self, id: &str) -> Result<Option<Conversation>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT id, title, created_by, created_at FROM conversations WHERE id = ?1",
                [id],
                |r| {
                    Ok(Conversation {
                        id: r.get(0)?,
                        title: r.get(1)?,
                        created_by: r.get(2)?,
                        created_at: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    /// The conversations `user` started, newest first.
    pub fn conversations_of(&self, user: &str) -> Result<Vec<Conversation>, StoreError> {
        let mut stmt = self.conn().prepare(
            "SELECT id, title, created_by, created_at FROM conversations
             WHERE created_by = ?1 ORDER BY updated_at DESC, id DESC",
        )?;
        let rows = stmt
            .query_map([user], |r| {
                Ok(Conversation {
                    id: r.get(0)?,
                    title: r.get(1)?,
                    created_by: r.get(2)?,
                    created_at: r.get(3)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// A conversation and its messages for the signed-in user, under the assistant's rule
    /// (their own, or any for an administrator), with an audit row.
    pub fn read_conversation(
        &mut self,
        id: &str,
    ) -> Result<(Conversation, Vec<Message>), StoreError> {
        let actor = self.actor()?.clone();
        ils_core::decide::assistant::authorize(&actor)?;
        let conversation = self.conversation(id)?;
        let owner = conversation
            .as_ref()
            .and_then(|c| c.created_by.parse::<ils_core::UserId>().ok());
        let event = ils_core::decide::assistant::read_conversation(&actor, id, owner)?;
        let Some(conversation) = conversation else {
            return Err(DomainError::NotFound(Resource::Conversation).into());
        };
        let w = self.begin_write()?;
        w.audit(&event)?;
        w.commit()?;
        let messages = self.messages(id)?;
        Ok((conversation, messages))
    }

    /// Writes an audit row of the signed-in user for an act that changes no record (a photo of
    /// a prescription read into a draft).
    pub(crate) fn record_audit(&mut self, event: &AuditEvent) -> Result<(), StoreError> {
        let w = self.begin_write()?;
        w.audit(event)?;
        w.commit()
    }

    /// A conversation's messages, oldest first.
    pub fn messages(&self, conversation: &str) -> Result<Vec<Message>, StoreError> {
        let mut stmt = self.conn().prepare(
            "SELECT role, content, citations, model, prompt_tokens, output_tokens, latency_ms
             FROM messages WHERE conversation_id = ?1 ORDER BY created_at, id",
        )?;
        let rows = stmt
            .query_map([conversation], |r| {
                let role: String = r.get(0)?;
                let citations: Option<String> = r.get(2)?;
                Ok(Message {
                    role: match role.as_str() {
                        "user" => MessageRole::User,
                        "assistant" => MessageRole::Assistant,
                        _ => MessageRole::System,
                    },
                    content: r.get(1)?,
                    citations: citations.and_then(|c| serde_json::from_str(&c).ok()),
                    model: r.get(3)?,
                    prompt_tokens: r.get(4)?,
                    output_tokens: r.get(5)?,
                    latency_ms: r.get(6)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}
