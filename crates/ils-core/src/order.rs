//! Lens orders: what is ordered, and the status machine it moves through.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::access::{Permission, perm};
use crate::ids::{PatientId, PrescriptionId};
use crate::rx::{Millimetres, RxData, notes_text};
use crate::validation::{FieldError, ValidationErrors, required_text};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum LensType {
    SingleVision,
    Bifocal,
    Trifocal,
    Progressive,
}

impl LensType {
    pub const fn as_str(self) -> &'static str {
        match self {
            LensType::SingleVision => "single_vision",
            LensType::Bifocal => "bifocal",
            LensType::Trifocal => "trifocal",
            LensType::Progressive => "progressive",
        }
    }

    pub const fn is_multifocal(self) -> bool {
        !matches!(self, LensType::SingleVision)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Frame {
    pub brand: Option<String>,
    pub model: Option<String>,
    pub colour: Option<String>,
    /// Boxed lens width.
    pub box_a: Option<Millimetres>,
    /// Boxed lens height.
    pub box_b: Option<Millimetres>,
    /// Distance between lenses (bridge).
    pub dbl: Option<Millimetres>,
    /// Effective diameter.
    pub ed: Option<Millimetres>,
}

/// Fitting measurements taken for this order, per eye.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Measurements {
    pub right_pd: Option<Millimetres>,
    pub left_pd: Option<Millimetres>,
    pub right_near_pd: Option<Millimetres>,
    pub left_near_pd: Option<Millimetres>,
    pub right_segment_height: Option<Millimetres>,
    pub left_segment_height: Option<Millimetres>,
    pub right_oc_height: Option<Millimetres>,
    pub left_oc_height: Option<Millimetres>,
}

/// An order as placed (no id, number, status or timestamps).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "patient_id": "0193a5b2-7c4e-7d1a-9f00-000000000001",
    "prescription_id": "0193a5b2-7c4e-7d1a-9f00-000000000002",
    "lens_type": "progressive", "material": "1.6 MR-8", "coatings": ["anti-reflective"],
    "tint": null, "frame": {"brand": "Lindberg", "model": "Air", "box_a": 52.0, "box_b": 38.0, "dbl": 18.0},
    "measurements": {"right_pd": 31.5, "left_pd": 32.0, "right_segment_height": 19.0, "left_segment_height": 19.0},
    "promised_date": null, "notes": null
})))]
pub struct OrderData {
    pub patient_id: PatientId,
    pub prescription_id: PrescriptionId,
    pub lens_type: LensType,
    pub material: String,
    #[serde(default)]
    pub coatings: Vec<String>,
    pub tint: Option<String>,
    #[serde(default)]
    pub frame: Frame,
    #[serde(default)]
    pub measurements: Measurements,
    pub promised_date: Option<NaiveDate>,
    pub notes: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum OrderStatus {
    Draft,
    Submitted,
    InProduction,
    QualityCheck,
    Shipped,
    Delivered,
    Cancelled,
    /// Delivered, then sent back for a remake; the remake is a new, linked order.
    Remade,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 8] = [
        OrderStatus::Draft,
        OrderStatus::Submitted,
        OrderStatus::InProduction,
        OrderStatus::QualityCheck,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        OrderStatus::Cancelled,
        OrderStatus::Remade,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Draft => "draft",
            OrderStatus::Submitted => "submitted",
            OrderStatus::InProduction => "in_production",
            OrderStatus::QualityCheck => "quality_check",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Remade => "remade",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The statuses of an order still expected to reach the patient: a patient or a
    /// prescription with such an order is not withdrawn, and only these can be overdue.
    pub const OPEN: [OrderStatus; 5] = [
        OrderStatus::Draft,
        OrderStatus::Submitted,
        OrderStatus::InProduction,
        OrderStatus::QualityCheck,
        OrderStatus::Shipped,
    ];

    /// The statuses of an order the lab is working on (its production queue).
    pub const AT_THE_LAB: [OrderStatus; 3] = [
        OrderStatus::Submitted,
        OrderStatus::InProduction,
        OrderStatus::QualityCheck,
    ];

    /// Still expected to reach the patient (for "overdue" lists).
    pub fn is_open(self) -> bool {
        Self::OPEN.contains(&self)
    }

    /// The text forms of `statuses`, for a query's list.
    pub fn names(statuses: &[OrderStatus]) -> Vec<&'static str> {
        statuses.iter().map(|s| s.as_str()).collect()
    }
}

/// What a person does to an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum OrderAction {
    Submit,
    StartProduction,
    SendToQualityCheck,
    Ship,
    Deliver,
    Cancel,
    Remake,
}

impl OrderAction {
    pub const ALL: [OrderAction; 7] = [
        OrderAction::Submit,
        OrderAction::StartProduction,
        OrderAction::SendToQualityCheck,
        OrderAction::Ship,
        OrderAction::Deliver,
        OrderAction::Cancel,
        OrderAction::Remake,
    ];

    /// The action named `s` (as `as_str` writes it).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            OrderAction::Submit => "submit",
            OrderAction::StartProduction => "start_production",
            OrderAction::SendToQualityCheck => "send_to_quality_check",
            OrderAction::Ship => "ship",
            OrderAction::Deliver => "deliver",
            OrderAction::Cancel => "cancel",
            OrderAction::Remake => "remake",
        }
    }
}

/// The status machine: the status after `action`, or why the action is not allowed now.
pub fn transition(from: OrderStatus, action: OrderAction) -> Result<OrderStatus, FieldError> {
    use OrderAction as A;
    use OrderStatus as S;
    let to = match (from, action) {
        (S::Draft, A::Submit) => S::Submitted,
        (S::Submitted, A::StartProduction) => S::InProduction,
        (S::InProduction, A::SendToQualityCheck) => S::QualityCheck,
        (S::QualityCheck, A::Ship) => S::Shipped,
        (S::Shipped, A::Deliver) => S::Delivered,
        (S::Draft | S::Submitted | S::InProduction | S::QualityCheck, A::Cancel) => S::Cancelled,
        (S::Delivered, A::Remake) => S::Remade,
        _ => {
            return Err(FieldError::new(
                "action",
                "order.transition_not_allowed",
                format!(
                    "An order that is {} cannot be {}",
                    from.as_str(),
                    action.past_tense()
                ),
            ));
        }
    };
    Ok(to)
}

impl OrderAction {
    fn past_tense(self) -> &'static str {
        match self {
            OrderAction::Submit => "submitted",
            OrderAction::StartProduction => "put into production",
            OrderAction::SendToQualityCheck => "sent to quality check",
            OrderAction::Ship => "shipped",
            OrderAction::Deliver => "delivered",
            OrderAction::Cancel => "cancelled",
            OrderAction::Remake => "remade",
        }
    }

    /// Who may take this action from `from`: any one of these permissions. The practice
    /// (orders:create) submits, cancels what the lab has not started and asks for remakes; the
    /// lab (orders:update) moves orders through production, delivers and cancels in production.
    pub fn permissions(self, from: OrderStatus) -> &'static [Permission] {
        const CREATE: &[Permission] = &[perm::ORDERS_CREATE];
        const UPDATE: &[Permission] = &[perm::ORDERS_UPDATE];
        const EITHER: &[Permission] = &[perm::ORDERS_CREATE, perm::ORDERS_UPDATE];
        match self {
            OrderAction::Submit | OrderAction::Remake => CREATE,
            OrderAction::StartProduction | OrderAction::SendToQualityCheck | OrderAction::Ship => {
                UPDATE
            }
            OrderAction::Deliver => EITHER,
            OrderAction::Cancel => match from {
                OrderStatus::Draft | OrderStatus::Submitted => EITHER,
                _ => UPDATE,
            },
        }
    }

    /// Whether the action needs a reason (a remake always says why).
    pub const fn needs_reason(self) -> bool {
        matches!(self, OrderAction::Remake | OrderAction::Cancel)
    }
}

fn short_text(errors: &mut ValidationErrors, field: &str, value: Option<&str>, max: usize) {
    if let Some(v) = value
        && let Err(e) = required_text(field, v, max, "order.text_invalid")
    {
        errors.check::<()>(Err(e));
    }
}

fn check_mm(
    errors: &mut ValidationErrors,
    field: &str,
    value: Option<Millimetres>,
    (min, max): (i32, i32),
    what: &str,
) {
    if let Some(v) = value
        && (v.tenths() < min || v.tenths() > max)
    {
        errors.add(
            field,
            "order.measurement_out_of_range",
            format!(
                "{what} must be between {} and {} mm, got {v}",
                Millimetres::from_tenths(min),
                Millimetres::from_tenths(max)
            ),
        );
    }
}

impl OrderData {
    /// Checks the order on its own and against the prescription it is made from.
    pub fn validate(&self, rx: &RxData, today: NaiveDate) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if let Err(e) = rx.check_orderable(today) {
            errors.check::<()>(Err(e));
        }
        if rx.kind != crate::rx::RxKind::Spectacle {
            errors.add(
                "prescription_id",
                "order.prescription_not_spectacle",
                "Spectacle lenses are ordered from a spectacle prescription, not a contact-lens one",
            );
        }
        if let Err(e) = required_text("material", &self.material, 60, "order.material_invalid") {
            errors.check::<()>(Err(e));
        }
        if self.coatings.len() > 10 {
            errors.add("coatings", "order.too_many_coatings", "At most 10 coatings");
        }
        for (i, coating) in self.coatings.iter().enumerate() {
            short_text(&mut errors, &format!("coatings[{i}]"), Some(coating), 40);
        }
        short_text(&mut errors, "tint", self.tint.as_deref(), 40);
        let f = &self.frame;
        short_text(&mut errors, "frame.brand", f.brand.as_deref(), 60);
        short_text(&mut errors, "frame.model", f.model.as_deref(), 60);
        short_text(&mut errors, "frame.colour", f.colour.as_deref(), 40);
        check_mm(&mut errors, "frame.box_a", f.box_a, (300, 800), "Box A");
        check_mm(&mut errors, "frame.box_b", f.box_b, (150, 700), "Box B");
        check_mm(&mut errors, "frame.dbl", f.dbl, (100, 300), "DBL");
        check_mm(&mut errors, "frame.ed", f.ed, (300, 900), "ED");
        if let (Some(a), Some(ed)) = (f.box_a, f.ed)
            && ed < a
        {
            errors.add(
                "frame.ed",
                "order.ed_below_box_a",
                format!("ED ({ed} mm) cannot be smaller than box A ({a} mm)"),
            );
        }
        let m = &self.measurements;
        for (field, value) in [
            ("measurements.right_pd", m.right_pd),
            ("measurements.left_pd", m.left_pd),
            ("measurements.right_near_pd", m.right_near_pd),
            ("measurements.left_near_pd", m.left_near_pd),
        ] {
            check_mm(&mut errors, field, value, (200, 400), "Monocular PD");
        }
        for (field, value) in [
            ("measurements.right_segment_height", m.right_segment_height),
            ("measurements.left_segment_height", m.left_segment_height),
            ("measurements.right_oc_height", m.right_oc_height),
            ("measurements.left_oc_height", m.left_oc_height),
        ] {
            check_mm(&mut errors, field, value, (50, 400), "Height");
        }
        if self.lens_type.is_multifocal() {
            if rx.right.add.is_none() || rx.left.add.is_none() {
                errors.add(
                    "lens_type",
                    "order.add_required",
                    format!(
                        "A {} lens needs an add for both eyes in the prescription",
                        self.lens_type.as_str().replace('_', " ")
                    ),
                );
            }
            if m.right_segment_height.is_none() || m.left_segment_height.is_none() {
                errors.add(
                    "measurements.right_segment_height",
                    "order.segment_height_required",
                    "Multifocal lenses need a segment (fitting) height for both eyes",
                );
            }
        }
        if let Some(promised) = self.promised_date
            && promised < today
        {
            errors.add(
                "promised_date",
                "order.promised_date_in_past",
                format!("The promised date {promised} is in the past"),
            );
        }
        if let Some(notes) = &self.notes
            && let Err(e) = notes_text("notes", notes)
        {
            errors.check::<()>(Err(e));
        }
        errors.into_result()
    }
}

/// A reason or note given with a transition: required for cancel and remake.
pub fn check_transition_note(
    action: OrderAction,
    note: Option<&str>,
) -> Result<Option<String>, FieldError> {
    match note.map(str::trim).filter(|n| !n.is_empty()) {
        None if action.needs_reason() => Err(FieldError::new(
            "reason",
            "order.reason_required",
            format!("Say why the order is {}", action.past_tense()),
        )),
        None => Ok(None),
        Some(n) => required_text("reason", n, 500, "order.reason_invalid").map(Some),
    }
}

impl OrderData {
    /// Reads an order from JSON, reporting every structural problem by its path (see
    /// [`crate::input`]); the rules against the prescription are applied where it is placed.
    pub fn from_json(value: &serde_json::Value) -> Result<OrderData, ValidationErrors> {
        use crate::input::{Fields, Kind, date, millimetres, text};
        const LENS_TYPES: Kind =
            Kind::OneOf(&["single_vision", "bifocal", "trifocal", "progressive"]);
        let mut errors = ValidationErrors::new();
        let mut root = Fields::new(value, "", &mut errors);
        if !root.is_object() {
            return Err(errors);
        }
        let patient_id = root.required("patient_id", Kind::Id, &mut errors);
        let prescription_id = root.required("prescription_id", Kind::Id, &mut errors);
        let lens_type = root.required("lens_type", LENS_TYPES, &mut errors);
        let material = root.required::<String>("material", Kind::Text, &mut errors);
        let coatings: Option<Vec<String>> = root.optional("coatings", Kind::List, &mut errors);
        let tint = text(&mut root, "tint", &mut errors);
        let frame = match root.raw("frame") {
            Some(v) => {
                let mut f = Fields::new(v, "frame", &mut errors);
                let frame = Frame {
                    brand: text(&mut f, "brand", &mut errors),
                    model: text(&mut f, "model", &mut errors),
                    colour: text(&mut f, "colour", &mut errors),
                    box_a: millimetres(&mut f, "box_a", &mut errors),
                    box_b: millimetres(&mut f, "box_b", &mut errors),
                    dbl: millimetres(&mut f, "dbl", &mut errors),
                    ed: millimetres(&mut f, "ed", &mut errors),
                };
                f.finish("a frame", &mut errors);
                frame
            }
            None => Frame::default(),
        };
        let measurements = match root.raw("measurements") {
            Some(v) => {
                let mut f = Fields::new(v, "measurements", &mut errors);
                let m = Measurements {
                    right_pd: millimetres(&mut f, "right_pd", &mut errors),
                    left_pd: millimetres(&mut f, "left_pd", &mut errors),
                    right_near_pd: millimetres(&mut f, "right_near_pd", &mut errors),
                    left_near_pd: millimetres(&mut f, "left_near_pd", &mut errors),
                    right_segment_height: millimetres(&mut f, "right_segment_height", &mut errors),
                    left_segment_height: millimetres(&mut f, "left_segment_height", &mut errors),
                    right_oc_height: millimetres(&mut f, "right_oc_height", &mut errors),
                    left_oc_height: millimetres(&mut f, "left_oc_height", &mut errors),
                };
                f.finish("the measurements", &mut errors);
                m
            }
            None => Measurements::default(),
        };
        let promised_date = date(&mut root, "promised_date", &mut errors);
        let notes = text(&mut root, "notes", &mut errors);
        root.finish("an order", &mut errors);
        match (patient_id, prescription_id, lens_type, material) {
            (Some(patient_id), Some(prescription_id), Some(lens_type), Some(material))
                if errors.is_empty() =>
            {
                Ok(OrderData {
                    patient_id,
                    prescription_id,
                    lens_type,
                    material,
                    coatings: coatings.unwrap_or_default(),
                    tint,
                    frame,
                    measurements,
                    promised_date,
                    notes,
                })
            }
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderAction as A;
    use OrderStatus as S;

    #[test]
    fn every_status_and_action() {
        // The complete table: every (status, action) pair, allowed or not.
        let allowed = [
            (S::Draft, A::Submit, S::Submitted),
            (S::Submitted, A::StartProduction, S::InProduction),
            (S::InProduction, A::SendToQualityCheck, S::QualityCheck),
            (S::QualityCheck, A::Ship, S::Shipped),
            (S::Shipped, A::Deliver, S::Delivered),
            (S::Draft, A::Cancel, S::Cancelled),
            (S::Submitted, A::Cancel, S::Cancelled),
            (S::InProduction, A::Cancel, S::Cancelled),
            (S::QualityCheck, A::Cancel, S::Cancelled),
            (S::Delivered, A::Remake, S::Remade),
        ];
        for from in OrderStatus::ALL {
            for action in OrderAction::ALL {
                let expected = allowed
                    .iter()
                    .find(|(f, a, _)| *f == from && *a == action)
                    .map(|(_, _, to)| *to);
                let got = transition(from, action);
                match expected {
                    Some(to) => assert_eq!(got.ok(), Some(to), "{from:?} --{action:?}->"),
                    None => {
                        let err = got.expect_err("not allowed");
                        assert_eq!(
                            err.code, "order.transition_not_allowed",
                            "{from:?} --{action:?}->"
                        );
                    }
                }
            }
        }
        assert_eq!(
            transition(S::Shipped, A::Cancel).expect_err("no").message,
            "An order that is shipped cannot be cancelled"
        );
    }

    #[test]
    fn who_may_act() {
        assert_eq!(A::Submit.permissions(S::Draft), &[perm::ORDERS_CREATE]);
        assert_eq!(
            A::StartProduction.permissions(S::Submitted),
            &[perm::ORDERS_UPDATE]
        );
        assert_eq!(A::Cancel.permissions(S::Submitted).len(), 2);
        assert_eq!(
            A::Cancel.permissions(S::InProduction),
            &[perm::ORDERS_UPDATE]
        );
    }

    #[test]
    fn orders_read_from_json_name_every_problem() {
        let err = OrderData::from_json(&serde_json::json!({
            "patient_id": "not-an-id", "lens_type": "varifocal", "material": "CR-39",
            "frame": {"box_a": "wide"}, "measurements": {"right_pd": 32.0, "left": 1}
        }))
        .expect_err("refused");
        let fields: Vec<(&str, &str)> = err
            .errors
            .iter()
            .map(|e| (e.field.as_str(), e.code))
            .collect();
        assert_eq!(
            fields,
            [
                ("patient_id", "input.invalid"),
                ("prescription_id", "input.required"),
                ("lens_type", "input.invalid"),
                ("frame.box_a", "input.invalid"),
                ("measurements.left", "input.unknown_field"),
            ]
        );
    }

    #[test]
    fn reasons() {
        assert_eq!(
            check_transition_note(A::Remake, None).map_err(|e| e.code),
            Err("order.reason_required")
        );
        assert_eq!(
            check_transition_note(A::Cancel, Some("  ")).map_err(|e| e.code),
            Err("order.reason_required")
        );
        assert_eq!(check_transition_note(A::Submit, None), Ok(None));
        assert_eq!(
            check_transition_note(A::Remake, Some(" wrong axis ")),
            Ok(Some("wrong axis".into()))
        );
    }
}
