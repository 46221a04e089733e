use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use proptest::prelude::*;

use super::*;
use crate::ids::PatientId;
use crate::patient::PatientData;

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_764_000_000 + seconds, 0).unwrap_or_default()
}

fn patient(id: Uuid, version: u8) -> PatientRecord {
    PatientRecord {
        id: PatientId::from_uuid(id),
        data: PatientData {
            customer_number: format!("C-{version}"),
            first_name: "Ada".into(),
            last_name: "Lovelace".into(),
            date_of_birth: NaiveDate::from_ymd_opt(1990, 12, 10).unwrap_or_default(),
            email: None,
            phone: None,
            address: None,
            notes: version
                .is_multiple_of(2)
                .then(|| format!("version {version}")),
        },
        created_at: at(0),
        updated_at: at(i64::from(version)),
        deleted_at: None,
    }
}

fn device(raw: u64) -> DeviceId {
    DeviceId::new(raw).unwrap_or_else(|| DeviceId::new(1).expect("1 is a device"))
}

/// A change to one of three patients, from one of three devices, at one of a few moments: few
/// enough values that ties and duplicates are common.
fn arb_change() -> impl Strategy<Value = Change> {
    (
        0u128..3,
        0u8..3,
        0u64..4,
        0u32..3,
        1u64..4,
        0u128..1_000,
        0u8..5,
    )
        .prop_map(|(entity, op, wall, counter, dev, id, version)| {
            let entity_id = Uuid::from_u128(entity + 1);
            let operation = [Operation::Upsert, Operation::Delete, Operation::Erase][op as usize];
            let record = (operation != Operation::Erase)
                .then(|| Record::Patient(patient(entity_id, version)));
            Change {
                id: ChangeId::from_uuid(Uuid::from_u128(id)),
                hlc: HlcStamp {
                    wall_ms: wall,
                    counter,
                    device: dev,
                },
                device: device(dev),
                user: UserId::from_uuid(Uuid::from_u128(7)),
                operation,
                entity: Entity::Patient,
                entity_id,
                record,
                base: None,
            }
        })
}

fn same_record(changes: Vec<Change>) -> Vec<Change> {
    changes
        .into_iter()
        .map(|mut c| {
            c.entity_id = Uuid::from_u128(1);
            if let Some(Record::Patient(p)) = &mut c.record {
                p.id = PatientId::from_uuid(c.entity_id);
            }
            c
        })
        .collect()
}

type State = BTreeMap<(Entity, Uuid), Change>;

fn deliver(state: &mut State, change: &Change) {
    let key = (change.entity, change.entity_id);
    let winner = match state.get(&key) {
        Some(current) => merge(current, change).clone(),
        None => change.clone(),
    };
    state.insert(key, winner);
}

proptest! {
    #[test]
    fn merge_is_commutative_associative_and_idempotent(
        abc in proptest::collection::vec(arb_change(), 3)
    ) {
        let abc = same_record(abc);
        let (a, b, c) = (&abc[0], &abc[1], &abc[2]);
        prop_assert_eq!(merge(a, b), merge(b, a));
        prop_assert_eq!(merge(merge(a, b), c), merge(a, merge(b, c)));
        prop_assert_eq!(merge(a, a), a);
    }

    #[test]
    fn any_delivery_order_and_any_duplicates_give_the_same_state(
        changes in proptest::collection::vec(arb_change(), 1..12),
        order in any::<proptest::sample::Index>(),
        duplicates in proptest::collection::vec(any::<proptest::sample::Index>(), 0..12),
        seed in any::<u64>(),
    ) {
        let mut expected = State::new();
        for c in &changes {
            deliver(&mut expected, c);
        }
        // Another delivery: rotated, shuffled by the seed, with some changes delivered again.
        let mut delivery: Vec<Change> = changes.clone();
        let start = order.index(delivery.len());
        delivery.rotate_left(start);
        for d in &duplicates {
            delivery.push(changes[d.index(changes.len())].clone());
        }
        let mut rng = seed;
        for i in (1..delivery.len()).rev() {
            rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let j = (rng >> 33) as usize % (i + 1);
            delivery.swap(i, j);
        }
        let mut got = State::new();
        for c in &delivery {
            deliver(&mut got, c);
        }
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn the_codec_round_trips(change in arb_change()) {
        let text = change.encode();
        prop_assert_eq!(Change::decode(&text), Ok(change));
    }
}

#[test]
fn erasure_beats_deletion_beats_a_later_update() {
    let at_time = |wall_ms: u64, operation: Operation, id: u128| {
        let mut c = sample();
        c.hlc.wall_ms = wall_ms;
        c.operation = operation;
        c.id = ChangeId::from_uuid(Uuid::from_u128(id));
        if operation == Operation::Erase {
            c.record = None;
        }
        c
    };
    let erase = at_time(1, Operation::Erase, 1);
    let delete = at_time(2, Operation::Delete, 2);
    let update = at_time(3, Operation::Upsert, 3);
    assert_eq!(merge(&delete, &update), &delete);
    assert_eq!(merge(&update, &erase), &erase);
    assert_eq!(merge(&delete, &erase), &erase);
    // Among upserts the later stamp wins, and the device breaks a tie of time and counter.
    let late = at_time(9, Operation::Upsert, 0);
    assert_eq!(merge(&update, &late), &late);
    let mut other_device = at_time(3, Operation::Upsert, 0);
    other_device.hlc.device += 1;
    assert_eq!(merge(&update, &other_device), &other_device);
}

fn sample() -> Change {
    let id = Uuid::from_u128(42);
    Change::stamp(
        ChangeDraft::upsert(Record::Patient(patient(id, 1))),
        ChangeId::from_uuid(Uuid::from_u128(99)),
        HlcStamp {
            wall_ms: 1_764_331_200_000,
            counter: 2,
            device: 0xabc,
        },
        device(0xabc),
        UserId::from_uuid(Uuid::from_u128(5)),
    )
}

fn tampered(edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Result<Change, CodecError> {
    let mut value: Value = serde_json::from_str(&sample().encode()).expect("json");
    if let Some(object) = value.as_object_mut() {
        edit(object);
    }
    Change::decode(&value.to_string())
}

#[test]
fn the_wire_format_is_stable() {
    let value: Value = serde_json::from_str(&sample().encode()).expect("json");
    assert_eq!(value["format"], 1);
    assert_eq!(value["schema"], 1);
    assert_eq!(value["entity"], "patient");
    assert_eq!(value["operation"], "upsert");
    assert_eq!(value["device"], "0000000000000abc");
    assert_eq!(value["hlc"], "019aca559e00-00000002-0000000000000abc");
    assert_eq!(value["entity_id"], Uuid::from_u128(42).to_string());
    assert_eq!(value["record"]["data"]["customer_number"], "C-1");
}

#[test]
fn newer_and_broken_changes_are_refused_with_a_reason() {
    type Edit = Box<dyn FnOnce(&mut serde_json::Map<String, Value>)>;
    let cases: Vec<(Edit, &str)> = vec![
        (
            Box::new(|o| {
                o.insert("schema".into(), 2.into());
                // A newer schema may have any shape; it is refused before it is read.
                o.insert("record".into(), Value::String("???".into()));
            }),
            "the change carries a patient record of schema 2, newer than this build of ILS understands (up to 1); update ILS",
        ),
        (
            Box::new(|o| {
                o.insert("format".into(), 7.into());
            }),
            "the change is in format 7, newer than this build of ILS understands (up to 1); update ILS",
        ),
        (
            Box::new(|o| {
                o.insert("entity".into(), "invoice".into());
            }),
            "the change is about \"invoice\", a kind of record this build of ILS does not know; update ILS",
        ),
        (
            Box::new(|o| {
                o.insert("entity_id".into(), Uuid::from_u128(1).to_string().into());
            }),
            "the change is malformed: entity_id 00000000-0000-0000-0000-000000000001 does not match the record's id 00000000-0000-0000-0000-00000000002a",
        ),
        (
            Box::new(|o| {
                o.insert("operation".into(), "erase".into());
            }),
            "the change is malformed: an erasure carries no record",
        ),
        (
            Box::new(|o| {
                o.insert("device".into(), "0000000000000abd".into());
            }),
            "the change is malformed: the stamp 019aca559e00-00000002-0000000000000abc was not made by device 0000000000000abd",
        ),
        (
            Box::new(|o| {
                o.remove("user");
            }),
            "the change is malformed: missing field `user`",
        ),
    ];
    for (edit, expected) in cases {
        let err = tampered(edit).expect_err("refused");
        assert_eq!(err.to_string(), expected);
    }
    assert!(matches!(
        Change::decode("{not json"),
        Err(CodecError::NotJson(_))
    ));
}

#[test]
fn the_base_stamp_travels_and_is_optional() {
    let base = HlcStamp {
        wall_ms: 1_764_331_100_000,
        counter: 0,
        device: 0xdef,
    };
    let change = sample().with_base(Some(base));
    let text = change.encode();
    assert!(text.contains(&format!("\"base\":\"{base}\"")), "{text}");
    assert_eq!(Change::decode(&text).expect("decodes"), change);
    assert!(!sample().encode().contains("base"), "no base, no field");
    assert_eq!(
        tampered(|o| {
            o.insert("base".into(), Value::String("yesterday".into()));
        })
        .map(|_| ()),
        Err(CodecError::Malformed(
            "\"yesterday\" is not a clock stamp like 0192b3c4d5e6-00000000-0000000000000001".into()
        ))
    );
}

#[test]
fn a_well_formed_change_is_read_in_one_pass() {
    for change in [sample(), sample().with_base(Some(sample().hlc))] {
        let text = change.encode();
        let raw = serde_json::from_str::<RawEnvelope<'_>>(&text);
        assert!(raw.is_ok(), "{:?}", raw.err());
        assert_eq!(Change::decode(&text).expect("decodes"), change);
    }
}

#[test]
fn a_change_weighed_against_a_held_version_follows_the_merge_rule() {
    let held = sample();
    let mut later = sample();
    later.id = ChangeId::from_uuid(Uuid::from_u128(100));
    later.hlc.wall_ms += 1;
    assert!(!later.loses_to(&held.held()) && held.loses_to(&later.held()));
    assert_eq!(
        later.loses_to(&held.held()),
        merge(&later, &held).id == held.id,
        "the same answer as merge"
    );
    // Made from the held version: no conflict; from an older one, by another device: one.
    let mut other = later.clone();
    other.device = device(0xdef);
    other.hlc.device = 0xdef;
    assert!(other.overwrites_unseen(&held.held()));
    assert!(
        !other
            .clone()
            .with_base(Some(held.hlc))
            .overwrites_unseen(&held.held())
    );
    assert!(
        !later.overwrites_unseen(&held.held()),
        "the same device saw its own version"
    );
}
