//! ILS Central's integration tests: one binary, one module per concern, all against a real
//! PostgreSQL over real HTTP.

mod common;

mod api_document;
mod assistant;
mod auth_jwt;
mod backup;
mod bad_input;
mod capture;
mod clinical;
mod cross_tenant;
mod kb;
mod observability;
mod platform_and_users;
mod rate_limits;
mod reads;
mod rls;
mod role_matrix;
mod sign_in;
mod sync;
mod timeouts;
