-- Schema 6: how an entry of the conflict log was resolved, and by whom. 'kept': the version
-- that won stays; 'restored': the version that lost was made the record's version again, as
-- an edit by that user (ils_core::decide::conflicts).

ALTER TABLE sync_conflicts ADD COLUMN resolution TEXT CHECK (resolution IN ('kept', 'restored'));
ALTER TABLE sync_conflicts ADD COLUMN resolved_by TEXT;
