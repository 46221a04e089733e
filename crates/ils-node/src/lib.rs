//! The ILS Desktop engine: everything the desktop app does, without a UI, so that the Tauri
//! shell, a CLI and tests drive the same code. For now: the local store with its migrations and
//! the outbox. Later: knowledge base, assistant, sync client, CLI.

pub mod store;

pub use store::{OutboxRow, Store, StoreError};
