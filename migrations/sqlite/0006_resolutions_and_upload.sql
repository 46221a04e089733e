-- Schema 6: how an entry of the conflict log was resolved, and by whom; the users of a
-- practice that started offline, as they became users of ILS Central; knowledge-base documents
-- waiting in the outbox.
--
-- A resolution is 'kept' (the version that won stays) or 'restored' (the version that lost was
-- made the record's version again, as an edit by that user; ils_core::decide::conflicts).

ALTER TABLE sync_conflicts ADD COLUMN resolution TEXT CHECK (resolution IN ('kept', 'restored'));
ALTER TABLE sync_conflicts ADD COLUMN resolved_by TEXT;

-- A practice that started offline and joined ILS Central: each local user became the ILS
-- Central user with the same e-mail address, and took that id everywhere except in the audit
-- log, which never changes; entries sent to ILS Central's trail name the ILS Central user.
CREATE TABLE user_aliases (
    local_id   TEXT PRIMARY KEY,
    central_id TEXT NOT NULL
) STRICT;

-- Knowledge-base documents wait in the outbox until ILS Central takes them; those it refused
-- as "not supported yet" wait again instead of showing as refused changes.
UPDATE outbox SET rejected_at = NULL, rejected_code = NULL, rejected_message = NULL
    WHERE entity = 'document' AND rejected_code = 'sync.entity_not_supported';
