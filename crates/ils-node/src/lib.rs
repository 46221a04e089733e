//! The ILS Desktop engine: everything the desktop app does, without a UI. The Tauri shell, the
//! `ils-node` CLI (crate `ils-cli`) and the tests call its API ([`engine::Engine`]); under it,
//! the local store (the practice and its users, patients, prescriptions, orders, audit, the
//! outbox of typed changes) carries out the decisions of `ils_core::decide`, and the knowledge
//! base embeds documents on the device and searches them by vector, keyword or both.

pub mod assistant;
pub mod engine;
pub mod kb;
pub mod store;
pub mod sync;
mod vault;

pub use engine::{Engine, EngineError, EngineResult, NodeSettings};
pub use store::{OutboxRow, Store, StoreError};
pub use vault::Kept;
