//! A prescription in the ILS form, read from JSON with every problem named by its path (see
//! [`crate::input`]).

use serde_json::Value;

use super::{ContactLensDetails, EyeRx, Prism, PupillaryDistance, RxData, RxKind, RxStatus};
use crate::input::{Fields, Kind, dioptres, millimetres, report_rules, text};
use crate::validation::ValidationErrors;

const KINDS: Kind = Kind::OneOf(&["spectacle", "contact_lens"]);
const STATUSES: Kind = Kind::OneOf(&["draft", "active", "cancelled", "entered_in_error"]);
const BASES: Kind = Kind::OneOf(&["up", "down", "in", "out"]);

fn prism(
    parent: &mut Fields<'_>,
    key: &'static str,
    errors: &mut ValidationErrors,
    broken: &mut std::collections::BTreeSet<String>,
) -> Option<Prism> {
    let value = parent.raw(key)?;
    let path = parent.path_of(key);
    let mut f = Fields::new(value, &path, errors);
    let amount = f.required("amount", Kind::Dioptres, errors);
    let base = f.required("base", BASES, errors);
    broken.extend(f.finish("a prism (amount, base)", errors));
    Some(Prism {
        amount: amount?,
        base: base?,
    })
}

fn eye(
    root: &mut Fields<'_>,
    key: &'static str,
    errors: &mut ValidationErrors,
    broken: &mut std::collections::BTreeSet<String>,
) -> EyeRx {
    let path = root.path_of(key);
    let Some(value) = root.raw(key) else {
        errors.add(
            &path,
            crate::input::code::REQUIRED,
            format!("{path} is required (the {key} eye's prescription, at least its sphere)"),
        );
        broken.insert(path);
        return EyeRx::default();
    };
    let mut f = Fields::new(value, &path, errors);
    let eye = EyeRx {
        sphere: f
            .required("sphere", Kind::Dioptres, errors)
            .unwrap_or_default(),
        cylinder: dioptres(&mut f, "cylinder", errors),
        axis: f.optional("axis", Kind::Degrees, errors),
        add: dioptres(&mut f, "add", errors),
        prism_horizontal: prism(&mut f, "prism_horizontal", errors, broken),
        prism_vertical: prism(&mut f, "prism_vertical", errors, broken),
        power: dioptres(&mut f, "power", errors),
        base_curve: millimetres(&mut f, "base_curve", errors),
        diameter: millimetres(&mut f, "diameter", errors),
    };
    broken.extend(f.finish("an eye's prescription", errors));
    eye
}

impl RxData {
    /// Reads a prescription in the ILS form. Every structural problem (a missing field, a value
    /// of the wrong kind, an unknown field) is reported by its path, together with the domain
    /// rules the rest of the prescription breaks; when the structure is sound the prescription
    /// is returned as read, and the rules are applied where it is used.
    pub fn from_json(value: &Value) -> Result<RxData, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let mut root = Fields::new(value, "", &mut errors);
        if !root.is_object() {
            return Err(errors);
        }
        let mut broken = std::collections::BTreeSet::new();
        let kind = root.required::<RxKind>("kind", KINDS, &mut errors);
        let status = root.optional::<RxStatus>("status", STATUSES, &mut errors);
        let right = eye(&mut root, "right", &mut errors, &mut broken);
        let left = eye(&mut root, "left", &mut errors, &mut broken);
        let pd = match root.raw("pd") {
            Some(v) => {
                let mut f = Fields::new(v, "pd", &mut errors);
                let pd = PupillaryDistance {
                    binocular_distance: millimetres(&mut f, "binocular_distance", &mut errors),
                    binocular_near: millimetres(&mut f, "binocular_near", &mut errors),
                    right_distance: millimetres(&mut f, "right_distance", &mut errors),
                    left_distance: millimetres(&mut f, "left_distance", &mut errors),
                    right_near: millimetres(&mut f, "right_near", &mut errors),
                    left_near: millimetres(&mut f, "left_near", &mut errors),
                };
                broken.extend(f.finish("the pupillary distances", &mut errors));
                pd
            }
            None => PupillaryDistance::default(),
        };
        let contact_lens = root.raw("contact_lens").map(|v| {
            let mut f = Fields::new(v, "contact_lens", &mut errors);
            let details = ContactLensDetails {
                brand: text(&mut f, "brand", &mut errors),
                wear_duration: text(&mut f, "wear_duration", &mut errors),
            };
            broken.extend(f.finish("the contact-lens details", &mut errors));
            details
        });
        let segment_height = millimetres(&mut root, "segment_height", &mut errors);
        let vertex_distance = millimetres(&mut root, "vertex_distance", &mut errors);
        let issue_date = root.required("issue_date", Kind::Date, &mut errors);
        let expiry_date = crate::input::date(&mut root, "expiry_date", &mut errors);
        let prescriber = root.required::<String>("prescriber", Kind::Text, &mut errors);
        let notes = text(&mut root, "notes", &mut errors);
        broken.extend(root.finish("a prescription", &mut errors));
        let rx = RxData {
            kind: kind.unwrap_or(RxKind::Spectacle),
            status: status.unwrap_or(RxStatus::Active),
            right,
            left,
            pd,
            segment_height,
            vertex_distance,
            issue_date: issue_date.unwrap_or_default(),
            expiry_date,
            prescriber: prescriber.unwrap_or_else(|| "-".into()),
            notes,
            contact_lens,
        };
        if errors.is_empty() {
            return Ok(rx);
        }
        // Rules that would judge a value nobody gave are left out: with a default issue date
        // the expiry rule, with a default kind the rules of the kind.
        if broken.contains("issue_date") {
            broken.insert("expiry_date".into());
        }
        let rules = rx.validate().map_err(|mut found| {
            if broken.contains("kind") {
                found
                    .errors
                    .retain(|e| e.code != "rx.contact_lens_field_on_spectacles");
            }
            found
        });
        report_rules(&mut errors, &broken, rules);
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn problems(value: Value) -> Vec<(String, &'static str)> {
        match RxData::from_json(&value) {
            Ok(_) => vec![],
            Err(e) => e.errors.into_iter().map(|e| (e.field, e.code)).collect(),
        }
    }

    #[test]
    fn every_problem_is_named_by_its_path() {
        let got = problems(json!({
            "kind": "spectacle",
            "right": {"sphere": "minus two", "cylinder": -0.75, "axis": 190,
                      "prism_horizontal": {"amount": 1.0}},
            "left": {"sphere": -2.0, "cylinder": -0.5, "axis": 170, "colour": "blue"},
            "issue_date": "yesterday",
            "prescriber": "Dr. Franklin"
        }));
        assert_eq!(
            got,
            [
                ("right.sphere".to_owned(), "input.invalid"),
                ("right.prism_horizontal.base".to_owned(), "input.required"),
                ("left.colour".to_owned(), "input.unknown_field"),
                ("issue_date".to_owned(), "input.invalid"),
                // The rules still run over what could be read.
                ("right.axis".to_owned(), "rx.axis_out_of_range"),
            ]
        );
        let err = RxData::from_json(&json!({"kind": "glasses", "right": {"sphere": 1}}))
            .expect_err("refused");
        let messages: Vec<&str> = err.errors.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "kind must be one of spectacle, contact_lens, got \"glasses\"",
                "left is required (the left eye's prescription, at least its sphere)",
                "issue_date is required (a date like 2026-11-30)",
                "prescriber is required (text)",
            ]
        );
    }

    #[test]
    fn a_sound_prescription_reads_as_serde_would() {
        let value = json!({
            "kind": "spectacle",
            "right": {"sphere": -2.25, "cylinder": -0.75, "axis": 180, "add": 2.0,
                      "prism_horizontal": {"amount": 1.0, "base": "in"}},
            "left": {"sphere": -2.0},
            "pd": {"right_distance": 32.0},
            "issue_date": "2026-11-01",
            "prescriber": "Dr. Rosalind Franklin"
        });
        let read = RxData::from_json(&value).expect("reads");
        let serde: RxData = serde_json::from_value(value).expect("serde");
        assert_eq!(read, serde);
        assert_eq!(
            problems(json!([1, 2])),
            [("(root)".to_owned(), "input.invalid")]
        );
        assert_eq!(
            problems(
                json!({"kind": "spectacle", "right": {"sphere": -1.123}, "left": {"sphere": 0},
                            "issue_date": "2026-11-01", "prescriber": "X"})
            ),
            [("right.sphere".to_owned(), "input.invalid")]
        );
    }
}
