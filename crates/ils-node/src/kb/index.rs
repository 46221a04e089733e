//! The knowledge base's vector index, kept in this process's memory and consistent with the
//! file.
//!
//! Every chunk's vector is held as an 8-bit code (each component scaled by 127 over the
//! vector's largest magnitude, with that scale kept beside it): 388 bytes a chunk, 39 MB at
//! 100,000 chunks. A search scans every code with the CPU's best integer dot product (simsimd
//! picks AVX-512 VNNI, AVX2 or plain code at run time) and keeps the best candidates, which the
//! caller rescores with the full-precision vectors of `chunks.embedding`. A scan costs n dot
//! products plus a linear-time selection, instead of sqlite-vec's k × n top-k selection, and
//! 8-bit codes rank almost exactly as the vectors do (1-bit codes lost a tenth of the true top
//! ten at 100,000 chunks; see the README's search figures).
//!
//! Consistency: `kb_generation` moves on with every chunk written or deleted, by trigger, in the
//! writer's transaction, whichever process writes. The index remembers the generation it was
//! built at; a search reads the generation inside its read transaction and, when it moved, brings
//! the index up to date first (chunks gone are dropped, new ones read), so a search never sees a
//! chunk the file no longer has, nor misses one it has.

use rusqlite::{Connection, params};
use simsimd::SpatialSimilarity;

use crate::store::{DIMENSIONS, blob_to_embedding};

/// The in-memory index of one embedding model's chunks (a practice's documents all use the
/// model that embedded them; a search is for the model the engine runs).
#[derive(Debug, Default)]
pub(crate) struct VectorIndex {
    built: Option<Built>,
}

#[derive(Debug)]
struct Built {
    model: String,
    generation: i64,
    /// Chunk ids, ascending; `codes` and `scales` follow the same order.
    ids: Vec<i64>,
    codes: Vec<i8>,
    scales: Vec<f32>,
}

/// A vector's 8-bit code and the scale that gives its components back (component ≈ code ×
/// scale). A zero vector has scale 0.
pub(crate) fn quantize(v: &[f32]) -> (Vec<i8>, f32) {
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    if max == 0.0 || !max.is_finite() {
        return (vec![0; v.len()], 0.0);
    }
    let k = 127.0 / max;
    let code = v
        .iter()
        // In range by construction: |x| ≤ max, so |x × k| ≤ 127.
        .map(|x| (x * k).round().clamp(-127.0, 127.0) as i8)
        .collect();
    (code, max / 127.0)
}

impl Built {
    fn empty(model: &str, generation: i64) -> Self {
        Self {
            model: model.to_owned(),
            generation,
            ids: Vec::new(),
            codes: Vec::new(),
            scales: Vec::new(),
        }
    }

    fn push(&mut self, id: i64, blob: &[u8]) {
        // A blob that is not 384 floats (the schema's CHECK forbids it) is left out rather than
        // failing every search.
        if let Some(v) = blob_to_embedding(blob) {
            let (code, scale) = quantize(&v);
            self.ids.push(id);
            self.codes.extend_from_slice(&code);
            self.scales.push(scale);
        }
    }
}

fn generation(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT value FROM kb_generation WHERE id = 1", [], |r| {
        r.get(0)
    })
}

impl VectorIndex {
    /// Brings the index up to date with the file for `model`. Call inside the read transaction
    /// the search then reads the chunks in, so both see the same state.
    pub(crate) fn refresh(&mut self, conn: &Connection, model: &str) -> rusqlite::Result<()> {
        let now = generation(conn)?;
        match self.built.take() {
            Some(b) if b.model == model && b.generation == now => self.built = Some(b),
            Some(old) if old.model == model => {
                self.built = Some(Self::update(conn, old, now)?);
            }
            _ => self.built = Some(Self::build(conn, model, now)?),
        }
        Ok(())
    }

    fn build(conn: &Connection, model: &str, generation: i64) -> rusqlite::Result<Built> {
        let mut built = Built::empty(model, generation);
        let mut stmt = conn.prepare_cached(
            "SELECT c.id, c.embedding FROM chunks c
             JOIN documents d ON d.id = c.document_id AND d.model = ?1
             ORDER BY c.id",
        )?;
        let mut rows = stmt.query([model])?;
        while let Some(r) = rows.next()? {
            let blob = r.get_ref(1)?.as_blob()?;
            built.push(r.get(0)?, blob);
        }
        Ok(built)
    }

    /// The chunks the file has now, in id order: those the index has keep their codes, the
    /// others are read; those the file no longer has are dropped.
    fn update(conn: &Connection, old: Built, generation: i64) -> rusqlite::Result<Built> {
        let mut ids_stmt = conn.prepare_cached(
            "SELECT c.id FROM chunks c
             JOIN documents d ON d.id = c.document_id AND d.model = ?1
             ORDER BY c.id",
        )?;
        let ids: Vec<i64> = ids_stmt
            .query_map([&old.model], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let mut one = conn.prepare_cached("SELECT embedding FROM chunks WHERE id = ?1")?;
        let mut built = Built::empty(&old.model, generation);
        built.ids.reserve(ids.len());
        built.scales.reserve(ids.len());
        built.codes.reserve(ids.len() * DIMENSIONS);
        let mut at = 0usize;
        for id in ids {
            while at < old.ids.len() && old.ids[at] < id {
                at += 1;
            }
            if at < old.ids.len() && old.ids[at] == id {
                built.ids.push(id);
                built
                    .codes
                    .extend_from_slice(&old.codes[at * DIMENSIONS..(at + 1) * DIMENSIONS]);
                built.scales.push(old.scales[at]);
                at += 1;
            } else {
                let blob: Vec<u8> = one.query_row(params![id], |r| r.get(0))?;
                built.push(id, &blob);
            }
        }
        Ok(built)
    }

    /// Chunks indexed.
    pub(crate) fn len(&self) -> usize {
        self.built.as_ref().map_or(0, |b| b.ids.len())
    }

    /// The `candidates` chunks whose codes score best against `query` (a unit vector), as
    /// (chunk id, approximate cosine), best first.
    pub(crate) fn nearest(&self, query: &[f32], candidates: usize) -> Vec<(i64, f32)> {
        let Some(b) = &self.built else {
            return Vec::new();
        };
        if b.ids.is_empty() || candidates == 0 || query.len() != DIMENSIONS {
            return Vec::new();
        }
        let (q, q_scale) = quantize(query);
        let mut scored: Vec<(f32, u32)> = b
            .codes
            .chunks_exact(DIMENSIONS)
            .zip(&b.scales)
            .enumerate()
            .map(|(i, (code, scale))| {
                let dot = i8::dot(code, &q).unwrap_or(0.0) as f32;
                (dot * scale * q_scale, i as u32)
            })
            .collect();
        let keep = candidates.min(scored.len());
        if keep < scored.len() {
            scored.select_nth_unstable_by(keep - 1, |a, b| b.0.total_cmp(&a.0));
            scored.truncate(keep);
        }
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        scored
            .into_iter()
            .map(|(s, i)| (b.ids[i as usize], s))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut v: Vec<f32> = (0..DIMENSIONS)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s % 2001) as f32 / 1000.0 - 1.0
            })
            .collect();
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= n);
        v
    }

    #[test]
    fn codes_give_the_vector_back_closely() {
        let v = unit(7);
        let (code, scale) = quantize(&v);
        let back: Vec<f32> = code.iter().map(|c| f32::from(*c) * scale).collect();
        let dot: f32 = v.iter().zip(&back).map(|(a, b)| a * b).sum();
        assert!(dot > 0.999, "cosine of a vector with its code {dot}");
        assert_eq!(quantize(&[0.0; 4]), (vec![0; 4], 0.0));
        assert_eq!(quantize(&[f32::INFINITY, 1.0]).1, 0.0);
    }

    #[test]
    fn approximate_scores_rank_as_exact_ones() {
        let vectors: Vec<Vec<f32>> = (0..500).map(unit).collect();
        let mut b = Built::empty("m", 0);
        for (i, v) in vectors.iter().enumerate() {
            b.push(i as i64 * 2, &crate::store::embedding_to_blob(v));
        }
        let index = VectorIndex { built: Some(b) };
        let q = unit(10_001);
        let got = index.nearest(&q, 10);
        let mut exact: Vec<(i64, f32)> = vectors
            .iter()
            .enumerate()
            .map(|(i, v)| (i as i64 * 2, v.iter().zip(&q).map(|(a, b)| a * b).sum()))
            .collect();
        exact.sort_by(|a, b| b.1.total_cmp(&a.1));
        assert_eq!(got.len(), 10);
        assert_eq!(got[0].0, exact[0].0);
        let found = exact[..10]
            .iter()
            .filter(|(id, _)| got.iter().any(|g| g.0 == *id))
            .count();
        assert!(found >= 9, "{found} of the exact top ten");
        for (id, s) in &got {
            let e = exact
                .iter()
                .find(|x| x.0 == *id)
                .map(|x| x.1)
                .unwrap_or(0.0);
            assert!((s - e).abs() < 0.01, "approximate {s} exact {e}");
        }
        assert!(index.nearest(&q, 0).is_empty());
        assert_eq!(index.nearest(&q, 10_000).len(), 500);
    }
}
