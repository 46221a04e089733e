//! Knowledge-base documents: add, replace, delete, search.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{Ctx, Plan, found};
use crate::access::perm;
use crate::audit::{AuditAction, AuditEvent, resource};
use crate::change::{ChangeDraft, Record};
use crate::error::{DomainError, Resource};
use crate::identity::Actor;
use crate::ids::DocumentId;
use crate::record::{DocumentFormat, DocumentRecord};
use crate::validation::{ValidationErrors, required_text};

/// A document read, split and embedded, ready to be written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocumentInput {
    pub source: String,
    pub title: String,
    pub format: DocumentFormat,
    pub sha256: String,
    pub byte_size: u64,
    pub model: String,
    pub chunks: u32,
}

/// May the actor add, replace or remove documents? Asked before any file is read.
pub fn authorize_manage(actor: &Actor) -> Result<(), DomainError> {
    actor.require(perm::KNOWLEDGE_MANAGE)
}

/// May the actor search the knowledge base?
pub fn authorize_search(actor: &Actor) -> Result<(), DomainError> {
    actor.require(perm::AI_CHAT)
}

/// The longest search, in characters, and the most results one search returns.
pub const MAX_QUERY_CHARS: usize = 2_000;
pub const MAX_RESULTS: usize = 100;

/// A search of the knowledge base: something to look for, not too long, and a sensible number
/// of results. Returns the query trimmed.
pub fn check_search(query: &str, limit: usize) -> Result<String, DomainError> {
    let mut errors = ValidationErrors::new();
    let query = query.trim();
    if query.is_empty() || query.chars().count() > MAX_QUERY_CHARS {
        errors.add(
            "q",
            "kb.query_invalid",
            format!("Search for 1 to {MAX_QUERY_CHARS} characters"),
        );
    }
    if !(1..=MAX_RESULTS).contains(&limit) {
        errors.add(
            "limit",
            "kb.limit_invalid",
            format!("Ask for 1 to {MAX_RESULTS} results"),
        );
    }
    errors.into_result()?;
    Ok(query.to_owned())
}

/// Whether `existing` already holds this content embedded by this model: re-ingesting it
/// changes nothing.
pub fn is_unchanged(existing: Option<&DocumentRecord>, sha256: &str, model: &str) -> bool {
    existing.is_some_and(|d| d.sha256 == sha256 && d.model == model)
}

/// Adds a document, or replaces `existing` (the same source) keeping its id.
pub fn ingest(
    ctx: &Ctx<'_>,
    existing: Option<&DocumentRecord>,
    input: DocumentInput,
) -> Result<Plan<DocumentRecord>, DomainError> {
    authorize_manage(ctx.actor)?;
    let mut errors = ValidationErrors::new();
    let title = errors.check(required_text(
        "title",
        &input.title,
        500,
        "kb.title_invalid",
    ));
    if input.source.trim().is_empty() || input.source.chars().count() > 4096 {
        errors.add(
            "source",
            "kb.source_invalid",
            "A document's source must be 1–4096 characters",
        );
    }
    if input.chunks == 0 {
        errors.add(
            "text",
            "kb.empty_document",
            "The document has no text to search",
        );
    }
    errors.into_result()?;
    let (id, created_at, action): (DocumentId, DateTime<Utc>, AuditAction) = match existing {
        Some(d) => (d.id, d.created_at, AuditAction::DocumentReplace),
        None => (DocumentId::new(), ctx.now, AuditAction::DocumentAdd),
    };
    let record = DocumentRecord {
        id,
        source: input.source,
        title: title.unwrap_or_default(),
        format: input.format,
        sha256: input.sha256,
        byte_size: input.byte_size,
        model: input.model,
        chunks: input.chunks,
        ingested_by: Some(ctx.actor.user_id),
        created_at,
        updated_at: ctx.now,
        passages: None,
    };
    Ok(Plan {
        // The source path may name a person; the audit row holds the id and size only.
        audit: AuditEvent::new(action, resource::DOCUMENT, id)
            .with_details(json!({ "chunks": record.chunks })),
        change: ChangeDraft::upsert(Record::Document(record.clone())),
        record,
    })
}

pub fn delete(
    ctx: &Ctx<'_>,
    existing: Option<&DocumentRecord>,
) -> Result<Plan<DocumentRecord>, DomainError> {
    authorize_manage(ctx.actor)?;
    let existing = found(existing, Resource::Document)?;
    let record = DocumentRecord {
        updated_at: ctx.now,
        passages: None,
        ..existing.clone()
    };
    Ok(Plan {
        audit: AuditEvent::new(AuditAction::DocumentDelete, resource::DOCUMENT, record.id),
        change: ChangeDraft::delete(Record::Document(record.clone())),
        record,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::Role;
    use crate::decide::fixtures::{actor, ctx};

    fn input() -> DocumentInput {
        DocumentInput {
            source: "/srv/kb/care.md".into(),
            title: "Contact lens care".into(),
            format: DocumentFormat::Markdown,
            sha256: "ab".repeat(32),
            byte_size: 1200,
            model: "all-MiniLM-L6-v2@53aa5172".into(),
            chunks: 3,
        }
    }

    #[test]
    fn add_replace_delete() {
        let admin = actor(Role::CompanyAdmin);
        let c = ctx(&admin);
        let added = ingest(&c, None, input()).expect("added");
        assert_eq!(added.audit.action, AuditAction::DocumentAdd);
        assert!(is_unchanged(
            Some(&added.record),
            &input().sha256,
            &input().model
        ));
        assert!(!is_unchanged(
            Some(&added.record),
            &input().sha256,
            "other@1"
        ));
        let replaced = ingest(&c, Some(&added.record), input()).expect("replaced");
        assert_eq!(
            replaced.record.id, added.record.id,
            "a replacement keeps the id"
        );
        assert_eq!(replaced.audit.action, AuditAction::DocumentReplace);
        assert!(!replaced.audit.details.to_string().contains("care.md"));
        let deleted = delete(&c, Some(&replaced.record)).expect("deleted");
        assert_eq!(deleted.change.operation, crate::change::Operation::Delete);
        assert_eq!(
            delete(&c, None).expect_err("gone").code(),
            "document.not_found"
        );
    }

    #[test]
    fn only_those_who_manage_ai_change_documents() {
        for (role, allowed) in [
            (Role::CompanyAdmin, true),
            (Role::Ecp, false),
            (Role::LabTech, false),
        ] {
            let a = actor(role);
            assert_eq!(ingest(&ctx(&a), None, input()).is_ok(), allowed, "{role}");
        }
        let ecp = actor(Role::Ecp);
        assert!(authorize_search(&ecp).is_ok());
        assert!(authorize_search(&actor(Role::LabTech)).is_err());
    }
}
