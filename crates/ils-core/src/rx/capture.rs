//! Prescription capture: what a vision model read from a photo of a paper prescription becomes
//! a draft in the ILS form, never a saved prescription. Every field the model could not read,
//! or read as something that is not a value of that field, is left empty and named in
//! `unread`; every rule the draft breaks is named in `problems`, exactly as saving it would
//! report (`RxData::from_json` and the issue-date rule). A person confirms the draft (with
//! corrections) through the ordinary create path, which applies the same rules again.
//!
//! The model is asked for one flat JSON object with the keys of `FIELDS`, each value written as
//! on the paper or null (`ils_llm::capture`). Values are read leniently, as optometrists write
//! them: `−2.25` with a typographic minus, `+2.00`, `pl` / `plano` for zero, `DS` or `sph` for no
//! cylinder, `180°`, `BU` / `BD` / `BI` / `BO` for prism bases, `64/61` for distance and near
//! pupillary distances, dates as `2026-11-30` or the British `30/11/2026`.

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::RxData;
use crate::validation::ValidationErrors;

/// The fields a capture reads, by their path in the ILS form.
pub const FIELDS: [&str; 36] = [
    "kind",
    "right.sphere",
    "right.cylinder",
    "right.axis",
    "right.add",
    "right.prism_horizontal.amount",
    "right.prism_horizontal.base",
    "right.prism_vertical.amount",
    "right.prism_vertical.base",
    "right.power",
    "right.base_curve",
    "right.diameter",
    "left.sphere",
    "left.cylinder",
    "left.axis",
    "left.add",
    "left.prism_horizontal.amount",
    "left.prism_horizontal.base",
    "left.prism_vertical.amount",
    "left.prism_vertical.base",
    "left.power",
    "left.base_curve",
    "left.diameter",
    "pd.binocular_distance",
    "pd.binocular_near",
    "pd.right_distance",
    "pd.left_distance",
    "pd.right_near",
    "pd.left_near",
    "segment_height",
    "vertex_distance",
    "issue_date",
    "expiry_date",
    "prescriber",
    "contact_lens.brand",
    "contact_lens.wear_duration",
];

/// The fields every prescription has; the others are often absent from the paper, and an
/// absent one is not "unread" (a model that says null for an add on a single-vision
/// prescription read it correctly).
const ALWAYS: [&str; 5] = [
    "kind",
    "right.sphere",
    "left.sphere",
    "issue_date",
    "prescriber",
];

/// The largest photo read (a phone photo of a page is 1–5 MB).
pub const MAX_IMAGE_BYTES: usize = 8 * 1024 * 1024;

/// The kinds of image read, with the bytes each file starts with.
const IMAGE_KINDS: [(&str, &[u8]); 3] = [
    ("image/jpeg", &[0xFF, 0xD8, 0xFF]),
    (
        "image/png",
        &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A],
    ),
    ("image/webp", b"RIFF"),
];

/// The kind of image `bytes` hold, by their first bytes (for a photo read from a file).
pub fn media_type_of(bytes: &[u8]) -> Option<&'static str> {
    IMAGE_KINDS
        .iter()
        .find(|(kind, magic)| {
            bytes.starts_with(magic)
                && (*kind != "image/webp" || bytes.get(8..12) == Some(b"WEBP".as_slice()))
        })
        .map(|(kind, _)| *kind)
}

/// Whether `bytes` are a photo that may be read: a JPEG, PNG or WebP image, as `media_type`
/// says and as its first bytes show, of at most `MAX_IMAGE_BYTES`. Both halves check it before
/// any image leaves.
pub fn check_image(field: &str, media_type: &str, bytes: &[u8]) -> Result<(), ValidationErrors> {
    let mut errors = ValidationErrors::new();
    match IMAGE_KINDS.iter().find(|(kind, _)| *kind == media_type) {
        None => errors.add(
            "media_type",
            "rx.capture_image_type",
            format!("media_type must be image/jpeg, image/png or image/webp, not {media_type:?}"),
        ),
        Some((kind, magic)) => {
            let webp = *kind != "image/webp" || bytes.get(8..12) == Some(b"WEBP".as_slice());
            if !bytes.starts_with(magic) || !webp {
                errors.add(
                    field,
                    "rx.capture_image_unreadable",
                    format!("The file is not a {kind} image; send the photo itself"),
                );
            }
        }
    }
    if bytes.is_empty() || bytes.len() > MAX_IMAGE_BYTES {
        errors.add(
            field,
            "rx.capture_image_size",
            format!(
                "The photo must hold 1 byte to {} MB; this one holds {} bytes",
                MAX_IMAGE_BYTES / (1024 * 1024),
                bytes.len()
            ),
        );
    }
    errors.into_result()
}

/// A draft prescription read from a photo.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CaptureDraft {
    /// The prescription as read, in the ILS form: only the fields read, so a person completes it.
    pub prescription: Value,
    /// Fields that could not be read: a field every prescription has that the model gave no
    /// value for, or any field whose value is not one (by path, in `FIELDS` order).
    pub unread: Vec<String>,
    /// Every rule the draft breaks, by field, as saving it would report.
    pub problems: ValidationErrors,
    /// Whether the model's reply was a JSON object at all.
    pub reply_readable: bool,
}

enum Read {
    Value(Value),
    Absent,
    Unreadable,
}

fn dioptres(raw: &str, cylinder: bool) -> Read {
    let t = raw
        .trim()
        .replace(['−', '–', '—'], "-")
        .replace(' ', "")
        .to_lowercase();
    let t = t.trim_end_matches('d');
    if matches!(t, "pl" | "plano" | "pl." | "0" | "±0.00" | "+/-0.00") {
        return Read::Value(json!(0.0));
    }
    if cylinder && matches!(t, "ds" | "sph" | "sphere" | "dsph" | "-" | "") {
        return Read::Absent;
    }
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() => Read::Value(json!(v)),
        _ => Read::Unreadable,
    }
}

fn millimetres(raw: &str) -> Read {
    let t = raw.trim().to_lowercase();
    let t = t.trim_end_matches("mm").trim();
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() => Read::Value(json!(v)),
        _ => Read::Unreadable,
    }
}

fn axis(raw: &str) -> Read {
    let t = raw.trim().trim_end_matches(['°', 'º']).trim();
    match t.parse::<u32>() {
        Ok(v) => Read::Value(json!(v)),
        Err(_) => Read::Unreadable,
    }
}

fn base(raw: &str) -> Read {
    match raw.trim().to_lowercase().replace(['.', ' '], "").as_str() {
        "up" | "bu" | "baseup" => Read::Value(json!("up")),
        "down" | "bd" | "basedown" => Read::Value(json!("down")),
        "in" | "bi" | "basein" => Read::Value(json!("in")),
        "out" | "bo" | "baseout" => Read::Value(json!("out")),
        _ => Read::Unreadable,
    }
}

fn date(raw: &str) -> Read {
    let t = raw.trim();
    for format in ["%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y", "%d/%m/%y"] {
        if let Ok(d) = NaiveDate::parse_from_str(t, format) {
            return Read::Value(json!(d.format("%Y-%m-%d").to_string()));
        }
    }
    Read::Unreadable
}

fn kind(raw: &str) -> Read {
    let t = raw.trim().to_lowercase();
    if t.contains("contact") {
        Read::Value(json!("contact_lens"))
    } else if t.contains("spectacle") || t.contains("glasses") {
        Read::Value(json!("spectacle"))
    } else {
        Read::Unreadable
    }
}

fn text(raw: &str) -> Read {
    let t = raw.trim();
    if t.is_empty() || t.chars().count() > 200 || t.chars().any(char::is_control) {
        Read::Unreadable
    } else {
        Read::Value(json!(t))
    }
}

/// Reads one field's value as the model gave it (a string, a number, or null).
fn read_field(field: &str, value: &Value) -> Read {
    let raw = match value {
        Value::Null => return Read::Absent,
        Value::String(s) if s.trim().is_empty() => return Read::Absent,
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return Read::Unreadable,
    };
    let leaf = field.rsplit('.').next().unwrap_or(field);
    match leaf {
        "kind" => kind(&raw),
        "sphere" | "add" | "amount" | "power" => dioptres(&raw, false),
        "cylinder" => dioptres(&raw, true),
        "axis" => axis(&raw),
        "base" => base(&raw),
        "issue_date" | "expiry_date" => date(&raw),
        "prescriber" | "brand" | "wear_duration" => text(&raw),
        _ => millimetres(&raw),
    }
}

fn insert(root: &mut Map<String, Value>, path: &str, value: Value) {
    let mut parts = path.split('.').peekable();
    let mut at = root;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            at.insert(part.to_owned(), value);
            return;
        }
        let next = at
            .entry(part.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(map) = next else { return };
        at = map;
    }
}

/// The draft from what the model replied (`reply`: its JSON, or None when it was not JSON),
/// judged as saving it on `today` would judge it.
pub fn draft(reply: Option<&Value>, today: NaiveDate) -> CaptureDraft {
    let object = reply.and_then(Value::as_object);
    let mut read = Map::new();
    let mut unread = Vec::new();
    for field in FIELDS {
        // The model may answer with the flat keys asked for, or nest them.
        let value = object.and_then(|o| {
            o.get(field).or_else(|| {
                field
                    .split('.')
                    .try_fold(reply?, |v, part| v.as_object()?.get(part))
            })
        });
        match value.map_or(Read::Absent, |v| read_field(field, v)) {
            Read::Value(v) => insert(&mut read, field, v),
            Read::Unreadable => unread.push(field.to_owned()),
            Read::Absent if ALWAYS.contains(&field) => unread.push(field.to_owned()),
            Read::Absent => {}
        }
    }
    // A prism needs both its amount and its base; half of one is unread, not half saved.
    for eye in ["right", "left"] {
        for prism in ["prism_horizontal", "prism_vertical"] {
            let has = |leaf: &str| {
                read.get(eye)
                    .and_then(|e| e.get(prism))
                    .and_then(|p| p.get(leaf))
                    .is_some()
            };
            if has("amount") != has("base") {
                let missing = if has("amount") { "base" } else { "amount" };
                let path = format!("{eye}.{prism}.{missing}");
                if !unread.contains(&path) {
                    unread.push(path);
                }
                if let Some(Value::Object(e)) = read.get_mut(eye) {
                    e.remove(prism);
                }
            }
        }
    }
    let prescription = Value::Object(read);
    let mut problems = match RxData::from_json(&prescription) {
        Ok(rx) => {
            let mut found = rx.validate().err().unwrap_or_default();
            if let Err(e) = rx.check_issue_date(today) {
                found.errors.push(e);
            }
            found
        }
        Err(mut errors) => {
            // The structure is incomplete (a person completes it), but a date read is judged now.
            let issued = prescription["issue_date"]
                .as_str()
                .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
            if let Some(Err(e)) = issued.map(|d| super::check_issue_date(d, today)) {
                errors.errors.push(e);
            }
            errors
        }
    };
    problems.errors.sort_by(|a, b| a.field.cmp(&b.field));
    CaptureDraft {
        prescription,
        unread,
        problems,
        reply_readable: object.is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 2).expect("date")
    }

    #[test]
    fn a_clear_prescription_reads_whole_with_no_problem() {
        let d = draft(
            Some(&json!({
                "kind": "spectacles", "right.sphere": "−2.25", "right.cylinder": "-0.50",
                "right.axis": "180°", "right.add": "+2.00", "left.sphere": "pl",
                "left.cylinder": "DS", "left.add": "+2.00", "pd.binocular_distance": "64 mm",
                "issue_date": "28/11/2026", "prescriber": "J. Patel MCOptom",
                "right.prism_horizontal.amount": "1.0", "right.prism_horizontal.base": "BI",
            })),
            today(),
        );
        assert!(d.unread.is_empty(), "{:?}", d.unread);
        assert!(d.problems.is_empty(), "{:?}", d.problems);
        assert_eq!(d.prescription["right"]["sphere"], -2.25);
        assert_eq!(d.prescription["left"]["sphere"], 0.0);
        assert!(d.prescription["left"].get("cylinder").is_none());
        assert_eq!(d.prescription["right"]["prism_horizontal"]["base"], "in");
        assert_eq!(d.prescription["issue_date"], "2026-11-28");
        assert!(RxData::from_json(&d.prescription).is_ok());
    }

    #[test]
    fn what_cannot_be_read_is_empty_and_named_and_broken_rules_are_listed() {
        let d = draft(
            Some(&json!({
                "kind": "spectacle", "right": {"sphere": "-2.2S", "cylinder": "-0.75",
                "axis": 200}, "left.sphere": "+1.00", "left.cylinder": -0.5,
                "issue_date": "2027-05-01", "prescriber": null,
                "left.prism_vertical.amount": "2",
            })),
            today(),
        );
        assert_eq!(
            d.unread,
            ["right.sphere", "prescriber", "left.prism_vertical.base"]
        );
        assert!(d.prescription["right"].get("sphere").is_none());
        assert!(d.prescription["left"].get("prism_vertical").is_none());
        let fields: Vec<&str> = d.problems.errors.iter().map(|e| e.field.as_str()).collect();
        // The missing values, a cylinder without an axis, an axis out of range, a date ahead.
        for f in ["right.sphere", "prescriber", "left.axis", "issue_date"] {
            assert!(fields.contains(&f), "{f} in {fields:?}");
        }
        assert!(
            d.problems.errors.iter().any(|e| e.field == "right.axis"),
            "{:?}",
            d.problems
        );
    }

    #[test]
    fn only_photos_of_the_kinds_read_are_taken() {
        let jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 0, 0];
        assert!(check_image("image", "image/jpeg", &jpeg).is_ok());
        let codes = |r: Result<(), ValidationErrors>| -> Vec<&'static str> {
            r.err()
                .map(|e| e.errors.iter().map(|f| f.code).collect())
                .unwrap_or_default()
        };
        assert_eq!(
            codes(check_image("image", "image/png", &jpeg)),
            ["rx.capture_image_unreadable"]
        );
        assert_eq!(
            codes(check_image("image", "application/pdf", &jpeg)),
            ["rx.capture_image_type"]
        );
        assert_eq!(
            codes(check_image("image", "image/jpeg", &[])),
            ["rx.capture_image_unreadable", "rx.capture_image_size"]
        );
        assert_eq!(
            codes(check_image("image", "image/webp", b"RIFF\0\0\0\0WAVE")),
            ["rx.capture_image_unreadable"]
        );
        assert!(check_image("image", "image/webp", b"RIFF\0\0\0\0WEBPVP8 ").is_ok());
        assert_eq!(media_type_of(&jpeg), Some("image/jpeg"));
        assert_eq!(media_type_of(b"RIFF\0\0\0\0WAVE"), None);
    }

    #[test]
    fn a_contact_lens_prescription_reads_with_its_own_fields() {
        let d = draft(
            Some(&json!({
                "kind": "Contact lenses", "right.sphere": "-3.00", "right.power": "-2.75",
                "right.base_curve": "8.6", "right.diameter": "14.2 mm", "left.sphere": "-2.50",
                "left.power": "-2.50", "left.base_curve": "8.6", "left.diameter": "14.2",
                "contact_lens.brand": "Acme Daily", "contact_lens.wear_duration": "daily",
                "issue_date": "2026-10-01", "prescriber": "L. Ng",
            })),
            today(),
        );
        assert!(d.unread.is_empty(), "{:?}", d.unread);
        assert!(d.problems.is_empty(), "{:?}", d.problems);
        assert_eq!(d.prescription["kind"], "contact_lens");
        assert_eq!(d.prescription["right"]["power"], -2.75);
        assert_eq!(d.prescription["contact_lens"]["wear_duration"], "daily");
    }

    #[test]
    fn a_reply_that_is_not_json_leaves_every_field_empty() {
        let d = draft(None, today());
        assert!(!d.reply_readable);
        assert_eq!(d.unread, ALWAYS);
        assert_eq!(d.prescription, json!({}));
        assert!(!d.problems.is_empty());
        let d = draft(Some(&json!(["not", "an", "object"])), today());
        assert!(!d.reply_readable && d.unread.len() == ALWAYS.len());
    }
}
