//! The desktop's client of ILS Central's sync endpoint (`docs/sync-protocol.md`): sign-in,
//! the practice, device registration, push and pull, over HTTP with gzip both ways. The engine
//! (`engine/sync.rs`) drives it; the store keeps what sync needs (`store/sync.rs`).

use std::io::Write as _;
use std::time::Duration;

use ils_core::DeviceId;
use ils_core::sync::{PracticeInfo, PushRequest, PushResponse};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

/// Why talking to ILS Central failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Not reachable: no network, the server down, a timeout.
    #[error("ILS Central cannot be reached at {server}: {reason}")]
    Offline { server: String, reason: String },
    /// ILS Central answered with a refusal (its code and message).
    #[error("{message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    /// An answer this build cannot read.
    #[error("ILS Central's answer could not be read: {0}")]
    Protocol(String),
    /// The address is not an http(s) URL.
    #[error("{0:?} is not the address of an ILS Central (for example https://ils.example.com)")]
    BadServer(String),
}

impl SyncError {
    pub fn code(&self) -> &str {
        match self {
            SyncError::Offline { .. } => "sync.offline",
            SyncError::Refused { code, .. } => code,
            SyncError::Protocol(_) => "sync.protocol",
            SyncError::BadServer(_) => "sync.bad_server",
        }
    }

    /// Whether a person can do something about it (sign in again, fix the address, wait).
    pub fn is_user_error(&self) -> bool {
        !matches!(self, SyncError::Protocol(_))
    }

    /// The access token was refused as expired or revoked: refresh it and try once more.
    pub(crate) fn is_expired_token(&self) -> bool {
        matches!(self, SyncError::Refused { status: 401, .. })
    }
}

/// A pulled page, its changes left as the text they came in (each is read once, by the codec).
#[derive(Debug, Deserialize)]
pub(crate) struct RawPage {
    #[allow(dead_code)]
    pub protocol: u32,
    pub changes: Vec<Box<serde_json::value::RawValue>>,
    pub cursor: i64,
    pub more: bool,
}

/// A token pair from sign-in or refresh (only what the client uses).
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct Tokens {
    pub access_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub refresh_token: String,
}

/// One ILS Central, at one address.
#[derive(Clone, Debug)]
pub(crate) struct Central {
    http: reqwest::Client,
    base: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: String,
    message: String,
}

impl Central {
    pub fn new(server: &str) -> Result<Self, SyncError> {
        let base = server.trim().trim_end_matches('/').to_owned();
        let valid = (base.starts_with("http://") || base.starts_with("https://"))
            && reqwest::Url::parse(&base).is_ok_and(|u| u.host_str().is_some());
        if !valid {
            return Err(SyncError::BadServer(server.to_owned()));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .gzip(true)
            .build()
            .map_err(|e| SyncError::Protocol(e.to_string()))?;
        Ok(Self { http, base })
    }

    pub fn server(&self) -> &str {
        &self.base
    }

    fn offline(&self, e: &reqwest::Error) -> SyncError {
        SyncError::Offline {
            server: self.base.clone(),
            reason: e.to_string(),
        }
    }

    async fn answer<T: DeserializeOwned>(
        &self,
        response: reqwest::Response,
    ) -> Result<T, SyncError> {
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| self.offline(&e))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| SyncError::Protocol(e.to_string()));
        }
        let (code, message) = match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => (body.code, body.message),
            Err(_) => (
                format!("http.{}", status.as_u16()),
                format!("ILS Central answered {status}"),
            ),
        };
        Err(SyncError::Refused {
            status: status.as_u16(),
            code,
            message,
        })
    }

    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        token: Option<&str>,
        body: &serde_json::Value,
    ) -> Result<T, SyncError> {
        let mut request = self.http.post(format!("{}{path}", self.base)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|e| self.offline(&e))?;
        self.answer(response).await
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, token: &str) -> Result<T, SyncError> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| self.offline(&e))?;
        self.answer(response).await
    }

    pub async fn login(
        &self,
        domain: &str,
        email: &str,
        password: &str,
    ) -> Result<Tokens, SyncError> {
        self.post(
            "/api/auth/login",
            None,
            &json!({"domain": domain, "email": email, "password": password}),
        )
        .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Result<Tokens, SyncError> {
        self.post(
            "/api/auth/refresh",
            None,
            &json!({"refresh_token": refresh_token}),
        )
        .await
    }

    /// When ILS Central erased the practice `company`, if it did (asked without a token: the
    /// practice's users went with it).
    pub async fn tenant_erasure(
        &self,
        company: ils_core::CompanyId,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, SyncError> {
        #[derive(Deserialize)]
        struct Erasure {
            erased_at: chrono::DateTime<chrono::Utc>,
        }
        let response = self
            .http
            .get(format!("{}/api/sync/erasures/{company}", self.base))
            .send()
            .await
            .map_err(|e| self.offline(&e))?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let erasure: Erasure = self.answer(response).await?;
        Ok(Some(erasure.erased_at))
    }

    /// Every user of the signed-in user's practice (an administrator's read).
    pub async fn users(
        &self,
        token: &str,
    ) -> Result<Vec<ils_core::decide::upload::CentralUser>, SyncError> {
        #[derive(Deserialize)]
        struct User {
            id: uuid::Uuid,
            email: String,
            role: ils_core::Role,
            status: ils_core::user::UserStatus,
        }
        #[derive(Deserialize)]
        struct Page {
            items: Vec<User>,
            next: Option<uuid::Uuid>,
        }
        let mut users = Vec::new();
        let mut after: Option<uuid::Uuid> = None;
        loop {
            let path = match after {
                Some(a) => format!("/api/users?limit=100&after={a}"),
                None => "/api/users?limit=100".to_owned(),
            };
            let page: Page = self.get(&path, token).await?;
            users.extend(
                page.items
                    .into_iter()
                    .map(|u| ils_core::decide::upload::CentralUser {
                        id: ils_core::UserId::from(u.id),
                        email: u.email,
                        role: u.role,
                        status: u.status,
                    }),
            );
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(users),
            }
        }
    }

    pub async fn practice(&self, token: &str) -> Result<PracticeInfo, SyncError> {
        self.get("/api/sync/practice", token).await
    }

    /// Registers the device; one registered already is fine. Returns its status.
    pub async fn register(
        &self,
        token: &str,
        device: DeviceId,
        name: &str,
        code: Option<&str>,
    ) -> Result<String, SyncError> {
        #[derive(Deserialize)]
        struct Registered {
            status: String,
        }
        let body = json!({"device": device.to_string(), "name": name, "code": code});
        match self
            .post::<Registered>("/api/sync/devices", Some(token), &body)
            .await
        {
            Ok(r) => Ok(r.status),
            Err(SyncError::Refused { code, .. }) if code == "device.already_registered" => {
                Ok("registered".into())
            }
            Err(e) => Err(e),
        }
    }

    /// Pushes a batch, its body compressed.
    pub async fn push(
        &self,
        token: &str,
        request: &PushRequest,
    ) -> Result<PushResponse, SyncError> {
        let json = serde_json::to_vec(request).map_err(|e| SyncError::Protocol(e.to_string()))?;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&json)
            .and_then(|()| gz.flush())
            .map_err(|e| SyncError::Protocol(e.to_string()))?;
        let body = gz
            .finish()
            .map_err(|e| SyncError::Protocol(e.to_string()))?;
        let response = self
            .http
            .post(format!("{}/api/sync/push", self.base))
            .bearer_auth(token)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::CONTENT_ENCODING, "gzip")
            .body(body)
            .send()
            .await
            .map_err(|e| self.offline(&e))?;
        self.answer(response).await
    }

    /// A page after `cursor`; with `wait` (seconds), ILS Central holds the request until the
    /// practice's next change when nothing follows the cursor (a long poll).
    pub async fn pull(
        &self,
        token: &str,
        device: DeviceId,
        cursor: i64,
        limit: u32,
        wait: Option<u32>,
    ) -> Result<RawPage, SyncError> {
        let wait = wait.map(|s| format!("&wait={s}")).unwrap_or_default();
        self.get(
            &format!("/api/sync/pull?device={device}&cursor={cursor}&limit={limit}{wait}"),
            token,
        )
        .await
    }
}
