//! Authentication: password hashing, signing keys and JWKS, access and refresh tokens, the
//! short cache of each user's standing, and the sign-in / refresh / sign-out flows.

pub mod keys;
pub mod password;
pub mod principal;
pub mod session;
pub mod standing;
pub mod throttle;
pub mod tokens;

pub use keys::KeyStore;
pub use password::PasswordHasher;
pub use principal::Principal;
pub use standing::StandingCache;
pub use tokens::TokenIssuer;
