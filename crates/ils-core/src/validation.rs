//! Field-level validation errors with stable codes that clients branch on.

use serde::Serialize;

/// One problem with one input field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    /// The field's name as the client sent it, e.g. `email` or `ai_config.temperature`.
    pub field: String,
    /// A stable, machine-readable code, e.g. `user.email_invalid`.
    pub code: &'static str,
    /// A sentence a person can act on.
    pub message: String,
}

/// Every problem found in one input, so a form can show them all at once.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{}", self.summary())]
pub struct ValidationErrors {
    pub errors: Vec<FieldError>,
}

impl ValidationErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn single(field: &str, code: &'static str, message: impl Into<String>) -> Self {
        let mut errors = Self::new();
        errors.add(field, code, message);
        errors
    }

    pub fn add(&mut self, field: &str, code: &'static str, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.to_owned(),
            code,
            message: message.into(),
        });
    }

    /// Records the error of `result`, if any, and returns its value.
    pub fn check<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.errors.push(error);
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// `Ok(())` when nothing was wrong, otherwise all the errors.
    pub fn into_result(self) -> Result<(), Self> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }

    fn summary(&self) -> String {
        match self.errors.as_slice() {
            [] => "no validation errors".to_owned(),
            [one] => one.message.clone(),
            [first, rest @ ..] => format!("{} (and {} more problems)", first.message, rest.len()),
        }
    }
}

impl FieldError {
    pub fn new(field: &str, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            code,
            message: message.into(),
        }
    }
}

/// Characters that change how text looks or reads without being seen: Unicode format
/// characters (zero-width spaces and joiners, the byte-order mark, soft hyphens, bidirectional
/// embeddings, overrides and isolates, invisible operators, tags) and the line and paragraph
/// separators. A name holding them can look like another person's name.
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{0600}'..='\u{0605}'
            | '\u{061C}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{08E2}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0001}'
            | '\u{E0020}'..='\u{E007F}'
    )
}

/// Whether `text` holds an invisible character that is not a joiner between two letters: the
/// zero-width non-joiner and joiner (U+200C, U+200D) are how some scripts spell words (Persian
/// names, Indic conjuncts), so they stay allowed inside words.
fn has_stray_invisible(text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    chars.iter().enumerate().any(|(i, &c)| {
        if !is_invisible(c) {
            return false;
        }
        let joiner = matches!(c, '\u{200C}' | '\u{200D}');
        let between_letters = i > 0
            && chars.get(i + 1).is_some_and(|n| n.is_alphabetic())
            && chars[i - 1].is_alphabetic();
        !(joiner && between_letters)
    })
}

/// Trims `value` and checks its length in characters.
pub fn required_text(
    field: &str,
    value: &str,
    max_chars: usize,
    code: &'static str,
) -> Result<String, FieldError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(FieldError::new(
            field,
            code,
            format!("{field} must not be empty"),
        ));
    }
    let len = trimmed.chars().count();
    if len > max_chars {
        return Err(FieldError::new(
            field,
            code,
            format!("{field} must be at most {max_chars} characters, got {len}"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            code,
            format!("{field} must not contain control characters"),
        ));
    }
    if has_stray_invisible(trimmed) {
        return Err(FieldError::new(
            field,
            code,
            format!(
                "{field} must not contain invisible or direction-changing characters (such as a zero-width space or U+202E)"
            ),
        ));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_text_cases() {
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("  Anna ", Ok("Anna")),
            ("", Err("name must not be empty")),
            ("   ", Err("name must not be empty")),
            (
                "abcdefghijk",
                Err("name must be at most 10 characters, got 11"),
            ),
            ("a\u{0}b", Err("name must not contain control characters")),
            (
                "Zoë Ødegård",
                Err("name must be at most 10 characters, got 11"),
            ),
            ("Zoë Ødegår", Ok("Zoë Ødegår")),
            (
                "\u{200B}\u{FEFF}",
                Err(
                    "name must not contain invisible or direction-changing characters (such as a zero-width space or U+202E)",
                ),
            ),
            (
                "Eve\u{202E}evE",
                Err(
                    "name must not contain invisible or direction-changing characters (such as a zero-width space or U+202E)",
                ),
            ),
            (
                "Ann\u{2028}a",
                Err(
                    "name must not contain invisible or direction-changing characters (such as a zero-width space or U+202E)",
                ),
            ),
            // A zero-width non-joiner inside a Persian word is spelling, not a trick.
            ("مه\u{200C}رو", Ok("مه\u{200C}رو")),
            (
                "\u{200C}Ann",
                Err(
                    "name must not contain invisible or direction-changing characters (such as a zero-width space or U+202E)",
                ),
            ),
        ];
        for (input, expected) in cases {
            let got = required_text("name", input, 10, "x.invalid");
            match (got, expected) {
                (Ok(v), Ok(e)) => assert_eq!(v, *e, "input {input:?}"),
                (Err(err), Err(e)) => assert_eq!(err.message, *e, "input {input:?}"),
                (got, expected) => panic!("input {input:?}: got {got:?}, expected {expected:?}"),
            }
        }
    }

    #[test]
    fn summary_mentions_the_count_of_other_problems() {
        let mut errors = ValidationErrors::new();
        errors.add("a", "x", "first");
        errors.add("b", "y", "second");
        assert_eq!(errors.to_string(), "first (and 1 more problems)");
        assert!(errors.into_result().is_err());
        assert!(ValidationErrors::new().into_result().is_ok());
    }
}
