//! Backups as docs/deployment.md describes them: a `pg_dump -Fc` of ILS Central's database,
//! taken with the owner's connection, restores into a scratch database on the same cluster
//! with every tenant's rows, including a tenant erased after the dump (which is why erasures
//! must be made again after a restore), and with the grants and row-level security the service
//! relies on.

use std::path::Path;
use std::process::Command;

use ils_core::{Role, SubscriptionTier};
use reqwest::StatusCode;
use serde_json::json;
use sqlx::{Connection, PgConnection};

use crate::clinical::patient_body;
use crate::common::{Tenant, TestApp};

fn run(program: &Path, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", program.display()));
    assert!(
        out.status.success(),
        "{} failed: {}{}",
        program.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `url` with its database name replaced (the harness's URLs carry no query string).
fn with_database(url: &str, database: &str) -> String {
    let (server, _) = url.rsplit_once('/').expect("a URL with a database name");
    format!("{server}/{database}")
}

/// A tenant with one patient created through the API: (tenant, patient id).
async fn tenant_with_patient(app: &TestApp, label: &str, number: &str) -> (Tenant, String) {
    let tenant = app.create_tenant(label, SubscriptionTier::Pro).await;
    let (_, ecp) = app.add_user(&tenant, Role::Ecp).await;
    let reply = app
        .post("/api/patients", &ecp, patient_body(number, "Hopper"))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    let patient = reply.body["id"].as_str().expect("patient id").to_owned();
    (tenant, patient)
}

/// The rows of `company` that the test follows, counted as the owner: (companies, users,
/// patients with this id).
async fn rows_of(conn: &mut PgConnection, company: &str, patient: &str) -> (i64, i64, i64) {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM companies WHERE id = $1::uuid),
                (SELECT count(*) FROM users WHERE company_id = $1::uuid),
                (SELECT count(*) FROM patients WHERE company_id = $1::uuid AND id = $2::uuid)",
    )
    .bind(company)
    .bind(patient)
    .fetch_one(conn)
    .await
    .expect("counting a tenant's rows")
}

#[tokio::test]
async fn a_dump_restores_every_tenant_including_one_erased_since() {
    let app = TestApp::spawn().await;
    let (kept, kept_patient) = tenant_with_patient(&app, "kept", "C-2001").await;
    let (doomed, doomed_patient) = tenant_with_patient(&app, "doomed", "C-2002").await;

    // The dump must be made by the cluster's own version: the test cluster's programs.
    let bin = ils_testkit::pg_bin();
    let dir = tempfile::tempdir().expect("a folder for the dump");
    let dump = dir.path().join("ils.dump");
    let dump_path = dump.to_str().expect("a UTF-8 path");
    run(
        &bin.join("pg_dump"),
        &["--format=custom", "--file", dump_path, &app.db.owner_url],
    );

    let erased = app
        .post(
            &format!("/api/platform/companies/{}/erasure", doomed.id),
            &app.platform_token,
            json!(null),
        )
        .await;
    assert_eq!(erased.status, StatusCode::OK, "{:?}", erased.body);
    let mut live = PgConnection::connect(&app.db.owner_url)
        .await
        .expect("owner connection to the live database");
    assert_eq!(
        rows_of(&mut live, &doomed.id, &doomed_patient).await,
        (0, 0, 0),
        "the erasure removed the tenant from the live database"
    );
    assert_eq!(
        rows_of(&mut live, &kept.id, &kept_patient).await,
        (1, 2, 1),
        "the other tenant is untouched"
    );
    live.close().await.ok();

    // The scratch database lives on the same cluster, so the roles the dump's grants name
    // (ils_app) exist and ownership is kept as dumped.
    let scratch = format!("{}_restore", app.db.name);
    let mut admin = PgConnection::connect(&with_database(&app.db.owner_url, "postgres"))
        .await
        .expect("owner connection to the cluster");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {scratch}")))
        .execute(&mut admin)
        .await
        .expect("creating the scratch database");
    let scratch_url = with_database(&app.db.owner_url, &scratch);
    run(
        &bin.join("pg_restore"),
        &[
            "--exit-on-error",
            "--single-transaction",
            "--dbname",
            &scratch_url,
            dump_path,
        ],
    );

    let mut restored = PgConnection::connect(&scratch_url)
        .await
        .expect("owner connection to the scratch database");
    let doomed_rows = rows_of(&mut restored, &doomed.id, &doomed_patient).await;
    let kept_rows = rows_of(&mut restored, &kept.id, &kept_patient).await;
    restored.close().await.ok();
    // The service's own role sees the restored rows only inside its tenant: the grants to
    // ils_app and the forced row-level security came back with the data.
    let mut service = PgConnection::connect(&with_database(&app.db.service_url, &scratch))
        .await
        .expect("service connection to the scratch database");
    let (unscoped,): (i64,) = sqlx::query_as("SELECT count(*) FROM patients")
        .fetch_one(&mut service)
        .await
        .expect("patients without a tenant");
    sqlx::query("SELECT set_config('ils.company_id', $1, false)")
        .bind(&kept.id)
        .execute(&mut service)
        .await
        .expect("entering the tenant");
    let (scoped,): (i64,) = sqlx::query_as("SELECT count(*) FROM patients")
        .fetch_one(&mut service)
        .await
        .expect("patients of one tenant");
    service.close().await.ok();

    // Dropped before the checks, so a failed check leaves no database behind.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {scratch} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .expect("dropping the scratch database");
    admin.close().await.ok();

    assert_eq!(
        doomed_rows,
        (1, 2, 1),
        "the erased tenant's company, users and patient are in the backup taken before its erasure"
    );
    assert_eq!(kept_rows, (1, 2, 1), "the other tenant is restored too");
    assert_eq!(unscoped, 0, "row-level security is restored and forced");
    assert_eq!(scoped, 1, "the service's grants are restored");
}
