//! What several test binaries of the engine share: a practice on a real SQLite file with a
//! fixed clock, its users, and records.

#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use ils_core::Role;
use ils_core::order::OrderData;
use ils_core::patient::PatientData;
use ils_core::rx::RxData;
use ils_node::Store;
use ils_node::store::{NewPractice, NewUser};
use serde_json::json;

/// The message of the injected failure.
pub const INJECTED: &str = "injected failure";

pub const ADMIN: &str = "admin@demo.ils.local";
pub const ECP: &str = "optom@demo.ils.local";
pub const LAB: &str = "lab@demo.ils.local";
pub const ENGINEER: &str = "engineer@demo.ils.local";

/// The practice's "now" in these tests: 2026-11-28, 10:00 UTC.
pub fn now() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_795_860_000, 0).expect("time")
}

pub fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 28).expect("date")
}

/// Opens the file with the fixed clock; creates the practice and its users the first time.
/// Nobody is signed in.
pub fn open(path: &Path) -> Store {
    let mut store = Store::open(path).expect("opens").with_clock(Arc::new(now));
    if store.practice().expect("practice").is_none() {
        store
            .create_practice(&NewPractice {
                name: "Demo Optics".into(),
                time_zone: Some("Europe/London".into()),
                admin: NewUser {
                    email: ADMIN.into(),
                    first_name: "Ada".into(),
                    last_name: "Admin".into(),
                    role: Role::CompanyAdmin,
                },
            })
            .expect("practice");
        for (email, role) in [
            (ECP, Role::Ecp),
            (LAB, Role::LabTech),
            (ENGINEER, Role::Engineer),
        ] {
            store
                .add_user(&NewUser {
                    email: email.into(),
                    first_name: "Sam".into(),
                    last_name: "Staff".into(),
                    role,
                })
                .expect("user");
        }
    }
    store.sign_out();
    store
}

/// Opens as the ECP.
pub fn open_as_ecp(path: &Path) -> Store {
    let mut store = open(path);
    store.sign_in(ECP).expect("signs in");
    store
}

pub fn patient(number: &str) -> PatientData {
    serde_json::from_value(json!({
        "customer_number": number, "first_name": "Grace", "last_name": "Hopper",
        "date_of_birth": "1956-12-09", "email": null, "phone": null, "address": null, "notes": null
    }))
    .expect("patient")
}

pub fn rx() -> RxData {
    serde_json::from_value(json!({
        "kind": "spectacle",
        "right": {"sphere": -2.25, "cylinder": -0.75, "axis": 180, "add": 2.0,
                  "prism_horizontal": {"amount": 1.0, "base": "in"}},
        "left": {"sphere": -2.0, "cylinder": -0.5, "axis": 170, "add": 2.0},
        "pd": {"right_distance": 32.0, "left_distance": 31.5},
        "segment_height": 18.0,
        "issue_date": "2026-11-01", "expiry_date": "2028-11-01",
        "prescriber": "Dr. Rosalind Franklin"
    }))
    .expect("rx")
}

pub fn order(patient: &str, rx: &str) -> OrderData {
    serde_json::from_value(json!({
        "patient_id": patient, "prescription_id": rx, "lens_type": "progressive",
        "material": "1.6 MR-8", "coatings": ["AR", "hard coat"],
        "frame": {"brand": "Lindberg", "model": "Air", "box_a": 52.0, "box_b": 38.0, "dbl": 18.0, "ed": 56.0},
        "measurements": {"right_pd": 32.0, "left_pd": 31.5, "right_segment_height": 19.0, "left_segment_height": 19.0},
        "promised_date": "2099-01-31"
    }))
    .expect("order")
}

/// From now on every outbox insert into the database at `path` fails, as a crash or a full disk
/// between a record and its change would: the tests then check that neither is written.
pub fn fail_outbox_writes(path: &Path) {
    rusqlite::Connection::open(path)
        .expect("raw connection")
        .execute_batch(
            "CREATE TRIGGER fail_outbox BEFORE INSERT ON outbox
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
        )
        .expect("trigger");
}

pub fn count(path: &Path, table: &str) -> i64 {
    rusqlite::Connection::open(path)
        .expect("raw")
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .expect("count")
}
