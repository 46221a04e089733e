//! Clinical records over the API: patients, prescriptions (form and FHIR), lens orders through
//! their status machine, DCS export, cross-tenant isolation, bad input and GDPR erasure.

use ils_core::{Role, SubscriptionTier};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{Tenant, TestApp};

pub fn patient_body(number: &str, last: &str) -> Value {
    json!({
        "customer_number": number, "first_name": "Grace", "last_name": last,
        "date_of_birth": "1956-12-09", "email": "grace@example.org", "phone": "+44 20 7946 0000",
        "address": "1 Lens Lane, London", "notes": "Prefers morning appointments"
    })
}

/// The last names of a page of patients, in the order given (the reply must be a 200).
fn last_names(reply: &crate::common::Reply) -> Vec<String> {
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    reply.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| p["last_name"].as_str().expect("name").to_owned())
        .collect()
}

pub fn rx_body() -> Value {
    json!({
        "kind": "spectacle",
        "right": {"sphere": -2.25, "cylinder": -0.75, "axis": 180, "add": 2.0,
                  "prism_horizontal": {"amount": 1.0, "base": "in"}},
        "left": {"sphere": -2.0, "cylinder": -0.5, "axis": 170, "add": 2.0},
        "pd": {"right_distance": 32.0, "left_distance": 31.5},
        "segment_height": 18.0,
        "issue_date": "2026-11-01", "expiry_date": "2028-11-01",
        "prescriber": "Dr. Rosalind Franklin"
    })
}

pub fn order_body(patient: &str, rx: &str) -> Value {
    json!({
        "patient_id": patient, "prescription_id": rx, "lens_type": "progressive",
        "material": "1.6 MR-8", "coatings": ["AR", "hard coat"],
        "frame": {"brand": "Lindberg", "model": "Air", "box_a": 52.0, "box_b": 38.0, "dbl": 18.0, "ed": 56.0},
        "measurements": {"right_pd": 32.0, "left_pd": 31.5, "right_segment_height": 19.0, "left_segment_height": 19.0},
        "promised_date": "2099-01-31"
    })
}

/// A tenant with an ECP and a lab technician signed in, a patient, an active prescription.
pub struct Clinic {
    pub tenant: Tenant,
    pub ecp: String,
    pub lab: String,
    pub patient: String,
    pub rx: String,
}

pub async fn clinic(app: &TestApp, label: &str) -> Clinic {
    let tenant = app.create_tenant(label, SubscriptionTier::Pro).await;
    let (_, ecp) = app.add_user(&tenant, Role::Ecp).await;
    let (_, lab) = app.add_user(&tenant, Role::LabTech).await;
    let patient = app
        .post("/api/patients", &ecp, patient_body("C-1001", "Hopper"))
        .await;
    assert_eq!(patient.status, StatusCode::CREATED, "{:?}", patient.body);
    let patient = patient.body["id"].as_str().expect("id").to_owned();
    let rx = app
        .post(
            &format!("/api/patients/{patient}/prescriptions"),
            &ecp,
            rx_body(),
        )
        .await;
    assert_eq!(rx.status, StatusCode::CREATED, "{:?}", rx.body);
    let rx = rx.body["id"].as_str().expect("id").to_owned();
    Clinic {
        tenant,
        ecp,
        lab,
        patient,
        rx,
    }
}

async fn create_order(app: &TestApp, c: &Clinic) -> String {
    let order = app
        .post("/api/orders", &c.ecp, order_body(&c.patient, &c.rx))
        .await;
    assert_eq!(order.status, StatusCode::CREATED, "{:?}", order.body);
    order.body["id"].as_str().expect("id").to_owned()
}

async fn act(
    app: &TestApp,
    token: &str,
    order: &str,
    action: &str,
    reason: Option<&str>,
) -> crate::common::Reply {
    app.post(
        &format!("/api/orders/{order}/transitions"),
        token,
        json!({"action": action, "reason": reason}),
    )
    .await
}

#[tokio::test]
async fn patients_are_created_searched_read_updated_and_every_read_is_audited() {
    let app = TestApp::spawn().await;
    let c = clinic(&app, "patients").await;
    for (number, last, first, dob) in [
        ("C-2", "Lovelace", "Ada", "1815-12-10"),
        ("C-3", "Lovell", "Jim", "1928-03-25"),
        ("C-4", "Turing", "Alan", "1912-06-23"),
    ] {
        let mut body = patient_body(number, last);
        body["first_name"] = json!(first);
        body["date_of_birth"] = json!(dob);
        let reply = app.post("/api/patients", &c.ecp, body).await;
        if dob.starts_with("18") {
            assert_eq!(reply.code(), "patient.birth_date_too_early");
        } else {
            assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
        }
    }
    let dup = app
        .post("/api/patients", &c.ecp, patient_body("C-1001", "Other"))
        .await;
    assert_eq!(
        (dup.status, dup.code()),
        (StatusCode::CONFLICT, "patient.customer_number_taken")
    );

    assert_eq!(
        last_names(&app.get("/api/patients?q=lov", &c.ecp).await),
        ["Lovell"]
    );
    assert_eq!(
        last_names(&app.get("/api/patients?q=ALAN", &c.ecp).await),
        ["Turing"],
        "first names match too, any case"
    );
    assert_eq!(
        last_names(
            &app.get("/api/patients?customer_number=C-1001", &c.ecp)
                .await
        ),
        ["Hopper"]
    );
    assert_eq!(
        last_names(
            &app.get("/api/patients?date_of_birth=1912-06-23", &c.ecp)
                .await
        ),
        ["Turing"]
    );
    assert_eq!(
        last_names(&app.get("/api/patients?q=%25", &c.ecp).await),
        Vec::<String>::new(),
        "LIKE wildcards are literal"
    );
    let page1 = app.get("/api/patients?limit=2", &c.ecp).await;
    assert_eq!(last_names(&page1), ["Hopper", "Lovell"]);
    let next = page1.body["next"].as_str().expect("more");
    assert_eq!(
        last_names(
            &app.get(&format!("/api/patients?limit=2&after={next}"), &c.ecp)
                .await
        ),
        ["Turing"]
    );

    let read = app
        .get(&format!("/api/patients/{}", c.patient), &c.ecp)
        .await;
    assert_eq!(read.body["customer_number"], "C-1001");
    let updated = app
        .patch(
            &format!("/api/patients/{}", c.patient),
            &c.ecp,
            json!({"phone": null, "last_name": "Hopper-Murray"}),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{:?}", updated.body);
    assert_eq!(updated.body["phone"], Value::Null);
    assert_eq!(updated.body["last_name"], "Hopper-Murray");
    let bad = app
        .patch(
            &format!("/api/patients/{}", c.patient),
            &c.ecp,
            json!({"date_of_birth": "2999-01-01"}),
        )
        .await;
    assert_eq!(bad.code(), "patient.birth_date_in_future");

    let trail = app
        .get(
            &format!("/api/audit?resource_type=patient&resource_id={}", c.patient),
            &c.tenant.admin_token,
        )
        .await;
    let actions: Vec<&str> = trail.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|r| r["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        ["patient.update", "patient.read", "patient.create"],
        "newest first"
    );
    let searches = app
        .get(
            "/api/audit?action=patient.search&limit=200",
            &c.tenant.admin_token,
        )
        .await;
    assert!(
        searches.body["items"].as_array().expect("items").len() >= 6,
        "every search is audited"
    );
    assert!(
        !searches.body.to_string().contains("Lovell"),
        "audit rows carry no names"
    );

    assert_eq!(
        app.delete(&format!("/api/patients/{}", c.patient), &c.ecp)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&format!("/api/patients/{}", c.patient), &c.ecp)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        last_names(
            &app.get("/api/patients?customer_number=C-1001", &c.ecp)
                .await
        ),
        Vec::<String>::new()
    );
}

/// A name prefix matches last and first names: a patient whose two names both match is shown
/// once, the matches of both kinds come in one name order, and pages neither repeat nor skip.
#[tokio::test]
async fn a_name_search_shows_each_patient_once_in_name_order() {
    let app = TestApp::spawn().await;
    let c = clinic(&app, "name-search").await;
    for (number, last, first) in [
        ("C-21", "Hart", "Harriet"),
        ("C-22", "Harlow", "Ben"),
        ("C-23", "Smith", "Harold"),
        ("C-24", "Adams", "Harry"),
        ("C-25", "Jones", "Anna"),
    ] {
        let mut body = patient_body(number, last);
        body["first_name"] = json!(first);
        let reply = app.post("/api/patients", &c.ecp, body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    }
    // More searches than PostgreSQL's five custom plans before it may switch to a generic one.
    for _ in 0..8 {
        assert_eq!(
            last_names(&app.get("/api/patients?q=har", &c.ecp).await),
            ["Adams", "Harlow", "Hart", "Smith"]
        );
    }
    let mut pages = Vec::new();
    let mut after = String::new();
    loop {
        let page = app
            .get(&format!("/api/patients?q=har&limit=1{after}"), &c.ecp)
            .await;
        pages.extend(last_names(&page));
        match page.body["next"].as_str() {
            Some(next) => after = format!("&after={next}"),
            None => break,
        }
    }
    assert_eq!(pages, ["Adams", "Harlow", "Hart", "Smith"]);
    assert_eq!(
        last_names(&app.get("/api/patients?q=harr&limit=20", &c.ecp).await),
        ["Adams", "Hart"],
        "first names only"
    );
}

/// A search's audit row names what was shown, in the order shown (an empty search is audited
/// too), and a read that finds nothing, finds a deleted patient or is refused writes no read
/// row.
#[tokio::test]
async fn a_read_and_a_search_are_audited_with_exactly_what_they_showed() {
    let app = TestApp::spawn().await;
    let c = clinic(&app, "audited-reads").await;
    let mut ids = vec![c.patient.clone()];
    for (number, last, first) in [("C-7", "Hopwood", "Zed"), ("C-8", "Hope", "Amy")] {
        let mut body = patient_body(number, last);
        body["first_name"] = json!(first);
        let reply = app.post("/api/patients", &c.ecp, body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
        ids.push(reply.body["id"].as_str().expect("id").to_owned());
    }
    let audit = |action: &'static str| {
        let app = &app;
        let token = c.tenant.admin_token.clone();
        async move {
            app.get(&format!("/api/audit?action={action}&limit=100"), &token)
                .await
                .body["items"]
                .as_array()
                .expect("items")
                .clone()
        }
    };

    let found = app.get("/api/patients?q=hop&limit=20", &c.ecp).await;
    assert_eq!(found.status, StatusCode::OK, "{:?}", found.body);
    let shown: Vec<Value> = found.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| p["id"].clone())
        .collect();
    assert_eq!(shown.len(), 3, "{:?}", found.body);
    let searches = audit("patient.search").await;
    assert_eq!(searches.len(), 1, "{searches:?}");
    assert_eq!(searches[0]["details"]["patient_ids"], json!(shown));
    assert_eq!(
        searches[0]["details"]["filters"],
        json!({"name_prefix": true, "customer_number": false, "date_of_birth": false})
    );
    let nothing = app.get("/api/patients?q=zzz&limit=20", &c.ecp).await;
    assert_eq!(nothing.body["items"], json!([]));
    let searches = audit("patient.search").await;
    assert_eq!(searches.len(), 2, "an empty search is audited too");
    assert_eq!(searches[0]["details"]["patient_ids"], json!([]));

    let before = audit("patient.read").await.len();
    let read = app.get(&format!("/api/patients/{}", ids[1]), &c.ecp).await;
    assert_eq!(read.status, StatusCode::OK);
    let reads = audit("patient.read").await;
    assert_eq!(reads.len(), before + 1);
    assert_eq!(reads[0]["resource_id"], ids[1].as_str());
    assert_eq!(reads[0]["outcome"], "success");
    let missing = uuid::Uuid::now_v7();
    assert_eq!(
        app.get(&format!("/api/patients/{missing}"), &c.ecp)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.delete(&format!("/api/patients/{}", ids[2]), &c.ecp)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&format!("/api/patients/{}", ids[2]), &c.ecp)
            .await
            .status,
        StatusCode::NOT_FOUND,
        "a deleted patient is not read"
    );
    // The lab may not read patients: refused before the read.
    assert_eq!(
        app.get(&format!("/api/patients/{}", ids[1]), &c.lab)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let reads = audit("patient.read").await;
    assert_eq!(
        reads.len(),
        before + 1,
        "no read row for a missing, deleted or refused read: {reads:?}"
    );
}

#[tokio::test]
async fn prescriptions_round_trip_through_fhir_and_bad_ones_write_nothing() {
    let app = TestApp::spawn().await;
    let c = clinic(&app, "rx").await;
    let fhir = app
        .get(&format!("/api/prescriptions/{}/fhir", c.rx), &c.ecp)
        .await;
    assert_eq!(fhir.status, StatusCode::OK);
    assert_eq!(fhir.headers["content-type"], "application/fhir+json");
    assert_eq!(fhir.body["resourceType"], "VisionPrescription");
    assert_eq!(
        fhir.body["patient"]["reference"],
        format!("Patient/{}", c.patient)
    );

    let imported = app
        .post(
            &format!("/api/patients/{}/prescriptions/fhir", c.patient),
            &c.ecp,
            fhir.body.clone(),
        )
        .await;
    assert_eq!(imported.status, StatusCode::CREATED, "{:?}", imported.body);
    let original = app
        .get(&format!("/api/prescriptions/{}", c.rx), &c.ecp)
        .await;
    assert_eq!(
        imported.body["rx"], original.body["rx"],
        "FHIR export then import is lossless"
    );

    let path = format!("/api/patients/{}/prescriptions", c.patient);
    let cases: Vec<(Value, StatusCode, &str)> = vec![
        (
            {
                let mut b = rx_body();
                b["right"]["axis"] = json!(190);
                b
            },
            StatusCode::UNPROCESSABLE_ENTITY,
            "rx.axis_out_of_range",
        ),
        (
            {
                let mut b = rx_body();
                b["right"]["sphere"] = json!(-31.0);
                b
            },
            StatusCode::UNPROCESSABLE_ENTITY,
            "rx.sphere_out_of_range",
        ),
        (
            {
                let mut b = rx_body();
                b["left"]["cylinder"] = json!(-0.3);
                b
            },
            StatusCode::UNPROCESSABLE_ENTITY,
            "rx.cylinder_not_quarter_step",
        ),
        (
            {
                let mut b = rx_body();
                b["expiry_date"] = json!("2026-10-01");
                b
            },
            StatusCode::UNPROCESSABLE_ENTITY,
            "rx.expiry_before_issue",
        ),
        (
            {
                let mut b = rx_body();
                b["right"]["sphere"] = json!("-2");
                b
            },
            StatusCode::UNPROCESSABLE_ENTITY,
            "input.invalid",
        ),
        (
            {
                let mut b = rx_body();
                b["status"] = json!("approved");
                b
            },
            StatusCode::UNPROCESSABLE_ENTITY,
            "input.invalid",
        ),
        (
            {
                let mut b = rx_body();
                b["right"]["sphere"] = json!(-2.125);
                b
            },
            StatusCode::UNPROCESSABLE_ENTITY,
            "input.invalid",
        ),
    ];
    for (body, status, code) in cases {
        let reply = app.post(&path, &c.ecp, body).await;
        assert_eq!(
            (reply.status, reply.code()),
            (status, code),
            "{:?}",
            reply.body
        );
    }
    let wrong_type = app
        .post(
            &format!("{path}/fhir"),
            &c.ecp,
            json!({"resourceType": "Patient", "id": "x"}),
        )
        .await;
    assert_eq!(
        (wrong_type.status, wrong_type.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "fhir.wrong_resource_type")
    );
    let list = app.get(&path, &c.ecp).await;
    assert_eq!(
        list.body.as_array().map(Vec::len),
        Some(2),
        "only the two valid prescriptions exist"
    );

    // Status changes: active -> cancelled is fine, cancelled is final.
    let cancelled = app
        .patch(
            &format!(
                "/api/prescriptions/{}",
                imported.body["id"].as_str().expect("id")
            ),
            &c.ecp,
            json!({"status": "cancelled"}),
        )
        .await;
    assert_eq!(cancelled.body["rx"]["status"], "cancelled");
    let again = app
        .patch(
            &format!(
                "/api/prescriptions/{}",
                imported.body["id"].as_str().expect("id")
            ),
            &c.ecp,
            json!({"status": "active"}),
        )
        .await;
    assert_eq!(again.code(), "rx.status_change_not_allowed");
    let unknown = app
        .patch(
            &format!("/api/prescriptions/{}", c.rx),
            &c.ecp,
            json!({"status": "approved"}),
        )
        .await;
    assert_eq!(unknown.code(), "request.invalid_body");
}

#[tokio::test]
async fn an_order_goes_through_production_with_a_timeline_and_a_remake() {
    let app = TestApp::spawn().await;
    let c = clinic(&app, "orders").await;
    let engineer = app.add_user(&c.tenant, Role::Engineer).await.1;
    let order = create_order(&app, &c).await;
    let got = app.get(&format!("/api/orders/{order}"), &c.ecp).await;
    assert_eq!(got.body["status"], "draft");
    assert!(
        got.body["order_number"]
            .as_str()
            .expect("number")
            .starts_with("ORD-")
    );

    // Who may do what.
    assert_eq!(
        act(&app, &c.lab, &order, "submit", None).await.status,
        StatusCode::FORBIDDEN,
        "the lab does not submit"
    );
    assert_eq!(
        act(&app, &c.ecp, &order, "submit", None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        act(&app, &c.ecp, &order, "start_production", None)
            .await
            .status,
        StatusCode::FORBIDDEN,
        "the practice does not produce"
    );
    let illegal = act(&app, &c.lab, &order, "ship", None).await;
    assert_eq!(
        (illegal.status, illegal.code()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "order.transition_not_allowed"
        )
    );
    let unknown = act(&app, &c.lab, &order, "teleport", None).await;
    assert_eq!(unknown.code(), "request.invalid_body");

    let queue = app.get("/api/production/orders", &engineer).await;
    assert_eq!(queue.status, StatusCode::OK);
    let item = &queue.body["items"][0];
    assert_eq!(item["id"], order.as_str());
    assert!(
        item.get("patient_id").is_none(),
        "the production queue shows no patient"
    );
    assert_eq!(
        app.get("/api/orders", &engineer).await.status,
        StatusCode::FORBIDDEN,
        "engineers see production only"
    );

    for action in [
        "start_production",
        "send_to_quality_check",
        "ship",
        "deliver",
    ] {
        let reply = act(&app, &c.lab, &order, action, Some("ok")).await;
        assert_eq!(reply.status, StatusCode::OK, "{action}: {:?}", reply.body);
    }
    assert_eq!(
        act(&app, &c.ecp, &order, "cancel", Some("too late"))
            .await
            .code(),
        "order.transition_not_allowed"
    );
    assert_eq!(
        act(&app, &c.ecp, &order, "remake", None).await.code(),
        "order.reason_required"
    );
    let remake = act(
        &app,
        &c.ecp,
        &order,
        "remake",
        Some("axis off by 10 degrees"),
    )
    .await;
    assert_eq!(remake.status, StatusCode::OK, "{:?}", remake.body);
    assert_eq!(remake.body["order"]["status"], "remade");
    let new_order = &remake.body["remake"];
    assert_eq!(new_order["status"], "draft");
    assert_eq!(new_order["remake_of"], order.as_str());
    assert_eq!(new_order["remake_reason"], "axis off by 10 degrees");
    assert_ne!(
        new_order["order_number"],
        remake.body["order"]["order_number"]
    );

    let timeline = app
        .get(&format!("/api/orders/{order}/timeline"), &c.ecp)
        .await;
    let steps: Vec<(String, String)> = timeline
        .body
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            (
                e["action"].as_str().expect("a").to_owned(),
                e["to_status"].as_str().expect("s").to_owned(),
            )
        })
        .collect();
    let expected = [
        ("create", "draft"),
        ("submit", "submitted"),
        ("start_production", "in_production"),
        ("send_to_quality_check", "quality_check"),
        ("ship", "shipped"),
        ("deliver", "delivered"),
        ("remake", "remade"),
    ];
    assert_eq!(steps, expected.map(|(a, s)| (a.to_owned(), s.to_owned())));
    assert!(
        timeline
            .body
            .as_array()
            .expect("events")
            .iter()
            .all(|e| e["actor_user_id"].is_string() && e["occurred_at"].is_string())
    );

    let by_status = app.get("/api/orders?status=remade", &c.ecp).await;
    assert_eq!(by_status.body["items"].as_array().map(Vec::len), Some(1));
    let by_patient = app
        .get(&format!("/api/orders?patient_id={}", c.patient), &c.ecp)
        .await;
    assert_eq!(by_patient.body["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        app.get("/api/orders?status=lost", &c.ecp).await.code(),
        "order.unknown_status"
    );

    // A cancelled draft, and an overdue order.
    let draft = create_order(&app, &c).await;
    assert_eq!(
        act(
            &app,
            &c.ecp,
            &draft,
            "cancel",
            Some("patient changed their mind")
        )
        .await
        .body["order"]["status"],
        "cancelled"
    );
    let owner = app.owner_pool().await;
    sqlx::query("UPDATE orders SET promised_date = DATE '2020-01-01' WHERE id = $1::uuid")
        .bind(new_order["id"].as_str().expect("id"))
        .execute(&owner)
        .await
        .expect("backdate");
    let overdue = app.get("/api/orders?overdue=true", &c.ecp).await;
    let ids: Vec<&str> = overdue.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|o| o["id"].as_str())
        .collect();
    assert_eq!(ids, [new_order["id"].as_str().expect("id")]);
}

#[tokio::test]
async fn orders_are_checked_against_their_prescription_and_export_as_dcs() {
    let app = TestApp::spawn().await;
    let c = clinic(&app, "dcs").await;
    let order = create_order(&app, &c).await;
    let response = app
        .client
        .get(format!("{}/api/orders/{order}/dcs", app.base))
        .bearer_auth(&c.lab)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.expect("text");
    assert!(
        text.starts_with("JOB=ORD-000001\r\nDO=B\r\nCLIENT=C-1001\r\nLTYP=PR;PR\r\n"),
        "{text}"
    );
    for line in [
        "SPH=-2.25;-2.00\r\n",
        "CYL=-0.75;-0.50\r\n",
        "AX=180;170\r\n",
        "ADD=+2.00;+2.00\r\n",
        "PRVM=1.00;\r\n",
        "PRVA=0;\r\n",
        "IPD=32.00;31.50\r\n",
        "SEGHT=19.00;19.00\r\n",
        "DBL=18.00\r\n",
    ] {
        assert!(text.contains(line), "missing {line:?} in {text}");
    }
    assert!(!text.contains("Hopper"), "no patient name goes to the lab");

    type Case = (Box<dyn Fn(&mut Value)>, StatusCode, &'static str);
    let cases: Vec<Case> = vec![
        (
            Box::new(|b| b["lens_type"] = json!("single_vision")),
            StatusCode::CREATED,
            "",
        ),
        (
            Box::new(|b| b["measurements"] = json!({})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "order.segment_height_required",
        ),
        (
            Box::new(|b| b["frame"]["ed"] = json!(50.0)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "order.ed_below_box_a",
        ),
        (
            Box::new(|b| b["promised_date"] = json!("2001-01-01")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "order.promised_date_in_past",
        ),
        (
            Box::new(|b| b["material"] = json!("")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "order.material_invalid",
        ),
        (
            Box::new(|b| b["lens_type"] = json!("quadfocal")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "input.invalid",
        ),
        (
            Box::new(|b| b["prescription_id"] = json!(uuid::Uuid::now_v7())),
            StatusCode::NOT_FOUND,
            "prescription.not_found",
        ),
        (
            Box::new(|b| b["patient_id"] = json!(uuid::Uuid::now_v7())),
            StatusCode::NOT_FOUND,
            "patient.not_found",
        ),
    ];
    for (i, (change, status, code)) in cases.into_iter().enumerate() {
        let mut body = order_body(&c.patient, &c.rx);
        change(&mut body);
        let reply = app.post("/api/orders", &c.ecp, body).await;
        assert_eq!(reply.status, status, "case {i}: {:?}", reply.body);
        if !code.is_empty() {
            assert_eq!(reply.code(), code, "case {i}");
        }
    }
    // A prescription of another patient, and a cancelled prescription, cannot be ordered from.
    let other = app
        .post(
            "/api/patients",
            &c.ecp,
            crate::clinical::patient_body("C-2", "Other"),
        )
        .await;
    let other = other.body["id"].as_str().expect("id").to_owned();
    let reply = app
        .post("/api/orders", &c.ecp, order_body(&other, &c.rx))
        .await;
    assert_eq!(reply.code(), "order.prescription_of_other_patient");
    let blocked = app
        .patch(
            &format!("/api/prescriptions/{}", c.rx),
            &c.ecp,
            json!({"status": "cancelled"}),
        )
        .await;
    assert_eq!(
        blocked.code(),
        "rx.has_open_orders",
        "open orders keep their prescription"
    );
}

#[tokio::test]
async fn clinical_records_of_another_tenant_are_not_found() {
    let app = TestApp::spawn().await;
    let a = clinic(&app, "alpha").await;
    let b = clinic(&app, "beta").await;
    let a_order = create_order(&app, &a).await;
    let random = uuid::Uuid::now_v7().to_string();

    let paths = [
        (
            "GET",
            format!("/api/patients/{}", a.patient),
            format!("/api/patients/{random}"),
        ),
        (
            "PATCH",
            format!("/api/patients/{}", a.patient),
            format!("/api/patients/{random}"),
        ),
        (
            "DELETE",
            format!("/api/patients/{}", a.patient),
            format!("/api/patients/{random}"),
        ),
        (
            "GET",
            format!("/api/patients/{}/prescriptions", a.patient),
            format!("/api/patients/{random}/prescriptions"),
        ),
        (
            "POST",
            format!("/api/patients/{}/prescriptions", a.patient),
            format!("/api/patients/{random}/prescriptions"),
        ),
        (
            "GET",
            format!("/api/prescriptions/{}", a.rx),
            format!("/api/prescriptions/{random}"),
        ),
        (
            "PATCH",
            format!("/api/prescriptions/{}", a.rx),
            format!("/api/prescriptions/{random}"),
        ),
        (
            "GET",
            format!("/api/prescriptions/{}/fhir", a.rx),
            format!("/api/prescriptions/{random}/fhir"),
        ),
        (
            "PUT",
            format!("/api/prescriptions/{}", a.rx),
            format!("/api/prescriptions/{random}"),
        ),
        (
            "GET",
            format!("/api/orders/{a_order}"),
            format!("/api/orders/{random}"),
        ),
        (
            "POST",
            format!("/api/orders/{a_order}/transitions"),
            format!("/api/orders/{random}/transitions"),
        ),
        (
            "GET",
            format!("/api/orders/{a_order}/timeline"),
            format!("/api/orders/{random}/timeline"),
        ),
        (
            "GET",
            format!("/api/orders/{a_order}/dcs"),
            format!("/api/orders/{random}/dcs"),
        ),
    ];
    for (method, foreign, missing) in paths {
        let method: reqwest::Method = method.parse().expect("method");
        let body = match method.as_str() {
            "PATCH" if foreign.contains("prescriptions") => Some(json!({"status": "cancelled"})),
            "PATCH" => Some(json!({"first_name": "Hijacked"})),
            "POST" if foreign.contains("transitions") => {
                Some(json!({"action": "cancel", "reason": "x"}))
            }
            "POST" | "PUT" => Some(rx_body()),
            _ => None,
        };
        let f = app
            .send(method.clone(), &foreign, Some(&b.ecp), body.clone())
            .await;
        let m = app.send(method.clone(), &missing, Some(&b.ecp), body).await;
        assert_eq!(
            f.status,
            StatusCode::NOT_FOUND,
            "{method} {foreign}: {:?}",
            f.body
        );
        assert_eq!(
            (f.status, f.body.clone()),
            (m.status, m.body.clone()),
            "{method} {foreign} must look missing"
        );
    }
    for admin_path in [
        format!("/api/patients/{}/export", a.patient),
        format!("/api/patients/{}/erasure", a.patient),
    ] {
        let method = if admin_path.ends_with("erasure") {
            reqwest::Method::POST
        } else {
            reqwest::Method::GET
        };
        let reply = app
            .send(method, &admin_path, Some(&b.tenant.admin_token), None)
            .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{admin_path}");
    }
    // Ids in a body: B cannot order from A's patient and prescription.
    let reply = app
        .post("/api/orders", &b.ecp, order_body(&a.patient, &a.rx))
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{:?}", reply.body);
    // Lists and queries.
    let lists = app
        .get(&format!("/api/orders?patient_id={}", a.patient), &b.ecp)
        .await;
    assert_eq!(lists.body["items"].as_array().map(Vec::len), Some(0));
    let patients = app.get("/api/patients?limit=200", &b.ecp).await;
    assert!(
        patients.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|p| p["id"] != a.patient.as_str())
    );
    // Nothing of A changed.
    let a_patient = app
        .get(&format!("/api/patients/{}", a.patient), &a.ecp)
        .await;
    assert_eq!(a_patient.body["first_name"], "Grace");
    assert_eq!(
        app.get(&format!("/api/orders/{a_order}"), &a.ecp)
            .await
            .body["status"],
        "draft"
    );
}

/// Every row of every table in the public schema, as text (the owner sees through RLS).
async fn all_rows_as_text(app: &TestApp) -> Vec<(String, String)> {
    let owner = app.owner_pool().await;
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY 1",
    )
    .fetch_all(&owner)
    .await
    .expect("tables");
    let mut out = Vec::new();
    for (table,) in tables {
        let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT t::text FROM {table} t"
        )))
        .fetch_all(&owner)
        .await
        .expect("rows");
        out.extend(rows.into_iter().map(|(r,)| (table.clone(), r)));
    }
    out
}

#[tokio::test]
async fn erasing_a_patient_leaves_nothing_of_them_in_any_table() {
    let app = TestApp::spawn().await;
    let c = clinic(&app, "erase").await;
    let order = create_order(&app, &c).await;
    act(&app, &c.ecp, &order, "submit", None).await;
    app.get(&format!("/api/patients/{}", c.patient), &c.ecp)
        .await;
    // A refused request names the patient in its audited path.
    let refused = app
        .get(&format!("/api/patients/{}", c.patient), &c.lab)
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let mut other = patient_body("C-77", "Survivor");
    other["email"] = json!("survivor@example.org");
    let survivor = app.post("/api/patients", &c.ecp, other).await;
    let survivor = survivor.body["id"].as_str().expect("id").to_owned();
    // One search that shows both patients: after the erasure it must still show the survivor.
    let both = app.get("/api/patients?limit=50", &c.ecp).await;
    assert_eq!(both.body["items"].as_array().map(Vec::len), Some(2));
    // An order list that shows the patient's order only by its id.
    let listed = app.get("/api/orders?limit=50", &c.ecp).await;
    assert_eq!(listed.status, StatusCode::OK);
    // A question to the assistant that names them (kept with its answer in the conversations).
    let asked = app
        .post(
            "/api/master-ai/chat",
            &c.ecp,
            json!({"question": "Is order C-1001 for Grace Hopper (grace@example.org) ready? Ask Survivor too."}),
        )
        .await;
    assert_eq!(asked.status, StatusCode::OK);

    let export = app
        .get(
            &format!("/api/patients/{}/export", c.patient),
            &c.tenant.admin_token,
        )
        .await;
    assert_eq!(export.status, StatusCode::OK);
    // Exactly this patient's rows: the shared search row shows them alone, and the order list
    // that named them only through their order's id is there too.
    let text = export.body.to_string();
    assert!(
        !text.contains(&survivor),
        "the export names another patient: {text}"
    );
    let audit = export.body["tables"]["audit_log"]
        .as_array()
        .expect("audit rows");
    let search = audit
        .iter()
        .find(|r| r["action"] == "patient.search")
        .expect("the search that showed them");
    assert_eq!(search["details"]["patient_ids"], json!([c.patient]));
    assert!(
        audit
            .iter()
            .any(|r| r["action"] == "order.list" && r["details"]["order_ids"] == json!([order])),
        "the order list that showed their order: {audit:?}"
    );
    let tables = &export.body["tables"];
    for (table, at_least) in [
        ("patients", 1),
        ("prescriptions", 1),
        ("orders", 1),
        ("order_events", 2),
        ("audit_log", 3),
    ] {
        assert!(
            tables[table].as_array().map_or(0, Vec::len) >= at_least,
            "{table} in the export: {}",
            tables[table]
        );
    }

    let secrets = [
        c.patient.clone(),
        c.rx.clone(),
        order.clone(),
        "C-1001".into(),
        "Hopper".into(),
        "grace@example.org".into(),
    ];
    assert!(
        all_rows_as_text(&app)
            .await
            .iter()
            .any(|(_, row)| row.contains(&c.patient)),
        "the patient exists before"
    );

    let erased = app
        .post(
            &format!("/api/patients/{}/erasure", c.patient),
            &c.tenant.admin_token,
            json!(null),
        )
        .await;
    assert_eq!(erased.status, StatusCode::OK, "{:?}", erased.body);
    let tombstone = erased.body["erasure_id"].as_str().expect("id").to_owned();
    // Refused requests naming the erased patient, after the erasure, in this tenant and in
    // another: refusals write no record id, so nothing of the patient comes back.
    let other = app
        .create_tenant("elsewhere", ils_core::SubscriptionTier::Pro)
        .await;
    let (_, lab) = app.add_user(&c.tenant, ils_core::Role::LabTech).await;
    for (token, path) in [
        (&lab, format!("/api/patients/{}", c.patient)),
        (&lab, format!("/api/patients/{}/prescriptions", c.patient)),
        (
            &other.admin_token,
            format!("/api/patients/{}/export", c.patient),
        ),
    ] {
        let reply = app.get(&path, token).await;
        assert!(reply.status.is_client_error(), "{path}: {:?}", reply.body);
    }

    let leftovers: Vec<(String, String)> = all_rows_as_text(&app)
        .await
        .into_iter()
        .filter(|(_, row)| secrets.iter().any(|s| row.contains(s.as_str())))
        .collect();
    assert!(
        leftovers.is_empty(),
        "rows still naming the erased patient: {leftovers:#?}"
    );

    let owner = app.owner_pool().await;
    // The question is kept, without the erased patient; the other patient it named stays.
    let (question,): (String,) = sqlx::query_as(
        "SELECT content FROM ai_messages WHERE company_id = $1::uuid AND role = 'user'",
    )
    .bind(&c.tenant.id)
    .fetch_one(&owner)
    .await
    .expect("the question");
    assert_eq!(
        question,
        "Is order [erased] for [erased] ([erased]) ready? Ask Survivor too."
    );
    let (count,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM tombstones WHERE id = $1::uuid AND entity = 'patient'",
    )
    .bind(&tombstone)
    .fetch_one(&owner)
    .await
    .expect("tombstone");
    assert_eq!(count, 1, "a tombstone for the desktops");
    let trail = app
        .get(
            "/api/audit?action=gdpr.erase_patient",
            &c.tenant.admin_token,
        )
        .await;
    assert_eq!(
        trail.body["items"][0]["resource_id"],
        tombstone.as_str(),
        "the erasure itself is audited"
    );
    assert_eq!(
        app.get(&format!("/api/patients/{survivor}"), &c.ecp)
            .await
            .status,
        StatusCode::OK,
        "other patients are untouched"
    );
    let searches = app
        .get(
            "/api/audit?action=patient.search&limit=50",
            &c.tenant.admin_token,
        )
        .await;
    let kept: Vec<&Value> = searches.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|r| {
            r["details"]["patient_ids"]
                .as_array()
                .is_some_and(|ids| ids.iter().any(|i| i == survivor.as_str()))
        })
        .collect();
    assert!(
        !kept.is_empty(),
        "other patients' audit entries survive the erasure: {}",
        searches.body
    );
    assert_eq!(
        app.get(&format!("/api/patients/{}", c.patient), &c.ecp)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let again = app
        .post(
            &format!("/api/patients/{}/erasure", c.patient),
            &c.tenant.admin_token,
            json!(null),
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn erasing_a_tenant_leaves_nothing_of_it_and_the_company_export_has_everything() {
    let app = TestApp::spawn().await;
    let doomed = clinic(&app, "doomed").await;
    let kept = clinic(&app, "kept").await;
    create_order(&app, &doomed).await;
    let doc = app
        .post(
            "/api/kb/documents",
            &doomed.tenant.admin_token,
            json!({"source": "care.md", "content_base64": "IyBMZW5zIGNhcmUKCkNsZWFuIGRhaWx5Lgo="}),
        )
        .await;
    assert_eq!(doc.status, StatusCode::CREATED, "{:?}", doc.body);

    let export = app
        .get("/api/company/export", &doomed.tenant.admin_token)
        .await;
    assert_eq!(export.status, StatusCode::OK);
    let tables = &export.body["tables"];
    for table in [
        "companies",
        "users",
        "refresh_tokens",
        "patients",
        "prescriptions",
        "orders",
        "order_events",
        "kb_documents",
        "kb_chunks",
        "audit_log",
    ] {
        assert!(
            tables[table]
                .as_array()
                .is_some_and(|rows| !rows.is_empty()),
            "{table} is exported"
        );
    }
    assert!(
        !export.body.to_string().contains("argon2")
            && !export.body.to_string().contains("token_hash"),
        "no password or token hashes in the export"
    );
    assert!(
        !export.body.to_string().contains(&kept.patient),
        "only this tenant's data"
    );

    assert_eq!(
        app.post(
            &format!("/api/platform/companies/{}/erasure", doomed.tenant.id),
            &doomed.tenant.admin_token,
            json!(null)
        )
        .await
        .status,
        StatusCode::FORBIDDEN,
        "only the platform operator erases tenants"
    );
    let erased = app
        .post(
            &format!("/api/platform/companies/{}/erasure", doomed.tenant.id),
            &app.platform_token,
            json!(null),
        )
        .await;
    assert_eq!(erased.status, StatusCode::OK, "{:?}", erased.body);

    let marks = [
        doomed.tenant.domain.clone(),
        doomed.patient.clone(),
        doomed.rx.clone(),
    ];
    let leftovers: Vec<(String, String)> = all_rows_as_text(&app)
        .await
        .into_iter()
        .filter(|(table, row)| {
            // The platform's own record that the erasure happened may name the tenant's id.
            let platform_record = (table == "audit_log" || table == "tenant_erasures")
                && !marks.iter().any(|m| row.contains(m.as_str()));
            !platform_record
                && (row.contains(&doomed.tenant.id)
                    || marks.iter().any(|m| row.contains(m.as_str())))
        })
        .collect();
    assert!(
        leftovers.is_empty(),
        "rows of the erased tenant: {leftovers:#?}"
    );
    let owner = app.owner_pool().await;
    for table in [
        "users",
        "patients",
        "prescriptions",
        "orders",
        "order_events",
        "audit_log",
        "refresh_tokens",
        "tombstones",
        "order_counters",
        "kb_documents",
        "kb_chunks",
    ] {
        let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {table} WHERE company_id = $1::uuid"
        )))
        .bind(&doomed.tenant.id)
        .fetch_one(&owner)
        .await
        .expect("count");
        assert_eq!(n, 0, "{table}");
    }
    assert_eq!(
        app.get("/api/me", &doomed.ecp).await.status,
        StatusCode::UNAUTHORIZED,
        "its tokens are dead"
    );
    assert_eq!(
        app.get(&format!("/api/patients/{}", kept.patient), &kept.ecp)
            .await
            .status,
        StatusCode::OK,
        "other tenants are untouched"
    );
    let trail = app
        .get(
            "/api/audit?action=platform.company.erase",
            &app.platform_token,
        )
        .await;
    assert_eq!(
        trail.body["items"][0]["resource_id"],
        doomed.tenant.id.as_str()
    );
    let home = app.get("/api/me", &app.platform_token).await.body["company_id"]
        .as_str()
        .expect("home")
        .to_owned();
    let own = app
        .post(
            &format!("/api/platform/companies/{home}/erasure"),
            &app.platform_token,
            json!(null),
        )
        .await;
    assert_eq!(own.code(), "company.cannot_erase_platform");
}

#[tokio::test]
async fn only_a_draft_prescription_is_edited_and_every_broken_field_is_named() {
    let app = TestApp::spawn().await;
    let c = clinic(&app, "drafts").await;
    let path = format!("/api/patients/{}/prescriptions", c.patient);
    let mut draft = rx_body();
    draft["status"] = json!("draft");
    let draft = app.post(&path, &c.ecp, draft).await;
    assert_eq!(draft.status, StatusCode::CREATED, "{:?}", draft.body);
    let id = draft.body["id"].as_str().expect("id").to_owned();
    let mut edited = rx_body();
    edited["prescriber"] = json!("Dr. Barbara McClintock");
    edited["status"] = json!("active");
    let reply = app
        .send(
            Method::PUT,
            &format!("/api/prescriptions/{id}"),
            Some(&c.ecp),
            Some(edited.clone()),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body["rx"]["prescriber"], "Dr. Barbara McClintock");
    assert_eq!(
        reply.body["rx"]["status"], "draft",
        "an edit never changes the status"
    );
    // An active prescription is what the patient was given: it is not edited.
    let active = app
        .send(
            Method::PUT,
            &format!("/api/prescriptions/{}", c.rx),
            Some(&c.ecp),
            Some(edited.clone()),
        )
        .await;
    assert_eq!(
        (active.status, active.code()),
        (StatusCode::CONFLICT, "rx.not_editable")
    );
    // A company administrator reads prescriptions but does not write them.
    let admin = app
        .send(
            Method::PUT,
            &format!("/api/prescriptions/{id}"),
            Some(&c.tenant.admin_token),
            Some(edited),
        )
        .await;
    assert_eq!(admin.status, StatusCode::FORBIDDEN);
    // Several problems at once, each by its path.
    let mut broken = rx_body();
    broken["right"]["sphere"] = json!("minus two");
    broken["left"]["axis"] = json!(200);
    broken["colour"] = json!("blue");
    let reply = app
        .send(
            Method::PUT,
            &format!("/api/prescriptions/{id}"),
            Some(&c.ecp),
            Some(broken),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields = reply.fields();
    assert_eq!(fields, ["right.sphere", "colour", "left.axis"]);
}

#[tokio::test]
async fn today_is_the_practices_own_date() {
    let app = TestApp::spawn().await;
    let c = clinic(&app, "zones").await;
    let now = chrono::Utc::now();
    // UTC+14 and UTC-12 are 26 hours apart: their dates always differ.
    let kiritimati: chrono_tz::Tz = "Pacific/Kiritimati".parse().expect("tz");
    let date_there = ils_core::clock::practice_date(now, kiritimati).to_string();
    let set_zone = |zone: &'static str| {
        let app = &app;
        let token = c.tenant.admin_token.clone();
        async move {
            app.patch("/api/company", &token, json!({ "time_zone": zone }))
                .await
        }
    };
    let reply = set_zone("Pacific/Kiritimati").await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body["time_zone"], "Pacific/Kiritimati");
    let born_today = |number: &str| {
        let mut body = patient_body(number, "Newborn");
        body["date_of_birth"] = json!(date_there);
        body
    };
    let created = app.post("/api/patients", &c.ecp, born_today("Z-1")).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert_eq!(set_zone("Etc/GMT+12").await.status, StatusCode::OK);
    // The change applies at once (the standing cache that carries the zone is dropped).
    let refused = app.post("/api/patients", &c.ecp, born_today("Z-2")).await;
    assert_eq!(
        (refused.status, refused.code()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "patient.birth_date_in_future"
        ),
        "a day that has not begun where the practice is"
    );
    let bad = set_zone("Mars/Olympus_Mons").await;
    assert_eq!(
        (bad.status, bad.code()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "company.time_zone_invalid"
        )
    );
}

#[tokio::test]
async fn lists_and_erasures_wait_for_each_other() {
    let app = TestApp::spawn().await;
    let c = clinic(&app, "race").await;
    let key = format!("ils.erasure:{}", c.tenant.id);
    let owner = app.owner_pool().await;
    let client = app.client.clone();
    let base = app.base.clone();

    // An erasure in progress (holding the tenant's erasure lock): a search waits for it.
    let mut erasing = owner.begin().await.expect("tx");
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(&key)
        .execute(&mut *erasing)
        .await
        .expect("lock");
    let search = {
        let (client, base, ecp) = (client.clone(), base.clone(), c.ecp.clone());
        tokio::spawn(async move {
            client
                .get(format!("{base}/api/patients?limit=10"))
                .bearer_auth(ecp)
                .send()
                .await
                .expect("sent")
                .status()
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!search.is_finished(), "the search waits for the erasure");
    erasing.commit().await.expect("commit");
    assert_eq!(search.await.expect("search"), StatusCode::OK);

    // A list in progress (holding the lock shared): an erasure waits for it.
    let mut listing = owner.begin().await.expect("tx");
    sqlx::query("SELECT pg_advisory_xact_lock_shared(hashtextextended($1, 0))")
        .bind(&key)
        .execute(&mut *listing)
        .await
        .expect("lock");
    let erasure = {
        let (client, base) = (client.clone(), base.clone());
        let (admin, patient) = (c.tenant.admin_token.clone(), c.patient.clone());
        tokio::spawn(async move {
            client
                .post(format!("{base}/api/patients/{patient}/erasure"))
                .bearer_auth(admin)
                .json(&serde_json::Value::Null)
                .send()
                .await
                .expect("sent")
                .status()
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!erasure.is_finished(), "the erasure waits for the list");
    listing.commit().await.expect("commit");
    assert_eq!(erasure.await.expect("erasure"), StatusCode::OK);
}

#[tokio::test]
async fn review_rules_for_clinical_records() {
    let app = TestApp::spawn().await;
    let c = clinic(&app, "rules").await;

    // Names are searched the Unicode way, whatever the database's locale.
    let mut nordic = patient_body("C-N1", "Ødegård");
    nordic["first_name"] = json!("Émile");
    assert_eq!(
        app.post("/api/patients", &c.ecp, nordic).await.status,
        StatusCode::CREATED
    );
    for q in ["øde", "ØDE", "émi"] {
        let found = app.get(&format!("/api/patients?q={q}"), &c.ecp).await;
        assert_eq!(
            found.body["items"].as_array().map(Vec::len),
            Some(1),
            "q={q}: {}",
            found.body
        );
    }

    // A prescription dated in the future is refused, and a missing sphere is not plano.
    let mut future = rx_body();
    future["issue_date"] = json!("2099-01-01");
    future["expiry_date"] = json!("2100-01-01");
    let reply = app
        .post(
            &format!("/api/patients/{}/prescriptions", c.patient),
            &c.ecp,
            future,
        )
        .await;
    assert_eq!(reply.code(), "rx.issue_date_out_of_range");
    let mut no_sphere = rx_body();
    no_sphere["left"]
        .as_object_mut()
        .expect("eye")
        .remove("sphere");
    let reply = app
        .post(
            &format!("/api/patients/{}/prescriptions", c.patient),
            &c.ecp,
            no_sphere,
        )
        .await;
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "input.required")
    );
    assert_eq!(
        reply.body["details"]["fields"][0]["field"], "left.sphere",
        "the field is named by its path"
    );

    // Spectacle lenses are not ordered from a contact-lens prescription.
    let contacts = json!({
        "kind": "contact_lens",
        "right": {"sphere": -2.0, "power": -2.0, "base_curve": 8.6, "diameter": 14.2},
        "left": {"sphere": -2.0, "power": -2.0, "base_curve": 8.6, "diameter": 14.2},
        "issue_date": "2026-11-01", "prescriber": "Dr. C",
        "contact_lens": {"brand": "Acme Daily", "wear_duration": "daily"}
    });
    let cl = app
        .post(
            &format!("/api/patients/{}/prescriptions", c.patient),
            &c.ecp,
            contacts,
        )
        .await;
    assert_eq!(cl.status, StatusCode::CREATED, "{:?}", cl.body);
    let cl_id = cl.body["id"].as_str().expect("id").to_owned();
    let fhir = app
        .get(&format!("/api/prescriptions/{cl_id}/fhir"), &c.ecp)
        .await;
    let back = app
        .post(
            &format!("/api/patients/{}/prescriptions/fhir", c.patient),
            &c.ecp,
            fhir.body,
        )
        .await;
    assert_eq!(
        back.body["rx"], cl.body["rx"],
        "contact lenses round-trip through FHIR too"
    );
    let reply = app
        .post("/api/orders", &c.ecp, order_body(&c.patient, &cl_id))
        .await;
    assert_eq!(reply.code(), "order.prescription_not_spectacle");

    // A refused transition is audited; a patient with open orders is not soft-deleted; a
    // soft-deleted patient can still be exported.
    let order = create_order(&app, &c).await;
    assert_eq!(
        act(&app, &c.tenant.admin_token, &order, "submit", None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let denied = app
        .get("/api/audit?action=access.denied", &c.tenant.admin_token)
        .await;
    assert_eq!(
        denied.body["items"][0]["resource_id"], "POST /api/orders/{id}/transitions",
        "a refusal names the route, never the record's id"
    );
    let blocked = app
        .delete(&format!("/api/patients/{}", c.patient), &c.ecp)
        .await;
    assert_eq!(
        (blocked.status, blocked.code()),
        (StatusCode::CONFLICT, "patient.has_open_orders")
    );
    act(&app, &c.ecp, &order, "cancel", Some("changed plans")).await;
    assert_eq!(
        app.delete(&format!("/api/patients/{}", c.patient), &c.ecp)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let export = app
        .get(
            &format!("/api/patients/{}/export", c.patient),
            &c.tenant.admin_token,
        )
        .await;
    assert_eq!(
        export.status,
        StatusCode::OK,
        "the right of access outlives a soft delete"
    );
    assert_eq!(
        export.body["tables"]["patients"][0]["id"],
        c.patient.as_str()
    );
}
