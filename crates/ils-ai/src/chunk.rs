//! Splitting documents into overlapping chunks for retrieval, the same way on the desktop and
//! on the server.
//!
//! Markdown headings start new sections, and every chunk remembers the headings above it (for
//! the prompt and for citations). Within a section, text is cut only between sentences: whole
//! sentences are packed up to `max_chars`, and the next chunk starts with the last sentences of
//! the previous one (up to `overlap_chars`) so that a fact spanning a boundary is found from
//! either side. A single sentence longer than `max_chars` is cut at whitespace. Every chunk
//! records its byte range in the original text, so a citation can point at the exact passage.

/// How to chunk. The defaults (about 200 tokens a chunk for English prose, 20 % overlap) suit
/// all-MiniLM-L6-v2, which reads at most 256 tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkOptions {
    pub max_chars: usize,
    pub overlap_chars: usize,
}

impl Default for ChunkOptions {
    fn default() -> Self {
        Self {
            max_chars: 900,
            overlap_chars: 180,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// Position of the chunk in the document, from 0.
    pub ordinal: usize,
    /// The headings above the chunk, outermost first.
    pub headings: Vec<String>,
    /// The chunk's text, exactly `document[start..end]`.
    pub text: String,
    pub start: usize,
    pub end: usize,
}

impl Chunk {
    /// What to embed: the heading path, then the text.
    pub fn embedding_text(&self) -> String {
        if self.headings.is_empty() {
            self.text.clone()
        } else {
            format!("{}\n{}", self.headings.join(" > "), self.text)
        }
    }
}

/// Words after which a full stop does not end a sentence.
const ABBREVIATIONS: [&str; 14] = [
    "dr", "mr", "mrs", "ms", "prof", "e.g", "i.e", "etc", "vs", "approx", "no", "fig", "st", "z.b",
];

/// Byte ranges of the sentences of `text` (offsets relative to `text`), trimmed of surrounding
/// whitespace. A blank line always ends a sentence.
fn sentences(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let end_here = match c {
            b'.' | b'!' | b'?' => {
                let next = bytes.get(i + 1).copied();
                let followed_by_space = next.is_none_or(|n| n.is_ascii_whitespace());
                let word_start = text[..i]
                    .rfind(|ch: char| ch.is_whitespace())
                    .map_or(0, |p| p + 1);
                let word = text[word_start..i]
                    .trim_start_matches(['(', '"', '\''])
                    .to_lowercase();
                let abbreviation = c == b'.' && ABBREVIATIONS.contains(&word.as_str());
                let initial =
                    c == b'.' && word.chars().count() == 1 && word.chars().all(char::is_alphabetic);
                followed_by_space && !abbreviation && !initial
            }
            b'\n' => {
                bytes.get(i + 1) == Some(&b'\n')
                    || text[i + 1..]
                        .trim_start_matches([' ', '\t'])
                        .starts_with(['-', '*'])
            }
            _ => false,
        };
        if end_here {
            push_trimmed(text, start, i + 1, &mut out);
            start = i + 1;
        }
        i += 1;
    }
    push_trimmed(text, start, text.len(), &mut out);
    out
}

fn push_trimmed(text: &str, start: usize, end: usize, out: &mut Vec<(usize, usize)>) {
    let slice = &text[start..end];
    let lead = slice.len() - slice.trim_start().len();
    let trail = slice.len() - slice.trim_end().len();
    if lead + trail < slice.len() {
        out.push((start + lead, end - trail));
    }
}

/// Cuts a too-long sentence at whitespace into pieces of at most `max` bytes (or at a char
/// boundary when a single word is longer).
fn split_long(text: &str, (start, end): (usize, usize), max: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut s = start;
    while end - s > max {
        let mut cut = s + max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        if let Some(space) = text[s..cut].rfind(char::is_whitespace).filter(|p| *p > 0) {
            cut = s + space;
        }
        push_trimmed(text, s, cut, &mut out);
        s = cut;
    }
    push_trimmed(text, s, end, &mut out);
    out
}

/// A Markdown ATX heading (`## Title`): its level and title.
fn heading(line: &str) -> Option<(usize, String)> {
    let trimmed = line.trim_start();
    let level = trimmed.chars().take_while(|c| *c == '#').count();
    if (1..=6).contains(&level) && trimmed[level..].starts_with(' ') {
        Some((
            level,
            trimmed[level..]
                .trim()
                .trim_end_matches('#')
                .trim()
                .to_owned(),
        ))
    } else {
        None
    }
}

/// Splits `document` into chunks.
pub fn chunk(document: &str, options: ChunkOptions) -> Vec<Chunk> {
    let max = options.max_chars.max(50);
    let overlap = options.overlap_chars.min(max / 2);
    // Sections: (heading path, byte range of the body).
    let mut sections: Vec<(Vec<String>, usize, usize)> = Vec::new();
    let mut path: Vec<(usize, String)> = Vec::new();
    let mut body_start = 0;
    let mut offset = 0;
    for line in document.split_inclusive('\n') {
        if let Some((level, title)) = heading(line) {
            sections.push((
                path.iter().map(|(_, t)| t.clone()).collect(),
                body_start,
                offset,
            ));
            path.retain(|(l, _)| *l < level);
            path.push((level, title));
            body_start = offset + line.len();
        }
        offset += line.len();
    }
    sections.push((
        path.iter().map(|(_, t)| t.clone()).collect(),
        body_start,
        document.len(),
    ));

    let mut chunks = Vec::new();
    for (headings, start, end) in sections {
        let body = &document[start..end];
        let pieces: Vec<(usize, usize)> = sentences(body)
            .into_iter()
            .flat_map(|s| split_long(body, s, max))
            .map(|(s, e)| (start + s, start + e))
            .collect();
        let mut i = 0;
        while i < pieces.len() {
            // Pack whole pieces up to `max`.
            let first = i;
            let mut last = i;
            while last + 1 < pieces.len() && pieces[last + 1].1 - pieces[first].0 <= max {
                last += 1;
            }
            let (s, e) = (pieces[first].0, pieces[last].1);
            chunks.push(Chunk {
                ordinal: chunks.len(),
                headings: headings.clone(),
                text: document[s..e].to_owned(),
                start: s,
                end: e,
            });
            if last + 1 >= pieces.len() {
                break;
            }
            // The next chunk starts with the last pieces that fit in the overlap (always moving on).
            let mut next = last + 1;
            while next > first + 1 && pieces[last].1 - pieces[next - 1].0 <= overlap {
                next -= 1;
            }
            i = next;
        }
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(doc: &str, max: usize, overlap: usize) -> Vec<String> {
        chunk(
            doc,
            ChunkOptions {
                max_chars: max,
                overlap_chars: overlap,
            },
        )
        .into_iter()
        .map(|c| c.text)
        .collect()
    }

    #[test]
    fn sentences_respect_abbreviations_initials_and_decimals() {
        let text = "Dr. Smith fits progressive lenses. The add is 2.25 D, e.g. for reading! Ask J. Doe? Yes.";
        let got: Vec<&str> = sentences(text)
            .into_iter()
            .map(|(s, e)| &text[s..e])
            .collect();
        assert_eq!(
            got,
            [
                "Dr. Smith fits progressive lenses.",
                "The add is 2.25 D, e.g. for reading!",
                "Ask J. Doe?",
                "Yes."
            ]
        );
    }

    #[test]
    fn headings_make_sections_and_paths() {
        let doc = "Intro line.\n# Lenses\nPolycarbonate is light.\n## Coatings\nAR reduces glare.\n# Care\nClean daily.\n";
        let chunks = chunk(doc, ChunkOptions::default());
        let summary: Vec<(Vec<&str>, &str)> = chunks
            .iter()
            .map(|c| {
                (
                    c.headings.iter().map(String::as_str).collect(),
                    c.text.as_str(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (vec![], "Intro line."),
                (vec!["Lenses"], "Polycarbonate is light."),
                (vec!["Lenses", "Coatings"], "AR reduces glare."),
                (vec!["Care"], "Clean daily."),
            ]
        );
        assert_eq!(
            chunks[2].embedding_text(),
            "Lenses > Coatings\nAR reduces glare."
        );
    }

    #[test]
    fn chunks_pack_whole_sentences_and_overlap() {
        let doc = "One one one one. Two two two two. Three three three. Four four four four.";
        // Each sentence is 16–18 bytes: two fit in 40, and one sentence overlaps.
        assert_eq!(
            texts(doc, 40, 20),
            [
                "One one one one. Two two two two.",
                "Two two two two. Three three three.",
                "Three three three. Four four four four."
            ]
        );
        assert_eq!(
            texts(doc, 40, 0),
            [
                "One one one one. Two two two two.",
                "Three three three. Four four four four."
            ]
        );
        assert_eq!(texts(doc, 1000, 100), [doc]);
    }

    #[test]
    fn long_sentences_are_cut_at_whitespace_and_ranges_point_into_the_document() {
        let doc = format!(
            "# Policy\n{} end.\n\nÄrzte prüfen Sehschärfe.",
            "word ".repeat(60)
        );
        let chunks = chunk(
            &doc,
            ChunkOptions {
                max_chars: 100,
                overlap_chars: 0,
            },
        );
        assert!(chunks.len() >= 3);
        for c in &chunks {
            assert_eq!(&doc[c.start..c.end], c.text, "ranges are exact");
            assert!(c.text.len() <= 100, "{} bytes", c.text.len());
            assert!(!c.text.starts_with(' ') && !c.text.ends_with(' '));
        }
        // The tail of the long sentence and the next sentence fit together, so they share one.
        assert!(
            chunks
                .last()
                .is_some_and(|c| c.text.ends_with("end.\n\nÄrzte prüfen Sehschärfe."))
        );
        assert!(chunks.iter().enumerate().all(|(i, c)| c.ordinal == i));
    }

    #[test]
    fn empty_and_blank_documents_have_no_chunks() {
        assert!(chunk("", ChunkOptions::default()).is_empty());
        assert!(chunk("  \n\n\t", ChunkOptions::default()).is_empty());
        assert!(chunk("# Only a heading\n", ChunkOptions::default()).is_empty());
    }

    #[test]
    fn list_items_end_sentences() {
        let doc = "Bring:\n- your old glasses\n- your prescription\n";
        let got: Vec<&str> = sentences(doc)
            .into_iter()
            .map(|(s, e)| &doc[s..e])
            .collect();
        assert_eq!(got, ["Bring:", "- your old glasses", "- your prescription"]);
    }
}
