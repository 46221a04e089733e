use super::*;
use crate::access::Role;
use crate::change::{ChangeDraft, Record};
use crate::decide::fixtures::{actor, ctx, order_data, patient, prescription};
use crate::hlc::HlcStamp;
use crate::ids::{ChangeId, DeviceId, UserId};
use crate::order::OrderStatus;

fn stamped(draft: ChangeDraft) -> Change {
    Change::stamp(
        draft,
        ChangeId::new(),
        HlcStamp {
            wall_ms: 1,
            counter: 0,
            device: 7,
        },
        DeviceId::new(7).expect("device"),
        UserId::new(),
    )
}

fn upsert(record: Record) -> Change {
    stamped(ChangeDraft::upsert(record))
}

fn code(result: Result<Option<AuditEvent>, DomainError>) -> &'static str {
    result.expect_err("refused").code()
}

#[test]
fn a_new_patient_is_a_creation_and_needs_the_creation_permission() {
    let p = patient();
    let change = upsert(Record::Patient(p.clone()));
    let ecp = actor(Role::Ecp);
    let event = check(&ctx(&ecp), &change, &Loaded::default())
        .expect("an ECP adds patients")
        .expect("audited");
    assert_eq!(event.action, AuditAction::PatientCreate);
    assert_eq!(event.resource_id, Some(p.id.to_string()));
    assert_eq!(event.details["via"], "sync");
    let lab = actor(Role::LabTech);
    assert_eq!(
        code(check(&ctx(&lab), &change, &Loaded::default())),
        "auth.forbidden"
    );
    // The same field rules as the API.
    let mut bad = p.clone();
    bad.data.first_name = "\u{202e}Ada".into();
    assert_eq!(
        check(
            &ctx(&ecp),
            &upsert(Record::Patient(bad)),
            &Loaded::default()
        )
        .expect_err("invisible characters")
        .kind(),
        crate::ErrorKind::Validation
    );
}

#[test]
fn a_deletion_is_refused_while_orders_are_open_and_erasure_never_comes_from_a_device() {
    let p = patient();
    let mut deleted = p.clone();
    deleted.deleted_at = Some(p.updated_at);
    let change = stamped(ChangeDraft::delete(Record::Patient(deleted)));
    let admin = actor(Role::Ecp);
    let loaded = Loaded {
        current: Some(Record::Patient(p.clone())),
        open_orders: 1,
        ..Loaded::default()
    };
    assert_eq!(
        code(check(&ctx(&admin), &change, &loaded)),
        "patient.has_open_orders"
    );
    let loaded = Loaded {
        open_orders: 0,
        ..loaded
    };
    assert_eq!(
        check(&ctx(&admin), &change, &loaded)
            .expect("deleted")
            .map(|e| e.action),
        Some(AuditAction::PatientDelete)
    );
    let erase = stamped(ChangeDraft::erase(Entity::Patient, p.id.into_uuid()));
    assert_eq!(
        code(check(&ctx(&admin), &erase, &loaded)),
        "sync.operation_not_allowed"
    );
}

#[test]
fn a_prescription_is_created_for_a_live_patient_and_edited_only_as_a_draft() {
    let p = patient();
    let rx = prescription(&p);
    let ecp = actor(Role::Ecp);
    let change = upsert(Record::Prescription(rx.clone()));
    assert_eq!(
        code(check(&ctx(&ecp), &change, &Loaded::default())),
        "patient.not_found",
        "another practice's patient is no patient here"
    );
    let with_patient = Loaded {
        patient: Some(p.clone()),
        ..Loaded::default()
    };
    assert!(check(&ctx(&ecp), &change, &with_patient).is_ok());
    // An active prescription is not edited ...
    let mut edited = rx.clone();
    edited.data.prescriber = "Dr. Other".into();
    let current = Loaded {
        current: Some(Record::Prescription(rx.clone())),
        ..with_patient.clone()
    };
    assert_eq!(
        code(check(
            &ctx(&ecp),
            &upsert(Record::Prescription(edited)),
            &current
        )),
        "rx.not_editable"
    );
    // ... but it can be withdrawn, not under open orders.
    let mut cancelled = rx.clone();
    cancelled.data.status = RxStatus::Cancelled;
    let cancel = upsert(Record::Prescription(cancelled));
    assert_eq!(
        needs(&cancel).open_orders,
        Some(OpenOrdersOf::Prescription(rx.id))
    );
    assert!(check(&ctx(&ecp), &cancel, &current).is_ok());
    let busy = Loaded {
        open_orders: 2,
        ..current
    };
    assert_eq!(
        code(check(&ctx(&ecp), &cancel, &busy)),
        "rx.has_open_orders"
    );
}

#[test]
fn an_order_moves_only_by_a_transition_the_makers_role_may_take() {
    let p = patient();
    let rx = prescription(&p);
    let ecp = actor(Role::Ecp);
    let plan = crate::decide::orders::create(&ctx(&ecp), Some(&p), Some(&rx), &order_data(&p, &rx))
        .expect("order");
    let mut draft = plan.order.clone();
    draft.order_number = "L000001".into();
    let loaded = Loaded {
        patient: Some(p.clone()),
        prescription: Some(rx.clone()),
        ..Loaded::default()
    };
    assert!(check(&ctx(&ecp), &upsert(Record::Order(draft.clone())), &loaded).is_ok());
    let mut submitted = draft.clone();
    submitted.status = OrderStatus::Submitted;
    assert_eq!(
        code(check(
            &ctx(&ecp),
            &upsert(Record::Order(submitted.clone())),
            &loaded
        )),
        "sync.operation_not_allowed",
        "a new order starts as a draft"
    );
    let current = Loaded {
        current: Some(Record::Order(draft.clone())),
        ..loaded
    };
    let event = check(
        &ctx(&ecp),
        &upsert(Record::Order(submitted.clone())),
        &current,
    )
    .expect("an ECP submits")
    .expect("audited");
    assert_eq!(event.action, AuditAction::OrderTransition);
    assert_eq!(event.details["action"], "submit");
    // A lab technician does not submit an ECP's draft.
    let lab = actor(Role::LabTech);
    assert_eq!(
        code(check(
            &ctx(&lab),
            &upsert(Record::Order(submitted)),
            &current
        )),
        "auth.forbidden"
    );
    // No action leads from draft to shipped.
    let mut shipped = draft.clone();
    shipped.status = OrderStatus::Shipped;
    assert_eq!(
        code(check(&ctx(&ecp), &upsert(Record::Order(shipped)), &current)),
        "order.transition_not_allowed"
    );
    // The content of an order is never rewritten.
    let mut rewritten = draft;
    rewritten.data.material = "glass".into();
    assert_eq!(
        code(check(
            &ctx(&ecp),
            &upsert(Record::Order(rewritten)),
            &current
        )),
        "sync.record_immutable"
    );
}

#[test]
fn a_timeline_entry_needs_its_order_and_never_changes() {
    let p = patient();
    let rx = prescription(&p);
    let ecp = actor(Role::Ecp);
    let plan = crate::decide::orders::create(&ctx(&ecp), Some(&p), Some(&rx), &order_data(&p, &rx))
        .expect("order");
    let change = upsert(Record::OrderEvent(plan.event.clone()));
    assert_eq!(needs(&change).order, Some(plan.order.id));
    assert_eq!(
        code(check(&ctx(&ecp), &change, &Loaded::default())),
        "order.not_found"
    );
    let with_order = Loaded {
        order: Some(plan.order.clone()),
        ..Loaded::default()
    };
    assert_eq!(check(&ctx(&ecp), &change, &with_order), Ok(None));
    let mut rewritten = plan.event.clone();
    rewritten.note = Some("changed".into());
    let current = Loaded {
        current: Some(Record::OrderEvent(plan.event)),
        ..with_order
    };
    assert_eq!(
        code(check(
            &ctx(&ecp),
            &upsert(Record::OrderEvent(rewritten)),
            &current
        )),
        "sync.record_immutable"
    );
}

fn document(passages: usize) -> crate::record::DocumentRecord {
    use crate::record::{DocumentFormat, Passage};
    let at = chrono::Utc::now();
    let vector = Passage::encode_vector(&[0.5; crate::record::EMBEDDING_DIMENSIONS]);
    crate::record::DocumentRecord {
        id: crate::ids::DocumentId::new(),
        source: "policies/returns.md".into(),
        title: "Returns".into(),
        format: DocumentFormat::Markdown,
        sha256: "ab".repeat(32),
        byte_size: 100,
        model: "all-MiniLM-L6-v2@1".into(),
        chunks: u32::try_from(passages).unwrap_or(0),
        ingested_by: None,
        created_at: at,
        updated_at: at,
        passages: Some(
            (0..passages)
                .map(|i| Passage {
                    ordinal: u32::try_from(i).unwrap_or(0),
                    heading: "Returns".into(),
                    text: format!("Passage {i}"),
                    byte_start: u32::try_from(i * 10).unwrap_or(0),
                    byte_end: u32::try_from(i * 10 + 9).unwrap_or(0),
                    vector: vector.clone(),
                })
                .collect(),
        ),
    }
}

#[test]
fn a_document_comes_whole_with_its_vectors_from_someone_who_manages_the_knowledge_base() {
    let admin = actor(Role::CompanyAdmin);
    let ok = document(2);
    let event = check(
        &ctx(&admin),
        &upsert(Record::Document(ok.clone())),
        &Loaded::default(),
    )
    .expect("an administrator adds documents")
    .expect("audited");
    assert_eq!(event.action, AuditAction::DocumentAdd);
    let replaced = Loaded {
        current: Some(Record::Document(ok.clone())),
        ..Loaded::default()
    };
    let event = check(
        &ctx(&admin),
        &upsert(Record::Document(ok.clone())),
        &replaced,
    )
    .expect("replaced")
    .expect("audited");
    assert_eq!(event.action, AuditAction::DocumentReplace);
    let ecp = actor(Role::Ecp);
    assert_eq!(
        code(check(
            &ctx(&ecp),
            &upsert(Record::Document(ok.clone())),
            &Loaded::default()
        )),
        "auth.forbidden"
    );

    let refused = |doc: crate::record::DocumentRecord| {
        code(check(
            &ctx(&admin),
            &upsert(Record::Document(doc)),
            &Loaded::default(),
        ))
    };
    let mut bare = ok.clone();
    bare.passages = None;
    assert_eq!(refused(bare), code::KB_PASSAGES_INVALID);
    let mut short = ok.clone();
    short.chunks = 3;
    assert_eq!(refused(short), code::KB_PASSAGES_INVALID);
    let mut bad_vector = ok.clone();
    if let Some(p) = bad_vector.passages.as_mut() {
        p[1].vector = crate::record::Passage::encode_vector(&[0.5; 10]);
    }
    assert_eq!(refused(bad_vector), code::KB_PASSAGES_INVALID);
    let mut not_finite = ok.clone();
    if let Some(p) = not_finite.passages.as_mut() {
        let mut v = vec![0.5; crate::record::EMBEDDING_DIMENSIONS];
        v[3] = f32::NAN;
        p[0].vector = crate::record::Passage::encode_vector(&v);
    }
    assert_eq!(refused(not_finite), code::KB_PASSAGES_INVALID);
    let mut misnumbered = ok.clone();
    if let Some(p) = misnumbered.passages.as_mut() {
        p.swap(0, 1);
    }
    assert_eq!(refused(misnumbered), code::KB_PASSAGES_INVALID);

    let gone = stamped(ChangeDraft::delete(Record::Document(document(1))));
    let event = check(&ctx(&admin), &gone, &Loaded::default())
        .expect("deleted")
        .expect("audited");
    assert_eq!(event.action, AuditAction::DocumentDelete);
}
