//! The assistant's conversations and messages.

use uuid::Uuid;

use ils_core::AiConfig;
use ils_core::fine_tune::FineTunedModel;
use sqlx::types::Json;

use crate::db::{Db, ReadById, TenantCtx, TenantTx};
use crate::error::{Error, Result};

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

/// What a turn of the assistant needs from the database.
#[derive(Debug)]
pub struct TurnState {
    pub config: AiConfig,
    pub config_version: i32,
    /// The practice's ready fine-tuned chat models.
    pub fine_tuned: Vec<FineTunedModel>,
    /// Who started the conversation the question continues (`None`: no such conversation).
    pub owner: Option<Uuid>,
    /// Its last messages, oldest first: (role, content).
    pub history: Vec<(String, String)>,
    /// The practice's patients the question or the history may name (none when the practice
    /// turned the redaction off).
    pub patients: Vec<ils_llm::redact::KnownPatient>,
}

/// A patient as the turn's read returns it, for the redaction.
#[derive(serde::Deserialize)]
struct PatientNames {
    first_name: String,
    last_name: String,
    customer_number: Option<String>,
    phone: Option<String>,
    email: Option<String>,
    address: Option<String>,
}

#[derive(sqlx::FromRow)]
struct TurnRow {
    turn_config: Json<serde_json::Value>,
    turn_config_version: i32,
    turn_fine_tuned: Option<Json<Vec<FineTunedModel>>>,
    turn_owner: Option<Uuid>,
    turn_history: Option<Json<Vec<(String, String)>>>,
    turn_patients: Option<Json<Vec<PatientNames>>>,
}

/// Loads a turn's state in one round trip (`Db::read_tenant_rows` over the
/// `ils_assistant_turn` function, whose plans PostgreSQL keeps): the practice's AI
/// configuration and its version, its ready fine-tuned chat models, and the conversation's
/// owner and last `history` messages (`conversation` may be nil for a new one).
pub async fn load_turn(
    db: &Db,
    tenant: &TenantCtx,
    conversation: Uuid,
    history: u32,
    question: &str,
) -> Result<TurnState> {
    let company = tenant.company_id().into_uuid();
    let (names, numbers) = ils_llm::redact::lookup_keys(&[question]);
    let template =
        format!("SELECT * FROM ils_assistant_turn({{}}, {{}}, {history}, {{names}}, {{numbers}})");
    let select = ReadById::new(&template, &[company, conversation])
        .with_texts("{names}", &names)
        .with_texts("{numbers}", &numbers);
    let rows: Vec<TurnRow> = db.read_tenant_rows(tenant, select).await?;
    let row = rows
        .into_iter()
        .next()
        .ok_or_else(|| Error::Internal("the tenant's company row is missing".into()))?;
    Ok(TurnState {
        config: serde_json::from_value(row.turn_config.0).unwrap_or_default(),
        config_version: row.turn_config_version,
        fine_tuned: row.turn_fine_tuned.map(|j| j.0).unwrap_or_default(),
        owner: row.turn_owner,
        history: row.turn_history.map(|j| j.0).unwrap_or_default(),
        patients: row
            .turn_patients
            .map(|j| j.0)
            .unwrap_or_default()
            .into_iter()
            .map(|p| ils_llm::redact::KnownPatient {
                first_name: p.first_name,
                last_name: p.last_name,
                customer_number: p.customer_number,
                phone: p.phone,
                email: p.email,
                address: p.address,
            })
            .collect(),
    })
}

/// The question of a turn.
#[derive(Debug)]
pub struct Turn<'a> {
    pub conversation: Uuid,
    /// The user a new conversation is started for (`None`: it continues an existing one).
    pub new_for: Option<Uuid>,
    pub title: &'a str,
    pub question: &'a str,
    pub asked_at: chrono::DateTime<chrono::Utc>,
}

/// Records a question and its answer: the conversation created (or its `updated_at` moved
/// on), then the user's message at the time it was asked and the assistant's now. Two
/// statements: on Citus a data-modifying `WITH` feeding an `INSERT … SELECT` would be loaded
/// with `COPY`, which row-level security refuses.
pub async fn record_turn(
    tx: &mut TenantTx,
    turn: &Turn<'_>,
    answer: &NewMessage<'_>,
) -> Result<()> {
    let tenant = tx.tenant();
    // The words each message may name a patient by, for the redaction of later turns.
    let (asked_names, asked_numbers) = ils_llm::redact::lookup_keys(&[turn.question]);
    let (answered_names, answered_numbers) = ils_llm::redact::lookup_keys(&[answer.content]);
    let conversation = match turn.new_for {
        // The proposed row's `updated_at` is its default, `now()`: Citus refuses a function
        // that is not immutable in `DO UPDATE SET`.
        Some(user) => sqlx::query(
            "INSERT INTO ai_conversations (company_id, id, user_id, title) VALUES ($1, $2, $3, $4)
             ON CONFLICT (company_id, id) DO UPDATE SET updated_at = EXCLUDED.updated_at",
        )
        .bind(tenant)
        .bind(turn.conversation)
        .bind(user)
        .bind(turn.title),
        None => sqlx::query(
            "UPDATE ai_conversations SET updated_at = now() WHERE company_id = $1 AND id = $2",
        )
        .bind(tenant)
        .bind(turn.conversation),
    }
    .execute(tx.conn())
    .await?;
    if conversation.rows_affected() != 1 {
        return Err(Error::Internal(format!(
            "conversation {} is gone: its turn was not recorded",
            turn.conversation
        )));
    }
    sqlx::query(
        "INSERT INTO ai_messages (company_id, id, conversation_id, role, content, model, provider,
             prompt_tokens, output_tokens, latency_ms, config_version, passage_ids, outcome,
             created_at, lookup_names, lookup_numbers)
         VALUES
             ($1, $3, $2, 'user', $4, NULL, NULL, NULL, NULL, NULL, NULL, '{}'::uuid[], NULL, $5,
              $17, $18),
             ($1, $6, $2, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, now(), $19, $20)",
    )
    .bind(tenant)
    .bind(turn.conversation)
    .bind(Uuid::now_v7())
    .bind(turn.question)
    .bind(turn.asked_at)
    .bind(Uuid::now_v7())
    .bind(answer.role)
    .bind(answer.content)
    .bind(answer.model)
    .bind(answer.provider)
    .bind(answer.prompt_tokens)
    .bind(answer.output_tokens)
    .bind(answer.latency_ms)
    .bind(answer.config_version)
    .bind(&answer.passage_ids)
    .bind(answer.outcome)
    .bind(&asked_names)
    .bind(&asked_numbers)
    .bind(&answered_names)
    .bind(&answered_numbers)
    .execute(tx.conn())
    .await?;
    Ok(())
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
