//! The assistant's conversations and messages.

use uuid::Uuid;

use crate::db::TenantTx;
use crate::error::Result;

#[derive(Debug, sqlx::FromRow)]
pub struct ConversationRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub title: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

pub async fn find(tx: &mut TenantTx, id: Uuid) -> Result<Option<ConversationRow>> {
    let tenant = tx.tenant();
    Ok(sqlx::query_as(
        "SELECT id, user_id, title, created_at, updated_at FROM ai_conversations
         WHERE company_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?)
}

pub async fn create(tx: &mut TenantTx, id: Uuid, user: Uuid, title: &str) -> Result<()> {
    let tenant = tx.tenant();
    sqlx::query(
        "INSERT INTO ai_conversations (company_id, id, user_id, title) VALUES ($1, $2, $3, $4)",
    )
    .bind(tenant)
    .bind(id)
    .bind(user)
    .bind(title)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// The last `limit` messages, oldest first: (role, content).
pub async fn recent(
    tx: &mut TenantTx,
    conversation: Uuid,
    limit: i64,
) -> Result<Vec<(String, String)>> {
    let tenant = tx.tenant();
    let mut rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT role, content FROM ai_messages WHERE company_id = $1 AND conversation_id = $2
         ORDER BY created_at DESC, id DESC LIMIT $3",
    )
    .bind(tenant)
    .bind(conversation)
    .bind(limit)
    .fetch_all(tx.conn())
    .await?;
    rows.reverse();
    Ok(rows)
}

/// A message to record.
#[derive(Debug, Default)]
pub struct NewMessage<'a> {
    pub role: &'a str,
    pub content: &'a str,
    pub model: Option<&'a str>,
    pub provider: Option<&'a str>,
    pub prompt_tokens: Option<i32>,
    pub output_tokens: Option<i32>,
    pub latency_ms: Option<i32>,
    pub config_version: Option<i32>,
    pub passage_ids: Vec<Uuid>,
    pub outcome: Option<&'a str>,
}

pub async fn add(tx: &mut TenantTx, conversation: Uuid, m: &NewMessage<'_>) -> Result<()> {
    let tenant = tx.tenant();
    sqlx::query(
        "INSERT INTO ai_messages (company_id, id, conversation_id, role, content, model, provider,
             prompt_tokens, output_tokens, latency_ms, config_version, passage_ids, outcome)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(tenant)
    .bind(Uuid::now_v7())
    .bind(conversation)
    .bind(m.role)
    .bind(m.content)
    .bind(m.model)
    .bind(m.provider)
    .bind(m.prompt_tokens)
    .bind(m.output_tokens)
    .bind(m.latency_ms)
    .bind(m.config_version)
    .bind(&m.passage_ids)
    .bind(m.outcome)
    .execute(tx.conn())
    .await?;
    sqlx::query("UPDATE ai_conversations SET updated_at = now() WHERE company_id = $1 AND id = $2")
        .bind(tenant)
        .bind(conversation)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Conversations newest first: `user`'s, or everyone's when `None`.
pub async fn list(
    tx: &mut TenantTx,
    user: Option<Uuid>,
    limit: i64,
) -> Result<Vec<ConversationRow>> {
    let tenant = tx.tenant();
    Ok(sqlx::query_as(
        "SELECT id, user_id, title, created_at, updated_at FROM ai_conversations
         WHERE company_id = $1 AND ($2::uuid IS NULL OR user_id = $2)
         ORDER BY updated_at DESC, id DESC LIMIT $3",
    )
    .bind(tenant)
    .bind(user)
    .bind(limit)
    .fetch_all(tx.conn())
    .await?)
}

#[derive(Debug, sqlx::FromRow)]
pub struct MessageRow {
    pub id: Uuid,
    pub role: String,
    pub content: String,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub prompt_tokens: Option<i32>,
    pub output_tokens: Option<i32>,
    pub latency_ms: Option<i32>,
    pub passage_ids: Vec<Uuid>,
    pub outcome: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

pub async fn messages(tx: &mut TenantTx, conversation: Uuid) -> Result<Vec<MessageRow>> {
    let tenant = tx.tenant();
    Ok(sqlx::query_as(
        "SELECT id, role, content, model, provider, prompt_tokens, output_tokens, latency_ms,
                passage_ids, outcome, created_at
         FROM ai_messages WHERE company_id = $1 AND conversation_id = $2
         ORDER BY created_at, id",
    )
    .bind(tenant)
    .bind(conversation)
    .fetch_all(tx.conn())
    .await?)
}

#[derive(Debug, sqlx::FromRow)]
pub struct UsageRow {
    pub day: chrono::NaiveDate,
    pub model: String,
    pub conversations: i64,
    pub answers: i64,
    pub prompt_tokens: i64,
    pub output_tokens: i64,
    pub avg_latency_ms: f64,
}

/// The assistant's answers of the last `days` days, by day (UTC) and model.
pub async fn usage(tx: &mut TenantTx, days: i32) -> Result<Vec<UsageRow>> {
    let tenant = tx.tenant();
    Ok(sqlx::query_as(
        "SELECT (created_at AT TIME ZONE 'UTC')::date AS day, coalesce(model, 'none') AS model,
                count(DISTINCT conversation_id) AS conversations, count(*) AS answers,
                coalesce(sum(prompt_tokens), 0)::bigint AS prompt_tokens,
                coalesce(sum(output_tokens), 0)::bigint AS output_tokens,
                coalesce(avg(latency_ms), 0)::float8 AS avg_latency_ms
         FROM ai_messages
         WHERE company_id = $1 AND role = 'assistant' AND created_at >= now() - make_interval(days => $2)
         GROUP BY 1, 2 ORDER BY 1 DESC, 2",
    )
    .bind(tenant)
    .bind(days)
    .fetch_all(tx.conn())
    .await?)
}
