//! Turning a file into text for the knowledge base: plain text, Markdown and PDF, the same on
//! the desktop and on ILS Central.
//!
//! Everything that is not usable text is refused with a reason a person can act on: an empty
//! file, a file too large, a binary or non-UTF-8 file (with the byte offset of the first bad
//! sequence), an unsupported kind of file, a PDF without a text layer or that cannot be read.

use std::path::Path;

use serde::Serialize;

/// A file the knowledge base does not take, and why.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error(
        "{source_name}: unsupported kind of file; the knowledge base reads text (.txt), Markdown (.md) and PDF (.pdf) files"
    )]
    Unsupported { source_name: String },
    #[error("{source_name} cannot be added: {reason}")]
    Unreadable { source_name: String, reason: String },
}

/// The largest file the knowledge base takes (50 MiB); bigger files are refused, not truncated.
pub const MAX_FILE_BYTES: u64 = 50 * 1024 * 1024;
/// The most text one document may hold after extraction (about 5 million characters).
pub const MAX_TEXT_BYTES: usize = 20 * 1024 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Text,
    Markdown,
    Pdf,
}

impl Format {
    pub const fn as_str(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Markdown => "markdown",
            Format::Pdf => "pdf",
        }
    }

    /// The format a file name says, if it is one the knowledge base reads.
    pub fn from_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "txt" | "text" => Some(Format::Text),
            "md" | "markdown" => Some(Format::Markdown),
            "pdf" => Some(Format::Pdf),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extracted {
    pub format: Format,
    pub title: String,
    /// Normalised text (UTF-8, `\n` line ends, no byte-order mark); chunk ranges point into it.
    pub text: String,
}

/// Extracts the text of a file's bytes. `name` is for messages and the fallback title.
pub fn extract(path: &Path, bytes: &[u8]) -> Result<Extracted, ExtractError> {
    let name = path.display().to_string();
    let refuse = |reason: String| ExtractError::Unreadable {
        source_name: name.clone(),
        reason,
    };
    let format = Format::from_path(path).ok_or_else(|| ExtractError::Unsupported {
        source_name: name.clone(),
    })?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(refuse(format!(
            "it is {} MiB; the knowledge base takes files up to {} MiB, so split it first",
            bytes.len() / (1024 * 1024),
            MAX_FILE_BYTES / (1024 * 1024)
        )));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(refuse("it is empty".into()));
    }
    let text = match format {
        Format::Pdf => pdf_text(bytes).map_err(refuse)?,
        Format::Text | Format::Markdown => {
            if bytes.starts_with(b"%PDF-") {
                return Err(refuse(
                    "it is a PDF with a text-file extension; rename it to .pdf".into(),
                ));
            }
            let text = std::str::from_utf8(bytes).map_err(|e| {
                refuse(format!(
                    "it is not UTF-8 text (invalid bytes at offset {}); save it as UTF-8 or convert it",
                    e.valid_up_to()
                ))
            })?;
            if let Some(at) =
                text.find(|c: char| c == '\0' || (c.is_control() && !c.is_whitespace()))
            {
                return Err(refuse(format!(
                    "it looks like a binary file (a control character at byte {at}), not text"
                )));
            }
            text.to_owned()
        }
    };
    let text = normalise(&text);
    if text.trim().is_empty() {
        return Err(refuse(match format {
            Format::Pdf => "the PDF has no text layer (a scan?); run it through OCR first".into(),
            _ => "it holds no text".into(),
        }));
    }
    if text.len() > MAX_TEXT_BYTES {
        return Err(refuse(format!(
            "it holds {} MiB of text; the knowledge base takes up to {} MiB a document, so split it first",
            text.len() / (1024 * 1024),
            MAX_TEXT_BYTES / (1024 * 1024)
        )));
    }
    let title = title(format, &text).unwrap_or_else(|| {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| name.clone())
    });
    Ok(Extracted {
        format,
        title,
        text,
    })
}

/// `\r\n` and `\r` to `\n`, no byte-order mark, no trailing spaces before line ends.
fn normalise(text: &str) -> String {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let (body, nl) = match line.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (line, ""),
        };
        out.push_str(body.trim_end());
        out.push_str(nl);
    }
    out
}

/// A Markdown document's first top-level heading.
fn title(format: Format, text: &str) -> Option<String> {
    if format != Format::Markdown {
        return None;
    }
    text.lines()
        .find_map(|l| l.strip_prefix("# "))
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
}

fn pdf_text(bytes: &[u8]) -> Result<String, String> {
    if !bytes.starts_with(b"%PDF-") {
        return Err("it is not a PDF (no %PDF- header)".into());
    }
    // pdf-extract panics on some malformed files; a bad file must be an error, not a crash.
    let result = std::panic::catch_unwind(|| pdf_extract::extract_text_from_mem(bytes));
    match result {
        Ok(Ok(text)) => Ok(text),
        Ok(Err(e)) => Err(format!(
            "the PDF cannot be read ({e}); is it damaged or encrypted?"
        )),
        Err(_) => Err("the PDF cannot be read (its structure is damaged)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_normalised_and_titled() {
        let e = extract(
            Path::new("notes.md"),
            "\u{feff}# Lens care  \r\nBody text.\r\n".as_bytes(),
        )
        .expect("markdown");
        assert_eq!(e.text, "# Lens care\nBody text.\n");
        assert_eq!(e.title, "Lens care");
        assert_eq!(e.format, Format::Markdown);
        let e = extract(Path::new("dir/policy.txt"), b"Plain words.").expect("text");
        assert_eq!(e.title, "policy");
    }

    #[test]
    fn unusable_files_are_refused_with_reasons() {
        let cases: [(&str, &[u8], &str); 6] = [
            ("a.txt", b"", "empty"),
            ("a.txt", b"  \n\t ", "empty"),
            ("a.txt", b"caf\xe9 latin-1", "offset 3"),
            ("a.md", b"ELF\0\x01\x02binary", "binary"),
            ("a.docx", b"PK\x03\x04", "unsupported"),
            ("a.pdf", b"hello", "not a PDF"),
        ];
        for (name, bytes, needle) in cases {
            let err = extract(Path::new(name), bytes).expect_err(name);
            assert!(err.to_string().contains(needle), "{name}: {err}");
        }
    }
}
