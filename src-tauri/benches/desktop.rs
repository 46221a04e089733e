//! ILS Desktop's benchmarks (`make bench-desktop`), printed with the CPU model:
//!
//! - **search per keystroke** over 10,000 patients: each prefix of a name as it is typed,
//!   through the engine call the window's `search_patients` command makes (an audited,
//!   indexed search), against the naive query a first version would write (`LIKE` over lower-cased
//!   names, no index) on the same file, in the same run;
//! - **cold start** to an interactive patient list and **idle memory** (the app and its WebKit
//!   processes) before and after the embedding model loads: the release app started under Xvfb
//!   with `ILS_DESKTOP_BENCH`, which reports when the patient list first shows rows. The app
//!   starts alternately as it runs (`ILS_DESKTOP_RENDERING=auto`: in software when the computer
//!   has no GPU) and as WebKit alone would draw it (`gpu`), the baseline, with the ratios.
//!   The start is timed from the spawn (loading WebKit's libraries before `main` included) and
//!   told step by step. `ILS_DESKTOP_BENCH_EARLIER=<an earlier release binary>` starts that
//!   build in turn as well, a second baseline (timed from its `main` only, if it is older than
//!   the steps);
//! - **bundle size**: the release binary, and the .deb when `make package` has built it.
//!
//! Goals (issue 13): cold start under 1 s, idle RSS under 150 MB before the model loads,
//! results under 50 ms per keystroke.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ils_core::Role;
use ils_core::decide::patients::PatientQuery;
use ils_core::patient::PatientData;
use ils_node::store::{NewPractice, NewUser};
use ils_node::{Engine, NodeSettings};

const PATIENTS: usize = 10_000;
const ADMIN: &str = "bench@harbour.example";
/// The optometrist who adds the patients and whose start is timed.
const ECP: &str = "optom@harbour.example";

const FIRST: [&str; 24] = [
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "John",
    "Katherine",
    "Margaret",
    "Niklaus",
    "Radia",
    "Tim",
    "Hedy",
    "Claude",
    "Sophie",
    "Mary",
    "James",
    "Linus",
    "Ken",
    "Dennis",
    "Bjarne",
    "Guido",
    "Yukihiro",
];
const LAST: [&str; 40] = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "Backus",
    "Johnson",
    "Hamilton",
    "Wirth",
    "Perlman",
    "Berners-Lee",
    "Lamarr",
    "Shannon",
    "Wilson",
    "Jackson",
    "Gosling",
    "Torvalds",
    "Thompson",
    "Ritchie",
    "Stroustrup",
    "Rossum",
    "Matsumoto",
    "Hoare",
    "Milner",
    "Kay",
    "Engelbart",
    "Cerf",
    "Kahn",
    "McCarthy",
    "Minsky",
    "Sutherland",
    "Lampson",
    "Thacker",
    "Floyd",
    "Karp",
    "Cook",
    "Rabin",
    "Scott",
];

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn summary(label: &str, mut ms: Vec<f64>) -> f64 {
    ms.sort_by(f64::total_cmp);
    let p50 = percentile(&ms, 0.5);
    println!(
        "{label:<46} n={:<5} p50 {:>7.3} ms  p95 {:>7.3} ms  p99 {:>7.3} ms  max {:>7.3} ms",
        ms.len(),
        p50,
        percentile(&ms, 0.95),
        percentile(&ms, 0.99),
        ms.last().copied().unwrap_or(f64::NAN)
    );
    p50
}

/// A practice with 10,000 patients, its administrator signed in.
fn seed(db: &Path) -> Engine {
    let settings = NodeSettings {
        db: Some(db.to_owned()),
        no_keychain: true,
        ..NodeSettings::default()
    };
    let engine = Engine::open(&settings).expect("engine");
    engine
        .create_practice(&NewPractice {
            name: "Harbour Optics".into(),
            time_zone: Some("Europe/London".into()),
            admin: NewUser {
                email: ADMIN.into(),
                first_name: "Bench".into(),
                last_name: "Admin".into(),
                role: Role::CompanyAdmin,
            },
        })
        .expect("practice");
    engine
        .add_user(&NewUser {
            email: ECP.into(),
            first_name: "Olive".into(),
            last_name: "Optom".into(),
            role: Role::Ecp,
        })
        .expect("optometrist");
    engine.sign_in(ECP).expect("sign in");
    let started = Instant::now();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for i in 0..PATIENTS {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let first = FIRST[(state % FIRST.len() as u64) as usize];
        let last = LAST[((state >> 16) % LAST.len() as u64) as usize];
        engine
            .add_patient(&PatientData {
                customer_number: format!("C-{i:05}"),
                first_name: first.into(),
                last_name: format!("{last}{}", ["", "son", "ley", "ford"][i % 4]),
                date_of_birth: chrono::NaiveDate::from_ymd_opt(
                    1950 + (i % 60) as i32,
                    1 + (i % 12) as u32,
                    1 + (i % 28) as u32,
                )
                .expect("date"),
                email: None,
                phone: None,
                address: None,
                notes: None,
            })
            .expect("patient");
    }
    println!(
        "seeded {PATIENTS} patients through the engine in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    engine
}

/// Every prefix of each name, as a person types it.
fn keystrokes() -> Vec<String> {
    let mut out = Vec::new();
    for name in [
        "Hopper",
        "lovelace",
        "Tur",
        "Berners",
        "ro",
        "Mats",
        "k",
        "Sutherland",
    ] {
        for end in 1..=name.len() {
            out.push(name[..end].to_owned());
        }
    }
    out
}

fn search_per_keystroke(engine: &Engine, db: &Path) {
    let typed = keystrokes();
    // Warm the file cache and the statements once.
    for prefix in &typed {
        let _ = engine.search_patients(&query(prefix), 50, 0);
    }
    let mut ours = Vec::new();
    let mut found = 0usize;
    for _ in 0..5 {
        for prefix in &typed {
            let t = Instant::now();
            let hits = engine
                .search_patients(&query(prefix), 50, 0)
                .expect("search");
            ours.push(t.elapsed().as_secs_f64() * 1e3);
            found += hits.len();
        }
    }
    // The naive query on the same file, read-only (no audit row).
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open");
    let mut naive = Vec::new();
    let mut naive_found = 0usize;
    let mut stmt = conn
        .prepare(
            "SELECT id, first_name, last_name, customer_number, date_of_birth FROM patients \
             WHERE deleted_at IS NULL AND (lower(last_name) LIKE ?1 OR lower(first_name) LIKE ?1) \
             ORDER BY lower(last_name), lower(first_name) LIMIT 50",
        )
        .expect("prepare");
    for _ in 0..5 {
        for prefix in &typed {
            let t = Instant::now();
            let pattern = format!("{}%", prefix.to_lowercase());
            let rows: Vec<String> = stmt
                .query_map([&pattern], |r| r.get::<_, String>(0))
                .expect("query")
                .collect::<Result<_, _>>()
                .expect("rows");
            naive.push(t.elapsed().as_secs_f64() * 1e3);
            naive_found += rows.len();
        }
    }
    println!(
        "\nsearch per keystroke over {PATIENTS} patients ({} keystrokes × 5)",
        typed.len()
    );
    let a = summary("ils-node engine (indexed name keys, audited)", ours);
    let b = summary("baseline: naive LIKE over lower(name), no audit", naive);
    println!(
        "rows returned: ours {found}, baseline {naive_found}; p50 ratio baseline/ours = {:.2}x (goal: < 50 ms per keystroke)",
        b / a
    );
}

fn query(prefix: &str) -> PatientQuery {
    PatientQuery {
        name_prefix: Some(prefix.to_owned()),
        ..PatientQuery::default()
    }
}

/// The release app, if it is built.
fn release_app() -> Option<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let app = target.join("release/ils-desktop");
    app.is_file().then_some(app)
}

#[derive(Debug, serde::Deserialize)]
struct Ready {
    ready_ms: f64,
    rss_app_kib: u64,
    rss_total_kib: u64,
    rss_app_after_model_kib: u64,
    rss_total_after_model_kib: u64,
    pss_total_kib: u64,
    pss_total_after_model_kib: u64,
    processes: usize,
    #[serde(default)]
    rss_app_by_mapping: Vec<Mapping>,
    /// The start's steps, in milliseconds since the spawn, the last being `ready`.
    #[serde(default)]
    steps: Vec<Step>,
}

impl Ready {
    /// From the spawn (the time before `main` included) to the list with rows.
    fn since_spawn_ms(&self) -> Option<f64> {
        self.steps.iter().find(|s| s.step == "ready").map(|s| s.ms)
    }
}

#[derive(Debug, serde::Deserialize)]
struct Step {
    step: String,
    ms: f64,
}

#[derive(Debug, serde::Deserialize)]
struct Mapping {
    mapping: String,
    kib: u64,
}

/// An app started in turn with the others: its build and how it draws.
struct Contender {
    label: String,
    app: PathBuf,
    rendering: &'static str,
}

fn start_once(c: &Contender, db: &Path, display: &str, out: &Path) -> Option<Ready> {
    let _ = std::fs::remove_file(out);
    let mut child = Command::new(&c.app)
        .env("DISPLAY", display)
        .env("ILS_DESKTOP_RENDERING", c.rendering)
        .env("ILS_NODE_DB", db)
        .env("ILS_NODE_USER", ECP)
        .env("ILS_NODE_NO_KEYCHAIN", "true")
        .env(
            "ILS_MODEL_DIR",
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/all-MiniLM-L6-v2"),
        )
        .env("ILS_DESKTOP_BENCH", out)
        .env("NO_AT_BRIDGE", "1")
        .env("ILS_DESKTOP_BENCH_SPAWNED", unix_ms().to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the app");
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(out).ok()?;
    serde_json::from_str(&text).ok()
}

fn unix_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

/// Each step of the start, its median over `runs` in milliseconds since the spawn, in order.
fn print_steps(runs: &[Ready]) {
    let mut names: Vec<&str> = Vec::new();
    for r in runs {
        for s in &r.steps {
            if !names.contains(&s.step.as_str()) {
                names.push(&s.step);
            }
        }
    }
    let mut rows: Vec<(f64, &str)> = names
        .into_iter()
        .filter_map(|name| {
            let mut at: Vec<f64> = runs
                .iter()
                .filter_map(|r| r.steps.iter().find(|s| s.step == name).map(|s| s.ms))
                .collect();
            at.sort_by(f64::total_cmp);
            at.get(at.len() / 2).map(|m| (*m, name))
        })
        .collect();
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    if rows.is_empty() {
        return;
    }
    println!("the start step by step (median ms since the spawn; the first step is main):");
    let mut before = 0.0;
    for (ms, name) in rows {
        println!("  {ms:>7.0}  (+{:>4.0})  {name}", ms - before);
        before = ms;
    }
}

fn start_and_memory(db: &Path) {
    let Some(app) = release_app() else {
        println!(
            "\ncold start: no release build of ils-desktop (scripts/bench-desktop.sh builds it)"
        );
        return;
    };
    let mut xvfb = match Command::new("Xvfb")
        .args([
            "-displayfd",
            "1",
            "-screen",
            "0",
            "1280x800x24",
            "-nolisten",
            "tcp",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(x) => x,
        Err(e) => {
            println!("\ncold start: Xvfb cannot start ({e})");
            return;
        }
    };
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(xvfb.stdout.take().expect("piped")),
        &mut line,
    )
    .expect("display");
    let display = format!(":{}", line.trim());
    let out = db.with_extension("ready.json");
    // One start of each to warm the file cache, then alternately, so that all see the same
    // machine.
    let mut contenders: Vec<Contender> = vec![
        Contender {
            label: "as it runs (auto: software drawing when the computer has no GPU)".into(),
            app: app.clone(),
            rendering: "auto",
        },
        Contender {
            label: "baseline: WebKit alone (gpu)".into(),
            app: app.clone(),
            rendering: "gpu",
        },
    ];
    if let Some(earlier) = std::env::var_os("ILS_DESKTOP_BENCH_EARLIER").map(PathBuf::from) {
        contenders.push(Contender {
            label: format!(
                "baseline: an earlier build ({}), as it ran",
                earlier.display()
            ),
            app: earlier,
            rendering: "auto",
        });
    }
    let first: Vec<Option<Ready>> = contenders
        .iter()
        .map(|c| start_once(c, db, &display, &out))
        .collect();
    let mut runs: Vec<Vec<Ready>> = contenders.iter().map(|_| Vec::new()).collect();
    for _ in 0..5 {
        for (i, c) in contenders.iter().enumerate() {
            runs[i].extend(start_once(c, db, &display, &out));
        }
    }
    let _ = xvfb.kill();
    let _ = xvfb.wait();
    println!(
        "\nstart to an interactive patient list ({PATIENTS} patients), release build, Xvfb 1280x800"
    );
    let mib = |k: u64| k as f64 / 1024.0;
    let n = contenders.len();
    let mut p50s = vec![f64::NAN; n];
    let mut from_main = vec![f64::NAN; n];
    let mut rss = vec![f64::NAN; n];
    let mut pss = vec![f64::NAN; n];
    for (i, c) in contenders.iter().enumerate() {
        println!("\n{}", c.label);
        let Some(last) = runs[i].last() else {
            println!("  the app did not report ready");
            continue;
        };
        if let Some(Some(first)) = first.get(i) {
            // Only the very first start finds the shared libraries uncached; the others' first
            // starts come after it (the baseline's maps files of its own, Mesa and LLVM, for
            // the first time).
            let when = if i == 0 {
                "files not yet cached by this run"
            } else {
                "right after the other's first start"
            };
            println!(
                "first start ({when}): {:.0} ms from the spawn, {:.0} ms from main",
                first.since_spawn_ms().unwrap_or(f64::NAN),
                first.ready_ms
            );
        }
        let spawned: Vec<f64> = runs[i].iter().filter_map(Ready::since_spawn_ms).collect();
        if !spawned.is_empty() {
            p50s[i] = summary("later starts, from the spawn", spawned);
        }
        from_main[i] = summary(
            "later starts, from main",
            runs[i].iter().map(|r| r.ready_ms).collect(),
        );
        print_steps(&runs[i]);
        let mut apps: Vec<u64> = runs[i].iter().map(|r| r.rss_app_kib).collect();
        apps.sort_unstable();
        rss[i] = mib(apps[apps.len() / 2]);
        pss[i] = mib(last.pss_total_kib);
        println!(
            "idle memory, app process (RSS): {:.0} MiB before the model loads (median of {}; \
             {:.0}–{:.0}), {:.0} MiB after (goal before: < 150 MB = 143 MiB)",
            rss[i],
            apps.len(),
            mib(apps[0]),
            mib(apps[apps.len() - 1]),
            mib(last.rss_app_after_model_kib)
        );
        println!(
            "idle memory with its {} WebKit processes: RSS summed {:.0} MiB before / {:.0} MiB \
             after; PSS (shared pages counted once) {:.0} MiB before / {:.0} MiB after",
            last.processes.saturating_sub(1),
            mib(last.rss_total_kib),
            mib(last.rss_total_after_model_kib),
            pss[i],
            mib(last.pss_total_after_model_kib)
        );
        println!("where the app process's memory is, before the model loads (RSS by mapping):");
        for m in &last.rss_app_by_mapping {
            println!("  {:>6.1} MiB  {}", mib(m.kib), m.mapping);
        }
    }
    for (i, c) in contenders.iter().enumerate().skip(1) {
        println!(
            "\nas it runs / {}: start p50 from the spawn {:.2}x, from main {:.2}x, app RSS \
             {:.2}x, PSS of all {:.2}x (below 1: less)",
            c.label,
            p50s[0] / p50s[i],
            from_main[0] / from_main[i],
            rss[0] / rss[i],
            pss[0] / pss[i]
        );
    }
    let size = std::fs::metadata(&app).map(|m| m.len()).unwrap_or(0);
    println!(
        "release binary: {:.1} MiB (the interface embedded)",
        size as f64 / 1048576.0
    );
    let bundle = app.parent().expect("release").join("bundle/deb");
    if let Ok(entries) = std::fs::read_dir(&bundle) {
        for e in entries.flatten() {
            if e.path().extension().is_some_and(|x| x == "deb") {
                let len = e.metadata().map(|m| m.len()).unwrap_or(0);
                println!(
                    "bundle {}: {:.1} MiB (model included)",
                    e.file_name().to_string_lossy(),
                    len as f64 / 1048576.0
                );
            }
        }
    }
}

fn main() {
    println!(
        "ILS Desktop benchmarks — CPU: {} ({} cores)",
        cpu_model(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("practice.db");
    let engine = seed(&db);
    search_per_keystroke(&engine, &db);
    drop(engine);
    start_and_memory(&db);
}
