//! Where this computer keeps its sign-in with ILS Central between runs: the refresh token, so
//! that a device that started offline syncs by itself once ILS Central can be reached, and an
//! expired access token is renewed without asking for the password again.
//!
//! The token goes into the operating system's keychain (Secret Service on Linux, the macOS
//! Keychain, the Windows Credential Manager) when one answers. Where none runs (a kiosk, a
//! server without a desktop session), it is sealed in a file beside the database with
//! XChaCha20-Poly1305 under a key derived from the user's password with Argon2id and the file's
//! own random salt: the file alone opens nothing, and the key lives only in memory while the
//! user is signed in. The token never goes into the database, a log, or an error message.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The keychain's service name for ILS Desktop's entries.
const SERVICE: &str = "ILS Desktop";

/// Where a sign-in is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kept {
    /// The operating system's keychain.
    Keychain,
    /// A file beside the database, sealed under a key derived from the user's password.
    EncryptedFile,
}

/// The key that seals the session file, derived from the user's password.
#[derive(Clone)]
pub(crate) struct FileKey {
    salt: [u8; 16],
    key: [u8; 32],
}

impl std::fmt::Debug for FileKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FileKey(..)")
    }
}

impl FileKey {
    /// A key for a new file: Argon2id of the password with a fresh salt (never the salt of
    /// the offline verifier kept in the database, whose hash would then be this key).
    pub fn new(password: &str) -> Option<Self> {
        Self::derive(password, rand::random())
    }

    fn derive(password: &str, salt: [u8; 16]) -> Option<Self> {
        let mut key = [0u8; 32];
        argon2::Argon2::default()
            .hash_password_into(password.as_bytes(), &salt, &mut key)
            .ok()?;
        Some(Self { salt, key })
    }
}

/// The session file as stored.
#[derive(Serialize, Deserialize)]
struct Sealed {
    v: u32,
    salt: String,
    nonce: String,
    sealed: String,
}

/// The keychain and the file fallback for one database.
#[derive(Clone, Debug)]
pub(crate) struct Vault {
    db: PathBuf,
    keychain: bool,
}

impl Vault {
    /// The vault for the database at `db`; `keychain: false` keeps sessions in the file only.
    pub fn new(db: &Path, keychain: bool) -> Self {
        Self {
            db: db.to_owned(),
            keychain,
        }
    }

    /// The name a sign-in is kept under: the user, the practice and the server.
    pub fn account(server: &str, domain: &str, email: &str) -> String {
        format!("{} at {domain} on {server}", email.to_lowercase())
    }

    fn file(&self, account: &str) -> PathBuf {
        let digest = Sha256::digest(account.as_bytes());
        let name: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        let mut path = self.db.clone().into_os_string();
        path.push(format!(".session-{name}"));
        PathBuf::from(path)
    }

    fn entry(&self, account: &str) -> Option<keyring::Entry> {
        if !self.keychain {
            return None;
        }
        keyring::Entry::new(SERVICE, account).ok()
    }

    /// Keeps `token` for `account`: in the keychain when one answers (the file, if any, is
    /// removed), else sealed in the file under `key`. `None` when neither could be written (the
    /// session then lasts as long as the program).
    pub fn keep(&self, account: &str, token: &str, key: &FileKey) -> Option<Kept> {
        if let Some(entry) = self.entry(account) {
            match entry.set_password(token) {
                Ok(()) => {
                    let _ = std::fs::remove_file(self.file(account));
                    return Some(Kept::Keychain);
                }
                Err(e) => tracing::debug!("no keychain ({e}); the sign-in is kept in a file"),
            }
        }
        match self.seal(account, token, key) {
            Ok(()) => Some(Kept::EncryptedFile),
            Err(e) => {
                tracing::warn!("the sign-in with ILS Central cannot be kept: {e}");
                None
            }
        }
    }

    fn seal(&self, account: &str, token: &str, key: &FileKey) -> std::io::Result<()> {
        let cipher = XChaCha20Poly1305::new(&key.key.into());
        let nonce: [u8; 24] = rand::random();
        let sealed = cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: token.as_bytes(),
                    aad: account.as_bytes(),
                },
            )
            .map_err(|_| std::io::Error::other("cannot seal the session"))?;
        let text = serde_json::to_vec(&Sealed {
            v: 1,
            salt: B64.encode(key.salt),
            nonce: B64.encode(nonce),
            sealed: B64.encode(sealed),
        })?;
        let path = self.file(account);
        let temporary = path.with_extension("tmp");
        write_private(&temporary, &text)?;
        std::fs::rename(&temporary, &path)
    }

    /// The token kept for `account`, and the file key to keep its successors with. The file is
    /// opened with `password`; a wrong password or an altered file gives nothing.
    pub fn take(&self, account: &str, password: &str) -> Option<(String, FileKey, Kept)> {
        if let Some(entry) = self.entry(account)
            && let Ok(token) = entry.get_password()
        {
            return Some((token, FileKey::new(password)?, Kept::Keychain));
        }
        let text = std::fs::read(self.file(account)).ok()?;
        let stored: Sealed = serde_json::from_slice(&text).ok()?;
        let salt: [u8; 16] = B64.decode(stored.salt).ok()?.try_into().ok()?;
        let nonce: [u8; 24] = B64.decode(stored.nonce).ok()?.try_into().ok()?;
        let sealed = B64.decode(stored.sealed).ok()?;
        let key = FileKey::derive(password, salt)?;
        let token = XChaCha20Poly1305::new(&key.key.into())
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &sealed,
                    aad: account.as_bytes(),
                },
            )
            .ok()?;
        Some((String::from_utf8(token).ok()?, key, Kept::EncryptedFile))
    }

    /// Forgets the sign-in kept for `account` (refused by ILS Central, or signed out for good).
    pub fn forget(&self, account: &str) {
        if let Some(entry) = self.entry(account) {
            let _ = entry.delete_credential();
        }
        let _ = std::fs::remove_file(self.file(account));
    }
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault(dir: &tempfile::TempDir) -> Vault {
        Vault::new(&dir.path().join("ils.db"), false)
    }

    #[test]
    fn a_token_sealed_in_the_file_opens_only_with_the_password_and_for_its_account() {
        let dir = tempfile::tempdir().expect("dir");
        let vault = vault(&dir);
        let account = Vault::account("https://ils.example", "demo.example", "Ada@Demo.example");
        let key = FileKey::new("correct horse").expect("key");
        assert_eq!(
            vault.keep(&account, "refresh-token-1", &key),
            Some(Kept::EncryptedFile)
        );
        let file = vault.file(&account);
        let bytes = std::fs::read(&file).expect("file");
        assert!(
            !String::from_utf8_lossy(&bytes).contains("refresh-token-1"),
            "the token is not in the file's bytes"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&file).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (token, again, kept) = vault.take(&account, "correct horse").expect("opens");
        assert_eq!(
            (token.as_str(), kept),
            ("refresh-token-1", Kept::EncryptedFile)
        );
        assert!(vault.take(&account, "wrong horse").is_none());
        let other = Vault::account("https://ils.example", "demo.example", "bob@demo.example");
        assert!(vault.take(&other, "correct horse").is_none());

        // A rotated token is kept with the key taken at sign-in, no password needed.
        vault.keep(&account, "refresh-token-2", &again);
        let (token, _, _) = vault.take(&account, "correct horse").expect("opens");
        assert_eq!(token, "refresh-token-2");

        // An altered file opens nothing.
        let mut stored: Sealed =
            serde_json::from_slice(&std::fs::read(&file).expect("file")).expect("json");
        let mut sealed = B64.decode(&stored.sealed).expect("b64");
        sealed[0] ^= 1;
        stored.sealed = B64.encode(sealed);
        std::fs::write(&file, serde_json::to_vec(&stored).expect("json")).expect("write");
        assert!(vault.take(&account, "correct horse").is_none());

        vault.forget(&account);
        assert!(!file.exists());
    }

    #[test]
    fn without_a_keychain_service_the_file_takes_over() {
        // On a machine with no D-Bus session (CI, a server), the keychain cannot answer.
        if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some() {
            return;
        }
        let dir = tempfile::tempdir().expect("dir");
        let vault = Vault::new(&dir.path().join("ils.db"), true);
        let account = Vault::account("https://ils.example", "demo.example", "ada@demo.example");
        let key = FileKey::new("pw").expect("key");
        assert_eq!(vault.keep(&account, "t", &key), Some(Kept::EncryptedFile));
        assert_eq!(
            vault.take(&account, "pw").map(|(t, _, k)| (t, k)),
            Some(("t".to_owned(), Kept::EncryptedFile))
        );
    }
}
