-- Signing keys are sealed: `private_key_der` holds the private key encrypted
-- (XChaCha20-Poly1305, the key id as associated data) under a key-encryption key that comes from
-- the service's configuration, never from the database. A database read alone, by the service
-- role or from a backup, yields nothing that can sign a token. Keys written before are sealed by
-- the service at its next start (`sealed` tells them apart).
ALTER TABLE signing_keys ADD COLUMN sealed boolean NOT NULL DEFAULT false;
