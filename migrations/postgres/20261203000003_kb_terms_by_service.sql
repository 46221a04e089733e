-- kb_terms (how many of a practice's passages hold each word) is now kept by the service
-- (`store::kb`) in the transaction that writes or deletes the passages, instead of by statement
-- triggers on kb_chunks. The counts stay exact: every write of kb_chunks goes through
-- `store::kb` (a document added, replaced or deleted), and a tenant's erasure removes its
-- kb_terms with its passages (foreign keys to companies).
--
-- Why: on a distributed PostgreSQL (Citus; docs/citus.md, blocker C) a trigger runs on a
-- shard, where it may not reach other shards and cannot see its transition tables through
-- Citus's planner; the service's statements filter on the tenant and the document, so each is
-- one shard's work there and a plain statement here.
DROP TRIGGER kb_chunks_terms_inserted ON kb_chunks;
DROP TRIGGER kb_chunks_terms_deleted ON kb_chunks;
DROP TRIGGER kb_chunks_terms_updated ON kb_chunks;
DROP FUNCTION ils_kb_terms_inserted();
DROP FUNCTION ils_kb_terms_deleted();
DROP FUNCTION ils_kb_terms_updated();
