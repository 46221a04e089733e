//! The harness: each test spawns ILS Central on a free loopback port against its own fresh
//! database on the shared throwaway PostgreSQL, and talks to it over real HTTP.

#![allow(dead_code)]

use ils_core::{Role, SubscriptionTier};
use ils_server::config::Settings;
use ils_server::{AppState, db, http};
use ils_testkit::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

pub const PASSWORD: &str = "correct horse battery staple";
/// The tests' key-encryption key (32 bytes, base64): tests that mint tokens unseal with it.
pub const KEY_ENCRYPTION_KEY: &str = "aWxzLXRlc3Qta2V5LWVuY3J5cHRpb24ta2V5LTMyYnk=";
pub const PLATFORM_DOMAIN: &str = "platform.ils.test";
pub const PLATFORM_EMAIL: &str = "operator@platform.ils.test";

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub db: TestDb,
    pub state: AppState,
    /// The platform administrator's access token.
    pub platform_token: String,
    pub settings: Settings,
}

/// Another replica of the service on the same database, as behind a load balancer.
pub struct Replica {
    pub base: String,
    pub state: AppState,
}

/// A tenant created for a test, with its first company administrator signed in.
#[derive(Clone, Debug)]
pub struct Tenant {
    pub id: String,
    pub domain: String,
    pub admin_token: String,
    pub admin_id: String,
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    /// The field paths a validation error names, in order.
    pub fn fields(&self) -> Vec<&str> {
        self.body["details"]["fields"]
            .as_array()
            .map(|fields| fields.iter().filter_map(|f| f["field"].as_str()).collect())
            .unwrap_or_default()
    }
}

pub fn test_settings(db: &TestDb) -> Settings {
    let mut settings = Settings::default();
    settings.database.url = ils_server::config::Secret::new(db.service_url.clone());
    settings.database.max_connections = 8;
    // Cheaper argon2id than production so the suite stays fast; the algorithm is the same.
    settings.auth.argon2_memory_kib = 4096;
    settings.auth.key_encryption_key = Some(ils_server::config::Secret::new(KEY_ENCRYPTION_KEY));
    settings.auth.argon2_iterations = 1;
    // The checkout's model, found above whichever crate's tests include this harness.
    let crate_dir = std::path::PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()),
    );
    settings.ai.model_dir = crate_dir
        .ancestors()
        .map(|dir| dir.join("models/all-MiniLM-L6-v2"))
        .find(|dir| dir.is_dir());
    settings
}

async fn serve(state: AppState) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let header_timeout =
        std::time::Duration::from_millis(state.settings.http.header_read_timeout_ms);
    let router = http::router(state);
    tokio::spawn(http::serve(
        listener,
        router,
        header_timeout,
        std::future::pending(),
    ));
    base
}

/// With `ILS_TEST_LOG` set (a tracing filter, e.g. `ils_server=debug`), the service's log goes
/// to the test's output: how a 500 in a test is diagnosed.
fn init_test_log() {
    if let Ok(filter) = std::env::var("ILS_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(configure: impl FnOnce(&mut Settings)) -> Self {
        init_test_log();
        let db = TestDb::create(&db::MIGRATOR)
            .await
            .expect("a fresh test database");
        let mut settings = test_settings(&db);
        configure(&mut settings);
        let state = AppState::build(settings.clone())
            .await
            .expect("the service starts");
        ils_server::tenants::bootstrap_platform(
            &state,
            "ILS Platform",
            PLATFORM_DOMAIN,
            ils_server::accounts::NewUserInput {
                email: PLATFORM_EMAIL.into(),
                password: PASSWORD.into(),
                first_name: "Pat".into(),
                last_name: "Operator".into(),
                role: Role::PlatformAdmin,
            },
        )
        .await
        .expect("bootstrap")
        .expect("a new platform");
        let base = serve(state.clone()).await;
        let client = reqwest::Client::new();
        let mut app = Self {
            base,
            client,
            db,
            state,
            platform_token: String::new(),
            settings,
        };
        app.platform_token = app.login(PLATFORM_DOMAIN, PLATFORM_EMAIL, PASSWORD).await;
        app
    }

    /// Starts a second instance of the service on the same database.
    pub async fn replica(&self) -> Replica {
        self.replica_with(|_| {}).await
    }

    /// Another replica on the same database, with some settings of its own.
    pub async fn replica_with(&self, configure: impl FnOnce(&mut Settings)) -> Replica {
        let mut settings = self.settings.clone();
        configure(&mut settings);
        let state = AppState::build(settings).await.expect("the replica starts");
        let base = serve(state.clone()).await;
        Replica { base, state }
    }

    pub async fn owner_pool(&self) -> PgPool {
        PgPool::connect(&self.db.owner_url)
            .await
            .expect("owner connection")
    }

    /// A pool of the service's role, connected as the service connects (on Citus, with
    /// `citus.propagate_set_commands = 'local'`, which `Db::connect` sets).
    pub async fn service_pool(&self, max: u32) -> PgPool {
        let mut options: sqlx::postgres::PgConnectOptions =
            self.db.service_url.parse().expect("service url");
        if ils_testkit::on_citus() {
            options = options.options([("citus.propagate_set_commands", "local")]);
        }
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(max)
            .connect_with(options)
            .await
            .expect("service connection")
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.send(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.send(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Reply {
        self.send(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Reply {
        self.send(Method::DELETE, path, Some(token), None).await
    }

    pub async fn login_reply(&self, domain: &str, email: &str, password: &str) -> Reply {
        self.send(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({ "domain": domain, "email": email, "password": password })),
        )
        .await
    }

    /// Signs in and returns the access token.
    pub async fn login(&self, domain: &str, email: &str, password: &str) -> String {
        let reply = self.login_reply(domain, email, password).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "login of {email}: {:?}",
            reply.body
        );
        reply.body["access_token"]
            .as_str()
            .expect("access token")
            .to_owned()
    }

    /// Creates a tenant through the platform API with a company administrator.
    pub async fn create_tenant(&self, label: &str, tier: SubscriptionTier) -> Tenant {
        let domain = format!(
            "{label}-{}.example",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let admin_email = format!("admin@{domain}");
        let reply = self
            .post(
                "/api/platform/companies",
                &self.platform_token,
                json!({
                    "name": format!("{label} Optics"), "domain": domain, "tier": tier.as_str(),
                    "admin": { "email": admin_email, "password": PASSWORD, "first_name": "Ada", "last_name": "Admin" }
                }),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "create tenant: {:?}",
            reply.body
        );
        let id = reply.body["id"].as_str().expect("id").to_owned();
        let admin_token = self.login(&domain, &admin_email, PASSWORD).await;
        let me = self.get("/api/me", &admin_token).await;
        Tenant {
            id,
            domain,
            admin_token,
            admin_id: me.body["id"].as_str().expect("me.id").to_owned(),
        }
    }

    /// Adds a user with `role` to the tenant and signs them in: (user id, token).
    pub async fn add_user(&self, tenant: &Tenant, role: Role) -> (String, String) {
        let email = format!(
            "{}-{}@{}",
            role.as_str().replace('_', "-"),
            &uuid::Uuid::new_v4().simple().to_string()[..6],
            tenant.domain
        );
        let reply = self
            .post(
                "/api/users",
                &tenant.admin_token,
                json!({ "email": email, "password": PASSWORD, "first_name": "Sam", "last_name": "Staff", "role": role.as_str() }),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "add {role}: {:?}",
            reply.body
        );
        let id = reply.body["id"].as_str().expect("id").to_owned();
        let token = self.login(&tenant.domain, &email, PASSWORD).await;
        (id, token)
    }
}
