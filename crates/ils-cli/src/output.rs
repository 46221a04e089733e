//! Printing results and errors, as text for people or JSON for scripts.

use ils_node::EngineError;
use serde::Serialize;

#[derive(Clone, Copy, Debug)]
pub struct Out {
    pub json: bool,
}

impl Out {
    pub fn new(json: bool) -> Self {
        Self { json }
    }

    /// Prints `value` as JSON, or `human(value)` as text.
    pub fn emit<T: Serialize>(&self, value: &T, human: impl FnOnce(&T) -> String) {
        if self.json {
            match serde_json::to_string_pretty(value) {
                Ok(s) => println!("{s}"),
                Err(e) => eprintln!("error: cannot print the result as JSON: {e}"),
            }
        } else {
            let text = human(value);
            if !text.is_empty() {
                println!("{}", text.trim_end());
            }
        }
    }

    /// The error on stderr: every field problem on its own line, or the JSON error body.
    pub fn error(&self, e: &EngineError) {
        if self.json {
            eprintln!("{}", serde_json::json!({ "error": e }));
            return;
        }
        match e.fields.as_slice() {
            [] => eprintln!("error: {}", e.message),
            [one] if one.message.contains(&one.field) => eprintln!("error: {}", one.message),
            [one] => eprintln!("error: {}: {}", one.field, one.message),
            many => {
                eprintln!("error: {} problems:", many.len());
                for f in many {
                    if f.message.contains(&f.field) {
                        eprintln!("  - {}", f.message);
                    } else {
                        eprintln!("  - {}: {}", f.field, f.message);
                    }
                }
            }
        }
    }
}

/// Text from outside (a model's answer, a document's words) made safe for a terminal: control
/// characters other than line breaks and tabs (escape sequences that could move the cursor,
/// retitle the window or write the clipboard) are shown as U+FFFD instead of acting.
pub fn for_terminal(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && !matches!(c, '\n' | '\t');
    if text.chars().any(unsafe_char) {
        text.chars()
            .map(|c| if unsafe_char(c) { '\u{fffd}' } else { c })
            .collect::<String>()
            .into()
    } else {
        text.into()
    }
}

#[cfg(test)]
mod tests {
    use super::for_terminal;

    #[test]
    fn escape_sequences_from_outside_do_not_reach_the_terminal() {
        assert_eq!(for_terminal("Trivex [1].\n\tDone"), "Trivex [1].\n\tDone");
        let hostile = "ok\u{1b}]52;c;ZWNobyBoaQ==\u{7}\u{1b}[2J\r\u{9b}31m";
        let shown = for_terminal(hostile);
        assert!(
            !shown
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t')
        );
        assert!(shown.starts_with("ok\u{fffd}]52;"));
    }
}
