-- The patient search's first-name branch (store::patients::search) gathers the keys of the
-- patients whose first name has the prefix from this index alone (an index-only scan), keeps a
-- page of them in (last name, first name, id) order and reads only those rows. The index it
-- replaces held the first name and id only, so each match cost a read of its row; a plan made
-- once per connection then had to choose between reading every matching row and reading the
-- practice's whole last-name index. It still serves lookups by first name (the assistant's
-- redaction, ils_assistant_turn).
CREATE INDEX IF NOT EXISTS patients_first_name_keys ON patients (company_id, first_name_key, last_name_key, id)
    INCLUDE (deleted_at);
--
-- One statement per file: Citus passes DDL on to its workers as the file's text, and a text of
-- several commands cannot be (the old index goes in the next migration).
