//! The `ils-node` binary, run as a person or a script would: real processes, a real database
//! file, the real model.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

struct Cli {
    dir: tempfile::TempDir,
}

impl Cli {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("dir"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The command, with this test's database, user and model.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ils-node"));
        command
            .args(args)
            .env("ILS_NODE_DB", self.path("ils.db"))
            .env("ILS_NODE_USER", "optom@demo.ils.local")
            .env(
                "ILS_MODEL_DIR",
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/all-MiniLM-L6-v2"),
            );
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("runs ils-node")
    }

    /// Runs with --json, expects success, returns the parsed output.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON on stdout")
    }

    /// Runs, expects exit code 2, returns stderr.
    fn refused(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

#[test]
fn records_from_patient_to_order_timeline() {
    let cli = Cli::new();
    let init = cli.json(&["init"]);
    assert_eq!(init["schema_version"], 2);
    let p = cli.json(&[
        "patients",
        "add",
        "--number",
        "C-100",
        "--first",
        "Ada",
        "--last",
        "Lovelace",
        "--dob",
        "1990-12-10",
        "--email",
        "ada@example.com",
    ]);
    let patient = p["id"].as_str().expect("id").to_owned();
    let found = cli.json(&["patients", "search", "love"]);
    assert_eq!(found.as_array().expect("list").len(), 1);
    let human = cli.run(&["patients", "list"]);
    assert!(String::from_utf8_lossy(&human.stdout).contains("Lovelace, Ada"));

    std::fs::write(
        cli.path("rx.json"),
        json!({
            "kind": "spectacle",
            "right": {"sphere": -2.25, "cylinder": -0.75, "axis": 180, "add": 2.0},
            "left": {"sphere": -2.0, "cylinder": -0.5, "axis": 170, "add": 2.0},
            "issue_date": "2026-11-01", "expiry_date": "2028-11-01",
            "prescriber": "Dr. Rosalind Franklin"
        })
        .to_string(),
    )
    .expect("write");
    let rx = cli.json(&[
        "rx",
        "add",
        "--patient",
        &patient,
        cli.path("rx.json").to_str().expect("utf-8"),
    ]);
    let rx_id = rx["id"].as_str().expect("id").to_owned();
    let fhir = cli.run(&["rx", "export-fhir", &rx_id]);
    assert!(fhir.status.success());
    std::fs::write(cli.path("fhir.json"), &fhir.stdout).expect("write");
    let again = cli.json(&[
        "rx",
        "add",
        "--patient",
        &patient,
        cli.path("fhir.json").to_str().expect("utf-8"),
    ]);
    assert_eq!(
        again["right"], rx["right"],
        "FHIR round trip through the CLI"
    );

    std::fs::write(
        cli.path("order.json"),
        json!({
            "patient_id": patient, "prescription_id": rx_id, "lens_type": "progressive",
            "material": "1.6", "frame": {"box_a": 52.0, "box_b": 38.0, "dbl": 18.0},
            "measurements": {"right_pd": 32.0, "left_pd": 31.5, "right_segment_height": 19.0, "left_segment_height": 19.0}
        })
        .to_string(),
    )
    .expect("write");
    let order = cli.json(&[
        "orders",
        "create",
        cli.path("order.json").to_str().expect("utf-8"),
    ]);
    let order_id = order["id"].as_str().expect("id").to_owned();
    cli.json(&["orders", "transition", &order_id, "submit"]);
    let refused = cli.refused(&["orders", "transition", &order_id, "deliver"]);
    assert!(refused.contains("cannot be delivered"), "{refused}");
    let no_reason = cli.refused(&["orders", "transition", &order_id, "cancel"]);
    assert!(no_reason.contains("Say why"), "{no_reason}");
    cli.json(&[
        "orders",
        "transition",
        &order_id,
        "cancel",
        "--reason",
        "Patient changed frame",
    ]);
    let timeline = cli.json(&["orders", "timeline", &order_id]);
    let steps: Vec<&str> = timeline
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["to_status"].as_str().expect("status"))
        .collect();
    assert_eq!(steps, ["draft", "submitted", "cancelled"]);
    let cancelled = cli.json(&["orders", "list", "--status", "cancelled"]);
    assert_eq!(cancelled.as_array().expect("list").len(), 1);
    let show = cli.json(&["patients", "show", &patient]);
    assert_eq!(show["prescriptions"].as_array().expect("rx").len(), 2);
    assert_eq!(show["orders"].as_array().expect("orders").len(), 1);
}

#[test]
fn bad_input_exits_2_with_a_message_and_json_errors() {
    let cli = Cli::new();
    let bad_date = cli.refused(&[
        "patients",
        "add",
        "--number",
        "C-1",
        "--first",
        "A",
        "--last",
        "B",
        "--dob",
        "1990-13-40",
    ]);
    assert!(bad_date.contains("--dob"), "{bad_date}");
    let future = cli.refused(&[
        "patients",
        "add",
        "--number",
        "C-1",
        "--first",
        "A",
        "--last",
        "B",
        "--dob",
        "2999-01-01",
    ]);
    assert!(future.starts_with("error: "), "{future}");
    let missing = cli.refused(&["patients", "show", "0193a5b0-0000-7000-8000-000000000001"]);
    assert!(missing.contains("was not found"), "{missing}");
    let unknown = cli.refused(&["orders", "list", "--status", "lost"]);
    assert!(unknown.contains("use one of"), "{unknown}");
    std::fs::write(cli.path("broken.json"), "{\"kind\": ").expect("write");
    let broken = cli.refused(&[
        "rx",
        "add",
        "--patient",
        "0193a5b0-0000-7000-8000-000000000001",
        cli.path("broken.json").to_str().expect("utf-8"),
    ]);
    assert!(broken.contains("not valid JSON"), "{broken}");
    let json_err = cli.run(&[
        "--json",
        "patients",
        "show",
        "0193a5b0-0000-7000-8000-000000000001",
    ]);
    assert_eq!(json_err.status.code(), Some(2));
    let body: Value = serde_json::from_slice(&json_err.stderr).expect("JSON error on stderr");
    assert_eq!(body["error"]["code"], "not_found");
}

#[test]
fn knowledge_base_ingest_search_delete() {
    let cli = Cli::new();
    let docs = cli.path("docs");
    std::fs::create_dir(&docs).expect("dir");
    std::fs::write(
        docs.join("care.md"),
        "# Contact lens care\n\nNever store lenses in tap water: Acanthamoeba keratitis is a real risk.\n",
    )
    .expect("write");
    std::fs::write(docs.join("empty.txt"), "").expect("write");
    let out = cli.run(&["--json", "kb", "ingest", docs.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2), "one file was refused");
    let report: Value = serde_json::from_slice(&out.stdout).expect("report");
    assert_eq!(report["ingested"].as_array().expect("list").len(), 1);
    assert!(
        report["refused"][0]["error"]
            .as_str()
            .expect("error")
            .contains("it is empty")
    );
    let hits = cli.json(&[
        "kb",
        "search",
        "amoeba infection from tap water",
        "--limit",
        "3",
    ]);
    assert_eq!(hits[0]["title"], "Contact lens care");
    let keyword = cli.json(&["kb", "search", "Acanthamoeba", "--mode", "keyword"]);
    assert_eq!(keyword.as_array().expect("hits").len(), 1);
    let list = cli.json(&["kb", "list"]);
    let id = list[0]["id"].as_str().expect("id").to_owned();
    cli.json(&["kb", "delete", &id]);
    assert_eq!(cli.json(&["kb", "list"]).as_array().expect("list").len(), 0);
    let bad_mode = cli.run(&["kb", "search", "x", "--mode", "fuzzy"]);
    assert_eq!(bad_mode.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_mode.stderr).contains("hybrid, vector or keyword"));
}

#[test]
fn ctrl_c_during_an_ingest_keeps_finished_documents_and_nothing_of_the_current_one() {
    let cli = Cli::new();
    let docs = cli.path("docs");
    std::fs::create_dir(&docs).expect("dir");
    std::fs::write(
        docs.join("a-short.md"),
        "# Short\n\nA short note about lens cases.\n",
    )
    .expect("write");
    let mut long = String::from("# Handbook\n\n");
    for i in 0..3000 {
        long.push_str(&format!(
            "Procedure {i} covers frame number {i} in the workshop. "
        ));
        if i % 5 == 4 {
            long.push_str("\n\n");
        }
    }
    std::fs::write(docs.join("b-long.md"), long).expect("write");
    let child = cli
        .command(&["kb", "ingest", docs.to_str().expect("utf-8")])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawns");
    // Wait until the short document is committed: the long one is then being embedded.
    let documents = || -> i64 {
        rusqlite::Connection::open(cli.path("ils.db"))
            .and_then(|c| c.query_row("SELECT count(*) FROM documents", [], |r| r.get(0)))
            .unwrap_or(0)
    };
    let start = std::time::Instant::now();
    while documents() < 1 {
        assert!(
            start.elapsed().as_secs() < 120,
            "the first document never arrived"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("exits");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cancelled") && stderr.contains("b-long.md"),
        "{stderr}"
    );
    assert_eq!(
        documents(),
        1,
        "the short document stays, nothing of the long one"
    );
    let chunks: i64 = rusqlite::Connection::open(cli.path("ils.db"))
        .and_then(|c| c.query_row("SELECT count(*) FROM chunks", [], |r| r.get(0)))
        .expect("count");
    assert_eq!(chunks, 1);
}
