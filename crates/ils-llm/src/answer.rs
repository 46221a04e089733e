//! Relaying a model's answer to a person, the same on both halves: the pieces pass through the
//! transform as they come, the usage and finish are kept, and an answer that stops midway (or
//! whose reader leaves) keeps what came and says how it ended.

use futures::StreamExt;
use serde::Serialize;

use crate::prompt::{Citation, without_model};
use crate::transform::Transform;
use crate::{ChainError, EventStream, FinishReason, StreamEvent, Usage};

/// How an answer came about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A model answered in full.
    Answered,
    /// The model stopped at the token cap.
    Truncated,
    /// The stream stopped midway; what came is kept.
    Cut,
    /// The reader left midway; what came is kept.
    Cancelled,
    /// No model is set up, or the reader asked for passages only.
    Offline,
    /// No model could be reached: passages only.
    Unreachable,
}

impl Outcome {
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Answered => "answered",
            Outcome::Truncated => "truncated",
            Outcome::Cut => "cut",
            Outcome::Cancelled => "cancelled",
            Outcome::Offline => "offline",
            Outcome::Unreachable => "unreachable",
        }
    }
}

/// Appended to an answer the provider stopped before it finished.
pub const CUT_NOTE: &str = "\n\n(The answer was cut off before it finished.)";

/// The answer when no model in the chain answered: said plainly, with the passages.
pub fn unreachable(error: &ChainError, citations: &[Citation]) -> String {
    let last = error.attempts.last().map_or_else(String::new, |a| {
        format!(" (last: {} {}: {})", a.provider, a.model, a.error)
    });
    without_model(
        &format!("No model could be reached{last}, so the assistant cannot write an answer."),
        citations,
    )
}

/// Relays `stream` through `transform` to `shown` (which returns `false` when its reader has
/// gone); returns the text shown, the provider's usage and the outcome.
pub async fn relay(
    mut stream: EventStream,
    transform: &mut dyn Transform,
    shown: &mut (dyn FnMut(&str) -> bool + Send),
) -> (String, Option<Usage>, Outcome) {
    let (mut text, mut usage, mut outcome) = (String::new(), None, Outcome::Cut);
    while let Some(event) = stream.next().await {
        match event {
            Ok(StreamEvent::Delta(d)) => {
                let piece = transform.incoming(&d);
                if piece.is_empty() {
                    continue;
                }
                text.push_str(&piece);
                if !shown(&piece) {
                    outcome = Outcome::Cancelled;
                    break;
                }
            }
            Ok(StreamEvent::Usage(u)) => usage = Some(u),
            Ok(StreamEvent::Finish(f)) => {
                outcome = if f == FinishReason::Length {
                    Outcome::Truncated
                } else {
                    Outcome::Answered
                };
            }
            Err(error) => {
                tracing::warn!(%error, "an answer stopped midway");
                outcome = Outcome::Cut;
                break;
            }
        }
    }
    let mut rest = transform.finish();
    if outcome == Outcome::Cut {
        rest.push_str(CUT_NOTE);
    }
    if !rest.is_empty() {
        text.push_str(&rest);
        if outcome != Outcome::Cancelled {
            shown(&rest);
        }
    }
    (text, usage, outcome)
}
