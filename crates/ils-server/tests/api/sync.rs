//! Sync over real HTTP: devices (registration, approval, codes, revocation), push (checked by
//! the API's rules, applied once, answered per change), pull (the tenant's one order, paged, the
//! API's own writes included), conflicts, and the tenant wall around all of it.

use chrono::{DateTime, SubsecRound, Utc};
use ils_core::change::{Change, ChangeDraft, Record};
use ils_core::hlc::{HlcStamp, HybridClock, MAX_DRIFT_MS};
use ils_core::record::{OrderEventRecord, OrderRecord, PatientRecord, TimelineAction};
use ils_core::{ChangeId, DeviceId, OrderEventId, OrderId, PatientId, Role, UserId};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::clinical::{clinic, order_body, patient_body, rx_body};
use crate::common::{Reply, TestApp};

/// A desktop as the server sees it: an id, a clock, the user it acts as.
struct Device {
    id: DeviceId,
    clock: HybridClock,
    user: UserId,
    token: String,
}

impl Device {
    fn new(user: &str, token: &str) -> Self {
        let raw = (uuid::Uuid::new_v4().as_u64_pair().0 >> 1) | 1;
        let id = DeviceId::new(raw).expect("odd, so never 0");
        Self {
            id,
            clock: HybridClock::new(id.get(), None, MAX_DRIFT_MS),
            user: user.parse().expect("user id"),
            token: token.to_owned(),
        }
    }

    fn hex(&self) -> String {
        self.id.to_string()
    }

    fn stamp(&mut self, draft: ChangeDraft) -> Change {
        let now = u64::try_from(Utc::now().timestamp_millis()).expect("after 1970");
        Change::stamp(
            draft,
            ChangeId::new(),
            self.clock.tick(now),
            self.id,
            self.user,
        )
    }

    fn upsert(&mut self, record: Record) -> Change {
        self.stamp(ChangeDraft::upsert(record))
    }
}

fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

fn wire(changes: &[&Change]) -> Vec<Value> {
    changes
        .iter()
        .map(|c| serde_json::from_str(&c.encode()).expect("json"))
        .collect()
}

async fn push(app: &TestApp, device: &Device, changes: &[&Change]) -> Reply {
    app.post(
        "/api/sync/push",
        &device.token,
        json!({"protocol": 1, "device": device.hex(), "changes": wire(changes)}),
    )
    .await
}

/// Every change after `cursor` in pages of `limit`: (changes, final cursor).
async fn pull_all(app: &TestApp, device: &Device, cursor: i64, limit: u32) -> (Vec<Change>, i64) {
    let mut cursor = cursor;
    let mut out = Vec::new();
    loop {
        let page = app
            .get(
                &format!(
                    "/api/sync/pull?device={}&cursor={cursor}&limit={limit}",
                    device.hex()
                ),
                &device.token,
            )
            .await;
        assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
        for c in page.body["changes"].as_array().expect("changes") {
            out.push(Change::decode(&c.to_string()).expect("a change ILS Central sent"));
        }
        let next = page.body["cursor"].as_i64().expect("cursor");
        assert!(next >= cursor, "the cursor never goes back");
        cursor = next;
        if !page.body["more"].as_bool().expect("more") {
            return (out, cursor);
        }
    }
}

/// Registers and approves `device` in the tenant of `admin_token`.
async fn enrol(app: &TestApp, admin_token: &str, device: &Device) {
    let code = app
        .post("/api/sync/device-codes", admin_token, json!({}))
        .await;
    assert_eq!(code.status, StatusCode::CREATED, "{:?}", code.body);
    let reply = app
        .post(
            "/api/sync/devices",
            &device.token,
            json!({"device": device.hex(), "name": "Front desk", "code": code.body["code"]}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    assert_eq!(reply.body["status"], "approved");
}

/// Two desktops of a new ECP of the clinic's practice, both registered and approved.
async fn two_devices(app: &TestApp, c: &crate::clinical::Clinic) -> (Device, Device) {
    let (ecp_id, ecp_token) = app.add_user(&c.tenant, Role::Ecp).await;
    let a = Device::new(&ecp_id, &ecp_token);
    let b = Device::new(&ecp_id, &ecp_token);
    enrol(app, &c.tenant.admin_token, &a).await;
    enrol(app, &c.tenant.admin_token, &b).await;
    (a, b)
}

fn new_patient(number: &str, last: &str) -> PatientRecord {
    let at = now();
    let mut body = patient_body(number, last);
    if let Some(o) = body.as_object_mut() {
        o.remove("notes");
    }
    PatientRecord {
        id: PatientId::new(),
        data: serde_json::from_value(body).expect("patient data"),
        created_at: at,
        updated_at: at,
        deleted_at: None,
    }
}

/// An order placed offline, in draft, with the device's own number.
fn draft_order(patient: &str, rx: &str, by: UserId, number: &str) -> OrderRecord {
    let at = now();
    OrderRecord {
        id: OrderId::new(),
        order_number: number.into(),
        status: ils_core::order::OrderStatus::Draft,
        remake_of: None,
        remake_reason: None,
        data: serde_json::from_value(order_body(patient, rx)).expect("order data"),
        created_by: Some(by),
        created_at: at,
        updated_at: at,
    }
}

fn statuses(reply: &Reply) -> Vec<(String, Option<String>)> {
    reply.body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                r["status"].as_str().expect("status").to_owned(),
                r["code"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

fn applied(n: usize) -> Vec<(String, Option<String>)> {
    vec![("applied".to_owned(), None); n]
}

#[tokio::test]
async fn devices_register_with_a_code_or_wait_for_approval_and_a_revoked_device_is_refused() {
    let app = TestApp::spawn().await;
    let c = clinic(&app, "devices").await;
    let (ecp_id, _) = app.add_user(&c.tenant, Role::Ecp).await;
    let mut waiting = Device::new(&ecp_id, &c.ecp);
    let patient = new_patient("D-1", "Waiting");
    let change = waiting.upsert(Record::Patient(patient));

    let unknown = push(&app, &waiting, &[&change]).await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (StatusCode::FORBIDDEN, "device.unknown")
    );
    let reg = app
        .post(
            "/api/sync/devices",
            &c.ecp,
            json!({"device": waiting.hex(), "name": "Exam room 2"}),
        )
        .await;
    assert_eq!(reg.status, StatusCode::CREATED, "{:?}", reg.body);
    assert_eq!(reg.body["status"], "pending");
    let again = app
        .post(
            "/api/sync/devices",
            &c.ecp,
            json!({"device": waiting.hex(), "name": "Exam room 2"}),
        )
        .await;
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::CONFLICT, "device.already_registered")
    );
    let pending = push(&app, &waiting, &[&change]).await;
    assert_eq!(
        (pending.status, pending.code()),
        (StatusCode::FORBIDDEN, "device.not_approved")
    );
    // Only an administrator sees and approves devices.
    let by_ecp = app.get("/api/sync/devices", &c.ecp).await;
    assert_eq!(by_ecp.status, StatusCode::FORBIDDEN);
    let path = format!("/api/sync/devices/{}/approval", waiting.hex());
    assert_eq!(
        app.post(&path, &c.ecp, json!({})).await.status,
        StatusCode::FORBIDDEN
    );
    let approved = app.post(&path, &c.tenant.admin_token, json!({})).await;
    assert_eq!(approved.status, StatusCode::OK, "{:?}", approved.body);
    assert_eq!(approved.body["status"], "approved");
    assert_eq!(
        statuses(&push(&app, &waiting, &[&change]).await),
        applied(1)
    );

    // A registration code approves at once, once.
    let code = app
        .post("/api/sync/device-codes", &c.tenant.admin_token, json!({}))
        .await;
    assert_eq!(code.status, StatusCode::CREATED, "{:?}", code.body);
    let code = code.body["code"].as_str().expect("code").to_owned();
    let second = Device::new(&ecp_id, &c.ecp);
    let with_code = app
        .post(
            "/api/sync/devices",
            &c.ecp,
            json!({"device": second.hex(), "name": "Front desk", "code": code.to_lowercase()}),
        )
        .await;
    assert_eq!(with_code.body["status"], "approved", "{:?}", with_code.body);
    let third = Device::new(&ecp_id, &c.ecp);
    let reused = app
        .post(
            "/api/sync/devices",
            &c.ecp,
            json!({"device": third.hex(), "name": "Back office", "code": code}),
        )
        .await;
    assert_eq!(
        (reused.status, reused.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "device.code_invalid")
    );
    let listed = app.get("/api/sync/devices", &c.tenant.admin_token).await;
    assert_eq!(
        listed.body.as_array().map(Vec::len),
        Some(2),
        "{:?}",
        listed.body
    );

    // Another practice's administrator cannot approve or revoke this practice's device.
    let other = app
        .create_tenant("elsewhere", ils_core::SubscriptionTier::Pro)
        .await;
    let foreign = app
        .post(
            &format!("/api/sync/devices/{}/revocation", second.hex()),
            &other.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND, "{:?}", foreign.body);

    let revoked = app
        .post(
            &format!("/api/sync/devices/{}/revocation", second.hex()),
            &c.tenant.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(revoked.body["status"], "revoked", "{:?}", revoked.body);
    let refused = push(&app, &second, &[&change]).await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::FORBIDDEN, "device.revoked")
    );
    let pull = app
        .get(
            &format!("/api/sync/pull?device={}", second.hex()),
            &second.token,
        )
        .await;
    assert_eq!(
        (pull.status, pull.code()),
        (StatusCode::FORBIDDEN, "device.revoked")
    );
    let reapprove = app
        .post(
            &format!("/api/sync/devices/{}/approval", second.hex()),
            &c.tenant.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(
        (reapprove.status, reapprove.code()),
        (StatusCode::CONFLICT, "device.revoked")
    );
}

#[tokio::test]
async fn a_push_is_applied_once_and_reaches_the_other_devices_with_the_apis_own_writes() {
    let app = TestApp::spawn().await;
    let c = clinic(&app, "feed").await;
    let (mut a, b) = two_devices(&app, &c).await;

    // What the API wrote before (the clinic's patient and prescription) is in the feed.
    let (before, cursor_b) = pull_all(&app, &b, 0, 500).await;
    let kinds: Vec<&str> = before.iter().map(|c| c.entity.as_str()).collect();
    assert_eq!(kinds, ["patient", "prescription"]);
    assert_eq!(
        before[0].device.get() & 1,
        0,
        "ILS Central stamps with its own (even) device ids"
    );
    let Some(Record::Prescription(rx)) = before[1].record.clone() else {
        panic!("a prescription record");
    };

    // Device A, offline: a new patient, an order from the clinic's prescription and its
    // first timeline entry.
    let patient = new_patient("F-1", "Offline");
    let p1 = a.upsert(Record::Patient(patient.clone()));
    let order = draft_order(&c.patient, &rx.id.to_string(), a.user, "L000001");
    let o1 = a.upsert(Record::Order(order.clone()));
    let at = order.created_at;
    let e1 = a.upsert(Record::OrderEvent(OrderEventRecord {
        id: OrderEventId::new(),
        order_id: order.id,
        action: TimelineAction::Create,
        from_status: None,
        to_status: ils_core::order::OrderStatus::Draft,
        note: None,
        actor: Some(a.user),
        at,
    }));
    let first = push(&app, &a, &[&p1, &o1, &e1]).await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    assert_eq!(statuses(&first), applied(3), "{:?}", first.body);
    let number = first.body["results"][1]["order_number"]
        .as_str()
        .expect("the practice's number for the new order")
        .to_owned();
    assert!(number.starts_with("ORD-"), "{number}");

    // Delivered again ten times, in every order: applied once.
    let sent = [&p1, &o1, &e1];
    let orders = [
        [0, 1, 2],
        [2, 0, 1],
        [1, 2, 0],
        [2, 1, 0],
        [0, 2, 1],
        [1, 0, 2],
    ];
    for k in 0..10 {
        let batch: Vec<&Change> = orders[k % orders.len()].iter().map(|&i| sent[i]).collect();
        let again = push(&app, &a, &batch).await;
        assert_eq!(
            statuses(&again),
            vec![("duplicate".to_owned(), None); 3],
            "{:?}",
            again.body
        );
    }
    let same_batch = push(&app, &a, &[&p1, &p1]).await;
    assert_eq!(
        statuses(&same_batch),
        vec![("duplicate".to_owned(), None); 2]
    );

    // The API sees it, under the practice's number; the device's stays findable.
    let read = app
        .get(&format!("/api/patients/{}", patient.id), &c.ecp)
        .await;
    assert_eq!(read.status, StatusCode::OK, "{:?}", read.body);
    assert_eq!(read.body["last_name"], "Offline");
    let got = app.get(&format!("/api/orders/{}", order.id), &c.ecp).await;
    assert_eq!(got.body["order_number"], number.as_str(), "{:?}", got.body);
    let owner = app.owner_pool().await;
    let (local,): (Option<String>,) =
        sqlx::query_as("SELECT local_number FROM orders WHERE id = $1")
            .bind(order.id.into_uuid())
            .fetch_one(&owner)
            .await
            .expect("order");
    assert_eq!(local.as_deref(), Some("L000001"));

    // The API changes the patient; B pulls A's changes and the API's, in order, in pages.
    let patched = app
        .patch(
            &format!("/api/patients/{}", patient.id),
            &c.ecp,
            json!({"first_name": "Grace Brewster"}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{:?}", patched.body);
    let (seen, cursor) = pull_all(&app, &b, cursor_b, 2).await;
    let ids: Vec<ChangeId> = seen.iter().map(|c| c.id).collect();
    assert_eq!(&ids[..3], &[p1.id, o1.id, e1.id]);
    assert_eq!(seen.len(), 4, "{seen:?}");
    let Some(Record::Order(pulled)) = &seen[1].record else {
        panic!("an order");
    };
    assert_eq!(pulled.order_number, number, "the feed carries the number");
    let Some(Record::Patient(latest)) = &seen[3].record else {
        panic!("the API's update");
    };
    assert_eq!(latest.data.first_name, "Grace Brewster");
    assert!(
        seen[3].hlc > p1.hlc,
        "the API's stamp orders after the device's"
    );
    let (nothing, same) = pull_all(&app, &b, cursor, 500).await;
    assert!(nothing.is_empty());
    assert_eq!(same, cursor);
    // A never receives its own changes back, only the API's.
    let (for_a, _) = pull_all(&app, &a, cursor_b, 500).await;
    assert_eq!(
        for_a.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![seen[3].id]
    );
}

/// The API's writes stamp after every stamp the feed holds, a device's an hour fast included,
/// and concurrent writes get gapless positions whose stamps grow with them.
#[tokio::test]
async fn the_apis_stamps_follow_the_feed_whoever_wrote_last() {
    let app = TestApp::spawn().await;
    let c = clinic(&app, "stamps").await;
    let (mut fast, reader) = two_devices(&app, &c).await;
    let now = u64::try_from(Utc::now().timestamp_millis()).expect("after 1970");
    let hour_ahead = HlcStamp {
        wall_ms: now + 3_600_000,
        counter: 0,
        device: fast.id.get(),
    };
    fast.clock = HybridClock::new(fast.id.get(), Some(hour_ahead), MAX_DRIFT_MS);
    let ahead = fast.upsert(Record::Patient(new_patient("S-1", "Ahead")));
    let pushed = push(&app, &fast, &[&ahead]).await;
    assert_eq!(statuses(&pushed), applied(1), "{:?}", pushed.body);

    // Two API writes after it, then ten at once.
    for name in ["After", "Later"] {
        let reply = app
            .patch(
                &format!("/api/patients/{}", c.patient),
                &c.ecp,
                json!({"first_name": name}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    }
    let writes = (0..10).map(|i| {
        app.post(
            "/api/patients",
            &c.ecp,
            patient_body(&format!("S-{}", 100 + i), "Concurrent"),
        )
    });
    for reply in futures::future::join_all(writes).await {
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    }

    let (feed, _) = pull_all(&app, &reader, 0, 500).await;
    // The clinic's patient and prescription, the device's patient, 2 edits, 10 patients.
    assert_eq!(feed.len(), 15, "{feed:?}");
    let at = feed
        .iter()
        .position(|c| c.id == ahead.id)
        .expect("the push");
    for change in &feed[at + 1..] {
        assert!(
            change.hlc > ahead.hlc,
            "an API write after the device's stamps after it: {:?} then {:?}",
            ahead.hlc,
            change.hlc
        );
    }
    for pair in feed.windows(2) {
        assert!(
            pair[1].hlc > pair[0].hlc,
            "stamps grow with feed positions: {:?} then {:?}",
            pair[0].hlc,
            pair[1].hlc
        );
    }
    let owner = app.owner_pool().await;
    assert_eq!(
        feed_positions(&owner, &c.tenant.id).await,
        (1..=15).collect::<Vec<_>>(),
        "gapless positions"
    );
}

/// The positions of a practice's feed, in order, as the database holds them.
async fn feed_positions(owner: &sqlx::PgPool, company: &str) -> Vec<i64> {
    let company = uuid::Uuid::parse_str(company).expect("tenant id");
    let seqs: Vec<(i64,)> =
        sqlx::query_as("SELECT seq FROM sync_feed WHERE company_id = $1 ORDER BY seq")
            .bind(company)
            .fetch_all(owner)
            .await
            .expect("feed positions");
    seqs.into_iter().map(|(s,)| s).collect()
}

/// A new practice's first writes, all at once, race to create its feed's head: each waits for
/// the one that creates it, and the positions are gapless.
#[tokio::test]
async fn a_new_practices_first_writes_at_once_share_one_head() {
    let app = TestApp::spawn().await;
    let tenant = app
        .create_tenant("first-writes", ils_core::SubscriptionTier::Pro)
        .await;
    let (_, ecp) = app.add_user(&tenant, Role::Ecp).await;
    let owner = app.owner_pool().await;
    let company = uuid::Uuid::parse_str(&tenant.id).expect("tenant id");
    let head = || async {
        let seq: Option<(i64,)> =
            sqlx::query_as("SELECT seq FROM sync_heads WHERE company_id = $1")
                .bind(company)
                .fetch_optional(&owner)
                .await
                .expect("head");
        seq.map(|(s,)| s)
    };
    assert_eq!(head().await, None, "no head before the first write");

    let writes = (0..8).map(|i| {
        app.post(
            "/api/patients",
            &ecp,
            patient_body(&format!("F-{}", 100 + i), "First"),
        )
    });
    for reply in futures::future::join_all(writes).await {
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    }
    assert_eq!(
        feed_positions(&owner, &tenant.id).await,
        (1..=8).collect::<Vec<_>>(),
        "gapless positions"
    );
    assert_eq!(head().await, Some(8), "the head follows the last position");
}

#[tokio::test]
async fn a_change_that_breaks_a_rule_is_rejected_with_the_apis_code_and_nothing_of_it_applied() {
    let app = TestApp::spawn().await;
    let c = clinic(&app, "rules").await;
    let (lab_id, lab_token) = app.add_user(&c.tenant, Role::LabTech).await;
    let (ecp_id, ecp_token) = app.add_user(&c.tenant, Role::Ecp).await;
    let mut ecp = Device::new(&ecp_id, &ecp_token);
    let mut lab = Device::new(&lab_id, &lab_token);
    enrol(&app, &c.tenant.admin_token, &ecp).await;
    enrol(&app, &c.tenant.admin_token, &lab).await;

    // An axis out of range: the API's code.
    let mut bad = rx_body();
    bad["right"]["axis"] = json!(181);
    let api = app
        .post(
            &format!("/api/patients/{}/prescriptions", c.patient),
            &c.ecp,
            bad.clone(),
        )
        .await;
    assert_eq!(api.status, StatusCode::UNPROCESSABLE_ENTITY);
    let (fed, _) = pull_all(&app, &ecp, 0, 500).await;
    let Some(Record::Prescription(mut rx)) = fed[1].record.clone() else {
        panic!("a prescription");
    };
    rx.id = ils_core::PrescriptionId::new();
    rx.data.right.axis = Some(181);
    let change = ecp.upsert(Record::Prescription(rx.clone()));
    let reply = push(&app, &ecp, &[&change]).await;
    assert_eq!(
        statuses(&reply),
        vec![("rejected".to_owned(), Some(api.code().to_owned()))],
        "{:?}",
        reply.body
    );
    let missing = app
        .get(&format!("/api/prescriptions/{}", rx.id), &c.ecp)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    // A lab technician does not place orders.
    let order = draft_order(&c.patient, &c.rx, lab.user, "L000009");
    let by_lab = lab.upsert(Record::Order(order.clone()));
    let api = app
        .post("/api/orders", &c.lab, order_body(&c.patient, &c.rx))
        .await;
    let reply = push(&app, &lab, &[&by_lab]).await;
    assert_eq!(
        statuses(&reply),
        vec![("rejected".to_owned(), Some(api.code().to_owned()))]
    );
    assert_eq!(api.code(), "auth.forbidden");

    // A change another device made, and a stamp a day and more ahead: refused.
    let mut theirs = ecp.upsert(Record::Patient(new_patient("R-1", "Relayed")));
    theirs.device = lab.id;
    let mut ahead = lab.upsert(Record::Patient(new_patient("R-2", "Ahead")));
    ahead.hlc = HlcStamp {
        wall_ms: ahead.hlc.wall_ms + MAX_DRIFT_MS + 3_600_000,
        ..ahead.hlc
    };
    let reply = push(&app, &lab, &[&theirs, &ahead]).await;
    let codes: Vec<Option<String>> = statuses(&reply).into_iter().map(|(_, c)| c).collect();
    assert_eq!(
        codes,
        vec![
            Some("sync.malformed_change".to_owned()),
            Some("sync.clock_ahead".to_owned())
        ],
        "{:?}",
        reply.body
    );

    // A device's audit entries must be its log's: in order, in ILS Central's vocabulary.
    let bad_audit = app
        .post(
            "/api/sync/push",
            &lab.token,
            json!({"protocol": 1, "device": lab.hex(), "changes": [],
                   "audit": [{"seq": 2, "at": "2026-12-01T10:00:00Z", "user": null, "action": "Patient READ",
                              "resource_type": "patient", "resource_id": null, "details": {}},
                             {"seq": 1, "at": "2026-12-01T10:00:00Z", "user": null, "action": "patient.read",
                              "resource_type": "patient", "resource_id": null, "details": {}}]}),
        )
        .await;
    assert_eq!(
        (bad_audit.status, bad_audit.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "sync.audit_invalid")
    );
    assert_eq!(bad_audit.fields(), ["audit[0].action", "audit[1].seq"]);

    // Each refusal is in the audit log, with the device.
    let owner = app.owner_pool().await;
    let (rejections,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM audit_log WHERE company_id = $1 AND action = 'sync.reject'",
    )
    .bind(c.tenant.id.parse::<uuid::Uuid>().expect("id"))
    .fetch_one(&owner)
    .await
    .expect("count");
    assert_eq!(
        rejections, 3,
        "two rule refusals and the clock (malformed changes name no id to audit)"
    );
}

#[tokio::test]
async fn a_device_cannot_reach_another_tenants_records_or_feed() {
    let app = TestApp::spawn().await;
    let a = clinic(&app, "alpha").await;
    let b = clinic(&app, "beta").await;
    let (a_ecp, a_token) = app.add_user(&a.tenant, Role::Ecp).await;
    let (b_ecp, b_token) = app.add_user(&b.tenant, Role::Ecp).await;
    let mut device_b = Device::new(&b_ecp, &b_token);
    enrol(&app, &b.tenant.admin_token, &device_b).await;

    // B's device prescribes for A's patient, orders from A's prescription, and names A's user.
    let device_a = Device::new(&a_ecp, &a_token);
    enrol(&app, &a.tenant.admin_token, &device_a).await;
    let (a_feed, _) = pull_all(&app, &device_a, 0, 500).await;
    let Some(Record::Prescription(mut rx)) = a_feed[1].record.clone() else {
        panic!("A's prescription");
    };
    rx.id = ils_core::PrescriptionId::new();
    let foreign_rx = device_b.upsert(Record::Prescription(rx));
    let order = draft_order(&a.patient, &a.rx, device_b.user, "L000001");
    let foreign_order = device_b.upsert(Record::Order(order.clone()));
    let mut as_a_user = device_b.upsert(Record::Patient(new_patient("X-1", "Impostor")));
    as_a_user.user = a_ecp.parse().expect("user");
    let reply = push(&app, &device_b, &[&foreign_rx, &foreign_order, &as_a_user]).await;
    assert_eq!(
        statuses(&reply),
        vec![
            ("rejected".to_owned(), Some("patient.not_found".to_owned())),
            ("rejected".to_owned(), Some("patient.not_found".to_owned())),
            ("rejected".to_owned(), Some("sync.unknown_user".to_owned())),
        ],
        "{:?}",
        reply.body
    );
    // Nothing of it was applied, in either practice.
    let owner = app.owner_pool().await;
    let (orders,): (i64,) = sqlx::query_as("SELECT count(*) FROM orders WHERE id = $1")
        .bind(order.id.into_uuid())
        .fetch_one(&owner)
        .await
        .expect("count");
    assert_eq!(orders, 0);

    // A's device id under B's token is unknown; B's feed holds only B's records.
    let a_device_under_b = app
        .get(
            &format!("/api/sync/pull?device={}", device_a.hex()),
            &b_token,
        )
        .await;
    assert_eq!(
        (a_device_under_b.status, a_device_under_b.code()),
        (StatusCode::FORBIDDEN, "device.unknown")
    );
    let (b_feed, _) = pull_all(&app, &device_b, 0, 500).await;
    let b_ids: Vec<String> = b_feed.iter().map(|c| c.entity_id.to_string()).collect();
    assert!(b_ids.contains(&b.patient));
    assert!(!b_ids.contains(&a.patient), "{b_ids:?}");
    assert!(!b_ids.contains(&a.rx));
}

#[tokio::test]
async fn concurrent_edits_end_the_same_whatever_the_push_order_and_the_loser_is_kept() {
    let app = TestApp::spawn().await;
    let c = clinic(&app, "merge").await;
    let (mut a, mut b) = two_devices(&app, &c).await;
    let (feed, _) = pull_all(&app, &a, 0, 500).await;
    let Some(Record::Patient(patient)) = feed[0].record.clone() else {
        panic!("the clinic's patient");
    };
    let base = Some(feed[0].hlc);

    // Both edit the same version offline; B's edit is the later one.
    let mut on_a = patient.clone();
    on_a.data.phone = Some("+44 20 7946 0001".into());
    on_a.updated_at = now();
    let edit_a = a.upsert(Record::Patient(on_a)).with_base(base);
    std::thread::sleep(std::time::Duration::from_millis(5));
    let mut on_b = patient.clone();
    on_b.data.phone = Some("+44 20 7946 0002".into());
    on_b.updated_at = now();
    let edit_b = b.upsert(Record::Patient(on_b)).with_base(base);
    assert!(edit_b.hlc > edit_a.hlc);

    // The later edit arrives first; the earlier one loses when it comes.
    let first = push(&app, &b, &[&edit_b]).await;
    assert_eq!(first.body["results"][0]["conflict"], false);
    let second = push(&app, &a, &[&edit_a]).await;
    assert_eq!(second.body["results"][0]["status"], "applied");
    assert_eq!(second.body["results"][0]["conflict"], true);
    let read = app
        .get(&format!("/api/patients/{}", patient.id), &c.ecp)
        .await;
    assert_eq!(read.body["phone"], "+44 20 7946 0002");

    // A later edit made without seeing B's version wins, and B's version is kept for review.
    let mut again = patient.clone();
    again.data.email = Some("grace@navy.example".into());
    again.updated_at = now();
    let edit_a2 = a.upsert(Record::Patient(again)).with_base(base);
    let third = push(&app, &a, &[&edit_a2]).await;
    assert_eq!(
        third.body["results"][0]["conflict"], true,
        "{:?}",
        third.body
    );
    let log = app.get("/api/sync/conflicts", &c.ecp).await;
    assert_eq!(log.status, StatusCode::OK, "{:?}", log.body);
    let lost: Vec<String> = log
        .body
        .as_array()
        .expect("conflicts")
        .iter()
        .map(|c| c["lost_change_id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(lost, [edit_a.id.to_string(), edit_b.id.to_string()]);
    // Reading the log is audited with the records it showed.
    let owner = app.owner_pool().await;
    let (read,): (serde_json::Value,) = sqlx::query_as(
        "SELECT details FROM audit_log WHERE company_id = $1 AND action = 'sync.conflict_list'",
    )
    .bind(c.tenant.id.parse::<uuid::Uuid>().expect("id"))
    .fetch_one(&owner)
    .await
    .expect("audited");
    assert_eq!(read["record_ids"], json!([patient.id, patient.id]));
    // A lab technician does not read patients, so not their conflicts either.
    assert_eq!(
        app.get("/api/sync/conflicts", &c.lab).await.status,
        StatusCode::FORBIDDEN
    );
    let read = app
        .get(&format!("/api/patients/{}", patient.id), &c.ecp)
        .await;
    assert_eq!(read.body["email"], "grace@navy.example");
}

#[tokio::test]
async fn an_erasure_travels_by_its_subject_and_the_patient_never_comes_back() {
    let app = TestApp::spawn().await;
    let c = clinic(&app, "erase-sync").await;
    let (ecp_id, ecp_token) = app.add_user(&c.tenant, Role::Ecp).await;
    let mut device = Device::new(&ecp_id, &ecp_token);
    enrol(&app, &c.tenant.admin_token, &device).await;
    let (before, cursor) = pull_all(&app, &device, 0, 500).await;
    let Some(Record::Patient(mut held)) = before[0].record.clone() else {
        panic!("the clinic's patient");
    };
    let erased = app
        .post(
            &format!("/api/patients/{}/erasure", c.patient),
            &c.tenant.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(erased.status, StatusCode::OK, "{:?}", erased.body);

    // The feed now holds the erasure, named by its subject; nothing names the patient.
    let (after, _) = pull_all(&app, &device, 0, 500).await;
    assert_eq!(after.len(), 1, "{after:?}");
    let company: ils_core::CompanyId = c.tenant.id.parse().expect("company");
    assert_eq!(after[0].operation, ils_core::change::Operation::Erase);
    assert_eq!(
        after[0].entity_id,
        ils_core::change::erased_subject(
            company,
            ils_core::change::Entity::Patient,
            c.patient.parse().expect("id")
        )
    );
    let (since, _) = pull_all(&app, &device, cursor, 500).await;
    assert_eq!(
        since.len(),
        1,
        "a device that held the patient gets the erasure"
    );
    let owner = app.owner_pool().await;
    let (rows,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM sync_feed WHERE change LIKE '%' || $1 || '%'")
            .bind(&c.patient)
            .fetch_one(&owner)
            .await
            .expect("count");
    assert_eq!(rows, 0);

    // An offline device's old edit of the patient is refused, and so is a re-creation.
    held.data.phone = Some("+44 20 7946 0003".into());
    held.updated_at = now();
    let edit = device.upsert(Record::Patient(held));
    let reply = push(&app, &device, &[&edit]).await;
    assert_eq!(
        statuses(&reply),
        vec![("rejected".to_owned(), Some("sync.erased".to_owned()))]
    );
    let gone = app
        .get(&format!("/api/patients/{}", c.patient), &c.ecp)
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_practices_sync_volume_has_its_own_budget_that_does_not_slow_another_practice() {
    // 30 changes a minute on the Pro tier: small enough to spend in a test.
    let app = TestApp::spawn_with(|s| s.rate_limits.sync_changes_per_minute.pro = 30).await;
    let a = clinic(&app, "budget-a").await;
    let b = clinic(&app, "budget-b").await;
    let (a_id, a_token) = app.add_user(&a.tenant, Role::Ecp).await;
    let (b_id, b_token) = app.add_user(&b.tenant, Role::Ecp).await;
    let mut device = Device::new(&a_id, &a_token);
    enrol(&app, &a.tenant.admin_token, &device).await;
    let mut other = Device::new(&b_id, &b_token);
    enrol(&app, &b.tenant.admin_token, &other).await;

    // 20 changes pass; 20 more do not, and nothing of them is applied.
    let first: Vec<Change> = (0..20)
        .map(|i| device.upsert(Record::Patient(new_patient(&format!("B-{i}"), "Hopper"))))
        .collect();
    let reply = push(&app, &device, &first.iter().collect::<Vec<_>>()).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let second: Vec<Change> = (20..40)
        .map(|i| device.upsert(Record::Patient(new_patient(&format!("B-{i}"), "Hopper"))))
        .collect();
    let refused = push(&app, &device, &second.iter().collect::<Vec<_>>()).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.body["code"], "rate_limit.sync");
    let wait: u64 = refused.headers["retry-after"]
        .to_str()
        .expect("header")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&wait), "{wait}");
    let owner = app.owner_pool().await;
    let (held,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM patients WHERE company_id = $1::uuid")
            .bind(&a.tenant.id)
            .fetch_one(&owner)
            .await
            .expect("count");
    assert_eq!(held, 21, "the clinic's own patient and the first 20");

    // The practice's API budget is its own: the API still answers.
    let me = app.get("/api/me", &a_token).await;
    assert_eq!(me.status, StatusCode::OK);

    // Another practice's devices are not slowed by it.
    let theirs: Vec<Change> = (0..25)
        .map(|i| other.upsert(Record::Patient(new_patient(&format!("O-{i}"), "Lovelace"))))
        .collect();
    let reply = push(&app, &other, &theirs.iter().collect::<Vec<_>>()).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);

    // Pulls draw from the same budget: a page larger than what is left (10) is not sent; a
    // smaller one is.
    let second_device = Device::new(&a_id, &a_token);
    enrol(&app, &a.tenant.admin_token, &second_device).await;
    let pull = |limit: u32| {
        format!(
            "/api/sync/pull?device={}&cursor=0&limit={limit}",
            second_device.hex()
        )
    };
    let page = app.get(&pull(22), &a_token).await;
    assert_eq!(
        page.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{:?}",
        page.body
    );
    assert_eq!(page.body["code"], "rate_limit.sync");
    let page = app.get(&pull(5), &a_token).await;
    assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
    assert_eq!(page.body["changes"].as_array().map(Vec::len), Some(5));
}
