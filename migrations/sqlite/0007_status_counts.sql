-- Schema 7: the sync panel's count of refused changes reads an index of them instead of the
-- whole outbox (every change ever made on this computer). The window asks for the counts when
-- it starts and after every change; on a practice of 10,000 patients the scan read most of the
-- file, and the pages it touched stayed in the app's memory (the file is memory-mapped).

CREATE INDEX outbox_rejected ON outbox (seq) WHERE rejected_at IS NOT NULL;
