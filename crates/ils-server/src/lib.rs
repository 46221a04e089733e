//! ILS Central: the multi-tenant service.
//!
//! Layers, outermost first: `http` (axum handlers that parse, authorise and call one function),
//! `accounts` / `tenants` / `auth::session` (the rules), `store` (SQL over a tenant-bound
//! transaction from `db`). See ARCHITECTURE.md for the map and the invariants.

pub mod accounts;
pub mod app;
pub mod assistant;
pub mod auth;
pub mod capture;
pub mod clinical;
pub mod config;
pub mod db;
pub mod error;
pub mod fine_tuning;
pub mod http;
pub mod knowledge;
pub mod metrics;
pub mod rate_limit;
pub mod shared;
pub mod store;
pub mod sync;
pub mod telemetry;
pub mod tenants;

pub use app::AppState;
pub use config::Settings;
pub use error::{Error, Result};
