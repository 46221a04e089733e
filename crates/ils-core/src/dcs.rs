//! Export of a lens order as a Vision Council DCS (Data Communication Standard, "VCA") record
//! set, the `LABEL=value` format lab systems read.
//!
//! Per-eye values are written `right;left`. Lines end with CR LF, as the standard requires.
//! Powers are in minus-cylinder form with two decimals; lengths in millimetres with two
//! decimals. Prism is written as one resultant per eye: `PRVM` (magnitude) and `PRVA` (base
//! direction in 360° notation as seen facing the patient: 0° points to the patient's left, so
//! base in is 0° for the right eye and 180° for the left; up is 90°, down 270°).
//!
//! Labels written: JOB, DO, CLIENT (customer number only — no patient name leaves the
//! practice), LTYP, LMATTYPE, COAT, TINT, SPH, CYL, AX, ADD, PRVM, PRVA, IPD, NPD, SEGHT,
//! OCHT, FMFR, FRAM, FCOL, HBOX, VBOX, DBL, FED, DUE.

use crate::order::{LensType, OrderData};
use crate::rx::{Diopters, EyeRx, Millimetres, PrismBase, RxData};

fn lens_code(t: LensType) -> &'static str {
    match t {
        LensType::SingleVision => "SV",
        LensType::Bifocal => "BI",
        LensType::Trifocal => "TR",
        LensType::Progressive => "PR",
    }
}

fn power(d: Diopters) -> String {
    // `+1.25`, `-0.50`, `0.00`
    d.to_string()
}

fn mm(v: Millimetres) -> String {
    format!("{:.2}", v.as_f64())
}

/// The resultant prism of one eye as (magnitude, base angle), or `None` without prism.
fn resultant_prism(eye: &EyeRx, right_eye: bool) -> Option<(f64, u32)> {
    let h = eye.prism_horizontal.map(|p| {
        let nasal = p.base == PrismBase::In;
        // Seen facing the patient, nasal is to the right (0°) for the right eye.
        let sign = if nasal == right_eye { 1.0 } else { -1.0 };
        sign * p.amount.as_f64()
    });
    let v = eye.prism_vertical.map(|p| {
        if p.base == PrismBase::Up {
            p.amount.as_f64()
        } else {
            -p.amount.as_f64()
        }
    });
    if h.is_none() && v.is_none() {
        return None;
    }
    let (x, y) = (h.unwrap_or(0.0), v.unwrap_or(0.0));
    let magnitude = (x * x + y * y).sqrt();
    let mut angle = y.atan2(x).to_degrees().round();
    if angle < 0.0 {
        angle += 360.0;
    }
    Some((magnitude, angle as u32 % 360))
}

fn pair(right: Option<String>, left: Option<String>) -> Option<String> {
    if right.is_none() && left.is_none() {
        return None;
    }
    Some(format!(
        "{};{}",
        right.unwrap_or_default(),
        left.unwrap_or_default()
    ))
}

/// Sanitises free text for a `LABEL=value` line: no line breaks, no `;` or `=` inside values.
fn text(value: &str) -> String {
    value
        .chars()
        .map(|c| {
            if c.is_control() || c == ';' || c == '=' {
                ' '
            } else {
                c
            }
        })
        .collect::<String>()
        .trim()
        .to_owned()
}

/// The DCS record set of an order.
pub fn order_record(
    order_number: &str,
    customer_number: &str,
    order: &OrderData,
    rx: &RxData,
) -> String {
    let r = rx.right.in_minus_cylinder();
    let l = rx.left.in_minus_cylinder();
    let m = &order.measurements;
    let f = &order.frame;
    let both = |get: &dyn Fn(&EyeRx) -> Option<String>| pair(get(&r), get(&l));
    let prism_r = resultant_prism(&rx.right, true);
    let prism_l = resultant_prism(&rx.left, false);
    let mut lines: Vec<(&str, Option<String>)> = vec![
        ("JOB", Some(text(order_number))),
        ("DO", Some("B".into())),
        ("CLIENT", Some(text(customer_number))),
        ("LTYP", Some(format!("{0};{0}", lens_code(order.lens_type)))),
        ("LMATTYPE", Some(text(&order.material))),
        (
            "COAT",
            (!order.coatings.is_empty()).then(|| {
                order
                    .coatings
                    .iter()
                    .map(|c| text(c))
                    .collect::<Vec<_>>()
                    .join(",")
            }),
        ),
        ("TINT", order.tint.as_deref().map(text)),
        ("SPH", both(&|e| Some(power(e.sphere)))),
        (
            "CYL",
            both(&|e| Some(power(e.cylinder.unwrap_or(Diopters::ZERO)))),
        ),
        ("AX", both(&|e| Some(e.axis.unwrap_or(0).to_string()))),
        ("ADD", both(&|e| e.add.map(power))),
        (
            "PRVM",
            pair(
                prism_r.map(|(m, _)| format!("{m:.2}")),
                prism_l.map(|(m, _)| format!("{m:.2}")),
            ),
        ),
        (
            "PRVA",
            pair(
                prism_r.map(|(_, a)| a.to_string()),
                prism_l.map(|(_, a)| a.to_string()),
            ),
        ),
        (
            "IPD",
            pair(
                m.right_pd.or(rx.pd.right_distance).map(mm),
                m.left_pd.or(rx.pd.left_distance).map(mm),
            ),
        ),
        (
            "NPD",
            pair(
                m.right_near_pd.or(rx.pd.right_near).map(mm),
                m.left_near_pd.or(rx.pd.left_near).map(mm),
            ),
        ),
        (
            "SEGHT",
            pair(
                m.right_segment_height.or(rx.segment_height).map(mm),
                m.left_segment_height.or(rx.segment_height).map(mm),
            ),
        ),
        (
            "OCHT",
            pair(m.right_oc_height.map(mm), m.left_oc_height.map(mm)),
        ),
        ("FMFR", f.brand.as_deref().map(text)),
        ("FRAM", f.model.as_deref().map(text)),
        ("FCOL", f.colour.as_deref().map(text)),
        ("HBOX", f.box_a.map(|v| format!("{0};{0}", mm(v)))),
        ("VBOX", f.box_b.map(|v| format!("{0};{0}", mm(v)))),
        ("DBL", f.dbl.map(mm)),
        ("FED", f.ed.map(|v| format!("{0};{0}", mm(v)))),
        (
            "DUE",
            order.promised_date.map(|d| d.format("%Y%m%d").to_string()),
        ),
    ];
    lines.retain(|(_, v)| v.as_ref().is_some_and(|v| !v.is_empty()));
    let mut out = String::new();
    for (label, value) in lines {
        out.push_str(label);
        out.push('=');
        out.push_str(&value.unwrap_or_default());
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::ids::{PatientId, PrescriptionId};
    use crate::order::{Frame, Measurements};
    use crate::rx::{Prism, PupillaryDistance, RxKind, RxStatus};

    fn d(v: f64) -> Diopters {
        Diopters::from_f64(v).expect("d")
    }

    fn m(v: f64) -> Millimetres {
        Millimetres::from_f64(v).expect("mm")
    }

    fn rx() -> RxData {
        RxData {
            kind: RxKind::Spectacle,
            status: RxStatus::Active,
            // Written in plus-cylinder form on purpose: the lab gets minus cylinder.
            right: EyeRx {
                sphere: d(-3.0),
                cylinder: Some(d(1.0)),
                axis: Some(180),
                add: Some(d(2.25)),
                prism_horizontal: Some(Prism {
                    amount: d(2.0),
                    base: PrismBase::In,
                }),
                ..EyeRx::default()
            },
            left: EyeRx {
                sphere: d(-1.75),
                cylinder: Some(d(-0.5)),
                axis: Some(85),
                add: Some(d(2.25)),
                prism_vertical: Some(Prism {
                    amount: d(1.0),
                    base: PrismBase::Down,
                }),
                ..EyeRx::default()
            },
            pd: PupillaryDistance {
                right_near: Some(m(30.0)),
                left_near: Some(m(29.5)),
                ..PupillaryDistance::default()
            },
            segment_height: None,
            vertex_distance: None,
            issue_date: NaiveDate::from_ymd_opt(2026, 5, 1).expect("d"),
            expiry_date: None,
            prescriber: "Dr. X".into(),
            notes: None,
            contact_lens: None,
        }
    }

    fn order() -> OrderData {
        OrderData {
            patient_id: PatientId::new(),
            prescription_id: PrescriptionId::new(),
            lens_type: LensType::Progressive,
            material: "1.67 high index".into(),
            coatings: vec!["AR".into(), "blue;light".into()],
            tint: None,
            frame: Frame {
                brand: Some("Lindberg".into()),
                model: Some("Air=Titanium 1".into()),
                colour: Some("Gold".into()),
                box_a: Some(m(52.0)),
                box_b: Some(m(38.5)),
                dbl: Some(m(18.0)),
                ed: Some(m(56.0)),
            },
            measurements: Measurements {
                right_pd: Some(m(32.5)),
                left_pd: Some(m(31.5)),
                right_segment_height: Some(m(19.0)),
                left_segment_height: Some(m(19.5)),
                ..Measurements::default()
            },
            promised_date: NaiveDate::from_ymd_opt(2026, 6, 15),
            notes: Some("patient is a pilot\nhandle with care".into()),
        }
    }

    #[test]
    fn progressive_order_matches_the_hand_written_record() {
        // Written by hand from the DCS label definitions, not generated by this code.
        let expected = include_str!("../fixtures/dcs/progressive.dcs");
        assert_eq!(
            order_record("ORD-000042", "C-1001", &order(), &rx()),
            expected
        );
    }

    #[test]
    fn single_vision_without_prism_or_frame() {
        let mut rx = rx();
        rx.right = EyeRx {
            sphere: d(0.5),
            ..EyeRx::default()
        };
        rx.left = EyeRx {
            sphere: d(0.0),
            ..EyeRx::default()
        };
        rx.pd = PupillaryDistance::default();
        let order = OrderData {
            lens_type: LensType::SingleVision,
            coatings: vec![],
            frame: Frame::default(),
            measurements: Measurements::default(),
            promised_date: None,
            ..order()
        };
        let expected = include_str!("../fixtures/dcs/single_vision.dcs");
        assert_eq!(order_record("ORD-7", "C-9", &order, &rx), expected);
    }

    #[test]
    fn compound_prism_resolves_to_one_vector() {
        // Right eye: 3Δ base in (0°) and 4Δ base up (90°) -> 5Δ at 53°.
        let eye = EyeRx {
            prism_horizontal: Some(Prism {
                amount: d(3.0),
                base: PrismBase::In,
            }),
            prism_vertical: Some(Prism {
                amount: d(4.0),
                base: PrismBase::Up,
            }),
            ..EyeRx::default()
        };
        assert_eq!(resultant_prism(&eye, true), Some((5.0, 53)));
        // The same on the left eye: base in points to 180°.
        assert_eq!(resultant_prism(&eye, false), Some((5.0, 127)));
        let out = EyeRx {
            prism_horizontal: Some(Prism {
                amount: d(1.0),
                base: PrismBase::Out,
            }),
            ..EyeRx::default()
        };
        assert_eq!(resultant_prism(&out, true), Some((1.0, 180)));
        assert_eq!(resultant_prism(&out, false), Some((1.0, 0)));
    }
}
