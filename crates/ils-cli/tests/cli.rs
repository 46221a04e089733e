//! The `ils-node` binary, run as a person or a script would: real processes, a real database
//! file, the real model.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

struct Cli {
    dir: tempfile::TempDir,
}

const ADMIN: &str = "admin@demo.ils.local";

impl Cli {
    /// A practice with its administrator and an ECP, who works by default.
    fn new() -> Self {
        let cli = Self {
            dir: tempfile::tempdir().expect("dir"),
        };
        let init = cli.json(&[
            "init",
            "--practice",
            "Demo Optics",
            "--admin",
            ADMIN,
            "--first",
            "Ada",
            "--last",
            "Admin",
            "--time-zone",
            "Europe/London",
        ]);
        assert_eq!(init["schema_version"], ils_node::store::MIGRATIONS.len());
        assert_eq!(init["practice"]["time_zone"], "Europe/London");
        cli.json(&[
            "--user",
            ADMIN,
            "users",
            "add",
            "--email",
            "optom@demo.ils.local",
            "--first",
            "Olive",
            "--last",
            "Optom",
            "--role",
            "ecp",
        ]);
        cli
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
                Path::new(
                    &std::env::var("CARGO_MANIFEST_DIR")
                        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()),
                )
                .join("../../models/all-MiniLM-L6-v2"),
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
    let again = cli.json(&["init"]);
    assert_eq!(
        again["practice"]["name"], "Demo Optics",
        "init again changes nothing"
    );
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
        again["data"]["right"], rx["data"]["right"],
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
    assert!(missing.contains("patient not found"), "{missing}");
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
    assert_eq!(
        body["error"]["code"], "patient.not_found",
        "the same code as ILS Central"
    );
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
    let ecp_refused = cli.run(&["--json", "kb", "ingest", docs.to_str().expect("utf-8")]);
    assert_eq!(ecp_refused.status.code(), Some(2));
    let body: Value = serde_json::from_slice(&ecp_refused.stderr).expect("JSON error");
    assert_eq!(
        body["error"]["code"], "auth.forbidden",
        "an ECP does not manage documents"
    );
    let out = cli.run(&[
        "--json",
        "--user",
        ADMIN,
        "kb",
        "ingest",
        docs.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(2), "one file was refused");
    let report: Value = serde_json::from_slice(&out.stdout).expect("report");
    assert_eq!(report["ingested"].as_array().expect("list").len(), 1);
    assert!(
        report["refused"][0]["message"]
            .as_str()
            .expect("message")
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
    cli.json(&["--user", ADMIN, "kb", "delete", &id]);
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
        .command(&[
            "--user",
            ADMIN,
            "kb",
            "ingest",
            docs.to_str().expect("utf-8"),
        ])
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

#[test]
fn every_refusal_names_its_fields_and_files_and_exits_2() {
    let cli = Cli::new();
    // A missing path for an ingest is the person's to fix, like a missing prescription file.
    let missing = cli.run(&[
        "--json",
        "--user",
        ADMIN,
        "kb",
        "ingest",
        cli.path("no-such-folder").to_str().expect("utf-8"),
    ]);
    assert_eq!(missing.status.code(), Some(2));
    let body: Value = serde_json::from_slice(&missing.stderr).expect("JSON error");
    assert_eq!(body["error"]["code"], "file.unreadable");
    let missing_rx = cli.refused(&[
        "rx",
        "add",
        "--patient",
        "0193a5b0-0000-7000-8000-000000000001",
        cli.path("no-such.json").to_str().expect("utf-8"),
    ]);
    assert!(missing_rx.contains("no-such.json"), "{missing_rx}");

    // A prescription that breaks several rules lists every one, by eye and field.
    let p = cli.json(&[
        "patients",
        "add",
        "--number",
        "C-7",
        "--first",
        "Ada",
        "--last",
        "Lovelace",
        "--dob",
        "1990-12-10",
    ]);
    let patient = p["id"].as_str().expect("id").to_owned();
    std::fs::write(
        cli.path("bad-rx.json"),
        json!({
            "kind": "spectacle",
            "right": {"sphere": -2.25, "cylinder": -0.75, "axis": 190,
                      "prism_horizontal": {"amount": 1.0}},
            "left": {"sphere": "minus two"},
            "issue_date": "2026-11-01",
            "prescriber": "Dr. Rosalind Franklin"
        })
        .to_string(),
    )
    .expect("write");
    let file = cli.path("bad-rx.json");
    let text = cli.refused(&[
        "rx",
        "add",
        "--patient",
        &patient,
        file.to_str().expect("utf-8"),
    ]);
    for expected in [
        "3 problems",
        "right.prism_horizontal.base is required",
        "left.sphere must be a number of dioptres",
        "right.axis",
    ] {
        assert!(text.contains(expected), "{expected:?} in {text}");
    }
    let out = cli.run(&[
        "--json",
        "rx",
        "add",
        "--patient",
        &patient,
        file.to_str().expect("utf-8"),
    ]);
    let body: Value = serde_json::from_slice(&out.stderr).expect("JSON error");
    let fields: Vec<&str> = body["error"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(|f| f["field"].as_str())
        .collect();
    assert_eq!(
        fields,
        ["right.prism_horizontal.base", "left.sphere", "right.axis"]
    );

    // FHIR input is explained in words, never in the program's own notation.
    std::fs::write(
        cli.path("fhir.json"),
        json!({
            "resourceType": "VisionPrescription", "status": "active",
            "dateWritten": "2026-11-01", "prescriber": {"display": "Dr. X"},
            "lensSpecification": [{"product": {"coding": [{"code": "lens"}]}, "eye": "diagonal", "sphere": -1.0}]
        })
        .to_string(),
    )
    .expect("write");
    let fhir = cli.refused(&[
        "rx",
        "add",
        "--patient",
        &patient,
        cli.path("fhir.json").to_str().expect("utf-8"),
    ]);
    assert!(fhir.contains("got \"diagonal\""), "{fhir}");
    assert!(!fhir.contains("Some(") && !fhir.contains("None"), "{fhir}");

    // A file that is not a database is named.
    std::fs::write(cli.path("notes.txt"), "shopping list ".repeat(100)).expect("write");
    let out = cli
        .command(&["patients", "list"])
        .env("ILS_NODE_DB", cli.path("notes.txt"))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("notes.txt") && stderr.contains("not an ILS database"),
        "{stderr}"
    );
}

#[test]
fn ask_streams_an_answer_from_the_documents_or_shows_the_passages_offline() {
    let cli = Cli::new();
    let docs = cli.path("docs");
    std::fs::create_dir(&docs).expect("dir");
    std::fs::write(
        docs.join("sports.md"),
        "# Sports glasses\n\nChildren's sports glasses get polycarbonate lenses.\n",
    )
    .expect("write");
    let ingest = cli
        .command(&[
            "--user",
            ADMIN,
            "kb",
            "ingest",
            docs.to_str().expect("utf-8"),
        ])
        .output()
        .expect("ingest");
    assert!(ingest.status.success(), "{ingest:?}");

    // No provider is set up: the passages, said plainly.
    let offline = cli.run(&["ask", "Which lenses for sports glasses?"]);
    assert!(offline.status.success(), "{offline:?}");
    let text = String::from_utf8_lossy(&offline.stdout);
    assert!(text.starts_with("Offline"), "{text}");
    assert!(text.contains("[1] Sports glasses"), "{text}");

    // A provider in the settings file (the loopback server): the answer streams to stdout.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let server = rt
        .block_on(ils_llm::loopback::LoopbackServer::start(Some("sk-cli")))
        .expect("server");
    server.script(
        "gpt-cli",
        ils_llm::loopback::Script::answer("Polycarbonate [1]."),
    );
    let config = cli.path("node.toml");
    std::fs::write(
        &config,
        format!(
            "[assistant]\n[[assistant.providers]]\nname = \"local\"\nkind = \"openai\"\nbase_url = \"{}\"\napi_key = \"sk-cli\"\nmodels = [\"gpt-cli\"]\n",
            server.openai_base()
        ),
    )
    .expect("config");
    let online = cli
        .command(&[
            "--config",
            config.to_str().expect("utf-8"),
            "ask",
            "Which lenses for sports glasses?",
        ])
        .output()
        .expect("ask");
    assert!(online.status.success(), "{online:?}");
    let text = String::from_utf8_lossy(&online.stdout);
    assert!(text.starts_with("Polycarbonate [1]."), "{text}");
    assert!(text.contains("[1] Sports glasses"), "{text}");
    let summary = String::from_utf8_lossy(&online.stderr);
    assert!(
        summary.contains("answered; gpt-cli, 42 + 3 tokens"),
        "{summary}"
    );
    assert!(
        !summary.contains("sk-cli") && !text.contains("sk-cli"),
        "the key is never shown"
    );
}
