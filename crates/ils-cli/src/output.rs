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
