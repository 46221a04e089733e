//! The knowledge base as sync moves it: a document's change travels with the passages and
//! vectors of the version it names (`ils_core::record::Passage`), read from the one stored copy
//! when it is sent, so neither the outbox nor a pulled version keeps them twice. A replica with
//! the same model writes the vectors as they came; the engine embeds them again first when the
//! model differs (`engine/sync.rs`), so two models' vectors never mix.

use ils_core::DocumentId;
use ils_core::record::{DocumentRecord, Passage};
use rusqlite::{Connection, OptionalExtension, params};

use crate::store::{StoreError, blob_to_embedding, embedding_to_blob, now_text};

/// The passages of `d`'s version with their vectors, when this file holds that version (the
/// same content and model); `None` when it holds another one, or none.
pub(crate) fn passages_of(
    conn: &Connection,
    d: &DocumentRecord,
) -> Result<Option<Vec<Passage>>, StoreError> {
    let id = d.id.to_string();
    let held: Option<(String, String)> = conn
        .query_row(
            "SELECT sha256, model FROM documents WHERE id = ?1",
            [&id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    // The same test as a re-ingest's: this content, embedded by this model.
    let same = held.is_some_and(|(sha256, model)| {
        ils_core::decide::documents::is_unchanged(Some(d), &sha256, &model)
    });
    if !same {
        return Ok(None);
    }
    let mut stmt = conn.prepare_cached(
        "SELECT c.ordinal, c.heading,
                CAST(substr(CAST(d.text AS BLOB), c.byte_start + 1, c.byte_end - c.byte_start) AS TEXT),
                c.byte_start, c.byte_end, c.embedding
         FROM chunks c JOIN documents d ON d.id = c.document_id
         WHERE c.document_id = ?1 ORDER BY c.ordinal",
    )?;
    let passages = stmt
        .query_map([&id], |r| {
            let blob: Vec<u8> = r.get(5)?;
            let vector = blob_to_embedding(&blob).unwrap_or_default();
            Ok(Passage {
                ordinal: u32::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                heading: r.get(1)?,
                text: r.get(2)?,
                byte_start: u32::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
                byte_end: u32::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
                vector: Passage::encode_vector(&vector),
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(passages))
}

/// The document's text rebuilt from its passages: each at its own byte range (passages are
/// exact slices of the text, overlapping ones agree), the gaps between them blank.
fn text_of(passages: &[Passage]) -> String {
    let len = passages
        .iter()
        .map(|p| p.byte_end as usize)
        .max()
        .unwrap_or(0);
    let mut text = vec![b' '; len];
    for p in passages {
        let (start, end) = (p.byte_start as usize, p.byte_end as usize);
        if end - start == p.text.len() {
            text[start..end].copy_from_slice(p.text.as_bytes());
        }
    }
    String::from_utf8_lossy(&text).into_owned()
}

/// Writes a document that came by sync, with the vectors it came with, in `conn` (the pulled
/// page's transaction), replacing the version held. A document of this computer's with the same
/// source but another id (ingested here too, before the two met) keeps its place under a
/// source that says so.
pub(crate) fn write(
    conn: &Connection,
    d: &DocumentRecord,
    passages: &[Passage],
) -> Result<(), StoreError> {
    let id = d.id.to_string();
    conn.execute(
        "UPDATE documents SET source = source || ' (this computer, ' || substr(id, 1, 8) || ')'
         WHERE source = ?1 AND id <> ?2",
        params![d.source, id],
    )?;
    conn.execute("DELETE FROM chunks WHERE document_id = ?1", [&id])?;
    write_row(conn, d, &text_of(passages))?;
    for p in passages {
        let vector = p.decode_vector().ok_or_else(|| {
            StoreError::Encoding(format!("passage {} of document {id}: no vector", p.ordinal))
        })?;
        write_chunk(
            conn,
            &id,
            &ChunkRow {
                ordinal: i64::from(p.ordinal),
                heading: &p.heading,
                text: &p.text,
                start: i64::from(p.byte_start),
                end: i64::from(p.byte_end),
                vector: &vector,
            },
        )?;
    }
    Ok(())
}

/// A document's row (its text kept once, here), inserted or replacing the one of its id.
pub(crate) fn write_row(
    conn: &Connection,
    d: &DocumentRecord,
    text: &str,
) -> Result<(), rusqlite::Error> {
    conn.execute(
        "INSERT INTO documents (id, source, title, format, sha256, byte_size, text, model, ingested_by, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (id) DO UPDATE SET source = excluded.source, title = excluded.title,
             format = excluded.format, sha256 = excluded.sha256, byte_size = excluded.byte_size,
             text = excluded.text, model = excluded.model, ingested_by = excluded.ingested_by,
             updated_at = excluded.updated_at",
        params![
            d.id.to_string(),
            d.source,
            d.title,
            d.format.as_str(),
            d.sha256,
            i64::try_from(d.byte_size).unwrap_or(i64::MAX),
            text,
            d.model,
            d.ingested_by.map(|u| u.to_string()).unwrap_or_default(),
            now_text(d.created_at),
            now_text(d.updated_at)
        ],
    )?;
    Ok(())
}

/// One chunk as it is written.
pub(crate) struct ChunkRow<'a> {
    pub ordinal: i64,
    pub heading: &'a str,
    pub text: &'a str,
    pub start: i64,
    pub end: i64,
    pub vector: &'a [f32],
}

/// Writes a chunk of document `id`: its place and vector, and its words in the full-text index.
pub(crate) fn write_chunk(
    conn: &Connection,
    id: &str,
    c: &ChunkRow<'_>,
) -> Result<(), rusqlite::Error> {
    conn.prepare_cached(
        "INSERT INTO chunks (document_id, ordinal, heading, byte_start, byte_end, embedding)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        id,
        c.ordinal,
        c.heading,
        c.start,
        c.end,
        embedding_to_blob(c.vector)
    ])?;
    conn.prepare_cached("INSERT INTO chunks_fts (rowid, heading, text) VALUES (?1, ?2, ?3)")?
        .execute(params![conn.last_insert_rowid(), c.heading, c.text])?;
    Ok(())
}

/// Removes a document that was deleted elsewhere (its chunks, words and vectors with it).
pub(crate) fn delete(conn: &Connection, id: DocumentId) -> Result<(), StoreError> {
    conn.execute("DELETE FROM documents WHERE id = ?1", [id.to_string()])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passage(ordinal: u32, text: &str, start: u32) -> Passage {
        Passage {
            ordinal,
            heading: String::new(),
            text: text.into(),
            byte_start: start,
            byte_end: start + u32::try_from(text.len()).unwrap_or(0),
            vector: String::new(),
        }
    }

    #[test]
    fn the_text_is_rebuilt_so_that_every_passage_is_at_its_own_place() {
        let original = "Lenses: clean daily.  Frames: adjust yearly.";
        let passages = [
            passage(0, &original[0..20], 0),
            passage(1, &original[8..20], 8),
            passage(2, &original[22..], 22),
        ];
        let text = text_of(&passages);
        for p in &passages {
            assert_eq!(
                &text[p.byte_start as usize..p.byte_end as usize],
                p.text.as_str()
            );
        }
        assert_eq!(text.len(), original.len());
    }
}
