//! `ILS_DESKTOP_BENCH=<file>`: the window reports how long it took from the program's start to
//! the first patient list with rows, and the memory of the app with its WebKit processes before
//! and after the embedding model loads, into that file as JSON, then closes
//! (`make bench-desktop`). Without the variable nothing here runs.
//!
//! The start is also told in steps ([`mark`]), each as milliseconds since the benchmark spawned
//! the program (`ILS_DESKTOP_BENCH_SPAWNED`, Unix time in milliseconds), so that the time before
//! `main` — loading WebKit's shared libraries — is counted too.

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

static STARTED: OnceLock<Instant> = OnceLock::new();
static MARKS: Mutex<Vec<(&'static str, f64)>> = Mutex::new(Vec::new());

/// Marks the program's start (the first thing `run` does).
pub fn mark_start() {
    STARTED.get_or_init(Instant::now);
    mark("main");
}

pub fn report_file() -> Option<PathBuf> {
    static FILE: OnceLock<Option<PathBuf>> = OnceLock::new();
    FILE.get_or_init(|| std::env::var_os("ILS_DESKTOP_BENCH").map(PathBuf::from))
        .clone()
}

/// Notes that the start reached `step`, under `make bench-desktop` only.
pub fn mark(step: &'static str) {
    if report_file().is_some() {
        MARKS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((step, unix_ms()));
    }
}

/// The steps so far and the interface's own (`(name, Unix time in ms)`), each as milliseconds
/// since the program was spawned, in order; empty when the benchmark did not say when.
pub fn steps(interface: &[(String, f64)]) -> Vec<(String, f64)> {
    let Some(spawned) = std::env::var("ILS_DESKTOP_BENCH_SPAWNED")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
    else {
        return Vec::new();
    };
    let mut all: Vec<(String, f64)> = MARKS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
        .map(|(name, at)| ((*name).to_owned(), at - spawned))
        .chain(
            interface
                .iter()
                .map(|(name, at)| (format!("interface: {name}"), at - spawned)),
        )
        .collect();
    all.push(("ready".to_owned(), unix_ms() - spawned));
    all.sort_by(|a, b| a.1.total_cmp(&b.1));
    all
}

fn unix_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

pub fn since_start_ms() -> f64 {
    STARTED
        .get()
        .map_or(0.0, |s| s.elapsed().as_secs_f64() * 1e3)
}

/// Resident memory in KiB of this process and of every process descended from it: this
/// process's, the sum over all of them, and how many there are.
pub fn rss_tree_kib() -> (u64, u64, usize) {
    let tree = tree();
    let total = tree.iter().map(|p| status_kib(*p, "VmRSS:")).sum();
    (status_kib(std::process::id(), "VmRSS:"), total, tree.len())
}

/// Proportional set size in KiB of this process and its descendants (`Pss` of
/// `/proc/<pid>/smaps_rollup`): a page shared by several of them counted once in all.
pub fn pss_tree_kib() -> u64 {
    tree()
        .iter()
        .map(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
                .ok()
                .and_then(|s| field_kib(&s, "Pss:"))
                .unwrap_or(0)
        })
        .sum()
}

fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| field_kib(&s, field))
        .unwrap_or(0)
}

fn field_kib(text: &str, field: &str) -> Option<u64> {
    text.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// This process and every process descended from it.
fn tree() -> Vec<u32> {
    let me = std::process::id();
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // The parent is the second field after the command's closing parenthesis.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|s| s.parse::<u32>().ok());
            if let Some(ppid) = ppid {
                parents.push((pid, ppid));
            }
        }
    }
    let mut tree = vec![me];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    tree
}

/// Where this process's resident memory is, by mapping (`/proc/self/smaps`): each library or
/// file by name, `[heap]`, `[stack]`, and anonymous memory (`[anon]`, which holds the other
/// threads' heaps and stacks), largest first, the `top` largest.
pub fn rss_by_mapping_kib(top: usize) -> Vec<(String, u64)> {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return Vec::new();
    };
    let mut by: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    let mut current = String::new();
    for line in smaps.lines() {
        let mut parts = line.split_whitespace();
        let Some(first) = parts.next() else { continue };
        if first.contains('-') && first.chars().next().is_some_and(|c| c.is_ascii_hexdigit()) {
            // A mapping's header: address perms offset dev inode [path].
            let path = parts.nth(4).unwrap_or("");
            current = if path.is_empty() {
                "[anon]".to_owned()
            } else {
                path.rsplit('/').next().unwrap_or(path).to_owned()
            };
        } else if first == "Rss:" {
            let kib: u64 = parts.next().and_then(|v| v.parse().ok()).unwrap_or(0);
            *by.entry(current.clone()).or_default() += kib;
        }
    }
    let mut list: Vec<(String, u64)> = by.into_iter().filter(|(_, k)| *k > 0).collect();
    list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    list.truncate(top);
    list
}
