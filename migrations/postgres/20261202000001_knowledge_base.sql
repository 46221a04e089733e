-- The practice's knowledge base on ILS Central: documents, their chunks with the embedding of
-- the same model the desktop uses (all-MiniLM-L6-v2, 384 dimensions, L2-normalised, so the
-- cosine distance ranks them), and a full-text vector for keyword search. Tenant tables like
-- the others: company_id in every key, row-level security forced.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE kb_documents (
    company_id     uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    id             uuid NOT NULL,
    source         text NOT NULL,
    title          text NOT NULL,
    format         text NOT NULL CHECK (format IN ('text', 'markdown', 'pdf')),
    content_sha256 text NOT NULL,
    bytes          bigint NOT NULL,
    chunks         integer NOT NULL,
    model          text NOT NULL,
    created_by     uuid,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (company_id, id),
    UNIQUE (company_id, source)
);

CREATE TABLE kb_chunks (
    company_id  uuid NOT NULL,
    id          uuid NOT NULL,
    document_id uuid NOT NULL,
    ordinal     integer NOT NULL,
    heading     text NOT NULL,
    text        text NOT NULL,
    byte_start  integer NOT NULL,
    byte_end    integer NOT NULL,
    embedding   vector(384) NOT NULL,
    tsv         tsvector GENERATED ALWAYS AS (to_tsvector('simple', heading || ' ' || text)) STORED,
    PRIMARY KEY (company_id, id),
    FOREIGN KEY (company_id, document_id) REFERENCES kb_documents (company_id, id) ON DELETE CASCADE
);
-- One HNSW graph for every tenant; a tenant's search filters it by company_id with pgvector's
-- iterative index scan (hnsw.iterative_scan), so a small tenant among large ones still gets its
-- full top k.
CREATE INDEX kb_chunks_embedding ON kb_chunks USING hnsw (embedding vector_cosine_ops);
CREATE INDEX kb_chunks_tsv ON kb_chunks USING gin (tsv);
CREATE INDEX kb_chunks_document ON kb_chunks (company_id, document_id, ordinal);

ALTER TABLE kb_documents ENABLE ROW LEVEL SECURITY;
ALTER TABLE kb_documents FORCE ROW LEVEL SECURITY;
CREATE POLICY kb_documents_tenant ON kb_documents
    USING (company_id = ils_current_company())
    WITH CHECK (company_id = ils_current_company());
ALTER TABLE kb_chunks ENABLE ROW LEVEL SECURITY;
ALTER TABLE kb_chunks FORCE ROW LEVEL SECURITY;
CREATE POLICY kb_chunks_tenant ON kb_chunks
    USING (company_id = ils_current_company())
    WITH CHECK (company_id = ils_current_company());
GRANT SELECT, INSERT, UPDATE, DELETE ON kb_documents, kb_chunks TO ils_app;
