//! FHIR R4 `VisionPrescription`: export a prescription as that resource and import one back.
//!
//! Fields FHIR carries map one to one (status, dates, prescriber, per-eye sphere, cylinder,
//! axis, prisms, add, power, back curve, diameter, brand, duration). Fields it does not carry
//! (expiry date, pupillary distances, segment height, vertex distance, notes) travel as
//! extensions under [`EXTENSION_BASE`], so a round trip through FHIR loses nothing.

use chrono::NaiveDate;
use serde_json::{Map, Value, json};

use crate::ids::{PatientId, PrescriptionId};
use crate::rx::{
    ContactLensDetails, Diopters, EyeRx, Millimetres, Prism, PrismBase, PupillaryDistance, RxData,
    RxKind, RxStatus,
};
use crate::validation::{FieldError, ValidationErrors};

pub const EXTENSION_BASE: &str = "urn:ils:fhir:StructureDefinition:";
const PRODUCT_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/ex-visionprescriptionproduct";

fn status_code(status: RxStatus) -> &'static str {
    match status {
        RxStatus::Draft => "draft",
        RxStatus::Active => "active",
        RxStatus::Cancelled => "cancelled",
        RxStatus::EnteredInError => "entered-in-error",
    }
}

fn ext(name: &str, key: &str, value: Value) -> Value {
    let mut m = Map::new();
    m.insert(
        "url".into(),
        Value::String(format!("{EXTENSION_BASE}{name}")),
    );
    m.insert(key.into(), value);
    Value::Object(m)
}

fn mm_ext(name: &str, value: Option<Millimetres>) -> Option<Value> {
    value.map(|v| ext(name, "valueDecimal", json!(v.as_f64())))
}

/// The prescription as a FHIR R4 `VisionPrescription` resource.
pub fn export(id: PrescriptionId, patient: PatientId, rx: &RxData) -> Value {
    let product = match rx.kind {
        RxKind::Spectacle => "lens",
        RxKind::ContactLens => "contact",
    };
    let eye = |name: &str, e: &EyeRx| {
        let mut spec = Map::new();
        spec.insert(
            "product".into(),
            json!({"coding": [{"system": PRODUCT_SYSTEM, "code": product}]}),
        );
        spec.insert("eye".into(), json!(name));
        spec.insert("sphere".into(), json!(e.sphere.as_f64()));
        if let Some(c) = e.cylinder {
            spec.insert("cylinder".into(), json!(c.as_f64()));
        }
        if let Some(a) = e.axis {
            spec.insert("axis".into(), json!(a));
        }
        let prisms: Vec<Value> = [e.prism_horizontal, e.prism_vertical]
            .into_iter()
            .flatten()
            .map(|p| json!({"amount": p.amount.as_f64(), "base": p.base.as_str()}))
            .collect();
        if !prisms.is_empty() {
            spec.insert("prism".into(), Value::Array(prisms));
        }
        if let Some(a) = e.add {
            spec.insert("add".into(), json!(a.as_f64()));
        }
        if let Some(p) = e.power {
            spec.insert("power".into(), json!(p.as_f64()));
        }
        if let Some(b) = e.base_curve {
            spec.insert("backCurve".into(), json!(b.as_f64()));
        }
        if let Some(d) = e.diameter {
            spec.insert("diameter".into(), json!(d.as_f64()));
        }
        if let Some(cl) = &rx.contact_lens {
            if let Some(brand) = &cl.brand {
                spec.insert("brand".into(), json!(brand));
            }
            if let Some(duration) = &cl.wear_duration {
                // Free text ("daily", "2 weeks") is not a FHIR Quantity: it travels as an extension.
                spec.insert(
                    "extension".into(),
                    json!([ext("wear-duration", "valueString", json!(duration))]),
                );
            }
        }
        Value::Object(spec)
    };
    let pd = &rx.pd;
    let extensions: Vec<Value> = [
        rx.expiry_date
            .map(|d| ext("expiry-date", "valueDate", json!(d.to_string()))),
        mm_ext("pd-binocular-distance", pd.binocular_distance),
        mm_ext("pd-binocular-near", pd.binocular_near),
        mm_ext("pd-right-distance", pd.right_distance),
        mm_ext("pd-left-distance", pd.left_distance),
        mm_ext("pd-right-near", pd.right_near),
        mm_ext("pd-left-near", pd.left_near),
        mm_ext("segment-height", rx.segment_height),
        mm_ext("vertex-distance", rx.vertex_distance),
        rx.notes
            .as_ref()
            .map(|n| ext("notes", "valueString", json!(n))),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut resource = json!({
        "resourceType": "VisionPrescription",
        "id": id.to_string(),
        "status": status_code(rx.status),
        "created": rx.issue_date.to_string(),
        "patient": {"reference": format!("Patient/{patient}")},
        "dateWritten": rx.issue_date.to_string(),
        "prescriber": {"display": rx.prescriber},
        "lensSpecification": [eye("right", &rx.right), eye("left", &rx.left)],
    });
    if !extensions.is_empty() {
        resource["extension"] = Value::Array(extensions);
    }
    resource
}

/// What a person gave for a coded field, in words: `"diagonal"`, or "nothing".
fn given(value: Option<&str>) -> String {
    match value {
        Some(v) => format!("{v:?}"),
        None => "nothing".to_owned(),
    }
}

fn bad(field: &str, message: impl Into<String>) -> FieldError {
    FieldError::new(field, "fhir.invalid", message)
}

fn get_str<'a>(v: &'a Value, field: &str) -> Result<&'a str, FieldError> {
    v.as_str()
        .ok_or_else(|| bad(field, format!("{field} must be a string")))
}

fn date(v: &Value, field: &str) -> Result<NaiveDate, FieldError> {
    let s = get_str(v, field)?;
    // FHIR dateTime may carry a time; the date part is what a prescription needs.
    let day = s.get(..10).unwrap_or(s);
    NaiveDate::parse_from_str(day, "%Y-%m-%d").map_err(|_| {
        bad(
            field,
            format!("{field} must be a date like 2026-01-31, got {s:?}"),
        )
    })
}

fn dioptres(v: &Value, field: &str) -> Result<Diopters, FieldError> {
    v.as_f64().and_then(Diopters::from_f64).ok_or_else(|| {
        bad(
            field,
            format!("{field} must be a decimal with at most two places"),
        )
    })
}

fn millimetres(v: &Value, field: &str) -> Result<Millimetres, FieldError> {
    v.as_f64().and_then(Millimetres::from_f64).ok_or_else(|| {
        bad(
            field,
            format!("{field} must be a length in millimetres with at most one decimal"),
        )
    })
}

/// Reads a FHIR R4 `VisionPrescription`. Structural problems are reported by FHIR path; the
/// result is then checked by the same domain rules as any other prescription.
pub fn import(resource: &Value) -> Result<RxData, ValidationErrors> {
    let mut errors = ValidationErrors::new();
    let result = read(resource, &mut errors);
    match result {
        Some(rx) if errors.is_empty() => {
            rx.validate()?;
            Ok(rx)
        }
        _ => Err(errors),
    }
}

fn read(r: &Value, errors: &mut ValidationErrors) -> Option<RxData> {
    if !r.is_object() {
        errors.add(
            "$",
            "fhir.invalid",
            "The body must be a FHIR resource (a JSON object)",
        );
        return None;
    }
    match r.get("resourceType").and_then(Value::as_str) {
        Some("VisionPrescription") => {}
        Some(other) => {
            errors.add(
                "resourceType",
                "fhir.wrong_resource_type",
                format!("Expected a VisionPrescription, got a {other}"),
            );
            return None;
        }
        None => {
            errors.add(
                "resourceType",
                "fhir.wrong_resource_type",
                "resourceType is missing; expected VisionPrescription",
            );
            return None;
        }
    }
    let status = match r.get("status").and_then(Value::as_str) {
        Some("active") => Some(RxStatus::Active),
        Some("draft") => Some(RxStatus::Draft),
        Some("cancelled") => Some(RxStatus::Cancelled),
        Some("entered-in-error") => Some(RxStatus::EnteredInError),
        Some(other) => {
            errors.add(
                "status",
                "fhir.invalid",
                format!(
                    "status must be active, draft, cancelled or entered-in-error, got {other:?}"
                ),
            );
            None
        }
        None => {
            errors.add("status", "fhir.invalid", "status is required");
            None
        }
    };
    let issue = match r.get("dateWritten").or_else(|| r.get("created")) {
        Some(v) => errors.check(date(v, "dateWritten")),
        None => {
            errors.add("dateWritten", "fhir.invalid", "dateWritten is required");
            None
        }
    };
    let prescriber = r
        .get("prescriber")
        .and_then(|p| p.get("display"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    if prescriber.is_none() {
        errors.add(
            "prescriber",
            "fhir.invalid",
            "prescriber.display (the prescriber's name) is required",
        );
    }

    let mut rx = RxData {
        kind: RxKind::Spectacle,
        status: status.unwrap_or(RxStatus::Active),
        right: EyeRx::default(),
        left: EyeRx::default(),
        pd: PupillaryDistance::default(),
        segment_height: None,
        vertex_distance: None,
        issue_date: issue.unwrap_or_default(),
        expiry_date: None,
        prescriber: prescriber.unwrap_or_default(),
        notes: None,
        contact_lens: None,
    };

    let Some(specs) = r.get("lensSpecification").and_then(Value::as_array) else {
        errors.add(
            "lensSpecification",
            "fhir.invalid",
            "lensSpecification must list the right and the left eye",
        );
        return None;
    };
    let (mut right, mut left) = (None, None);
    let mut kinds = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let path = format!("lensSpecification[{i}]");
        let product = spec
            .pointer("/product/coding/0/code")
            .and_then(Value::as_str);
        match product {
            Some("lens") => kinds.push(RxKind::Spectacle),
            Some("contact") => kinds.push(RxKind::ContactLens),
            other => errors.add(
                &format!("{path}.product"),
                "fhir.invalid",
                format!(
                    "product must be coded lens or contact, got {}",
                    given(other)
                ),
            ),
        }
        let eye = match spec.get("eye").and_then(Value::as_str) {
            Some("right") => &mut right,
            Some("left") => &mut left,
            other => {
                errors.add(
                    &format!("{path}.eye"),
                    "fhir.invalid",
                    format!("eye must be right or left, got {}", given(other)),
                );
                continue;
            }
        };
        if eye.is_some() {
            errors.add(
                &format!("{path}.eye"),
                "fhir.invalid",
                "each eye may appear once",
            );
            continue;
        }
        *eye = read_eye(spec, &path, errors, &mut rx);
    }
    kinds.dedup();
    match kinds.as_slice() {
        [kind] => rx.kind = *kind,
        [] => {}
        _ => errors.add(
            "lensSpecification",
            "fhir.invalid",
            "both eyes must be the same product (lens or contact)",
        ),
    }
    match (right, left) {
        (Some(r), Some(l)) => {
            rx.right = r;
            rx.left = l;
        }
        _ => errors.add(
            "lensSpecification",
            "fhir.invalid",
            "lensSpecification must have exactly one right and one left eye",
        ),
    }

    for (i, e) in r
        .get("extension")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let path = format!("extension[{i}]");
        let Some(name) = e
            .get("url")
            .and_then(Value::as_str)
            .and_then(|u| u.strip_prefix(EXTENSION_BASE))
        else {
            continue; // Someone else's extension: ignored, as FHIR allows.
        };
        let decimal = |errors: &mut ValidationErrors| {
            e.get("valueDecimal")
                .and_then(|v| errors.check(millimetres(v, &format!("{path}.valueDecimal"))))
        };
        match name {
            "expiry-date" => {
                rx.expiry_date = e
                    .get("valueDate")
                    .and_then(|v| errors.check(date(v, &format!("{path}.valueDate"))))
            }
            "pd-binocular-distance" => rx.pd.binocular_distance = decimal(errors),
            "pd-binocular-near" => rx.pd.binocular_near = decimal(errors),
            "pd-right-distance" => rx.pd.right_distance = decimal(errors),
            "pd-left-distance" => rx.pd.left_distance = decimal(errors),
            "pd-right-near" => rx.pd.right_near = decimal(errors),
            "pd-left-near" => rx.pd.left_near = decimal(errors),
            "segment-height" => rx.segment_height = decimal(errors),
            "vertex-distance" => rx.vertex_distance = decimal(errors),
            "notes" => {
                rx.notes = e
                    .get("valueString")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            }
            other => errors.add(
                &format!("{path}.url"),
                "fhir.invalid",
                format!("unknown ILS extension {other:?}"),
            ),
        }
    }
    Some(rx)
}

fn read_eye(
    spec: &Value,
    path: &str,
    errors: &mut ValidationErrors,
    rx: &mut RxData,
) -> Option<EyeRx> {
    let num = |key: &str| spec.get(key);
    let mut eye = EyeRx::default();
    match num("sphere") {
        Some(v) => eye.sphere = errors.check(dioptres(v, &format!("{path}.sphere")))?,
        None if num("power").is_some() => {}
        None => {
            errors.add(
                &format!("{path}.sphere"),
                "fhir.invalid",
                "sphere is required",
            );
            return None;
        }
    }
    eye.cylinder =
        num("cylinder").and_then(|v| errors.check(dioptres(v, &format!("{path}.cylinder"))));
    eye.axis = match num("axis") {
        None => None,
        Some(v) => match v.as_u64().and_then(|a| u16::try_from(a).ok()) {
            Some(a) => Some(a),
            None => {
                errors.add(
                    &format!("{path}.axis"),
                    "fhir.invalid",
                    format!("{path}.axis must be a whole number of degrees"),
                );
                None
            }
        },
    };
    eye.add = num("add").and_then(|v| errors.check(dioptres(v, &format!("{path}.add"))));
    eye.power = num("power").and_then(|v| errors.check(dioptres(v, &format!("{path}.power"))));
    eye.base_curve =
        num("backCurve").and_then(|v| errors.check(millimetres(v, &format!("{path}.backCurve"))));
    eye.diameter =
        num("diameter").and_then(|v| errors.check(millimetres(v, &format!("{path}.diameter"))));
    for (j, p) in spec
        .get("prism")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let ppath = format!("{path}.prism[{j}]");
        let amount = p
            .get("amount")
            .and_then(|v| errors.check(dioptres(v, &format!("{ppath}.amount"))));
        let base = match p.get("base").and_then(Value::as_str) {
            Some("up") => Some(PrismBase::Up),
            Some("down") => Some(PrismBase::Down),
            Some("in") => Some(PrismBase::In),
            Some("out") => Some(PrismBase::Out),
            other => {
                errors.add(
                    &format!("{ppath}.base"),
                    "fhir.invalid",
                    format!("base must be up, down, in or out, got {}", given(other)),
                );
                None
            }
        };
        if let (Some(amount), Some(base)) = (amount, base) {
            let slot = if base.is_horizontal() {
                &mut eye.prism_horizontal
            } else {
                &mut eye.prism_vertical
            };
            if slot.is_some() {
                errors.add(
                    &ppath,
                    "fhir.invalid",
                    "at most one horizontal and one vertical prism per eye",
                );
            }
            *slot = Some(Prism { amount, base });
        }
    }
    let brand = spec.get("brand").and_then(Value::as_str);
    let duration = spec
        .get("extension")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|e| {
            e.get("url").and_then(Value::as_str) == Some(&format!("{EXTENSION_BASE}wear-duration"))
        })
        .and_then(|e| e.get("valueString"))
        .and_then(Value::as_str)
        .or_else(|| spec.pointer("/duration/unit").and_then(Value::as_str));
    if brand.is_some() || duration.is_some() {
        let cl = rx
            .contact_lens
            .get_or_insert_with(ContactLensDetails::default);
        cl.brand = cl.brand.take().or(brand.map(str::to_owned));
        cl.wear_duration = cl.wear_duration.take().or(duration.map(str::to_owned));
    }
    Some(eye)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(v: f64) -> Diopters {
        Diopters::from_f64(v).expect("d")
    }

    fn mm(v: f64) -> Millimetres {
        Millimetres::from_f64(v).expect("mm")
    }

    fn spectacles() -> RxData {
        RxData {
            kind: RxKind::Spectacle,
            status: RxStatus::Active,
            right: EyeRx {
                sphere: d(-2.25),
                cylinder: Some(d(-0.75)),
                axis: Some(180),
                add: Some(d(2.0)),
                prism_horizontal: Some(Prism {
                    amount: d(1.0),
                    base: PrismBase::In,
                }),
                prism_vertical: Some(Prism {
                    amount: d(0.5),
                    base: PrismBase::Up,
                }),
                ..EyeRx::default()
            },
            left: EyeRx {
                sphere: d(1.5),
                add: Some(d(2.0)),
                ..EyeRx::default()
            },
            pd: PupillaryDistance {
                binocular_distance: Some(mm(63.5)),
                right_distance: Some(mm(32.0)),
                left_distance: Some(mm(31.5)),
                right_near: Some(mm(30.5)),
                left_near: Some(mm(30.0)),
                binocular_near: Some(mm(60.5)),
            },
            segment_height: Some(mm(18.0)),
            vertex_distance: Some(mm(12.0)),
            issue_date: NaiveDate::from_ymd_opt(2026, 3, 1).expect("d"),
            expiry_date: NaiveDate::from_ymd_opt(2028, 3, 1),
            prescriber: "Dr. Rosalind Franklin".into(),
            notes: Some("Reading glasses\nfor near work".into()),
            contact_lens: None,
        }
    }

    fn contacts() -> RxData {
        RxData {
            kind: RxKind::ContactLens,
            right: EyeRx {
                sphere: d(-3.0),
                power: Some(d(-2.75)),
                base_curve: Some(mm(8.6)),
                diameter: Some(mm(14.2)),
                ..EyeRx::default()
            },
            left: EyeRx {
                sphere: d(-3.25),
                power: Some(d(-3.0)),
                base_curve: Some(mm(8.6)),
                diameter: Some(mm(14.2)),
                ..EyeRx::default()
            },
            pd: PupillaryDistance::default(),
            segment_height: None,
            vertex_distance: None,
            notes: None,
            contact_lens: Some(ContactLensDetails {
                brand: Some("Acme Daily".into()),
                wear_duration: Some("daily".into()),
            }),
            ..spectacles()
        }
    }

    #[test]
    fn round_trips_are_lossless() {
        for rx in [spectacles(), contacts()] {
            rx.validate().expect("fixture is valid");
            let resource = export(PrescriptionId::new(), PatientId::new(), &rx);
            assert_eq!(resource["resourceType"], "VisionPrescription");
            let back = import(&resource).expect("imports");
            assert_eq!(back, rx);
        }
    }

    #[test]
    fn export_uses_fhir_names() {
        let patient = PatientId::new();
        let r = export(PrescriptionId::new(), patient, &spectacles());
        assert_eq!(r["status"], "active");
        assert_eq!(r["patient"]["reference"], format!("Patient/{patient}"));
        assert_eq!(r["lensSpecification"][0]["eye"], "right");
        assert_eq!(r["lensSpecification"][0]["sphere"], -2.25);
        assert_eq!(
            r["lensSpecification"][0]["prism"][0],
            json!({"amount": 1.0, "base": "in"})
        );
        assert_eq!(
            r["lensSpecification"][0]["product"]["coding"][0]["code"],
            "lens"
        );
        assert_eq!(
            r["extension"][0]["url"],
            "urn:ils:fhir:StructureDefinition:expiry-date"
        );
    }

    #[test]
    fn invalid_fhir_names_the_field() {
        let cases: Vec<(Value, &str, &str)> = vec![
            (
                json!({"resourceType": "Patient"}),
                "resourceType",
                "fhir.wrong_resource_type",
            ),
            (json!([]), "$", "fhir.invalid"),
            (
                json!({"resourceType": "VisionPrescription", "status": "active", "dateWritten": "2026-01-01", "prescriber": {"display": "X"}}),
                "lensSpecification",
                "fhir.invalid",
            ),
        ];
        for (input, field, code) in cases {
            let err = import(&input).expect_err("invalid");
            assert_eq!(
                (err.errors[0].field.as_str(), err.errors[0].code),
                (field, code),
                "{input}"
            );
        }
        let mut r = export(PrescriptionId::new(), PatientId::new(), &spectacles());
        r["lensSpecification"][1]["sphere"] = json!("minus two");
        let err = import(&r).expect_err("bad sphere");
        assert_eq!(err.errors[0].field, "lensSpecification[1].sphere");
        let mut r = export(PrescriptionId::new(), PatientId::new(), &spectacles());
        r["lensSpecification"][0]["axis"] = json!(200);
        let err = import(&r).expect_err("domain rule");
        assert_eq!(
            (err.errors[0].field.as_str(), err.errors[0].code),
            ("right.axis", "rx.axis_out_of_range")
        );
        let mut r = export(PrescriptionId::new(), PatientId::new(), &spectacles());
        r["dateWritten"] = json!("yesterday");
        assert_eq!(import(&r).expect_err("date").errors[0].field, "dateWritten");
    }
}
