//! Access tokens (EdDSA JWTs) and refresh tokens (opaque, random, stored hashed).

use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ils_core::{AccessClaims, CompanyId, Role, UserId};
use jsonwebtoken::{Algorithm, Header, Validation};
use sha2::{Digest, Sha256};

use super::keys::KeyStore;
use crate::config::AuthSettings;
use crate::error::{Error, Result};

#[derive(Clone, Debug)]
pub struct TokenIssuer {
    keys: KeyStore,
    issuer: String,
    audience: String,
    access_ttl: Duration,
    leeway_secs: u64,
    validation: Validation,
    verified: Arc<VerifiedTokens>,
}

/// Access tokens this replica has already verified, kept until they expire, so that a client
/// making many requests with one token pays for the signature check once. An entry is only
/// ever made by a full verification, is keyed by the whole token (so a changed byte misses),
/// and is honoured only while its signing key is still accepted and the token has not expired;
/// the user's and tenant's standing is checked on every request regardless. Bounded: when full,
/// tokens are verified without being remembered until housekeeping drops expired entries.
#[derive(Debug, Default)]
struct VerifiedTokens {
    entries: DashMap<Box<str>, VerifiedToken>,
}

#[derive(Debug)]
struct VerifiedToken {
    kid: Box<str>,
    claims: AccessClaims,
}

/// Remembered tokens at most (about 1 KB each).
const VERIFIED_TOKENS_MAX: usize = 50_000;

pub(crate) fn invalid_token() -> Error {
    Error::unauthorized("auth.invalid_token", "The access token is invalid")
}

impl TokenIssuer {
    pub fn new(keys: KeyStore, settings: &AuthSettings) -> Self {
        // Only EdDSA: `none`, HS256 signed with the public key and every other algorithm are
        // refused before any signature check.
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
        validation.leeway = settings.leeway_secs.min(30);
        validation.validate_exp = true;
        // A `nbf` claim, when present, must not lie in the future (beyond the leeway).
        validation.validate_nbf = true;
        Self {
            keys,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            access_ttl: Duration::from_secs(settings.access_ttl_secs),
            leeway_secs: validation.leeway,
            validation,
            verified: Arc::default(),
        }
    }

    /// Forgets remembered tokens that have expired (run by housekeeping).
    pub fn purge_expired(&self) {
        let now = chrono::Utc::now().timestamp();
        let leeway = i64::try_from(self.leeway_secs).unwrap_or(30);
        self.verified
            .entries
            .retain(|_, t| t.claims.exp.saturating_add(leeway) >= now);
    }

    pub fn keys(&self) -> &KeyStore {
        &self.keys
    }

    pub fn access_ttl(&self) -> Duration {
        self.access_ttl
    }

    pub fn issue_access(
        &self,
        user: UserId,
        company: CompanyId,
        role: Role,
        version: i32,
    ) -> Result<String> {
        let now = chrono::Utc::now().timestamp();
        let claims = AccessClaims {
            sub: user,
            company_id: company,
            role,
            permissions: role.permission_strings(),
            iat: now,
            exp: now + self.access_ttl.as_secs() as i64,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            jti: uuid::Uuid::now_v7().to_string(),
            ver: version,
        };
        let (kid, key) = self.keys.signing_key();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid);
        jsonwebtoken::encode(&header, &claims, &key)
            .map_err(|e| Error::Internal(format!("could not sign an access token: {e}")))
    }

    /// Verifies signature, algorithm, issuer, audience, expiry and the presence of every claim
    /// (once per token and replica; see [`VerifiedTokens`]).
    pub fn verify_access(&self, token: &str) -> Result<AccessClaims> {
        if let Some(known) = self.verified.entries.get(token) {
            let now = chrono::Utc::now().timestamp();
            let leeway = i64::try_from(self.leeway_secs).unwrap_or(30);
            if known.claims.exp.saturating_add(leeway) < now {
                drop(known);
                self.verified.entries.remove(token);
                return Err(Error::unauthorized(
                    "auth.token_expired",
                    "The access token has expired",
                ));
            }
            if self.keys.accepts(&known.kid) {
                return Ok(known.claims.clone());
            }
            drop(known);
            self.verified.entries.remove(token);
        }
        let (kid, claims) = self.verify_signed(token)?;
        if self.verified.entries.len() < VERIFIED_TOKENS_MAX {
            self.verified.entries.insert(
                token.into(),
                VerifiedToken {
                    kid: kid.into(),
                    claims: claims.clone(),
                },
            );
        }
        Ok(claims)
    }

    /// The full check of a token: its key id and its claims.
    fn verify_signed(&self, token: &str) -> Result<(String, AccessClaims)> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid_token())?;
        if header.alg != Algorithm::EdDSA {
            return Err(invalid_token());
        }
        let kid = header.kid.ok_or_else(invalid_token)?;
        let key = self.keys.verifier(&kid).ok_or_else(|| {
            Error::unauthorized(
                "auth.unknown_key",
                "The access token was signed with an unknown key",
            )
        })?;
        match jsonwebtoken::decode::<AccessClaims>(token, &key, &self.validation) {
            Ok(data) => Ok((kid, self.check_lifetime(data.claims)?)),
            Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::ExpiredSignature) => Err(
                Error::unauthorized("auth.token_expired", "The access token has expired"),
            ),
            Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::ImmatureSignature) => {
                Err(Error::unauthorized(
                    "auth.token_from_the_future",
                    "The access token is not valid yet",
                ))
            }
            Err(_) => Err(invalid_token()),
        }
    }
}

impl TokenIssuer {
    /// A correctly signed token must still look like one this service issues: a lifetime of at
    /// most the configured access lifetime (plus the leeway), issued no later than now (plus the
    /// leeway). So a signing key that leaked through a database read cannot mint tokens that
    /// outlive its rotation, or that wait to become valid.
    fn check_lifetime(&self, claims: AccessClaims) -> Result<AccessClaims> {
        let now = chrono::Utc::now().timestamp();
        let leeway = i64::try_from(self.leeway_secs).unwrap_or(30);
        let longest = i64::try_from(self.access_ttl.as_secs()).unwrap_or(i64::MAX) + leeway;
        if claims.exp.saturating_sub(claims.iat) > longest {
            return Err(Error::unauthorized(
                "auth.token_lifetime",
                "The access token lives longer than this service issues tokens for",
            ));
        }
        if claims.iat > now.saturating_add(leeway) {
            return Err(Error::unauthorized(
                "auth.token_from_the_future",
                "The access token claims to be issued in the future",
            ));
        }
        Ok(claims)
    }
}

/// A refresh token names its tenant in clear, so that its hash can be looked up inside that
/// tenant only: `ilsr.<company id>.<32 random bytes>`. Knowing the tenant id gains nothing
/// without the random part.
pub fn new_refresh_token(company: CompanyId) -> (String, Vec<u8>) {
    let secret: [u8; 32] = rand::random();
    let token = format!(
        "ilsr.{}.{}",
        company.as_uuid().simple(),
        URL_SAFE_NO_PAD.encode(secret)
    );
    let hash = hash_refresh_token(&token);
    (token, hash)
}

pub fn hash_refresh_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The tenant a refresh token claims; verified only when its hash is found in that tenant.
pub fn refresh_token_tenant(token: &str) -> Option<CompanyId> {
    let mut parts = token.split('.');
    let (Some("ilsr"), Some(company), Some(secret), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    if secret.len() != 43 {
        return None;
    }
    uuid::Uuid::try_parse(company)
        .ok()
        .map(CompanyId::from_uuid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_name_their_tenant() {
        let company = CompanyId::new();
        let (token, hash) = new_refresh_token(company);
        assert_eq!(refresh_token_tenant(&token), Some(company));
        assert_eq!(hash, hash_refresh_token(&token));
        for bad in [
            "",
            "ilsr",
            "ilsr.x.y",
            &format!("{token}.extra"),
            &token.replace("ilsr", "ilsx"),
        ] {
            assert_eq!(refresh_token_tenant(bad), None, "{bad:?}");
        }
    }
}
