-- The assistant's conversations on ILS Central: every user and assistant message, the
-- assistant's with the model, the provider's token counts, the latency, the configuration
-- version and the passages it was given, so that an answer can be reproduced.
CREATE TABLE ai_conversations (
    company_id uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    id         uuid NOT NULL,
    user_id    uuid NOT NULL,
    title      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (company_id, id),
    FOREIGN KEY (company_id, user_id) REFERENCES users (company_id, id) ON DELETE CASCADE
);
CREATE INDEX ai_conversations_user ON ai_conversations (company_id, user_id, updated_at DESC);

CREATE TABLE ai_messages (
    company_id      uuid NOT NULL,
    id              uuid NOT NULL,
    conversation_id uuid NOT NULL,
    role            text NOT NULL CHECK (role IN ('user', 'assistant')),
    content         text NOT NULL,
    model           text,
    provider        text,
    prompt_tokens   integer,
    output_tokens   integer,
    latency_ms      integer,
    config_version  integer,
    passage_ids     uuid[] NOT NULL DEFAULT '{}',
    outcome         text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (company_id, id),
    FOREIGN KEY (company_id, conversation_id) REFERENCES ai_conversations (company_id, id) ON DELETE CASCADE
);
CREATE INDEX ai_messages_conversation ON ai_messages (company_id, conversation_id, created_at);

ALTER TABLE ai_conversations ENABLE ROW LEVEL SECURITY;
ALTER TABLE ai_conversations FORCE ROW LEVEL SECURITY;
CREATE POLICY ai_conversations_tenant ON ai_conversations
    USING (company_id = ils_current_company())
    WITH CHECK (company_id = ils_current_company());
ALTER TABLE ai_messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE ai_messages FORCE ROW LEVEL SECURITY;
CREATE POLICY ai_messages_tenant ON ai_messages
    USING (company_id = ils_current_company())
    WITH CHECK (company_id = ils_current_company());
GRANT SELECT, INSERT, UPDATE, DELETE ON ai_conversations, ai_messages TO ils_app;
