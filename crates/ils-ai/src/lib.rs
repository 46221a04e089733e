//! What ILS Desktop and ILS Central share for AI: the text chunker and the local embedding
//! model, so that the desktop and the central service chunk and embed exactly alike. Later
//! issues add the LLM providers and prompt assembly here.

pub mod bert;
pub mod chunk;
pub mod embed;

pub use chunk::{Chunk, ChunkOptions, chunk};
pub use embed::{EmbedError, Embedder, ModelId};
