-- A practice's fine-tuned models, one registration each: the base model, the provider that
-- serves it and the provider's id of it, the purpose it serves, and where training stands.
-- When one is ready, that practice's requests for its purpose go to it first (the latest
-- deployed ready model of the purpose; see ils_core::fine_tune::route).
CREATE TABLE fine_tuned_models (
    company_id        uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    id                uuid NOT NULL,
    base_model        text NOT NULL,
    provider          text NOT NULL,
    provider_model_id text NOT NULL,
    purpose           text NOT NULL CHECK (purpose IN ('chat', 'prescription_capture')),
    vision            boolean NOT NULL DEFAULT false,
    status            text NOT NULL CHECK (status IN ('training', 'ready', 'failed')),
    failure_reason    text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    deployed_at       timestamptz,
    PRIMARY KEY (company_id, id),
    CHECK (status <> 'ready' OR deployed_at IS NOT NULL),
    CHECK (status <> 'failed' OR failure_reason IS NOT NULL)
);
-- The same trained model is registered once per practice.
CREATE UNIQUE INDEX fine_tuned_models_provider_id
    ON fine_tuned_models (company_id, provider, provider_model_id);
CREATE INDEX fine_tuned_models_ready
    ON fine_tuned_models (company_id, purpose, deployed_at DESC) WHERE status = 'ready';

ALTER TABLE fine_tuned_models ENABLE ROW LEVEL SECURITY;
ALTER TABLE fine_tuned_models FORCE ROW LEVEL SECURITY;
CREATE POLICY fine_tuned_models_tenant ON fine_tuned_models
    USING (company_id = ils_current_company())
    WITH CHECK (company_id = ils_current_company());
GRANT SELECT, INSERT, UPDATE, DELETE ON fine_tuned_models TO ils_app;

-- The configuration's single fine-tuned model id gives way to the table.
UPDATE companies SET ai_config = ai_config - 'fine_tuned_model_id'
 WHERE ai_config ? 'fine_tuned_model_id';
