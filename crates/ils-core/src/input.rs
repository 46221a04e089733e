//! Reading a record that a person wrote as JSON (a prescription or an order from a file, a
//! form, an API body) so that every problem is reported at once, each named by its field path
//! (`right.prism_horizontal.base`) in words a person can act on — not only the first parse
//! error, as a plain deserialiser would.
//!
//! A field that is missing or of the wrong kind is recorded and read as its default, so that
//! the domain rules can still be run over the rest ([`report_rules`]) and their problems listed
//! too.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::rx::{Diopters, Millimetres};
use crate::validation::ValidationErrors;

/// The codes of structural problems.
pub mod code {
    pub const REQUIRED: &str = "input.required";
    pub const INVALID: &str = "input.invalid";
    pub const UNKNOWN_FIELD: &str = "input.unknown_field";
}

/// How a value is described to a person.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Dioptres,
    Millimetres,
    Degrees,
    Date,
    Text,
    Id,
    /// One of these words.
    OneOf(&'static [&'static str]),
    List,
    Object,
}

impl Kind {
    fn describe(self) -> String {
        match self {
            Kind::Dioptres => "a number of dioptres like -1.25".into(),
            Kind::Millimetres => "a length in millimetres like 31.5".into(),
            Kind::Degrees => "a whole number of degrees, 1 to 180".into(),
            Kind::Date => "a date like 2026-11-30".into(),
            Kind::Text => "text".into(),
            Kind::Id => "an id like 0193a5b0-0000-7000-8000-000000000001".into(),
            Kind::OneOf(words) => format!("one of {}", words.join(", ")),
            Kind::List => "a list".into(),
            Kind::Object => "an object with named fields".into(),
        }
    }
}

/// A short rendering of what a person gave, for messages.
fn shown(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 40 {
        format!("{}…", text.chars().take(40).collect::<String>())
    } else {
        text
    }
}

/// Reads the fields of one JSON object, recording every problem under `path`.
#[derive(Debug)]
pub struct Fields<'a> {
    path: String,
    object: Option<&'a Map<String, Value>>,
    known: Vec<&'static str>,
    /// The paths that could not be read (their rule errors are not repeated).
    pub broken: BTreeSet<String>,
}

impl<'a> Fields<'a> {
    /// The object at `path` (the root when empty); a non-object is recorded.
    pub fn new(value: &'a Value, path: &str, errors: &mut ValidationErrors) -> Self {
        let object = value.as_object();
        let mut broken = BTreeSet::new();
        if object.is_none() {
            let field = if path.is_empty() { "(root)" } else { path };
            errors.add(
                field,
                code::INVALID,
                format!(
                    "{field} must be {}, got {}",
                    Kind::Object.describe(),
                    shown(value)
                ),
            );
            broken.insert(path.to_owned());
        }
        Self {
            path: path.to_owned(),
            object,
            known: Vec::new(),
            broken,
        }
    }

    /// Whether the value at `path` is an object at all.
    pub fn is_object(&self) -> bool {
        self.object.is_some()
    }

    pub fn path_of(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// The raw value of `key` (null counts as absent).
    pub fn raw(&mut self, key: &'static str) -> Option<&'a Value> {
        self.known.push(key);
        self.object?.get(key).filter(|v| !v.is_null())
    }

    /// An optional field: `None` when absent, null or unreadable (recorded).
    pub fn optional<T: DeserializeOwned>(
        &mut self,
        key: &'static str,
        kind: Kind,
        errors: &mut ValidationErrors,
    ) -> Option<T> {
        let value = self.raw(key)?;
        match serde_json::from_value::<T>(value.clone()) {
            Ok(v) => Some(v),
            Err(e) => {
                let path = self.path_of(key);
                let detail = e.to_string();
                // Our own value types explain themselves ("… with at most two decimals").
                let message = if detail.contains(" is not ") && !detail.contains("invalid type") {
                    format!("{path}: {detail}")
                } else {
                    format!("{path} must be {}, got {}", kind.describe(), shown(value))
                };
                errors.add(&path, code::INVALID, message);
                self.broken.insert(path);
                None
            }
        }
    }

    /// A required field: recorded when absent or unreadable.
    pub fn required<T: DeserializeOwned>(
        &mut self,
        key: &'static str,
        kind: Kind,
        errors: &mut ValidationErrors,
    ) -> Option<T> {
        if self.is_object()
            && self
                .object
                .and_then(|o| o.get(key))
                .is_none_or(Value::is_null)
        {
            self.known.push(key);
            let path = self.path_of(key);
            errors.add(
                &path,
                code::REQUIRED,
                format!("{path} is required ({})", kind.describe()),
            );
            self.broken.insert(path);
            return None;
        }
        self.optional(key, kind, errors)
    }

    /// Records the fields that are not among those read.
    pub fn finish(self, what: &str, errors: &mut ValidationErrors) -> BTreeSet<String> {
        if let Some(object) = self.object {
            for key in object.keys() {
                if !self.known.contains(&key.as_str()) {
                    let path = self.path_of(key);
                    errors.add(
                        &path,
                        code::UNKNOWN_FIELD,
                        format!(
                            "{path} is not a field of {what}; the fields are {}",
                            self.known.join(", ")
                        ),
                    );
                }
            }
        }
        self.broken
    }
}

/// Adds the rule errors of `rules` whose field was not already found broken (so one bad value
/// is reported once, as what it is).
pub fn report_rules(
    errors: &mut ValidationErrors,
    broken: &BTreeSet<String>,
    rules: Result<(), ValidationErrors>,
) {
    if let Err(found) = rules {
        for e in found.errors {
            let already = broken
                .iter()
                .any(|b| e.field == *b || e.field.starts_with(&format!("{b}.")));
            if !already {
                errors.errors.push(e);
            }
        }
    }
}

// Shorthands for the value kinds the records use.
pub fn dioptres(
    f: &mut Fields<'_>,
    key: &'static str,
    e: &mut ValidationErrors,
) -> Option<Diopters> {
    f.optional(key, Kind::Dioptres, e)
}

pub fn millimetres(
    f: &mut Fields<'_>,
    key: &'static str,
    e: &mut ValidationErrors,
) -> Option<Millimetres> {
    f.optional(key, Kind::Millimetres, e)
}

pub fn text(f: &mut Fields<'_>, key: &'static str, e: &mut ValidationErrors) -> Option<String> {
    f.optional(key, Kind::Text, e)
}

pub fn date(f: &mut Fields<'_>, key: &'static str, e: &mut ValidationErrors) -> Option<NaiveDate> {
    f.optional(key, Kind::Date, e)
}
