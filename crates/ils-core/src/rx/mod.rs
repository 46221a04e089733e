//! Prescriptions (spectacle and contact lens) and their domain rules.
//!
//! Powers are kept as whole hundredths of a dioptre ([`Diopters`]), so quarter-dioptre steps and
//! ranges are exact, never subject to floating-point rounding. The JSON form is the usual decimal
//! number (`-2.25`).

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ids::{PatientId, PrescriptionId};
use crate::validation::{FieldError, ValidationErrors};

pub mod capture;
mod json;

/// The issue date must be a real one: not before 1900 and not after `today` (one day of
/// tolerance for time zones).
pub fn check_issue_date(issue_date: NaiveDate, today: NaiveDate) -> Result<(), FieldError> {
    let earliest = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN);
    let latest = today.succ_opt().unwrap_or(today);
    if issue_date < earliest || issue_date > latest {
        return Err(FieldError::new(
            "issue_date",
            "rx.issue_date_out_of_range",
            format!("The issue date {issue_date} must be between 1900-01-01 and today"),
        ));
    }
    Ok(())
}

/// How many decimal places the shortest text that reads back as `value` has: the number a
/// person wrote (JSON `2.25` is read as the double nearest 2.25, whose shortest form is `2.25`).
fn decimals(value: f64) -> usize {
    let text = value.to_string();
    text.split_once('.')
        .map_or(0, |(_, fraction)| fraction.len())
}

/// A lens power or prism amount, in hundredths of a dioptre.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Diopters(i32);

impl Diopters {
    pub const ZERO: Diopters = Diopters(0);

    pub const fn from_hundredths(h: i32) -> Self {
        Self(h)
    }

    pub const fn hundredths(self) -> i32 {
        self.0
    }

    /// From a decimal value; `None` unless it is a whole number of hundredths, read exactly:
    /// `-0.000000001` is refused, not rounded to zero.
    pub fn from_f64(value: f64) -> Option<Self> {
        if !value.is_finite() || value.abs() > 1000.0 || decimals(value) > 2 {
            return None;
        }
        Some(Self((value * 100.0).round() as i32))
    }

    pub fn as_f64(self) -> f64 {
        f64::from(self.0) / 100.0
    }

    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    pub const fn is_quarter_step(self) -> bool {
        self.0 % 25 == 0
    }

    pub const fn neg(self) -> Self {
        Self(-self.0)
    }

    pub const fn add(self, other: Self) -> Self {
        Self(self.0 + other.0)
    }
}

impl fmt::Display for Diopters {
    /// Signed with two decimals, as written on a prescription: `+1.25`, `-0.50`, `0.00`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 > 0 {
            "+"
        } else if self.0 < 0 {
            "-"
        } else {
            ""
        };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

impl Serialize for Diopters {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.as_f64())
    }
}

impl<'de> Deserialize<'de> for Diopters {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = f64::deserialize(d)?;
        Diopters::from_f64(value).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{value} is not a dioptre value with at most two decimals"
            ))
        })
    }
}

#[cfg(feature = "openapi")]
mod schema {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
    use utoipa::{PartialSchema, ToSchema};

    use super::{Diopters, Millimetres};

    /// A decimal number that must be a whole multiple of `step` (read exactly, never rounded).
    fn decimal(description: &str, step: f64, bound: f64) -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::Number))
            .description(Some(description))
            .multiple_of(Some(step))
            .minimum(Some(-bound))
            .maximum(Some(bound))
            .into()
    }

    impl PartialSchema for Diopters {
        fn schema() -> RefOr<Schema> {
            decimal(
                "Dioptres, at most two decimals (e.g. -1.25); powers in quarter steps",
                0.01,
                1000.0,
            )
        }
    }
    impl ToSchema for Diopters {}

    impl PartialSchema for Millimetres {
        fn schema() -> RefOr<Schema> {
            decimal(
                "Millimetres, at most one decimal (e.g. 31.5)",
                0.1,
                10_000.0,
            )
        }
    }
    impl ToSchema for Millimetres {}
}

/// A length in millimetres, kept in tenths of a millimetre (pupillary distances, heights).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Millimetres(i32);

impl Millimetres {
    pub const fn from_tenths(t: i32) -> Self {
        Self(t)
    }

    pub const fn tenths(self) -> i32 {
        self.0
    }

    /// From a decimal value; `None` unless it is a whole number of tenths, read exactly.
    pub fn from_f64(value: f64) -> Option<Self> {
        if !value.is_finite() || value.abs() > 10_000.0 || decimals(value) > 1 {
            return None;
        }
        Some(Self((value * 10.0).round() as i32))
    }

    pub fn as_f64(self) -> f64 {
        f64::from(self.0) / 10.0
    }
}

impl fmt::Display for Millimetres {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{}", abs / 10, abs % 10)
    }
}

impl Serialize for Millimetres {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.as_f64())
    }
}

impl<'de> Deserialize<'de> for Millimetres {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = f64::deserialize(d)?;
        Millimetres::from_f64(value).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{value} is not a length in millimetres with at most one decimal"
            ))
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RxKind {
    Spectacle,
    ContactLens,
}

/// The FHIR `VisionPrescription.status` value set (`fm-status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RxStatus {
    Draft,
    Active,
    Cancelled,
    EnteredInError,
}

impl RxStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            RxStatus::Draft => "draft",
            RxStatus::Active => "active",
            RxStatus::Cancelled => "cancelled",
            RxStatus::EnteredInError => "entered_in_error",
        }
    }

    pub const ALL: [RxStatus; 4] = [
        RxStatus::Draft,
        RxStatus::Active,
        RxStatus::Cancelled,
        RxStatus::EnteredInError,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether a prescription in this status may be moved to `to` after entry: a draft becomes
    /// active or is cancelled (or entered in error); an active one is cancelled or marked
    /// entered in error; the two end states are final.
    pub const fn may_become(self, to: RxStatus) -> bool {
        matches!(
            (self, to),
            (
                RxStatus::Draft,
                RxStatus::Active | RxStatus::Cancelled | RxStatus::EnteredInError
            ) | (
                RxStatus::Active,
                RxStatus::Cancelled | RxStatus::EnteredInError
            )
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PrismBase {
    Up,
    Down,
    In,
    Out,
}

impl PrismBase {
    pub const fn as_str(self) -> &'static str {
        match self {
            PrismBase::Up => "up",
            PrismBase::Down => "down",
            PrismBase::In => "in",
            PrismBase::Out => "out",
        }
    }

    pub const fn is_horizontal(self) -> bool {
        matches!(self, PrismBase::In | PrismBase::Out)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Prism {
    #[cfg_attr(feature = "openapi", schema(value_type = f64, multiple_of = 0.25, minimum = 0.25, maximum = 15))]
    pub amount: Diopters,
    pub base: PrismBase,
}

/// One eye's prescription. The sphere is required (write `0` for plano); the rest is optional.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EyeRx {
    #[cfg_attr(feature = "openapi", schema(value_type = f64, multiple_of = 0.25, minimum = -30, maximum = 30))]
    pub sphere: Diopters,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>, multiple_of = 0.25, minimum = -10, maximum = 10))]
    pub cylinder: Option<Diopters>,
    /// Degrees, 1–180; required exactly when the cylinder is not zero.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 180))]
    pub axis: Option<u16>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>, multiple_of = 0.25, minimum = 0.25, maximum = 4))]
    pub add: Option<Diopters>,
    /// Base in or out.
    pub prism_horizontal: Option<Prism>,
    /// Base up or down.
    pub prism_vertical: Option<Prism>,
    /// Contact lens: power (dioptres).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>, multiple_of = 0.25, minimum = -30, maximum = 30))]
    pub power: Option<Diopters>,
    /// Contact lens: back (base) curve, mm.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>, multiple_of = 0.1, minimum = 6, maximum = 11))]
    pub base_curve: Option<Millimetres>,
    /// Contact lens: diameter, mm.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>, multiple_of = 0.1, minimum = 8, maximum = 24))]
    pub diameter: Option<Millimetres>,
}

/// Pupillary distances (distance and near, binocular and monocular).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PupillaryDistance {
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>, multiple_of = 0.1, minimum = 40, maximum = 80))]
    pub binocular_distance: Option<Millimetres>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>, multiple_of = 0.1, minimum = 40, maximum = 80))]
    pub binocular_near: Option<Millimetres>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>, multiple_of = 0.1, minimum = 20, maximum = 40))]
    pub right_distance: Option<Millimetres>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>, multiple_of = 0.1, minimum = 20, maximum = 40))]
    pub left_distance: Option<Millimetres>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>, multiple_of = 0.1, minimum = 20, maximum = 40))]
    pub right_near: Option<Millimetres>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>, multiple_of = 0.1, minimum = 20, maximum = 40))]
    pub left_near: Option<Millimetres>,
}

/// Contact-lens details that apply to the pair.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContactLensDetails {
    pub brand: Option<String>,
    /// e.g. "daily", "2 weeks", "monthly".
    pub wear_duration: Option<String>,
}

/// The content of a prescription, as entered or imported (no ids, no timestamps).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "kind": "spectacle", "status": "active",
    "right": {"sphere": -1.25, "cylinder": -0.5, "axis": 90, "add": 1.5},
    "left": {"sphere": -1.0, "cylinder": null, "axis": null, "add": 1.5},
    "pd": {"binocular_distance": 63.0},
    "issue_date": "2026-11-02", "expiry_date": "2028-11-02",
    "prescriber": "Dr Jane Smith", "notes": null
})))]
pub struct RxData {
    pub kind: RxKind,
    #[serde(default = "default_status")]
    pub status: RxStatus,
    pub right: EyeRx,
    pub left: EyeRx,
    #[serde(default)]
    pub pd: PupillaryDistance,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>, multiple_of = 0.1, minimum = 5, maximum = 40))]
    pub segment_height: Option<Millimetres>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>, multiple_of = 0.1, minimum = 5, maximum = 30))]
    pub vertex_distance: Option<Millimetres>,
    pub issue_date: NaiveDate,
    pub expiry_date: Option<NaiveDate>,
    pub prescriber: String,
    pub notes: Option<String>,
    #[serde(default)]
    pub contact_lens: Option<ContactLensDetails>,
}

fn default_status() -> RxStatus {
    RxStatus::Active
}

/// A stored prescription.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prescription {
    pub id: PrescriptionId,
    pub patient_id: PatientId,
    #[serde(flatten)]
    pub data: RxData,
}

fn dpt(v: Diopters) -> String {
    v.to_string()
}

fn check_power(
    errors: &mut ValidationErrors,
    field: &str,
    value: Diopters,
    (min, max): (i32, i32),
    code_range: &'static str,
    code_step: &'static str,
    what: &str,
) {
    if value.hundredths() < min || value.hundredths() > max {
        errors.add(
            field,
            code_range,
            format!(
                "{what} must be between {} and {}, got {}",
                dpt(Diopters(min)),
                dpt(Diopters(max)),
                dpt(value)
            ),
        );
    } else if !value.is_quarter_step() {
        errors.add(
            field,
            code_step,
            format!("{what} must be in 0.25 steps, got {}", dpt(value)),
        );
    }
}

fn check_prism(errors: &mut ValidationErrors, field: &str, prism: &Prism, horizontal: bool) {
    check_power(
        errors,
        &format!("{field}.amount"),
        prism.amount,
        (0, 1500),
        "rx.prism_out_of_range",
        "rx.prism_not_quarter_step",
        "Prism",
    );
    if prism.amount.is_zero() {
        errors.add(
            &format!("{field}.amount"),
            "rx.prism_out_of_range",
            "A prism must have an amount above 0; leave it out instead",
        );
    }
    if prism.base.is_horizontal() != horizontal {
        errors.add(
            &format!("{field}.base"),
            "rx.prism_base_invalid",
            if horizontal {
                "A horizontal prism has base in or out"
            } else {
                "A vertical prism has base up or down"
            },
        );
    }
}

fn check_mm(
    errors: &mut ValidationErrors,
    field: &str,
    value: Option<Millimetres>,
    (min, max): (i32, i32),
    code: &'static str,
    what: &str,
) {
    if let Some(v) = value
        && (v.tenths() < min || v.tenths() > max)
    {
        errors.add(
            field,
            code,
            format!(
                "{what} must be between {} and {} mm, got {v}",
                Millimetres(min),
                Millimetres(max)
            ),
        );
    }
}

impl EyeRx {
    fn validate(&self, eye: &str, kind: RxKind, errors: &mut ValidationErrors) {
        let f = |name: &str| format!("{eye}.{name}");
        check_power(
            errors,
            &f("sphere"),
            self.sphere,
            (-3000, 3000),
            "rx.sphere_out_of_range",
            "rx.sphere_not_quarter_step",
            "Sphere",
        );
        let cylinder = self.cylinder.unwrap_or(Diopters::ZERO);
        check_power(
            errors,
            &f("cylinder"),
            cylinder,
            (-1000, 1000),
            "rx.cylinder_out_of_range",
            "rx.cylinder_not_quarter_step",
            "Cylinder",
        );
        match (cylinder.is_zero(), self.axis) {
            (false, None) => errors.add(
                &f("axis"),
                "rx.axis_required",
                format!("Axis is required with a cylinder of {}", dpt(cylinder)),
            ),
            (true, Some(_)) => errors.add(
                &f("axis"),
                "rx.axis_without_cylinder",
                "Axis is given only together with a cylinder",
            ),
            (false, Some(axis)) if !(1..=180).contains(&axis) => errors.add(
                &f("axis"),
                "rx.axis_out_of_range",
                format!("Axis must be 1–180, got {axis}"),
            ),
            _ => {}
        }
        if let Some(add) = self.add {
            check_power(
                errors,
                &f("add"),
                add,
                (25, 400),
                "rx.add_out_of_range",
                "rx.add_not_quarter_step",
                "Add",
            );
        }
        if let Some(p) = &self.prism_horizontal {
            check_prism(errors, &f("prism_horizontal"), p, true);
        }
        if let Some(p) = &self.prism_vertical {
            check_prism(errors, &f("prism_vertical"), p, false);
        }
        let lens_fields =
            self.power.is_some() || self.base_curve.is_some() || self.diameter.is_some();
        match kind {
            RxKind::Spectacle if lens_fields => errors.add(
                &f("power"),
                "rx.contact_lens_field_on_spectacles",
                "Power, base curve and diameter belong to contact-lens prescriptions",
            ),
            RxKind::ContactLens => {
                if let Some(power) = self.power {
                    check_power(
                        errors,
                        &f("power"),
                        power,
                        (-3000, 3000),
                        "rx.power_out_of_range",
                        "rx.power_not_quarter_step",
                        "Power",
                    );
                }
                check_mm(
                    errors,
                    &f("base_curve"),
                    self.base_curve,
                    (60, 110),
                    "rx.base_curve_out_of_range",
                    "Base curve",
                );
                check_mm(
                    errors,
                    &f("diameter"),
                    self.diameter,
                    (80, 240),
                    "rx.diameter_out_of_range",
                    "Diameter",
                );
            }
            RxKind::Spectacle => {}
        }
    }

    /// The same lens written in the other cylinder convention: sphere + cylinder, cylinder
    /// negated, axis turned by 90°. Optically identical.
    pub fn transposed(&self) -> EyeRx {
        let Some(cyl) = self.cylinder.filter(|c| !c.is_zero()) else {
            return self.clone();
        };
        let axis = self.axis.map(|a| if a > 90 { a - 90 } else { a + 90 });
        EyeRx {
            sphere: self.sphere.add(cyl),
            cylinder: Some(cyl.neg()),
            axis,
            ..self.clone()
        }
    }

    /// In minus-cylinder form (as most labs expect).
    pub fn in_minus_cylinder(&self) -> EyeRx {
        match self.cylinder {
            Some(c) if c.hundredths() > 0 => self.transposed(),
            _ => self.clone(),
        }
    }

    /// In plus-cylinder form.
    pub fn in_plus_cylinder(&self) -> EyeRx {
        match self.cylinder {
            Some(c) if c.hundredths() < 0 => self.transposed(),
            _ => self.clone(),
        }
    }
}

impl RxData {
    /// Every domain rule, with all problems reported at once.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        self.right.validate("right", self.kind, &mut errors);
        self.left.validate("left", self.kind, &mut errors);
        let pd = &self.pd;
        check_mm(
            &mut errors,
            "pd.binocular_distance",
            pd.binocular_distance,
            (400, 800),
            "rx.pd_out_of_range",
            "Binocular distance PD",
        );
        check_mm(
            &mut errors,
            "pd.binocular_near",
            pd.binocular_near,
            (400, 800),
            "rx.pd_out_of_range",
            "Binocular near PD",
        );
        for (field, value) in [
            ("pd.right_distance", pd.right_distance),
            ("pd.left_distance", pd.left_distance),
            ("pd.right_near", pd.right_near),
            ("pd.left_near", pd.left_near),
        ] {
            check_mm(
                &mut errors,
                field,
                value,
                (200, 400),
                "rx.pd_out_of_range",
                "Monocular PD",
            );
        }
        check_mm(
            &mut errors,
            "segment_height",
            self.segment_height,
            (50, 400),
            "rx.segment_height_out_of_range",
            "Segment height",
        );
        check_mm(
            &mut errors,
            "vertex_distance",
            self.vertex_distance,
            (50, 300),
            "rx.vertex_distance_out_of_range",
            "Vertex distance",
        );
        if let Some(expiry) = self.expiry_date
            && expiry <= self.issue_date
        {
            errors.add(
                "expiry_date",
                "rx.expiry_before_issue",
                format!(
                    "The expiry date {expiry} must be after the issue date {}",
                    self.issue_date
                ),
            );
        }
        if let Err(e) = crate::validation::required_text(
            "prescriber",
            &self.prescriber,
            200,
            "rx.prescriber_invalid",
        ) {
            errors.check::<()>(Err(e));
        }
        if let Some(notes) = &self.notes
            && let Err(e) = notes_text("notes", notes)
        {
            errors.check::<()>(Err(e));
        }
        if self.kind == RxKind::Spectacle && self.contact_lens.is_some() {
            errors.add(
                "contact_lens",
                "rx.contact_lens_field_on_spectacles",
                "Contact-lens details belong to contact-lens prescriptions",
            );
        }
        if let Some(cl) = &self.contact_lens {
            for (field, value) in [
                ("contact_lens.brand", &cl.brand),
                ("contact_lens.wear_duration", &cl.wear_duration),
            ] {
                if let Some(v) = value
                    && let Err(e) = crate::validation::required_text(
                        field,
                        v,
                        100,
                        "rx.contact_lens_text_invalid",
                    )
                {
                    errors.check::<()>(Err(e));
                }
            }
        }
        errors.into_result()
    }

    /// The issue date must be a real one: not before 1900 and not after `today` (one day of
    /// tolerance for time zones).
    pub fn check_issue_date(&self, today: NaiveDate) -> Result<(), FieldError> {
        check_issue_date(self.issue_date, today)
    }

    /// Every problem saving this prescription on the practice's `today` would report: the
    /// rules, and an issue date in the future.
    pub fn problems(&self, today: NaiveDate) -> ValidationErrors {
        let mut errors = self.validate().err().unwrap_or_default();
        if let Err(e) = self.check_issue_date(today) {
            errors.errors.push(e);
        }
        errors
    }

    /// Whether a lens order may be made from this prescription on `day`.
    pub fn check_orderable(&self, day: NaiveDate) -> Result<(), FieldError> {
        if self.status != RxStatus::Active {
            return Err(FieldError::new(
                "prescription_id",
                "order.prescription_not_active",
                format!("The prescription is {}, not active", self.status.as_str()),
            ));
        }
        if let Some(expiry) = self.expiry_date
            && expiry < day
        {
            return Err(FieldError::new(
                "prescription_id",
                "order.prescription_expired",
                format!("The prescription expired on {expiry}"),
            ));
        }
        Ok(())
    }
}

/// Free text (notes): up to 4,000 characters, line breaks allowed, no other control characters.
pub fn notes_text(field: &str, value: &str) -> Result<(), FieldError> {
    if value.chars().count() > 4000 {
        return Err(FieldError::new(
            field,
            "text.too_long",
            format!("{field} must be at most 4000 characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(FieldError::new(
            field,
            "text.control_characters",
            format!("{field} must not contain control characters"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(v: f64) -> Diopters {
        Diopters::from_f64(v).expect("valid")
    }

    fn mm(v: f64) -> Millimetres {
        Millimetres::from_f64(v).expect("valid")
    }

    fn base() -> RxData {
        RxData {
            kind: RxKind::Spectacle,
            status: RxStatus::Active,
            right: EyeRx {
                sphere: d(-2.25),
                cylinder: Some(d(-0.5)),
                axis: Some(90),
                add: Some(d(2.0)),
                ..EyeRx::default()
            },
            left: EyeRx {
                sphere: d(-2.0),
                ..EyeRx::default()
            },
            pd: PupillaryDistance {
                binocular_distance: Some(mm(63.0)),
                ..PupillaryDistance::default()
            },
            segment_height: None,
            vertex_distance: None,
            issue_date: NaiveDate::from_ymd_opt(2026, 1, 10).expect("date"),
            expiry_date: NaiveDate::from_ymd_opt(2028, 1, 10),
            prescriber: "Dr. Ada Lovelace".into(),
            notes: None,
            contact_lens: None,
        }
    }

    /// Applies `change` to a valid prescription and returns the error codes.
    fn codes(change: impl FnOnce(&mut RxData)) -> Vec<&'static str> {
        let mut rx = base();
        change(&mut rx);
        match rx.validate() {
            Ok(()) => vec![],
            Err(e) => e.errors.iter().map(|e| e.code).collect(),
        }
    }

    #[test]
    fn the_base_case_is_valid() {
        assert_eq!(codes(|_| {}), Vec::<&str>::new());
    }

    #[test]
    fn sphere_rules() {
        let cases: &[(f64, &[&str])] = &[
            (0.0, &[]),
            (-30.0, &[]),
            (30.0, &[]),
            (-0.25, &[]),
            (12.75, &[]),
            (-30.25, &["rx.sphere_out_of_range"]),
            (30.25, &["rx.sphere_out_of_range"]),
            (-2.1, &["rx.sphere_not_quarter_step"]),
            (1.13, &["rx.sphere_not_quarter_step"]),
            (0.5, &[]),
        ];
        for (value, expected) in cases {
            assert_eq!(
                codes(|rx| rx.right.sphere = d(*value)),
                *expected,
                "sphere {value}"
            );
        }
    }

    #[test]
    fn cylinder_and_axis_rules() {
        let cases: &[(Option<f64>, Option<u16>, &[&str])] = &[
            (None, None, &[]),
            (Some(0.0), None, &[]),
            (Some(-0.25), Some(1), &[]),
            (Some(-10.0), Some(180), &[]),
            (Some(10.0), Some(45), &[]),
            (Some(-10.25), Some(90), &["rx.cylinder_out_of_range"]),
            (Some(-0.3), Some(90), &["rx.cylinder_not_quarter_step"]),
            (Some(-1.0), None, &["rx.axis_required"]),
            (Some(-1.0), Some(0), &["rx.axis_out_of_range"]),
            (Some(-1.0), Some(181), &["rx.axis_out_of_range"]),
            (Some(0.0), Some(90), &["rx.axis_without_cylinder"]),
            (None, Some(90), &["rx.axis_without_cylinder"]),
        ];
        for (cyl, axis, expected) in cases {
            let got = codes(|rx| {
                rx.left.cylinder = cyl.map(d);
                rx.left.axis = *axis;
            });
            assert_eq!(got, *expected, "cylinder {cyl:?} axis {axis:?}");
        }
    }

    #[test]
    fn add_rules() {
        let cases: &[(f64, &[&str])] = &[
            (0.25, &[]),
            (4.0, &[]),
            (2.75, &[]),
            (0.0, &["rx.add_out_of_range"]),
            (-1.0, &["rx.add_out_of_range"]),
            (4.25, &["rx.add_out_of_range"]),
            (1.1, &["rx.add_not_quarter_step"]),
        ];
        for (value, expected) in cases {
            assert_eq!(
                codes(|rx| rx.right.add = Some(d(*value))),
                *expected,
                "add {value}"
            );
        }
    }

    #[test]
    fn prism_rules() {
        let p = |amount: f64, base| {
            Some(Prism {
                amount: d(amount),
                base,
            })
        };
        let cases: Vec<(Option<Prism>, Option<Prism>, &[&str])> = vec![
            (p(1.0, PrismBase::In), None, &[]),
            (None, p(15.0, PrismBase::Down), &[]),
            (p(0.25, PrismBase::Out), p(0.5, PrismBase::Up), &[]),
            (p(15.25, PrismBase::In), None, &["rx.prism_out_of_range"]),
            (p(0.0, PrismBase::In), None, &["rx.prism_out_of_range"]),
            (p(1.1, PrismBase::In), None, &["rx.prism_not_quarter_step"]),
            (p(1.0, PrismBase::Up), None, &["rx.prism_base_invalid"]),
            (None, p(1.0, PrismBase::Out), &["rx.prism_base_invalid"]),
        ];
        for (h, v, expected) in cases {
            assert_eq!(
                codes(|rx| {
                    rx.right.prism_horizontal = h;
                    rx.right.prism_vertical = v;
                }),
                expected,
                "{h:?} {v:?}"
            );
        }
    }

    #[test]
    fn pd_and_measurement_rules() {
        type Case = (Box<dyn Fn(&mut RxData)>, &'static [&'static str]);
        let cases: Vec<Case> = vec![
            (
                Box::new(|rx| rx.pd.binocular_distance = Some(mm(40.0))),
                &[],
            ),
            (
                Box::new(|rx| rx.pd.binocular_distance = Some(mm(80.0))),
                &[],
            ),
            (
                Box::new(|rx| rx.pd.binocular_distance = Some(mm(39.5))),
                &["rx.pd_out_of_range"],
            ),
            (
                Box::new(|rx| rx.pd.binocular_near = Some(mm(80.5))),
                &["rx.pd_out_of_range"],
            ),
            (Box::new(|rx| rx.pd.right_distance = Some(mm(20.0))), &[]),
            (Box::new(|rx| rx.pd.left_near = Some(mm(40.0))), &[]),
            (
                Box::new(|rx| rx.pd.right_near = Some(mm(19.5))),
                &["rx.pd_out_of_range"],
            ),
            (
                Box::new(|rx| rx.pd.left_distance = Some(mm(41.0))),
                &["rx.pd_out_of_range"],
            ),
            (
                Box::new(|rx| rx.segment_height = Some(mm(2.0))),
                &["rx.segment_height_out_of_range"],
            ),
            (Box::new(|rx| rx.vertex_distance = Some(mm(12.0))), &[]),
            (
                Box::new(|rx| rx.vertex_distance = Some(mm(40.0))),
                &["rx.vertex_distance_out_of_range"],
            ),
        ];
        for (i, (change, expected)) in cases.into_iter().enumerate() {
            assert_eq!(codes(change), expected, "case {i}");
        }
    }

    #[test]
    fn dates_prescriber_and_kind_rules() {
        assert_eq!(
            codes(|rx| rx.expiry_date = Some(rx.issue_date)),
            ["rx.expiry_before_issue"]
        );
        assert_eq!(
            codes(|rx| rx.expiry_date = rx.issue_date.pred_opt()),
            ["rx.expiry_before_issue"]
        );
        assert_eq!(codes(|rx| rx.expiry_date = None), Vec::<&str>::new());
        assert_eq!(
            codes(|rx| rx.prescriber = "  ".into()),
            ["rx.prescriber_invalid"]
        );
        assert_eq!(
            codes(|rx| rx.notes = Some("bad\u{0}".into())),
            ["text.control_characters"]
        );
        assert_eq!(
            codes(|rx| rx.right.power = Some(d(-2.0))),
            ["rx.contact_lens_field_on_spectacles"]
        );
        assert_eq!(
            codes(|rx| {
                rx.kind = RxKind::ContactLens;
                rx.right.power = Some(d(-2.0));
                rx.right.base_curve = Some(mm(8.6));
                rx.right.diameter = Some(mm(14.2));
                rx.contact_lens = Some(ContactLensDetails {
                    brand: Some("Acme Daily".into()),
                    wear_duration: Some("daily".into()),
                });
            }),
            Vec::<&str>::new()
        );
        assert_eq!(
            codes(|rx| {
                rx.kind = RxKind::ContactLens;
                rx.right.base_curve = Some(mm(5.0));
                rx.right.diameter = Some(mm(30.0));
            }),
            ["rx.base_curve_out_of_range", "rx.diameter_out_of_range"]
        );
    }

    #[test]
    fn transposition_between_plus_and_minus_cylinder() {
        // (sphere, cyl, axis) -> (sphere, cyl, axis)
        let cases = [
            ((-2.0, -1.0, 90), (-3.0, 1.0, 180)),
            ((1.5, 0.75, 180), (2.25, -0.75, 90)),
            ((0.0, -0.5, 45), (-0.5, 0.5, 135)),
            ((-4.25, 2.0, 170), (-2.25, -2.0, 80)),
            ((0.25, 0.25, 90), (0.5, -0.25, 180)),
        ];
        for ((s, c, a), (es, ec, ea)) in cases {
            let eye = EyeRx {
                sphere: d(s),
                cylinder: Some(d(c)),
                axis: Some(a),
                ..EyeRx::default()
            };
            let t = eye.transposed();
            assert_eq!(
                (t.sphere, t.cylinder, t.axis),
                (d(es), Some(d(ec)), Some(ea)),
                "{s} {c} x{a}"
            );
            assert_eq!(t.transposed(), eye, "transposing twice is the identity");
        }
        let plus = EyeRx {
            sphere: d(1.0),
            cylinder: Some(d(0.5)),
            axis: Some(10),
            ..EyeRx::default()
        };
        assert_eq!(plus.in_minus_cylinder().cylinder, Some(d(-0.5)));
        assert_eq!(plus.in_plus_cylinder(), plus);
        let sphere_only = EyeRx {
            sphere: d(-1.0),
            ..EyeRx::default()
        };
        assert_eq!(sphere_only.transposed(), sphere_only);
    }

    #[test]
    fn dioptres_parse_and_print_exactly() {
        assert_eq!(Diopters::from_f64(-2.25), Some(Diopters(-225)));
        assert_eq!(Diopters::from_f64(0.3), Some(Diopters(30)));
        // Read exactly: what a person did not write is not rounded into a value.
        assert_eq!(Diopters::from_f64(-1e-9), None, "not a silent 0.00");
        assert_eq!(Diopters::from_f64(0.1 + 0.2), None);
        assert_eq!(Millimetres::from_f64(31.5), Some(Millimetres(315)));
        assert_eq!(Millimetres::from_f64(31.55), None);
        assert_eq!(Millimetres::from_f64(1e-9), None);
        assert_eq!(Diopters::from_f64(1.234), None);
        assert_eq!(Diopters::from_f64(f64::NAN), None);
        assert_eq!(Diopters(-225).to_string(), "-2.25");
        assert_eq!(Diopters(125).to_string(), "+1.25");
        assert_eq!(Diopters(0).to_string(), "0.00");
        assert_eq!(Millimetres(315).to_string(), "31.5");
        let json: EyeRx =
            serde_json::from_str(r#"{"sphere": -2.25, "cylinder": -0.5, "axis": 90}"#)
                .expect("parses");
        assert_eq!(json.sphere, Diopters(-225));
        assert!(serde_json::from_str::<EyeRx>(r#"{"sphere": -2.251}"#).is_err());
        assert!(serde_json::from_str::<EyeRx>(r#"{"sphere": "-2"}"#).is_err());
        assert!(
            serde_json::from_str::<EyeRx>(r#"{"spere": -2}"#).is_err(),
            "unknown fields are refused"
        );
    }

    #[test]
    fn issue_dates_must_be_real() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 28).expect("date");
        let at = |y, m, d| RxData {
            issue_date: NaiveDate::from_ymd_opt(y, m, d).expect("date"),
            ..base()
        };
        assert!(at(2026, 11, 28).check_issue_date(today).is_ok());
        assert!(
            at(2026, 11, 29).check_issue_date(today).is_ok(),
            "a day of tolerance"
        );
        assert!(at(1900, 1, 1).check_issue_date(today).is_ok());
        assert_eq!(
            at(2099, 1, 1).check_issue_date(today).map_err(|e| e.code),
            Err("rx.issue_date_out_of_range")
        );
        assert_eq!(
            at(1899, 12, 31).check_issue_date(today).map_err(|e| e.code),
            Err("rx.issue_date_out_of_range")
        );
    }

    #[test]
    fn orderable_only_when_active_and_unexpired() {
        let rx = base();
        let day = NaiveDate::from_ymd_opt(2027, 6, 1).expect("date");
        assert!(rx.check_orderable(day).is_ok());
        let late = NaiveDate::from_ymd_opt(2028, 1, 11).expect("date");
        assert_eq!(
            rx.check_orderable(late).map_err(|e| e.code),
            Err("order.prescription_expired")
        );
        let draft = RxData {
            status: RxStatus::Draft,
            ..base()
        };
        assert_eq!(
            draft.check_orderable(day).map_err(|e| e.code),
            Err("order.prescription_not_active")
        );
    }
}
