//! The assistant on ILS Central (`POST /api/master-ai/chat`): the practice's configuration →
//! the question's passages from its knowledge base → the prompt (`ils_llm::prompt`, as on the
//! desktop) → the providers' fallback chain, streamed to the client as server-sent events →
//! both messages recorded with the model, the provider's token counts, the latency and the
//! passages. When no model is set up or none answers, the answer says so and shows the
//! passages. A stream cut by the provider or abandoned by the client is recorded as far as it
//! went.

use std::time::Instant;

use ils_core::fine_tune::AiPurpose;
use ils_llm::answer::Outcome;
use ils_llm::prompt::{self, Budget, Passage, PromptInput};
use ils_llm::transform::{Passthrough, Transform};
use ils_llm::{ChatRequest, Message, Role, Usage};
use serde::Serialize;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::Principal;
use crate::error::{Error, Result};
use crate::knowledge;
use crate::rate_limit::LimitClass;
use crate::store::conversations;
use ils_ai::retrieval::Answerability;

/// Earlier messages offered to the model (the budget may take fewer).
const HISTORY: u32 = 10;

/// What the client receives, in order: the passages, the answer's pieces, then `done`.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ChatEvent {
    Passages {
        conversation_id: Uuid,
        citations: Vec<prompt::Citation>,
        /// Whether retrieval judged that the practice's documents answer the question
        /// (`ils_ai::retrieval::judge`, as on the desktop).
        answerability: Answerability,
    },
    Delta {
        text: String,
    },
    Done {
        conversation_id: Uuid,
        /// answered, truncated, cut, cancelled, offline or unreachable.
        outcome: Outcome,
        /// The passages the answer cites, by number (`ils_llm::prompt::cited`): none, when it
        /// was given passages, means it is not grounded in the practice's documents.
        cited: Vec<usize>,
        model: Option<String>,
        usage: Option<Usage>,
        latency_ms: u64,
    },
}

/// Takes one request from the practice's AI budget (its tier's AI rate limit), or refuses with
/// 429 and the wait: every call to a model (chat, prescription capture) goes through it.
pub async fn spend_ai_budget(state: &AppState, principal: &Principal) -> Result<()> {
    if let Err(wait) = state
        .limiter
        .check(principal.company_id(), principal.tier, LimitClass::Ai)
        .await
    {
        state
            .metrics
            .rate_limited(&principal.company_id().to_string(), LimitClass::Ai.as_str());
        return Err(Error::RateLimited {
            code: "rate_limit.ai",
            retry_after: wait,
        });
    }
    Ok(())
}

/// Checks, retrieves and records the question; returns the events to stream.
pub async fn chat(
    state: &AppState,
    principal: &Principal,
    question: &str,
    conversation: Option<Uuid>,
) -> Result<tokio::sync::mpsc::UnboundedReceiver<ChatEvent>> {
    let started = Instant::now();
    spend_ai_budget(state, principal).await?;
    let caller = principal.caller();
    ils_core::decide::assistant::authorize(&caller.actor)?;
    // Everything the turn needs, in one round trip before any model is called: the
    // configuration, the ready fine-tuned chat models, the conversation's owner and history.
    let turn = conversations::load_turn(
        &state.db,
        &principal.tenant(),
        conversation.unwrap_or_else(Uuid::nil),
        HISTORY,
        question,
    )
    .await?;
    if conversation.is_some() && turn.owner.is_none() {
        return Err(Error::NotFound {
            resource: "conversation",
        });
    }
    let question = ils_core::decide::assistant::ask(
        &caller.actor,
        question,
        turn.owner.map(ils_core::UserId::from_uuid),
    )?;
    let (config, config_version) = (turn.config, turn.config_version);
    let conversation_id = conversation.unwrap_or_else(Uuid::now_v7);
    let history = turn.history;
    let (passages, answerability): (Vec<Passage>, Answerability) = if config.knowledge_base_enabled
    {
        let (hits, answerability) = knowledge::search_answerable(
            state,
            &principal.tenant(),
            &caller,
            &question,
            state.settings.ai.passages.clamp(1, 20),
        )
        .await?;
        let passages = hits
            .into_iter()
            .map(|h| Passage {
                id: h.chunk_id.to_string(),
                source: h.title,
                text: h.text,
            })
            .collect();
        (passages, answerability)
    } else {
        (Vec::new(), Answerability::Answered)
    };
    let built = prompt::build(
        &PromptInput {
            system_prompt: config.system_prompt.clone().unwrap_or_default(),
            passages,
            history: history
                .into_iter()
                .map(|(role, content)| {
                    Message::text(
                        if role == "user" {
                            Role::User
                        } else {
                            Role::Assistant
                        },
                        content,
                    )
                })
                .collect(),
            question: question.clone(),
            documents_do_not_answer: !answerability.documents_answer(),
        },
        Budget {
            context_tokens: state.settings.ai.context_tokens,
            max_output_tokens: config.max_tokens,
        },
    )
    .map_err(|e| {
        Error::Validation(ils_core::ValidationErrors::single(
            "question",
            "assistant.prompt_too_large",
            e.to_string(),
        ))
    })?;
    // The practice's fine-tuned chat model, when one is ready, goes first.
    let chain = state
        .providers
        .chain_for(AiPurpose::Chat, &config, &turn.fine_tuned);
    // Patient identifiers are replaced before the prompt leaves, unless the practice turned
    // that off (an audited change of its configuration).
    let inner: Box<dyn Transform> = if config.redact_patient_data && !chain.targets.is_empty() {
        // The turn's read found whom the question and the history may name; the passages
        // (the practice's own documents) are looked up here, when they name anyone else.
        let mut patients = turn.patients;
        let passage_texts: Vec<&str> = built.passages.iter().map(|p| p.text.as_str()).collect();
        if !passage_texts.is_empty() {
            let (names, numbers) = ils_llm::redact::lookup_keys(&passage_texts);
            let mut tx = state.db.tenant_tx(&principal.tenant()).await?;
            let more = crate::store::patients::for_redaction(&mut tx, &names, &numbers).await?;
            tx.end_read();
            for p in more {
                if !patients.contains(&p) {
                    patients.push(p);
                }
            }
        }
        Box::new(ils_llm::redact::Redactor::new(patients))
    } else {
        Box::new(Passthrough)
    };
    // Whatever the model writes, no link, image or markup reaches the client, nor our
    // instructions to it (`ils_llm::guard`): documents may carry planted instructions.
    let transform: Box<dyn Transform> = Box::new(ils_llm::guard::OutputGuard::new(inner));
    let asked_at = chrono::Utc::now();
    let new_conversation = turn.owner.is_none();
    let user_id = principal.user_id().into_uuid();

    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    let state = state.clone();
    let principal = principal.clone();
    let request = ChatRequest {
        model: String::new(),
        messages: built.messages.clone(),
        temperature: Some(config.temperature),
        max_tokens: config.max_tokens,
    };
    tokio::spawn(async move {
        let citations = prompt::citations(&built.passages);
        let _ = sender.send(ChatEvent::Passages {
            conversation_id,
            citations: citations.clone(),
            answerability: answerability.clone(),
        });
        let (text, model, provider, usage, outcome) = answer(
            &chain,
            request,
            transform,
            &citations,
            &answerability,
            &sender,
        )
        .await;
        let latency_ms = started.elapsed().as_millis() as u64;
        // The question and its answer are recorded together, whatever became of the stream
        // (the reader may have left: this task goes on).
        let recorded = async {
            let mut tx = state.db.tenant_tx(&principal.tenant()).await?;
            conversations::record_turn(
                &mut tx,
                &conversations::Turn {
                    conversation: conversation_id,
                    new_for: new_conversation.then_some(user_id),
                    title: &question.chars().take(80).collect::<String>(),
                    question: &question,
                    asked_at,
                },
                &conversations::NewMessage {
                    role: "assistant",
                    content: &text,
                    model: model.as_deref(),
                    provider: provider.as_deref(),
                    prompt_tokens: usage.map(|u| i32::try_from(u.input_tokens).unwrap_or(i32::MAX)),
                    output_tokens: usage
                        .map(|u| i32::try_from(u.output_tokens).unwrap_or(i32::MAX)),
                    latency_ms: Some(i32::try_from(latency_ms).unwrap_or(i32::MAX)),
                    config_version: Some(config_version),
                    passage_ids: built
                        .passages
                        .iter()
                        .filter_map(|p| p.id.parse().ok())
                        .collect(),
                    outcome: Some(outcome.as_str()),
                },
            )
            .await?;
            tx.commit().await
        }
        .await;
        if let Err(error) = recorded {
            tracing::error!(error = ?error, "an assistant message could not be recorded");
        }
        let _ = sender.send(ChatEvent::Done {
            conversation_id,
            outcome,
            cited: prompt::cited(&text, citations.len()),
            model,
            usage,
            latency_ms,
        });
    });
    Ok(receiver)
}

/// The model's part: (text, model, provider, usage, outcome).
async fn answer(
    chain: &ils_llm::Chain,
    request: ChatRequest,
    mut transform: Box<dyn Transform>,
    citations: &[prompt::Citation],
    answerability: &Answerability,
    sender: &tokio::sync::mpsc::UnboundedSender<ChatEvent>,
) -> (
    String,
    Option<String>,
    Option<String>,
    Option<Usage>,
    Outcome,
) {
    if chain.targets.is_empty() {
        let text = prompt::without_model(
            &prompt::no_answer_because(
                "No model is set up for this service, so the assistant cannot write an answer.",
                answerability.documents_answer(),
            ),
            citations,
        );
        let _ = sender.send(ChatEvent::Delta { text: text.clone() });
        return (text, None, None, None, Outcome::Offline);
    }
    let request = ChatRequest {
        messages: transform.outgoing(request.messages),
        ..request
    };
    let (target, stream, _) = match chain.stream(&request).await {
        Ok(ok) => ok,
        Err(e) => {
            let text = ils_llm::answer::unreachable(&e, citations);
            let _ = sender.send(ChatEvent::Delta { text: text.clone() });
            return (text, None, None, None, Outcome::Unreachable);
        }
    };
    let (text, usage, outcome) = ils_llm::answer::relay(stream, transform.as_mut(), &mut |piece| {
        // The reader left when its channel is closed.
        sender
            .send(ChatEvent::Delta {
                text: piece.to_owned(),
            })
            .is_ok()
    })
    .await;
    (
        text,
        Some(target.model.clone()),
        Some(target.provider.name().to_owned()),
        usage,
        outcome,
    )
}

/// A conversation and its messages, under the assistant's rule (its owner or an
/// administrator); the read is audited.
pub async fn read_conversation(
    tx: &mut crate::db::TenantTx,
    caller: &crate::clinical::Caller,
    id: Uuid,
) -> Result<(
    conversations::ConversationRow,
    Vec<conversations::MessageRow>,
)> {
    ils_core::decide::assistant::authorize(&caller.actor)?;
    let found = conversations::find(tx, id).await?;
    let event = ils_core::decide::assistant::read_conversation(
        &caller.actor,
        &id.to_string(),
        found
            .as_ref()
            .map(|c| ils_core::UserId::from_uuid(c.user_id)),
    )?;
    let conversation = found.ok_or(Error::NotFound {
        resource: "conversation",
    })?;
    let messages = conversations::messages(tx, id).await?;
    crate::clinical::record(tx, caller, &event).await?;
    Ok((conversation, messages))
}

/// The conversations the caller may see: their own, or the practice's for an administrator.
pub async fn conversations(
    tx: &mut crate::db::TenantTx,
    caller: &crate::clinical::Caller,
    limit: i64,
) -> Result<Vec<conversations::ConversationRow>> {
    ils_core::decide::assistant::authorize(&caller.actor)?;
    let user = (!ils_core::decide::assistant::sees_all_conversations(&caller.actor))
        .then(|| caller.actor.user_id.into_uuid());
    conversations::list(tx, user, limit).await
}

/// Usage for company administrators: by day and model.
pub async fn usage(
    tx: &mut crate::db::TenantTx,
    caller: &crate::clinical::Caller,
    days: i32,
) -> Result<Vec<conversations::UsageRow>> {
    ils_core::decide::assistant::authorize_usage(&caller.actor)?;
    conversations::usage(tx, days).await
}
