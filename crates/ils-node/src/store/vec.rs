//! sqlite-vec: registration with SQLite, and the vector encodings the store writes.

use std::sync::Once;

/// all-MiniLM-L6-v2 vectors: 384 little-endian f32.
pub const DIMENSIONS: usize = 384;
pub const EMBEDDING_BYTES: usize = DIMENSIONS * 4;

/// Registers sqlite-vec as an auto extension, once per process, before any connection opens:
/// every connection then has `vec0` and the `vec_*` functions.
pub(crate) fn register() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        type EntryPoint = unsafe extern "C" fn(
            *mut rusqlite::ffi::sqlite3,
            *mut *mut std::os::raw::c_char,
            *const rusqlite::ffi::sqlite3_api_routines,
        ) -> std::os::raw::c_int;
        #[expect(
            unsafe_code,
            reason = "SQLite's C API is the only way to register a statically linked extension"
        )]
        // SAFETY: `sqlite3_vec_init` is sqlite-vec's extension entry point, which has exactly
        // SQLite's xEntryPoint signature; the crate declares it without arguments, so the
        // pointer is only re-typed, never called with a different ABI. The pointer is 'static
        // and registered once (`Once`).
        unsafe {
            let entry = std::mem::transmute::<*const (), EntryPoint>(
                sqlite_vec::sqlite3_vec_init as *const (),
            );
            rusqlite::ffi::sqlite3_auto_extension(Some(entry));
        }
    });
}

/// The blob the `chunks.embedding` column stores.
pub fn embedding_to_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Reads a stored blob back; `None` when it is not 384 floats.
pub fn blob_to_embedding(blob: &[u8]) -> Option<Vec<f32>> {
    (blob.len() == EMBEDDING_BYTES).then(|| {
        blob.chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_vec_reads_the_stored_blobs_and_they_round_trip() {
        register();
        let conn = rusqlite::Connection::open_in_memory().expect("memory");
        let v: Vec<f32> = (0..DIMENSIONS)
            .map(|i| ((i * 7919) % 13) as f32 - 6.0)
            .collect();
        let (length, first): (i64, f64) = conn
            .query_row(
                "SELECT vec_length(?1), json_extract(vec_to_json(?1), '$[1]')",
                [embedding_to_blob(&v)],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("sqlite-vec reads the blob");
        assert_eq!((length, first), (DIMENSIONS as i64, f64::from(v[1])));
        assert_eq!(blob_to_embedding(&embedding_to_blob(&v)), Some(v));
        assert_eq!(blob_to_embedding(&[0u8; 12]), None);
    }
}
