//! What ILS Desktop and ILS Central share for retrieval: text extraction, the chunker and the
//! local embedding model, so that the desktop and the central service read, chunk and embed
//! exactly alike. The language-model providers and prompt assembly are in `ils-llm` (async).

pub mod bert;
pub mod chunk;
pub mod embed;
pub mod extract;
pub mod retrieval;

pub use chunk::{Chunk, ChunkOptions, chunk};
pub use embed::{EmbedError, Embedder, ModelId};
pub use extract::{ExtractError, Extracted, Format, extract};
