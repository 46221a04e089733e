-- The practice's AI configuration is versioned: every change of it (the system prompt above
-- all) takes the next number, and each assistant message records the version it was answered
-- under, so that an answer can be reproduced.
ALTER TABLE companies ADD COLUMN ai_config_version integer NOT NULL DEFAULT 1;
