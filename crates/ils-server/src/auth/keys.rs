//! Ed25519 signing keys: generated here, stored in `signing_keys` sealed under the
//! key-encryption key of the configuration (so that a database read alone cannot sign a token),
//! published as a JWKS, reloaded periodically by every replica so that a rotation takes effect
//! without a restart.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{DecodingKey, EncodingKey};
use serde::Serialize;
use sqlx::PgPool;

use crate::error::{Error, Result};
use crate::store::signing_keys;

/// One published key in JWKS form (RFC 8037 for Ed25519).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Jwk {
    pub kty: &'static str,
    pub crv: &'static str,
    pub x: String,
    pub kid: String,
    pub alg: &'static str,
    #[serde(rename = "use")]
    pub use_: &'static str,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

struct KeySet {
    active_kid: String,
    active: EncodingKey,
    verifiers: HashMap<String, DecodingKey>,
    jwks: Jwks,
}

/// The key that seals the signing keys at rest: 32 bytes from the configuration
/// (`auth.key_encryption_key`, base64), never stored in the database.
#[derive(Clone)]
pub struct KeyEncryptionKey([u8; 32]);

impl std::fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyEncryptionKey([redacted])")
    }
}

impl KeyEncryptionKey {
    /// From its base64 text (standard or URL-safe alphabet, padding optional).
    pub fn from_base64(text: &str) -> Result<Self> {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE};
        let text = text.trim();
        let bytes = [&STANDARD, &URL_SAFE, &URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(text).ok())
            .or_else(|| {
                base64::engine::general_purpose::STANDARD_NO_PAD
                    .decode(text)
                    .ok()
            })
            .ok_or_else(|| Error::Internal("auth.key_encryption_key is not base64".into()))?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| {
            Error::Internal(
                "auth.key_encryption_key must be 32 bytes (e.g. `openssl rand -base64 32`)".into(),
            )
        })?;
        Ok(Self(key))
    }

    /// `nonce ‖ ciphertext` of `private_key`, bound to `kid`.
    pub fn seal(&self, kid: &str, private_key: &[u8]) -> Result<Vec<u8>> {
        use chacha20poly1305::aead::{Aead, KeyInit, Payload};
        let cipher = chacha20poly1305::XChaCha20Poly1305::new(&self.0.into());
        let nonce_bytes: [u8; 24] = rand::random();
        let nonce = chacha20poly1305::XNonce::from(nonce_bytes);
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: private_key,
                    aad: kid.as_bytes(),
                },
            )
            .map_err(|_| Error::Internal("could not seal a signing key".into()))?;
        Ok([nonce.as_slice(), &sealed].concat())
    }

    /// The private key sealed by [`KeyEncryptionKey::seal`] for `kid`.
    pub fn unseal(&self, kid: &str, sealed: &[u8]) -> Result<Vec<u8>> {
        use chacha20poly1305::aead::{Aead, KeyInit, Payload};
        let cipher = chacha20poly1305::XChaCha20Poly1305::new(&self.0.into());
        let wrong = || {
            Error::Internal(format!(
                "the signing key {kid} cannot be opened with this auth.key_encryption_key (a different key sealed it, or the row was altered)"
            ))
        };
        if sealed.len() < 24 {
            return Err(wrong());
        }
        let (nonce, ciphertext) = sealed.split_at(24);
        let nonce: [u8; 24] = nonce.try_into().map_err(|_| wrong())?;
        cipher
            .decrypt(
                &chacha20poly1305::XNonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: kid.as_bytes(),
                },
            )
            .map_err(|_| wrong())
    }
}

#[derive(Clone)]
pub struct KeyStore {
    pool: PgPool,
    kek: KeyEncryptionKey,
    publish_secs: u64,
    set: Arc<RwLock<Arc<KeySet>>>,
    /// When the last on-demand reload ran (`None`: never).
    last_reload: Arc<tokio::sync::Mutex<Option<std::time::Instant>>>,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore").finish_non_exhaustive()
    }
}

fn generate() -> Result<(String, Vec<u8>, Vec<u8>)> {
    let seed: [u8; 32] = rand::random();
    let key = SigningKey::from_bytes(&seed);
    let der = key
        .to_pkcs8_der()
        .map_err(|e| Error::Internal(format!("could not encode the signing key: {e}")))?;
    let public = key.verifying_key().to_bytes().to_vec();
    let kid_bytes: [u8; 12] = rand::random();
    let kid = format!("ils-{}", URL_SAFE_NO_PAD.encode(kid_bytes));
    Ok((kid, der.as_bytes().to_vec(), public))
}

impl KeyStore {
    /// Loads the keys, creating the first one when none is active.
    pub async fn open(pool: PgPool, publish_secs: u64, kek: KeyEncryptionKey) -> Result<Self> {
        // Keys stored before sealing existed are sealed now.
        for (kid, plaintext) in signing_keys::unsealed(&pool).await? {
            signing_keys::seal(&pool, &kid, &kek.seal(&kid, &plaintext)?).await?;
        }
        let (kid, der, public) = generate()?;
        let mut tx = pool.begin().await?;
        signing_keys::rotate(
            &mut tx,
            &kid,
            &kek.seal(&kid, &der)?,
            &public,
            publish_secs,
            true,
        )
        .await?;
        tx.commit().await?;
        let set = Self::load_set(&pool, &kek).await?;
        Ok(Self {
            pool,
            kek,
            publish_secs,
            set: Arc::new(RwLock::new(Arc::new(set))),
            last_reload: Arc::new(tokio::sync::Mutex::new(None)),
        })
    }

    async fn load_set(pool: &PgPool, kek: &KeyEncryptionKey) -> Result<KeySet> {
        let rows = signing_keys::load_current(pool).await?;
        let active = rows
            .iter()
            .find(|k| k.retired_at.is_none())
            .ok_or_else(|| Error::Internal("no active signing key".into()))?;
        let mut verifiers = HashMap::new();
        let mut jwks = Vec::new();
        for row in &rows {
            let x = URL_SAFE_NO_PAD.encode(&row.public_key);
            let key = DecodingKey::from_ed_components(&x)
                .map_err(|e| Error::Internal(format!("bad stored public key {}: {e}", row.kid)))?;
            verifiers.insert(row.kid.clone(), key);
            jwks.push(Jwk {
                kty: "OKP",
                crv: "Ed25519",
                x,
                kid: row.kid.clone(),
                alg: "EdDSA",
                use_: "sig",
            });
        }
        Ok(KeySet {
            active_kid: active.kid.clone(),
            active: EncodingKey::from_ed_der(&if active.sealed {
                kek.unseal(&active.kid, &active.private_key_der)?
            } else {
                // Sealed at the next start; until then another replica may still be reading it.
                active.private_key_der.clone()
            }),
            verifiers,
            jwks: Jwks { keys: jwks },
        })
    }

    fn current(&self) -> Arc<KeySet> {
        // A poisoned lock only means a writer panicked mid-swap of an Arc; the value is whole.
        self.set.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Re-reads the keys from the database (rotation by another replica, expiry of old keys).
    pub async fn reload(&self) -> Result<()> {
        let set = Self::load_set(&self.pool, &self.kek).await?;
        *self.set.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(set);
        Ok(())
    }

    /// Reloads when the last on-demand reload is older than `min_interval`, e.g. when a token names a key
    /// this replica has not seen yet because another replica just rotated. Returns whether it
    /// reloaded; concurrent callers wait for one reload instead of each running their own.
    pub async fn reload_if_older_than(&self, min_interval: Duration) -> Result<bool> {
        let mut last = self.last_reload.lock().await;
        if last.is_some_and(|at| at.elapsed() < min_interval) {
            return Ok(false);
        }
        self.reload().await?;
        *last = Some(std::time::Instant::now());
        Ok(true)
    }

    /// Makes a new key the signing key inside the caller's transaction (so the rotation and its
    /// audit row commit together); the old key stays published for verification. Call
    /// [`KeyStore::reload`] after the commit.
    pub async fn rotate_in(&self, conn: &mut sqlx::PgConnection) -> Result<String> {
        let (kid, der, public) = generate()?;
        let sealed = self.kek.seal(&kid, &der)?;
        signing_keys::rotate(conn, &kid, &sealed, &public, self.publish_secs, false).await?;
        Ok(kid)
    }

    pub fn signing_key(&self) -> (String, EncodingKey) {
        let set = self.current();
        (set.active_kid.clone(), set.active.clone())
    }

    pub fn verifier(&self, kid: &str) -> Option<DecodingKey> {
        self.current().verifiers.get(kid).cloned()
    }

    /// Whether tokens signed with `kid` are still accepted (the key is loaded, not retired).
    pub fn accepts(&self, kid: &str) -> bool {
        self.current().verifiers.contains_key(kid)
    }

    pub fn jwks(&self) -> Jwks {
        self.current().jwks.clone()
    }

    /// Reloads every `interval` until the process ends.
    pub fn spawn_reloader(&self, interval: Duration) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                if let Err(error) = this.reload().await {
                    tracing::warn!(%error, "could not reload signing keys; keeping the current ones");
                }
            }
        })
    }
}
