//! A practice that started offline on one computer (`init`) joins ILS Central: end to end, ILS
//! Central on a real PostgreSQL over real HTTP, the desktop on a real SQLite file. Its users
//! must have accounts there first (named when they do not, nothing changed); an administrator
//! connects; everything the practice recorded goes up once with its ids, its users become the
//! ILS Central users of the same e-mail, its orders get the practice's numbers and keep theirs,
//! its audit trail reaches ILS Central's under the ILS Central users; a second device then gets
//! it all.

#[path = "../crates/ils-server/tests/api/common.rs"]
mod common;
mod desk;

use ils_core::order::OrderAction;
use ils_core::{Role, SubscriptionTier};
use ils_node::engine::{ConnectRequest, PrescriptionInput};
use ils_node::store::{NewPractice, NewUser};
use reqwest::StatusCode;
use serde_json::json;

use common::{PASSWORD, Tenant, TestApp};
use desk::{Desk, central_patients, connect, desk_patients, patient, user};

async fn connect_as(
    app: &TestApp,
    tenant: &Tenant,
    desk: &Desk,
    email: &str,
) -> Result<ils_node::store::SyncState, ils_node::EngineError> {
    let code = app
        .post("/api/sync/device-codes", &tenant.admin_token, json!({}))
        .await;
    let request = ConnectRequest {
        server: app.base.clone(),
        domain: tenant.domain.clone(),
        email: email.to_owned(),
        password: PASSWORD.to_owned(),
        device_name: "Front desk".into(),
        code: code.body["code"].as_str().map(str::to_owned),
    };
    desk.run(move |e| e.connect(&request)).await
}

#[tokio::test]
async fn a_practice_started_offline_goes_up_once_with_its_ids_and_its_users_become_central_users() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("upload", SubscriptionTier::Pro).await;
    let boss = user(&app, &tenant, Role::CompanyAdmin, "boss").await;
    let ecp = user(&app, &tenant, Role::Ecp, "ecp").await;
    let olive = format!("olive@{}", tenant.domain);

    // Offline: the practice is created here, with a second user, and works for a while.
    let desk = Desk::new();
    let (boss_local, olive_local, p, order) = {
        let (boss, olive) = (boss.clone(), olive.clone());
        desk.run(move |e| {
            let (_, admin) = e
                .create_practice(&NewPractice {
                    name: "Offline Optics".into(),
                    time_zone: Some("Europe/London".into()),
                    admin: NewUser {
                        email: boss.clone(),
                        first_name: "Bea".into(),
                        last_name: "Boss".into(),
                        role: Role::CompanyAdmin,
                    },
                })
                .expect("practice");
            let olive = e
                .add_user(&NewUser {
                    email: olive,
                    first_name: "Olive".into(),
                    last_name: "Optom".into(),
                    role: Role::Ecp,
                })
                .expect("user");
            e.sign_in(&olive.email).expect("olive");
            let p = e.add_patient(&patient("U-1", "Hopper")).expect("patient");
            let rx = e
                .add_prescription(
                    p.id,
                    &PrescriptionInput(json!({
                        "kind": "spectacle",
                        "right": {"sphere": -1.25, "cylinder": -0.5, "axis": 90},
                        "left": {"sphere": -1.0},
                        "issue_date": "2026-11-01", "expiry_date": "2028-11-01",
                        "prescriber": "Dr. Rosalind Franklin"
                    })),
                )
                .expect("rx");
            let order = e
                .create_order(&json!({
                    "patient_id": p.id.to_string(), "prescription_id": rx.id.to_string(),
                    "lens_type": "single_vision", "material": "1.5 CR-39", "coatings": ["AR"],
                    "frame": {"box_a": 52.0, "box_b": 38.0, "dbl": 18.0, "ed": 56.0},
                    "measurements": {"right_pd": 32.0, "left_pd": 31.5},
                    "promised_date": "2099-01-31"
                }))
                .expect("order");
            e.transition_order(order.id, OrderAction::Submit, None)
                .expect("submit");
            e.add_patient(&patient("U-2", "Lovelace")).expect("patient");
            e.sign_in(&admin.email).expect("boss");
            (admin.id, olive.id, p, order)
        })
        .await
    };
    assert!(order.order_number.starts_with('L'));

    // Olive has no account on ILS Central yet: named, and nothing changes here.
    let refused = connect_as(&app, &tenant, &desk, &boss)
        .await
        .expect_err("a user is missing");
    assert_eq!(refused.code, "sync.users_missing");
    assert!(refused.message.contains(&olive), "{}", refused.message);
    assert!(!refused.message.contains(&boss), "{}", refused.message);
    let still = desk.run(|e| e.users()).await.expect("users");
    assert!(still.iter().any(|u| u.id == boss_local));

    // Created there; an ECP may not upload a practice, an administrator may.
    let made = app
        .post(
            "/api/users",
            &tenant.admin_token,
            json!({"email": olive, "password": PASSWORD, "first_name": "Olive",
                   "last_name": "Optom", "role": "ecp"}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{:?}", made.body);
    let olive_central = made.body["id"].as_str().expect("id").to_owned();
    let refused = connect_as(&app, &tenant, &desk, &ecp)
        .await
        .expect_err("not an administrator");
    assert_eq!(refused.code, "auth.forbidden", "{refused:?}");
    connect_as(&app, &tenant, &desk, &boss)
        .await
        .expect("uploaded by an administrator");

    // Local users are now the ILS Central users of their e-mail, with their roles there.
    let users = desk.run(|e| e.users()).await.expect("users");
    let olive_here = users.iter().find(|u| u.email == olive).expect("olive here");
    assert_eq!(olive_here.id.to_string(), olive_central);
    assert_eq!(olive_here.role, Role::Ecp);
    assert!(
        users
            .iter()
            .all(|u| u.id != boss_local && u.id != olive_local)
    );

    // Everything goes up once, with its ids; orders get the practice's numbers.
    let report = desk.run(|e| e.sync_now()).await.expect("sync");
    let rejected = desk.run(|e| e.sync_rejected()).await.expect("rejected");
    assert_eq!(report.pushed.rejected, 0, "{report:?} {rejected:?}");
    assert!(report.pushed.applied >= 6, "{report:?}");
    let again = desk.run(|e| e.sync_now()).await.expect("sync");
    assert_eq!(again.pushed.applied + again.pushed.duplicate, 0);
    let central = central_patients(&app, &tenant.id).await;
    assert!(central.contains_key(&p.id.to_string()), "ids kept");
    assert_eq!(central, desk_patients(&desk).await);
    let owner = app.owner_pool().await;
    let (number, local_number, created_by): (String, Option<String>, Option<uuid::Uuid>) =
        sqlx::query_as(
            "SELECT o.order_number, o.local_number, r.created_by FROM orders o
             JOIN prescriptions r ON r.company_id = o.company_id AND r.id = o.prescription_id
             WHERE o.company_id = $1::uuid AND o.id = $2",
        )
        .bind(&tenant.id)
        .bind(uuid::Uuid::from(order.id))
        .fetch_one(&owner)
        .await
        .expect("order");
    assert!(!number.starts_with('L'), "{number}");
    assert_eq!(local_number.as_deref(), Some(order.order_number.as_str()));
    assert_eq!(
        created_by.map(|u| u.to_string()),
        Some(olive_central.clone())
    );

    // The device's audit trail reached ILS Central's, naming the ILS Central users.
    let (from_device, local_actors): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE actor_user_id = ANY($2::uuid[]))
         FROM audit_log WHERE company_id = $1::uuid AND device IS NOT NULL",
    )
    .bind(&tenant.id)
    .bind(vec![
        uuid::Uuid::from(boss_local),
        uuid::Uuid::from(olive_local),
    ])
    .fetch_one(&owner)
    .await
    .expect("audit");
    assert!(from_device > 0);
    assert_eq!(local_actors, 0, "no local id reached ILS Central's trail");

    // A second device of the practice gets it all.
    let second = Desk::new();
    connect(&app, &tenant, &second, &ecp, "Exam room").await;
    second.run(|e| e.sync_now()).await.expect("sync");
    assert_eq!(desk_patients(&second).await, central);
}
