//! Records and actors for the decisions' tests.

use chrono::{DateTime, NaiveDate, Utc};

use super::Ctx;
use crate::access::Role;
use crate::identity::Actor;
use crate::ids::{CompanyId, PatientId, PrescriptionId, UserId};
use crate::order::{LensType, OrderData};
use crate::patient::PatientData;
use crate::record::{PatientRecord, PrescriptionRecord};
use crate::rx::{Diopters, EyeRx, PupillaryDistance, RxData, RxKind, RxStatus};

pub fn actor(role: Role) -> Actor {
    Actor::with_role(UserId::new(), CompanyId::new(), role)
}

pub fn ctx(actor: &Actor) -> Ctx<'_> {
    Ctx {
        actor,
        today: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap_or_default(),
        now: DateTime::<Utc>::from_timestamp(1_796_126_400, 0).unwrap_or_default(),
    }
}

pub fn patient_data() -> PatientData {
    PatientData {
        customer_number: "C-100".into(),
        first_name: "Ada".into(),
        last_name: "Lovelace".into(),
        date_of_birth: NaiveDate::from_ymd_opt(1990, 12, 10).unwrap_or_default(),
        email: None,
        phone: Some("+44 20 7946 0000".into()),
        address: None,
        notes: None,
    }
}

pub fn patient() -> PatientRecord {
    let now = DateTime::<Utc>::from_timestamp(1_764_500_000, 0).unwrap_or_default();
    PatientRecord {
        id: PatientId::new(),
        data: patient_data(),
        created_at: now,
        updated_at: now,
        deleted_at: None,
    }
}

pub fn rx_data() -> RxData {
    let eye = |sphere: i32| EyeRx {
        sphere: Diopters::from_hundredths(sphere),
        cylinder: Some(Diopters::from_hundredths(-50)),
        axis: Some(90),
        add: Some(Diopters::from_hundredths(200)),
        ..EyeRx::default()
    };
    RxData {
        kind: RxKind::Spectacle,
        status: RxStatus::Active,
        right: eye(-125),
        left: eye(-100),
        pd: PupillaryDistance::default(),
        segment_height: None,
        vertex_distance: None,
        issue_date: NaiveDate::from_ymd_opt(2026, 11, 20).unwrap_or_default(),
        expiry_date: NaiveDate::from_ymd_opt(2028, 11, 20),
        prescriber: "Dr. Marsh".into(),
        notes: None,
        contact_lens: None,
    }
}

pub fn prescription(patient: &PatientRecord) -> PrescriptionRecord {
    PrescriptionRecord {
        id: PrescriptionId::new(),
        patient_id: patient.id,
        data: rx_data(),
        created_by: None,
        created_at: patient.created_at,
        updated_at: patient.created_at,
    }
}

pub fn order_data(patient: &PatientRecord, rx: &PrescriptionRecord) -> OrderData {
    OrderData {
        patient_id: patient.id,
        prescription_id: rx.id,
        lens_type: LensType::SingleVision,
        material: "polycarbonate".into(),
        coatings: vec!["anti-reflective".into()],
        tint: None,
        frame: Default::default(),
        measurements: Default::default(),
        promised_date: None,
        notes: None,
    }
}
