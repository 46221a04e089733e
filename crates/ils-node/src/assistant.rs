//! The assistant on the desktop: a question is answered from the practice's own documents by a
//! shared cloud model, under the practice's AI configuration, and every turn is kept.
//!
//! The flow: the practice's configuration → the question's passages from the local knowledge
//! base (hybrid search) → the prompt within the model's budget (`ils_llm::prompt`) → the
//! fallback chain of the configured providers, streamed → the user's and the assistant's
//! messages recorded with the model, the provider's token counts, the latency, the system
//! prompt's version and the passages used. With no provider configured, or offline, or when no
//! model answers, the assistant says so plainly and shows the passages it found.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use ils_core::AiConfig;
use ils_llm::prompt::{self, Budget, Passage, PromptInput};
use ils_llm::transform::{Passthrough, Transform};
use ils_llm::{ChatRequest, Role, Usage};
use serde::{Deserialize, Serialize};

/// Where the assistant's models are (from the settings file; keys from the environment).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AssistantSettings {
    /// Tried in order, each with its models in order. None: the assistant works offline.
    pub providers: Vec<ProviderSettings>,
    /// The models' context window, in tokens.
    pub context_tokens: u32,
    /// Passages retrieved per question.
    pub passages: usize,
    /// Earlier messages of the conversation offered to the model (the budget may take fewer).
    pub history_messages: usize,
}

impl Default for AssistantSettings {
    fn default() -> Self {
        Self {
            providers: Vec::new(),
            context_tokens: 16_000,
            passages: 5,
            history_messages: 10,
        }
    }
}

/// A question.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AskRequest {
    pub question: String,
    /// Continue this conversation; a new one when absent.
    pub conversation: Option<String>,
    /// Answer from the documents only, without calling any model.
    pub offline: bool,
}

pub use ils_llm::answer::Outcome;

/// What `ask` reports as it goes.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum AskEvent {
    /// The passages retrieved, before the answer, and whether the documents answer the question
    /// at all (`ils_ai::retrieval::judge`).
    Passages {
        citations: Vec<Citation>,
        answerability: Answerability,
    },
    /// A piece of the answer.
    Delta { text: String },
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Answer {
    pub conversation: String,
    pub text: String,
    pub citations: Vec<Citation>,
    /// Whether retrieval judged that the practice's documents answer the question.
    pub answerability: Answerability,
    /// The passages the answer cites, by number (`ils_llm::prompt::cited`): none, when it was
    /// given passages, means it is not grounded in the practice's documents.
    pub cited: Vec<usize>,
    pub outcome: Outcome,
    pub model: Option<String>,
    pub usage: Option<Usage>,
    pub latency_ms: u64,
}

pub use ils_ai::retrieval::Answerability;

/// A photo of a paper prescription read into a draft (`Engine::capture_prescription`): nothing
/// is saved until a person confirms the draft, corrected, as a new prescription.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Captured {
    /// The audit row's id for this capture.
    pub capture_id: String,
    /// The prescription as read, in the ILS form: only the fields read.
    pub prescription: serde_json::Value,
    /// Fields that could not be read, by path: left empty for a person to fill in.
    pub unread: Vec<String>,
    /// Every rule the draft breaks, by field, as saving it would report.
    pub problems: Vec<ils_core::FieldError>,
    /// Whether the model's reply was a JSON object at all.
    pub reply_readable: bool,
    pub model: String,
    pub provider: String,
}
pub use ils_llm::config::{ProviderSettings, SettingsError};
pub use ils_llm::prompt::{Citation, citations, without_model};

#[derive(Debug, thiserror::Error)]
pub enum AssistantError {
    #[error(transparent)]
    Llm(#[from] ils_llm::LlmError),
}

/// What a turn needs from the store, gathered under its lock.
pub(crate) struct Turn {
    pub config: AiConfig,
    pub config_version: i64,
    pub fine_tuned: Vec<ils_core::fine_tune::FineTunedModel>,
    /// The practice's patients the prompt may name (looked up by its words), for the redaction.
    pub patients: Vec<ils_llm::redact::KnownPatient>,
    pub history: Vec<ils_llm::Message>,
    pub passages: Vec<Passage>,
    pub answerability: Answerability,
}

/// The model's part of a turn: the prompt, the chain, the stream. Returns the text, the model
/// and usage, and how it went.
pub(crate) async fn converse(
    settings: &AssistantSettings,
    providers: &ils_llm::config::Providers,
    turn: &Turn,
    question: &str,
    stop: &AtomicBool,
    on_event: &mut (dyn FnMut(&AskEvent) + Send),
) -> Result<(String, Option<String>, Option<Usage>, Outcome, Vec<Passage>), AssistantError> {
    let input = PromptInput {
        system_prompt: turn.config.system_prompt.clone().unwrap_or_default(),
        passages: turn.passages.clone(),
        history: turn.history.clone(),
        question: question.to_owned(),
        documents_do_not_answer: !turn.answerability.documents_answer(),
    };
    let built = prompt::build(
        &input,
        Budget {
            context_tokens: settings.context_tokens,
            max_output_tokens: turn.config.max_tokens,
        },
    )?;
    let cites = citations(&built.passages);
    on_event(&AskEvent::Passages {
        citations: cites.clone(),
        answerability: turn.answerability.clone(),
    });
    let chain = providers.chain_for(
        ils_core::fine_tune::AiPurpose::Chat,
        &turn.config,
        &turn.fine_tuned,
    );
    if chain.targets.is_empty() {
        let text = without_model(
            &ils_llm::prompt::no_answer_because(
                "Offline: no model is set up on this computer, so the assistant cannot write an answer.",
                turn.answerability.documents_answer(),
            ),
            &cites,
        );
        return Ok((text, None, None, Outcome::Offline, built.passages));
    }
    // Patient identifiers are replaced before the prompt leaves, unless the practice turned
    // that off.
    let inner: Box<dyn Transform> = if turn.config.redact_patient_data {
        Box::new(ils_llm::redact::Redactor::new(turn.patients.clone()))
    } else {
        Box::new(Passthrough)
    };
    // Whatever the model writes, no link, image or markup reaches the screen, nor our
    // instructions to it (`ils_llm::guard`): documents may carry planted instructions.
    let mut transform: Box<dyn Transform> = Box::new(ils_llm::guard::OutputGuard::new(inner));
    let request = ChatRequest {
        model: String::new(),
        messages: transform.outgoing(built.messages.clone()),
        temperature: Some(turn.config.temperature),
        max_tokens: turn.config.max_tokens,
    };
    // What the reader has been shown, kept so that a stop keeps exactly that.
    let shown = std::sync::Mutex::new(String::new());
    let answering = std::sync::Mutex::new(None::<String>);
    let answer = async {
        let (target, stream, _attempts) = chain.stream(&request).await?;
        *answering
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(target.model.clone());
        let (text, usage, outcome) =
            ils_llm::answer::relay(stream, transform.as_mut(), &mut |piece| {
                on_event(&AskEvent::Delta {
                    text: piece.to_owned(),
                });
                shown
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push_str(piece);
                !stop.load(Ordering::SeqCst)
            })
            .await;
        Ok((text, Some(target.model), usage, outcome))
    };
    // A stop is honoured at once, even while a provider is still being reached or is silent.
    let finished = tokio::select! {
        finished = answer => Some(finished),
        () = stopped(stop) => None,
    };
    match finished {
        Some(Ok((text, model, usage, outcome))) => {
            Ok((text, model, usage, outcome, built.passages))
        }
        Some(Err(e)) => {
            let text = ils_llm::answer::unreachable(&e, &cites);
            Ok((text, None, None, Outcome::Unreachable, built.passages))
        }
        None => {
            let mut text = shown
                .into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if text.is_empty() {
                text = STOPPED_BEFORE_ANSWER.to_owned();
            }
            let model = answering
                .into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            Ok((text, model, None, Outcome::Cancelled, built.passages))
        }
    }
}

/// The answer kept when the reader stopped it before a word of it arrived.
pub const STOPPED_BEFORE_ANSWER: &str = "(Stopped before the answer began.)";

/// Resolves once `stop` is set.
async fn stopped(stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The role of a stored message, as a model's message role.
pub(crate) fn role(stored: crate::store::MessageRole) -> Role {
    match stored {
        crate::store::MessageRole::User => Role::User,
        crate::store::MessageRole::Assistant => Role::Assistant,
        crate::store::MessageRole::System => Role::System,
    }
}

/// Milliseconds since `started`.
pub(crate) fn elapsed_ms(started: Instant) -> u64 {
    started.elapsed().as_millis() as u64
}
