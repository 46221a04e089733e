//! argon2id password hashing, run off the async workers.

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::{Error, Result};

#[derive(Clone, Debug)]
pub struct PasswordHasher {
    params: Params,
    /// A hash of a random password, verified against when the account does not exist, so that
    /// sign-in takes as long for an unknown e-mail as for a wrong password.
    dummy_hash: String,
}

impl PasswordHasher {
    pub fn new(memory_kib: u32, iterations: u32) -> Result<Self> {
        let params = Params::new(memory_kib, iterations, 1, None)
            .map_err(|e| Error::Internal(format!("invalid argon2 parameters: {e}")))?;
        let mut hasher = Self {
            params,
            dummy_hash: String::new(),
        };
        let random: [u8; 16] = rand::random();
        hasher.dummy_hash = hasher.hash_blocking(&base64_url(&random))?;
        Ok(hasher)
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    fn hash_blocking(&self, password: &str) -> Result<String> {
        let salt: [u8; 16] = rand::random();
        self.argon2()
            .hash_password_with_salt(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::Internal(format!("password hashing failed: {e}")))
    }

    fn verify_blocking(&self, password: &str, hash: &str) -> bool {
        // Verification takes the parameters stored in the hash, so hashes made with older
        // parameters keep working.
        PasswordVerifier::<str>::verify_password(&self.argon2(), password.as_bytes(), hash).is_ok()
    }

    pub async fn hash(&self, password: String) -> Result<String> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.hash_blocking(&password))
            .await
            .map_err(|e| Error::Internal(format!("hashing task failed: {e}")))?
    }

    /// Verifies `password` against `hash`, or against a dummy hash when there is no account.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || match hash {
            Some(hash) => this.verify_blocking(&password, &hash),
            None => {
                this.verify_blocking(&password, &this.dummy_hash);
                false
            }
        })
        .await
        .map_err(|e| Error::Internal(format!("verification task failed: {e}")))
    }
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_are_argon2id() {
        let hasher = PasswordHasher::new(1024, 1).expect("params");
        let hash = hasher
            .hash("correct horse battery".into())
            .await
            .expect("hash");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(
            hasher
                .verify("correct horse battery".into(), Some(hash.clone()))
                .await
                .expect("v")
        );
        assert!(
            !hasher
                .verify("wrong horse battery".into(), Some(hash))
                .await
                .expect("v")
        );
        assert!(!hasher.verify("anything".into(), None).await.expect("v"));
        assert!(
            !hasher
                .verify("x".into(), Some("not a hash".into()))
                .await
                .expect("v")
        );
    }
}
