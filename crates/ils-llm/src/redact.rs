//! Patient identifiers never leave for a cloud model: before a prompt goes out, names of the
//! practice's patients, dates, phone numbers, e-mail addresses, street addresses, customer
//! numbers and insurance-like ids are replaced by stable placeholders (`[PATIENT_1]`,
//! `[DATE_2]`, …), and the answer is shown with them restored, streaming included (a
//! placeholder split across two pieces comes back whole). The map lives in this value only:
//! it is never logged, serialised or sent.
//!
//! What is found: the practice's patients that the caller looked up for this prompt (by the
//! words in it, so the list stays small), with their names in the forms people write them
//! ("Ada Lovelace", "Lovelace, Ada", "Mrs Lovelace", "Lovelace" and "Ada" alone when written
//! as names), their customer numbers, phones and e-mails; and patterns for what needs no list
//! (e-mails, dates, phone numbers, addresses with a street word or a postcode, ids that mix
//! letters and long digit runs, titled names). Clinical words that are also names or colours
//! ("Hazel", "Amber", "Iris", "Grey") are never replaced alone, and prescription values
//! ("-2.50", "+1.25 x 180") never look like phones or dates.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;

use crate::transform::Transform;
use crate::{Message, Part, Role};

/// What a placeholder stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Patient,
    Date,
    Phone,
    Email,
    Address,
    Id,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Patient,
        Kind::Date,
        Kind::Phone,
        Kind::Email,
        Kind::Address,
        Kind::Id,
    ];

    pub const fn label(self) -> &'static str {
        match self {
            Kind::Patient => "PATIENT",
            Kind::Date => "DATE",
            Kind::Phone => "PHONE",
            Kind::Email => "EMAIL",
            Kind::Address => "ADDRESS",
            Kind::Id => "ID",
        }
    }
}

/// A patient of the practice whose identifiers must not leave.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KnownPatient {
    pub first_name: String,
    pub last_name: String,
    pub customer_number: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub address: Option<String>,
}

/// What to look the practice's patients up by, from the texts a prompt is made of: the name
/// keys (words lower-cased, with the parts of hyphenated and apostrophe names, and pairs of
/// words for two-word names) and the tokens that could be customer numbers (with a digit).
/// Both halves look their patients up by these, so the list given to [`Redactor::new`] holds
/// everyone the prompt may name and no one else.
pub fn lookup_keys(texts: &[&str]) -> (Vec<String>, Vec<String>) {
    const MAX: usize = 2_000;
    let mut names: Vec<String> = Vec::new();
    let mut numbers: Vec<String> = Vec::new();
    let push = |list: &mut Vec<String>, v: String| {
        if !v.is_empty() && list.len() < MAX && !list.contains(&v) {
            list.push(v);
        }
    };
    for text in texts {
        let words: Vec<&str> = text
            .split(|c: char| {
                !(c.is_alphanumeric() || matches!(c, '-' | '\'' | '’' | '_' | '/' | '.'))
            })
            .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()))
            .filter(|w| !w.is_empty())
            .collect();
        for (i, word) in words.iter().enumerate() {
            if word.chars().any(|c| c.is_ascii_digit()) {
                push(&mut numbers, (*word).to_owned());
                continue;
            }
            let key = word.to_lowercase();
            for part in key.split(['-', '\'', '’']) {
                if part.chars().count() >= 2 {
                    push(&mut names, part.to_owned());
                }
            }
            if key.chars().count() >= 2 {
                push(&mut names, key.clone());
            }
            if let Some(next) = words.get(i + 1)
                && !next.chars().any(|c| c.is_ascii_digit())
            {
                push(&mut names, format!("{key} {}", next.to_lowercase()));
            }
        }
    }
    (names, numbers)
}

/// Words that are names in some patients' mouths and clinical or everyday words in others':
/// never replaced when they stand alone (a full name or a title still is).
const NOT_ALONE: &[&str] = &[
    "hazel", "amber", "iris", "grey", "gray", "brown", "green", "blue", "black", "white", "rose",
    "ruby", "pearl", "crystal", "clear", "violet", "olive", "jade", "coral", "gold", "silver",
    "may", "june", "april", "august", "will", "mark", "bill", "frank", "grant", "hope", "joy",
    "faith", "grace", "rich", "price", "cross", "long", "short", "young", "little", "king",
    "early", "day", "night", "light", "lens", "frame", "best", "good", "hill", "wood", "field",
    "lane", "street", "read", "reading", "near", "far", "sharp", "hard", "soft", "mild",
];

const TITLES: &str = r"(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof)\.?";
const TITLE_WORDS: [&str; 7] = ["Mr", "Mrs", "Ms", "Miss", "Mx", "Dr", "Prof"];

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b[a-z0-9][a-z0-9._%+-]*@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}\b")
        .expect("email pattern")
});

static DATE: LazyLock<Regex> = LazyLock::new(|| {
    let months = "Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?";
    Regex::new(&format!(
        r"(?i)\b(?:\d{{4}}-\d{{1,2}}-\d{{1,2}}|\d{{1,2}}[./-]\d{{1,2}}[./-](?:\d{{4}}|\d{{2}})|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:{months})\.?,?\s+\d{{4}}|(?:{months})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}})\b"
    ))
    .expect("date pattern")
});

/// Phone numbers: an optional country code, then digits in groups separated by spaces,
/// hyphens or brackets (never dots, which prescription values use), 9 to 15 digits in all.
static PHONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?:\+\d{1,3}[\s-]?)?(?:\(\d{1,5}\)[\s-]?)?\d{2,5}(?:[\s-]\d{2,5}){1,4}\b|\b0\d{9,10}\b",
    )
    .expect("phone pattern")
});

/// A street address: a house number and one to four capitalised words ending in a street
/// word; or a UK postcode; or a US ZIP code after a state abbreviation.
static ADDRESS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"\b\d{1,5}[A-Za-z]?,?\s+(?:[A-Z][a-z'’]+\s+){1,4}(?:Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Drive|Dr|Close|Way|Court|Ct|Place|Pl|Crescent|Terrace|Boulevard|Blvd|Gardens|Grove|Square|Row|Mews|Parade|Walk|Rise|View|Hill)\b\.?|\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b|\b[A-Z]{2}\s+\d{5}(?:-\d{4})?\b",
    )
    .expect("address pattern")
});

/// Insurance-like and record ids: letters then a long digit run (NHS-style 3-3-4 digits
/// too), or a short prefix, a hyphen and digits (customer numbers like C-1042).
static ID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(?:[A-Z]{1,4}[-/]?\d{6,12}[A-Z]?|\d{3}\s\d{3}\s\d{4}|[A-Z]{1,3}-\d{3,10})\b")
        .expect("id pattern")
});

static TITLED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"\b{TITLES}\s+[A-Z][a-z'’-]+(?:[\s-][A-Z][a-z'’-]+)?\b"
    ))
    .expect("titled name pattern")
});

/// The longest placeholder label with its brackets and number (`[ADDRESS_999]`).
const MAX_PLACEHOLDER: usize = 16;

/// Replaces identifiers with placeholders on the way out and restores them on the way in.
#[derive(Default)]
pub struct Redactor {
    patients: Vec<KnownPatient>,
    /// Placeholder → original, in the order they were made.
    originals: Vec<(String, String)>,
    /// Normalised original → placeholder, so the same identifier gets the same placeholder.
    placeholders: HashMap<(Kind, String), String>,
    counters: HashMap<Kind, usize>,
    /// Text of the answer held back because it may be the start of a placeholder.
    pending: String,
}

impl std::fmt::Debug for Redactor {
    // The map is the patients' data: never shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("placeholders", &self.originals.len())
            .finish_non_exhaustive()
    }
}

/// One span to replace: byte range, kind, and the key that identifies what it stands for.
struct Found {
    start: usize,
    end: usize,
    kind: Kind,
    key: String,
}

impl Redactor {
    pub fn new(patients: Vec<KnownPatient>) -> Self {
        Self {
            patients,
            ..Self::default()
        }
    }

    /// How many identifiers were replaced so far, by kind (for tests and metrics: no values).
    pub fn counts(&self) -> HashMap<Kind, usize> {
        self.counters.clone()
    }

    /// `text` with every identifier replaced by its placeholder.
    pub fn redact(&mut self, text: &str) -> String {
        let mut found = self.find(text);
        // Earliest first; at one start, the longest; then drop overlaps.
        found.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for f in found {
            if f.start < at {
                continue;
            }
            out.push_str(&text[at..f.start]);
            let placeholder = self.placeholder(f.kind, f.key, &text[f.start..f.end]);
            out.push_str(&placeholder);
            at = f.end;
        }
        out.push_str(&text[at..]);
        out
    }

    /// `text` with every placeholder of this redactor put back (`[PATIENT_1]`, or `PATIENT_1`
    /// when a model dropped the brackets).
    pub fn restore(&self, text: &str) -> String {
        if self.originals.is_empty() {
            return text.to_owned();
        }
        let mut out = text.to_owned();
        // Longest placeholders first, so PATIENT_10 is not read as PATIENT_1 and a 0.
        let mut pairs: Vec<&(String, String)> = self.originals.iter().collect();
        pairs.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
        for (placeholder, original) in &pairs {
            out = out.replace(placeholder.as_str(), original);
        }
        for (placeholder, original) in &pairs {
            let bare = &placeholder[1..placeholder.len() - 1];
            if out.contains(bare) {
                out = replace_word(&out, bare, original);
            }
        }
        out
    }

    fn placeholder(&mut self, kind: Kind, key: String, original: &str) -> String {
        if let Some(p) = self.placeholders.get(&(kind, key.clone())) {
            return p.clone();
        }
        let n = self.counters.entry(kind).or_insert(0);
        *n += 1;
        let placeholder = format!("[{}_{}]", kind.label(), n);
        // A patient is restored as first written; other kinds as written each time they were
        // first seen.
        self.originals
            .push((placeholder.clone(), original.to_owned()));
        self.placeholders.insert((kind, key), placeholder.clone());
        placeholder
    }

    fn find(&self, text: &str) -> Vec<Found> {
        let mut found = Vec::new();
        let mut add = |start: usize, end: usize, kind: Kind, key: String| {
            found.push(Found {
                start,
                end,
                kind,
                key,
            });
        };
        for m in EMAIL.find_iter(text) {
            add(m.start(), m.end(), Kind::Email, m.as_str().to_lowercase());
        }
        for m in DATE.find_iter(text) {
            add(m.start(), m.end(), Kind::Date, m.as_str().to_lowercase());
        }
        for m in PHONE.find_iter(text) {
            let digits: String = m.as_str().chars().filter(char::is_ascii_digit).collect();
            if (9..=15).contains(&digits.len()) && !looks_like_a_prescription(text, m.start()) {
                add(m.start(), m.end(), Kind::Phone, digits);
            }
        }
        for m in ADDRESS.find_iter(text) {
            add(m.start(), m.end(), Kind::Address, m.as_str().to_lowercase());
        }
        for m in ID.find_iter(text) {
            add(m.start(), m.end(), Kind::Id, m.as_str().to_uppercase());
        }
        // The practice's patients: every form of their names, and their own numbers.
        let hay = Haystack::new(text);
        for (i, p) in self.patients.iter().enumerate() {
            let key = format!("patient-{i}");
            let (first, last) = (p.first_name.trim(), p.last_name.trim());
            let mut forms: Vec<(String, bool)> = Vec::new();
            if !first.is_empty() && !last.is_empty() {
                forms.push((format!("{first} {last}"), false));
                forms.push((format!("{last}, {first}"), false));
                forms.push((format!("{last} {first}"), false));
            }
            for name in [first, last] {
                if name.chars().count() >= 2 {
                    // Alone, a name counts only when written as one (capitalised) and when it
                    // is not also a clinical or everyday word.
                    let alone = !NOT_ALONE.contains(&name.to_lowercase().as_str());
                    if alone {
                        forms.push((name.to_owned(), true));
                    }
                }
            }
            for (form, capital_only) in forms {
                for (start, end) in word_matches(&hay, &form, capital_only) {
                    add(start, end, Kind::Patient, key.clone());
                }
            }
            if !last.is_empty() {
                for title in TITLE_WORDS {
                    for form in [format!("{title} {last}"), format!("{title}. {last}")] {
                        for (start, end) in word_matches(&hay, &form, false) {
                            add(start, end, Kind::Patient, key.clone());
                        }
                    }
                }
            }
            for (value, kind) in [
                (&p.customer_number, Kind::Id),
                (&p.email, Kind::Email),
                (&p.phone, Kind::Phone),
                (&p.address, Kind::Address),
            ] {
                if let Some(v) = value.as_deref().map(str::trim).filter(|v| v.len() >= 3) {
                    for (start, end) in word_matches(&hay, v, false) {
                        add(start, end, kind, format!("{key}-{}", kind.label()));
                    }
                }
            }
        }
        // Someone named with a title, known or not ("Mrs Okafor").
        for m in TITLED.find_iter(text) {
            add(m.start(), m.end(), Kind::Patient, m.as_str().to_lowercase());
        }
        found
    }
}

/// Whether the number at `start` is part of a prescription (a sign or a decimal point right
/// before it, or "x"/"@" axis notation).
fn looks_like_a_prescription(text: &str, start: usize) -> bool {
    let before = text[..start].trim_end();
    before.ends_with(['+', '-', '.', 'x', 'X', '@', '/'])
}

/// A text and its lower-cased form, made once for all the names looked for in it.
struct Haystack<'a> {
    text: &'a str,
    /// `None` when lower-casing changed byte lengths (some scripts): exact search then.
    lower: Option<String>,
}

impl<'a> Haystack<'a> {
    fn new(text: &'a str) -> Self {
        let lower = text.to_lowercase();
        Self {
            text,
            lower: (lower.len() == text.len()).then_some(lower),
        }
    }
}

/// Byte ranges where `needle` stands as a whole word or phrase in the text, ignoring case (or,
/// with `capital_only`, only where it starts with a capital letter).
fn word_matches(hay: &Haystack<'_>, needle: &str, capital_only: bool) -> Vec<(usize, usize)> {
    let text = hay.text;
    let lower_needle = needle.to_lowercase();
    let Some(lower_text) = hay.lower.as_deref() else {
        return exact_word_matches(text, needle);
    };
    if lower_needle.is_empty() || lower_needle.len() != needle.len() {
        return exact_word_matches(text, needle);
    }
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(pos) = lower_text[from..].find(&lower_needle) {
        let start = from + pos;
        let end = start + lower_needle.len();
        let boundary_before = text[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric());
        let boundary_after = text[end..]
            .chars()
            .next()
            .is_none_or(|c| !c.is_alphanumeric());
        let capital = text[start..].chars().next().is_some_and(char::is_uppercase);
        if boundary_before && boundary_after && (!capital_only || capital) {
            out.push((start, end));
        }
        from = end;
    }
    out
}

fn exact_word_matches(text: &str, needle: &str) -> Vec<(usize, usize)> {
    text.match_indices(needle)
        .map(|(i, m)| (i, i + m.len()))
        .collect()
}

/// Replaces `word` where it stands as a whole word.
fn replace_word(text: &str, word: &str, with: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end) in exact_word_matches(text, word) {
        let before_ok = text[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        let after_ok = text[end..]
            .chars()
            .next()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        if before_ok && after_ok && start >= at {
            out.push_str(&text[at..start]);
            out.push_str(with);
            at = end;
        }
    }
    out.push_str(&text[at..]);
    out
}

/// What the model is told about the placeholders, added to the system message.
pub const PLACEHOLDER_NOTE: &str = "Some identifiers in this conversation were replaced by \
placeholders such as [PATIENT_1], [DATE_1] or [PHONE_1] to protect patients' privacy. Use them \
exactly as written when you refer to them; do not guess what they stand for.";

impl Transform for Redactor {
    fn outgoing(&mut self, messages: Vec<Message>) -> Vec<Message> {
        let mut out: Vec<Message> = messages
            .into_iter()
            .map(|m| Message {
                role: m.role,
                parts: m
                    .parts
                    .into_iter()
                    .map(|part| match part {
                        Part::Text { text } => Part::Text {
                            text: self.redact(&text),
                        },
                        other => other,
                    })
                    .collect(),
            })
            .collect();
        if !self.originals.is_empty() {
            match out.iter_mut().find(|m| m.role == Role::System) {
                Some(system) => system.parts.push(Part::Text {
                    text: format!("\n\n{PLACEHOLDER_NOTE}"),
                }),
                None => out.insert(0, Message::text(Role::System, PLACEHOLDER_NOTE)),
            }
        }
        out
    }

    fn incoming(&mut self, delta: &str) -> String {
        self.pending.push_str(delta);
        // Hold back a tail that may be the start of a placeholder: an open bracket not yet
        // closed, or a run of capitals, digits and underscores, within a placeholder's length.
        let hold_from = self
            .pending
            .char_indices()
            .rev()
            .take(MAX_PLACEHOLDER)
            .take_while(|(_, c)| {
                c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_' || *c == '['
            })
            .last()
            .map_or(self.pending.len(), |(i, _)| i);
        let ready: String = self.pending[..hold_from].to_owned();
        self.pending.drain(..hold_from);
        self.restore(&ready)
    }

    fn finish(&mut self) -> String {
        let rest = std::mem::take(&mut self.pending);
        self.restore(&rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ada() -> KnownPatient {
        KnownPatient {
            first_name: "Ada".into(),
            last_name: "Lovelace".into(),
            customer_number: Some("C-1042".into()),
            phone: Some("020 7946 0018".into()),
            email: Some("ada@example.org".into()),
            address: None,
        }
    }

    #[test]
    fn every_kind_is_replaced_and_comes_back() {
        let mut r = Redactor::new(vec![ada()]);
        let text = "Recall letter for Ada Lovelace (C-1042, born 10/12/1985), 12 Marsh Lane, \
                    SW1A 1AA, phone 020 7946 0018, ada@example.org. Mrs Lovelace prefers Trivex.";
        let out = r.redact(text);
        for secret in [
            "Ada",
            "Lovelace",
            "C-1042",
            "10/12/1985",
            "Marsh",
            "SW1A",
            "7946",
            "ada@",
        ] {
            assert!(!out.contains(secret), "{secret} left in {out}");
        }
        assert!(
            out.contains("[PATIENT_1]") && out.contains("Trivex"),
            "{out}"
        );
        assert_eq!(
            out.matches("[PATIENT_1]").count(),
            2,
            "one person, one placeholder: {out}"
        );
        assert_eq!(
            r.restore(&out).replace("Ada Lovelace", "Mrs Lovelace"),
            text.replace("Ada Lovelace", "Mrs Lovelace")
        );
    }

    #[test]
    fn prescriptions_lens_names_and_clinical_words_stay() {
        let mut r = Redactor::new(vec![KnownPatient {
            first_name: "Hazel".into(),
            last_name: "Grey".into(),
            ..KnownPatient::default()
        }]);
        let clinical = "R -2.50 / -0.75 x 180 add +2.00, L -2.25 DS, PD 62/60, amber tint, \
                        hazel iris, grey photochromic, Varilux Comfort Max, Hoya MiYOSMART, \
                        CR-39 1.5 index, Zeiss DriveSafe 1.67, prism 1.5 base out.";
        assert_eq!(r.redact(clinical), clinical);
        assert_eq!(
            r.redact("Hazel Grey asked about her lenses."),
            "[PATIENT_1] asked about her lenses."
        );
    }

    #[test]
    fn a_placeholder_split_across_pieces_comes_back_whole() {
        let mut r = Redactor::new(vec![ada()]);
        let _ = r.redact("Ada Lovelace called from 020 7946 0018.");
        let mut shown = String::new();
        for piece in [
            "Dear [PAT",
            "IENT_",
            "1], we will ring [",
            "PHONE_1",
            "] today. PATIENT",
            "_1 again.",
        ] {
            shown.push_str(&r.incoming(piece));
        }
        shown.push_str(&r.finish());
        assert_eq!(
            shown,
            "Dear Ada Lovelace, we will ring 020 7946 0018 today. Ada Lovelace again."
        );
    }

    #[test]
    fn lookup_keys_hold_every_form_of_a_name_and_the_numbers() {
        let (names, numbers) =
            lookup_keys(&["Mrs Smith-Jones (C-1042) and O'Brien met Van Dyke on 12/03/2020."]);
        for key in [
            "smith-jones",
            "smith",
            "jones",
            "o'brien",
            "brien",
            "van dyke",
            "mrs",
        ] {
            assert!(names.contains(&key.to_owned()), "{key} in {names:?}");
        }
        assert_eq!(numbers, ["C-1042", "12/03/2020"]);
    }

    #[test]
    fn the_map_is_never_shown() {
        let mut r = Redactor::new(vec![ada()]);
        let _ = r.redact("Ada Lovelace");
        let debug = format!("{r:?}");
        assert!(
            !debug.contains("Ada") && !debug.contains("Lovelace"),
            "{debug}"
        );
    }
}
