-- A device's own audit log reaches the practice's audit trail, each entry once: ILS Central
-- keeps, per device, the position of the last entry it took.
CREATE TABLE sync_audit_marks (
    company_id uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    device     text NOT NULL,
    last_seq   bigint NOT NULL,
    PRIMARY KEY (company_id, device)
);
ALTER TABLE sync_audit_marks ENABLE ROW LEVEL SECURITY;
ALTER TABLE sync_audit_marks FORCE ROW LEVEL SECURITY;
CREATE POLICY sync_audit_marks_tenant ON sync_audit_marks
    USING (company_id = ils_current_company())
    WITH CHECK (company_id = ils_current_company());
GRANT SELECT, INSERT, UPDATE, DELETE ON sync_audit_marks TO ils_app;
