//! The assistant: who may ask, whose conversation a question may continue, and what a question
//! may be. Both halves ask these before retrieving anything or calling a model.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::access::perm;
use crate::audit::{AuditAction, AuditEvent, resource};
use crate::error::{DomainError, Resource};
use crate::fine_tune::{self, FineTuneStatus, FineTunedModel, NewFineTunedModel};
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
) -> Result<AuditEvent, DomainError> {
    authorize(actor)?;
    match owner {
        Some(owner) if owner == actor.user_id || actor.allows(perm::USERS_READ) => {
            Ok(AuditEvent::new(
                AuditAction::ConversationRead,
                resource::CONVERSATION,
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

/// The days a usage report covers: 1 to 366, 30 when not given.
pub fn usage_days(days: Option<i32>) -> Result<i32, DomainError> {
    match days {
        None => Ok(30),
        Some(d @ 1..=366) => Ok(d),
        Some(d) => Err(DomainError::invalid(
            "usage.days_out_of_range",
            format!("days must be between 1 and 366, got {d}"),
        )),
    }
}

/// May the actor see the practice's fine-tuned models (company administrators)?
pub fn read_models(actor: &Actor) -> Result<(), DomainError> {
    actor.require(perm::COMPANY_READ)
}

/// Registers a fine-tuned model (company administrators, who edit the AI configuration).
pub fn register_model(
    actor: &Actor,
    id: uuid::Uuid,
    input: &NewFineTunedModel,
    known_providers: &[&str],
    now: DateTime<Utc>,
) -> Result<(FineTunedModel, AuditEvent), DomainError> {
    actor.require(perm::COMPANY_UPDATE)?;
    let model = fine_tune::register(id, input, known_providers, now)?;
    let event = AuditEvent::new(AuditAction::ModelRegister, resource::FINE_TUNED_MODEL, id)
        .with_details(json!({
            "purpose": model.purpose.as_str(),
            "provider": model.provider,
            "base_model": model.base_model,
        }));
    Ok((model, event))
}

/// Moves a fine-tuned model to `next`; a model of another practice or none is not found.
pub fn change_model_status(
    actor: &Actor,
    current: Option<&FineTunedModel>,
    next: FineTuneStatus,
    failure_reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(FineTunedModel, AuditEvent), DomainError> {
    actor.require(perm::COMPANY_UPDATE)?;
    let current = current.ok_or(DomainError::NotFound(Resource::FineTunedModel))?;
    let model = fine_tune::transition(current, next, failure_reason, now)?;
    let event = AuditEvent::new(
        AuditAction::ModelStatus,
        resource::FINE_TUNED_MODEL,
        model.id,
    )
    .with_details(json!({
        "from": current.status.as_str(),
        "to": next.as_str(),
        "purpose": model.purpose.as_str(),
    }));
    Ok((model, event))
}

/// Removes a fine-tuned model's registration (a ready one stops being used at once).
pub fn delete_model(
    actor: &Actor,
    current: Option<&FineTunedModel>,
) -> Result<AuditEvent, DomainError> {
    actor.require(perm::COMPANY_UPDATE)?;
    let current = current.ok_or(DomainError::NotFound(Resource::FineTunedModel))?;
    Ok(AuditEvent::new(
        AuditAction::ModelDelete,
        resource::FINE_TUNED_MODEL,
        current.id,
    )
    .with_details(json!({
        "status": current.status.as_str(),
        "purpose": current.purpose.as_str(),
    })))
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

    #[test]
    fn usage_covers_1_to_366_days() {
        assert_eq!(usage_days(None).ok(), Some(30));
        assert_eq!(usage_days(Some(366)).ok(), Some(366));
        for bad in [0, -1, 367] {
            assert!(usage_days(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_company_administrators_manage_fine_tuned_models() {
        let now: DateTime<Utc> = "2026-12-02T10:00:00Z".parse().expect("time");
        let input = NewFineTunedModel {
            base_model: "gpt-4o-mini".into(),
            provider: "openai".into(),
            provider_model_id: "ft:gpt-4o-mini:x::1".into(),
            purpose: crate::fine_tune::AiPurpose::Chat,
            vision: false,
        };
        let id = uuid::Uuid::nil();
        for role in [Role::Ecp, Role::LabTech, Role::Engineer] {
            assert!(
                matches!(
                    register_model(&actor(role), id, &input, &["openai"], now),
                    Err(DomainError::Forbidden { .. })
                ),
                "{role:?}"
            );
        }
        let admin = actor(Role::CompanyAdmin);
        let (model, event) = register_model(&admin, id, &input, &["openai"], now).expect("admin");
        assert_eq!(event.action, AuditAction::ModelRegister);
        assert!(read_models(&admin).is_ok());
        let (ready, event) =
            change_model_status(&admin, Some(&model), FineTuneStatus::Ready, None, now)
                .expect("ready");
        assert_eq!(event.details["to"], "ready");
        assert!(matches!(
            change_model_status(&admin, None, FineTuneStatus::Ready, None, now),
            Err(DomainError::NotFound(Resource::FineTunedModel))
        ));
        assert!(matches!(
            change_model_status(
                &actor(Role::Ecp),
                Some(&model),
                FineTuneStatus::Ready,
                None,
                now
            ),
            Err(DomainError::Forbidden { .. })
        ));
        assert_eq!(
            delete_model(&admin, Some(&ready)).expect("deleted").action,
            AuditAction::ModelDelete
        );
        assert!(delete_model(&admin, None).is_err());
    }
}
