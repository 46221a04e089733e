//! The assistant: who may ask, whose conversation a question may continue, and what a question
//! may be. Both halves ask these before retrieving anything or calling a model.

use crate::access::perm;
use crate::error::{DomainError, Resource};
use crate::identity::Actor;
use crate::ids::UserId;
use crate::validation::{ValidationErrors, is_invisible};

/// The longest question, in characters.
pub const MAX_QUESTION_CHARS: usize = 4_000;

/// May the actor use the assistant at all? Asked before anything is looked up.
pub fn authorize(actor: &Actor) -> Result<(), DomainError> {
    actor.require(perm::AI_CHAT)
}

/// May the actor read a conversation that `owner` started? The same rule as continuing it; the
/// read is audited.
pub fn read_conversation(
    actor: &Actor,
    conversation: &str,
    owner: Option<UserId>,
) -> Result<crate::audit::AuditEvent, DomainError> {
    authorize(actor)?;
    match owner {
        Some(owner) if owner == actor.user_id || actor.allows(perm::USERS_READ) => {
            Ok(crate::audit::AuditEvent::new(
                crate::audit::AuditAction::ConversationRead,
                crate::audit::resource::CONVERSATION,
                conversation,
            ))
        }
        _ => Err(DomainError::NotFound(Resource::Conversation)),
    }
}

/// May the actor see the practice's assistant usage (company administrators)?
pub fn authorize_usage(actor: &Actor) -> Result<(), DomainError> {
    actor.require(perm::COMPANY_READ)
}

/// Whether the actor sees every conversation of the practice (administrators) or only their own.
pub fn sees_all_conversations(actor: &Actor) -> bool {
    actor.allows(perm::USERS_READ)
}

/// Checks a question before anything is done with it; returns it trimmed.
///
/// `conversation_owner` is the user who started the conversation it continues (`None` for a
/// new one). A user continues their own conversations; a company administrator (who reads
/// users) may continue any of the practice's. Anyone else is told it does not exist.
pub fn ask(
    actor: &Actor,
    question: &str,
    conversation_owner: Option<UserId>,
) -> Result<String, DomainError> {
    authorize(actor)?;
    if let Some(owner) = conversation_owner
        && owner != actor.user_id
        && !actor.allows(perm::USERS_READ)
    {
        return Err(DomainError::NotFound(Resource::Conversation));
    }
    let question = question.trim();
    let visible = question.chars().filter(|c| !is_invisible(*c)).count();
    if visible == 0 || question.chars().count() > MAX_QUESTION_CHARS {
        return Err(ValidationErrors::single(
            "question",
            "assistant.question_invalid",
            format!("The question must be 1 to {MAX_QUESTION_CHARS} characters"),
        )
        .into());
    }
    Ok(question.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::Role;
    use crate::decide::fixtures::actor;

    #[test]
    fn who_asks_what_and_in_whose_conversation() {
        let ecp = actor(Role::Ecp);
        let other = actor(Role::Ecp);
        let admin = actor(Role::CompanyAdmin);
        assert_eq!(
            ask(&ecp, "  Which lens?  ", None).expect("asks"),
            "Which lens?"
        );
        assert!(ask(&ecp, "Which lens?", Some(ecp.user_id)).is_ok());
        assert!(matches!(
            ask(&other, "Which lens?", Some(ecp.user_id)),
            Err(DomainError::NotFound(Resource::Conversation))
        ));
        assert!(ask(&admin, "Which lens?", Some(ecp.user_id)).is_ok());
        assert!(matches!(
            ask(&actor(Role::LabTech), "Which lens?", None),
            Err(DomainError::Forbidden { .. })
        ));
        for bad in [
            "",
            "   ",
            "\u{200b}\u{feff}",
            &"x".repeat(MAX_QUESTION_CHARS + 1),
        ] {
            assert!(ask(&ecp, bad, None).is_err(), "{bad:?}");
        }
    }
}
