//! What ILS Desktop and ILS Central share for AI. For now: the local embedding model.
//!
//! Later issues add the text chunker and the LLM providers here, so that the desktop and the
//! central service chunk, embed and prompt exactly alike.

pub mod embed;

pub use embed::{EmbedError, Embedder, ModelId};
