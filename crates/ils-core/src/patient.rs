//! Patients: identity, contact details and the rules for them.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::rx::notes_text;
use crate::user;
use crate::validation::{FieldError, ValidationErrors, required_text};

/// A patient's details as entered (no id, no timestamps).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "customer_number": "C-1042", "first_name": "Ada", "last_name": "Lovelace",
    "date_of_birth": "1984-03-07", "email": "ada@example.org", "phone": "+44 20 7946 0958",
    "address": "12 Harley Street, London", "notes": null
})))]
pub struct PatientData {
    /// The practice's own number for the patient; unique within the practice.
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = r"^[A-Za-z0-9_./-]{1,32}$", example = "C-1042")
    )]
    pub customer_number: String,
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 100, example = "Ada")
    )]
    pub first_name: String,
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 100, example = "Lovelace")
    )]
    pub last_name: String,
    /// Not in the future, not before 1900.
    #[cfg_attr(feature = "openapi", schema(example = "1984-03-07"))]
    pub date_of_birth: NaiveDate,
    #[cfg_attr(feature = "openapi", schema(format = Email, example = "ada@example.org"))]
    pub email: Option<String>,
    /// 6–20 digits, with optional `+`, spaces, dashes, dots and parentheses.
    #[cfg_attr(feature = "openapi", schema(example = "+44 20 7946 0958"))]
    pub phone: Option<String>,
    #[cfg_attr(feature = "openapi", schema(max_length = 500))]
    pub address: Option<String>,
    pub notes: Option<String>,
}

/// Changes to a patient; absent fields stay as they are, `null` clears an optional field.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "phone": "+44 20 7946 0000", "notes": null
})))]
pub struct PatientChanges {
    pub customer_number: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    #[serde(with = "double_option")]
    pub email: Option<Option<String>>,
    #[serde(with = "double_option")]
    pub phone: Option<Option<String>>,
    #[serde(with = "double_option")]
    pub address: Option<Option<String>>,
    #[serde(with = "double_option")]
    pub notes: Option<Option<String>>,
}

mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(
        value: &Option<Option<String>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        value.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<String>>, D::Error> {
        Option::<String>::deserialize(d).map(Some)
    }
}

impl PatientData {
    /// Reads a patient from JSON (a form, a file), reporting every structural problem by its
    /// path (see [`crate::input`]); the patient rules are applied where it is saved.
    pub fn from_json(value: &serde_json::Value) -> Result<PatientData, ValidationErrors> {
        use crate::input::{Fields, Kind, text};
        let mut errors = ValidationErrors::new();
        let mut f = Fields::new(value, "", &mut errors);
        if !f.is_object() {
            return Err(errors);
        }
        let customer_number = f.required::<String>("customer_number", Kind::Text, &mut errors);
        let first_name = f.required::<String>("first_name", Kind::Text, &mut errors);
        let last_name = f.required::<String>("last_name", Kind::Text, &mut errors);
        let date_of_birth = f.required::<NaiveDate>("date_of_birth", Kind::Date, &mut errors);
        let email = text(&mut f, "email", &mut errors);
        let phone = text(&mut f, "phone", &mut errors);
        let address = text(&mut f, "address", &mut errors);
        let notes = text(&mut f, "notes", &mut errors);
        f.finish("a patient", &mut errors);
        match (customer_number, first_name, last_name, date_of_birth) {
            (Some(customer_number), Some(first_name), Some(last_name), Some(date_of_birth))
                if errors.is_empty() =>
            {
                Ok(PatientData {
                    customer_number,
                    first_name,
                    last_name,
                    date_of_birth,
                    email,
                    phone,
                    address,
                    notes,
                })
            }
            _ => Err(errors),
        }
    }
}

impl PatientChanges {
    /// Reads changes to a patient from JSON: a field left out stays as it is, and `null` clears
    /// an optional one (e-mail, phone, address, notes). Every structural problem is reported by
    /// its path.
    pub fn from_json(value: &serde_json::Value) -> Result<PatientChanges, ValidationErrors> {
        use crate::input::{Fields, Kind};
        let mut errors = ValidationErrors::new();
        let mut f = Fields::new(value, "", &mut errors);
        if !f.is_object() {
            return Err(errors);
        }
        let object = value.as_object();
        let clearable = |f: &mut Fields<'_>, key: &'static str, errors: &mut ValidationErrors| {
            let given = object.is_some_and(|o| o.contains_key(key));
            let read = f.optional::<String>(key, Kind::Text, errors);
            match (given, read) {
                (false, _) => None,
                (true, read) => Some(read),
            }
        };
        let changes = PatientChanges {
            customer_number: f.optional("customer_number", Kind::Text, &mut errors),
            first_name: f.optional("first_name", Kind::Text, &mut errors),
            last_name: f.optional("last_name", Kind::Text, &mut errors),
            date_of_birth: f.optional("date_of_birth", Kind::Date, &mut errors),
            email: clearable(&mut f, "email", &mut errors),
            phone: clearable(&mut f, "phone", &mut errors),
            address: clearable(&mut f, "address", &mut errors),
            notes: clearable(&mut f, "notes", &mut errors),
        };
        f.finish("the changes to a patient", &mut errors);
        if errors.is_empty() {
            Ok(changes)
        } else {
            Err(errors)
        }
    }

    /// The patient after these changes.
    pub fn apply(&self, to: &PatientData) -> PatientData {
        PatientData {
            customer_number: self
                .customer_number
                .clone()
                .unwrap_or_else(|| to.customer_number.clone()),
            first_name: self
                .first_name
                .clone()
                .unwrap_or_else(|| to.first_name.clone()),
            last_name: self
                .last_name
                .clone()
                .unwrap_or_else(|| to.last_name.clone()),
            date_of_birth: self.date_of_birth.unwrap_or(to.date_of_birth),
            email: self.email.clone().unwrap_or_else(|| to.email.clone()),
            phone: self.phone.clone().unwrap_or_else(|| to.phone.clone()),
            address: self.address.clone().unwrap_or_else(|| to.address.clone()),
            notes: self.notes.clone().unwrap_or_else(|| to.notes.clone()),
        }
    }
}

/// The search and sort key of a name: lower-cased the Unicode way (databases' own `lower()`
/// often folds ASCII only). Both halves store it beside the name and search on it, so a search
/// finds the same patients everywhere.
pub fn name_key(name: &str) -> String {
    name.to_lowercase()
}

/// A customer number: 1–32 letters, digits, `-`, `_`, `/` or `.`.
pub fn customer_number(field: &str, value: &str) -> Result<String, FieldError> {
    let v = value.trim();
    let ok = !v.is_empty()
        && v.len() <= 32
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_/.".contains(c));
    if ok {
        Ok(v.to_owned())
    } else {
        Err(FieldError::new(
            field,
            "patient.customer_number_invalid",
            format!("{value:?} is not a customer number (1–32 letters, digits, - _ / .)"),
        ))
    }
}

/// A phone number: digits with optional +, spaces, dashes, dots and parentheses; 6–20 digits.
pub fn phone(field: &str, value: &str) -> Result<String, FieldError> {
    let v = value.trim();
    let digits = v.chars().filter(char::is_ascii_digit).count();
    let ok = (6..=20).contains(&digits)
        && v.len() <= 32
        && v.chars()
            .all(|c| c.is_ascii_digit() || " +-.()".contains(c))
        && v.chars().skip(1).all(|c| c != '+');
    if ok {
        Ok(v.to_owned())
    } else {
        Err(FieldError::new(
            field,
            "patient.phone_invalid",
            format!("{value:?} is not a phone number"),
        ))
    }
}

impl PatientData {
    /// Checks every field against `today` and returns the normalised patient.
    pub fn validate(&self, today: NaiveDate) -> Result<PatientData, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let customer_number =
            errors.check(customer_number("customer_number", &self.customer_number));
        let first_name = errors.check(required_text(
            "first_name",
            &self.first_name,
            100,
            "patient.name_invalid",
        ));
        let last_name = errors.check(required_text(
            "last_name",
            &self.last_name,
            100,
            "patient.name_invalid",
        ));
        let earliest = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN);
        if self.date_of_birth > today {
            errors.add(
                "date_of_birth",
                "patient.birth_date_in_future",
                format!("The date of birth {} is in the future", self.date_of_birth),
            );
        } else if self.date_of_birth < earliest {
            errors.add(
                "date_of_birth",
                "patient.birth_date_too_early",
                format!("The date of birth {} is before 1900", self.date_of_birth),
            );
        }
        let email = self
            .email
            .as_deref()
            .filter(|e| !e.trim().is_empty())
            .map(|e| errors.check(user::email("email", e)));
        let phone_number = self
            .phone
            .as_deref()
            .filter(|p| !p.trim().is_empty())
            .map(|p| errors.check(phone("phone", p)));
        if let Some(address) = &self.address
            && let Err(e) = notes_text("address", address).and_then(|()| {
                if address.chars().count() > 500 {
                    Err(FieldError::new(
                        "address",
                        "text.too_long",
                        "address must be at most 500 characters",
                    ))
                } else {
                    Ok(())
                }
            })
        {
            errors.check::<()>(Err(e));
        }
        if let Some(notes) = &self.notes
            && let Err(e) = notes_text("notes", notes)
        {
            errors.check::<()>(Err(e));
        }
        errors.clone().into_result()?;
        Ok(PatientData {
            customer_number: customer_number.unwrap_or_default(),
            first_name: first_name.unwrap_or_default(),
            last_name: last_name.unwrap_or_default(),
            date_of_birth: self.date_of_birth,
            email: email.flatten(),
            phone: phone_number.flatten(),
            address: self.address.clone().filter(|a| !a.trim().is_empty()),
            notes: self.notes.clone().filter(|n| !n.trim().is_empty()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 28).expect("date")
    }

    fn base() -> PatientData {
        PatientData {
            customer_number: "C-1001".into(),
            first_name: "Grace".into(),
            last_name: "Hopper".into(),
            date_of_birth: NaiveDate::from_ymd_opt(1956, 12, 9).expect("date"),
            email: Some("grace@example.org".into()),
            phone: Some("+44 20 7946 0000".into()),
            address: Some("1 Lens Lane\nLondon".into()),
            notes: None,
        }
    }

    fn fields(e: &ValidationErrors) -> Vec<(&str, &str)> {
        e.errors
            .iter()
            .map(|e| (e.field.as_str(), e.code))
            .collect()
    }

    #[test]
    fn a_patient_is_read_from_json_with_every_problem_named_by_its_field() {
        let read = PatientData::from_json(&serde_json::json!({
            "customer_number": "C-1001", "first_name": "Grace", "last_name": "Hopper",
            "date_of_birth": "1956-12-09", "email": null, "phone": "+44 20 7946 0000"
        }))
        .expect("a whole patient");
        assert_eq!(read.date_of_birth, base().date_of_birth);
        assert_eq!(read.email, None);
        assert_eq!(read.phone.as_deref(), Some("+44 20 7946 0000"));

        let broken = PatientData::from_json(&serde_json::json!({
            "customer_number": "C-1001", "first_name": 7, "date_of_birth": "09/12/1956",
            "nickname": "Amazing Grace"
        }))
        .expect_err("broken");
        assert_eq!(
            fields(&broken),
            vec![
                ("first_name", "input.invalid"),
                ("last_name", "input.required"),
                ("date_of_birth", "input.invalid"),
                ("nickname", "input.unknown_field"),
            ]
        );
        assert!(
            PatientData::from_json(&serde_json::json!(["C-1001", "Grace"])).is_err(),
            "only an object is a patient"
        );
    }

    #[test]
    fn changes_leave_out_what_stays_and_null_clears() {
        let changes = PatientChanges::from_json(&serde_json::json!({
            "last_name": "Hopper-Murray", "email": null
        }))
        .expect("changes");
        assert_eq!(changes.last_name.as_deref(), Some("Hopper-Murray"));
        assert_eq!(changes.email, Some(None), "null clears the e-mail");
        assert_eq!(changes.phone, None, "a field left out stays");
        let applied = changes.apply(&base());
        assert_eq!(applied.email, None);
        assert_eq!(applied.phone, base().phone);

        let broken = PatientChanges::from_json(&serde_json::json!({
            "date_of_birth": "yesterday", "phone": 44
        }))
        .expect_err("broken");
        assert_eq!(
            fields(&broken),
            vec![
                ("date_of_birth", "input.invalid"),
                ("phone", "input.invalid")
            ]
        );
    }

    fn codes(change: impl FnOnce(&mut PatientData)) -> Vec<&'static str> {
        let mut p = base();
        change(&mut p);
        match p.validate(today()) {
            Ok(_) => vec![],
            Err(e) => e.errors.iter().map(|e| e.code).collect(),
        }
    }

    #[test]
    fn patient_rules() {
        type Case = (Box<dyn FnOnce(&mut PatientData)>, &'static [&'static str]);
        let cases: Vec<Case> = vec![
            (Box::new(|_| {}), &[]),
            (
                Box::new(|p| p.customer_number = "".into()),
                &["patient.customer_number_invalid"],
            ),
            (
                Box::new(|p| p.customer_number = "has space".into()),
                &["patient.customer_number_invalid"],
            ),
            (
                Box::new(|p| p.customer_number = "x".repeat(33)),
                &["patient.customer_number_invalid"],
            ),
            (
                Box::new(|p| p.first_name = " ".into()),
                &["patient.name_invalid"],
            ),
            (
                Box::new(|p| p.date_of_birth = NaiveDate::from_ymd_opt(2026, 11, 29).expect("d")),
                &["patient.birth_date_in_future"],
            ),
            (
                Box::new(|p| p.date_of_birth = NaiveDate::from_ymd_opt(2026, 11, 28).expect("d")),
                &[],
            ),
            (
                Box::new(|p| p.date_of_birth = NaiveDate::from_ymd_opt(1899, 12, 31).expect("d")),
                &["patient.birth_date_too_early"],
            ),
            (
                Box::new(|p| p.date_of_birth = NaiveDate::from_ymd_opt(1900, 1, 1).expect("d")),
                &[],
            ),
            (
                Box::new(|p| p.email = Some("not-mail".into())),
                &["user.email_invalid"],
            ),
            (Box::new(|p| p.email = Some("".into())), &[]),
            (
                Box::new(|p| p.phone = Some("12".into())),
                &["patient.phone_invalid"],
            ),
            (
                Box::new(|p| p.phone = Some("+1 (555) 010-9999".into())),
                &[],
            ),
            (
                Box::new(|p| p.phone = Some("555+0109999".into())),
                &["patient.phone_invalid"],
            ),
            (
                Box::new(|p| p.notes = Some("a\u{7}b".into())),
                &["text.control_characters"],
            ),
        ];
        for (i, (change, expected)) in cases.into_iter().enumerate() {
            assert_eq!(codes(change), expected, "case {i}");
        }
    }

    #[test]
    fn changes_apply_and_clear() {
        let changes: PatientChanges =
            serde_json::from_str(r#"{"first_name": "Amazing Grace", "phone": null}"#)
                .expect("json");
        let after = changes.apply(&base());
        assert_eq!(after.first_name, "Amazing Grace");
        assert_eq!(after.phone, None, "null clears");
        assert_eq!(after.email, base().email, "absent keeps");
        assert!(serde_json::from_str::<PatientChanges>(r#"{"company_id": "x"}"#).is_err());
    }
}
