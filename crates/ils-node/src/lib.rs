//! The ILS Desktop engine: everything the desktop app does, without a UI, so that the Tauri
//! shell, the `ils-node` CLI and the tests drive the same code: the local store (patients,
//! prescriptions, orders, audit, outbox), and the knowledge base with hybrid search.

pub mod kb;
pub mod store;

pub use store::{Actor, OutboxRow, Store, StoreError};
