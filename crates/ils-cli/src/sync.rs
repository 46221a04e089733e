//! `ils-node sync …`: connect this computer to a practice on ILS Central, sync, and see where
//! sync stands. The password is read from `ILS_PASSWORD` or, when that is not set, from the
//! first line of standard input; it is never an argument (arguments show in process lists).

use std::io::BufRead as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::{Args, Subcommand};
use ils_core::decide::conflicts::Resolution;
use ils_node::engine::{BackgroundSync, Backoff, ConnectRequest};
use ils_node::store::SyncState;
use ils_node::{Engine, EngineError};

use crate::output::{Out, for_terminal};

type CliResult = Result<(), EngineError>;

#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(subcommand)]
    command: Option<SyncCmd>,
    /// Sync as this user (default: the --user of the command line).
    #[arg(long)]
    email: Option<String>,
    /// Keep syncing in the background until Ctrl-C: each local change is pushed at once,
    /// changes made elsewhere arrive as ILS Central has them, and a lost connection is retried
    /// with backoff. Prints the status each time it changes.
    #[arg(long)]
    watch: bool,
}

#[derive(Debug, Subcommand)]
pub enum SyncCmd {
    /// Connects this computer to a practice on ILS Central and registers it as a device.
    Connect {
        /// ILS Central's address, e.g. https://ils.example.com.
        #[arg(long)]
        server: String,
        /// The practice's domain on ILS Central.
        #[arg(long)]
        domain: String,
        #[arg(long)]
        email: String,
        /// What the practice calls this computer.
        #[arg(long, default_value = "ILS Desktop")]
        name: String,
        /// A one-time registration code from an administrator (approves the device at once).
        #[arg(long)]
        code: Option<String>,
    },
    /// Where sync stands: server, last sync, pending, rejected and conflicts.
    Status,
    /// The changes ILS Central refused, with their reasons.
    Rejected,
    /// The conflicts waiting for review.
    Conflicts,
    /// Resolves a conflict: --keep the version that won, or --restore the one that lost (an
    /// edit by --user, which syncs like any edit).
    Resolve {
        /// The conflict's id (from `sync conflicts`).
        id: String,
        #[arg(long, conflicts_with = "restore", required_unless_present = "restore")]
        keep: bool,
        #[arg(long)]
        restore: bool,
    },
}

fn password() -> Result<String, EngineError> {
    if let Ok(p) = std::env::var("ILS_PASSWORD") {
        return Ok(p);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| {
        EngineError::input("auth.no_password", format!("cannot read the password: {e}"))
    })?;
    let line = line.trim_end_matches(['\r', '\n']).to_owned();
    if line.is_empty() {
        return Err(EngineError::input(
            "auth.no_password",
            "give the password in ILS_PASSWORD or on the first line of standard input",
        ));
    }
    Ok(line)
}

pub fn sync(engine: Engine, args: SyncArgs, user: Option<&str>, out: Out) -> CliResult {
    let shared = Arc::new(engine);
    let engine = &*shared;
    match args.command {
        Some(SyncCmd::Connect {
            server,
            domain,
            email,
            name,
            code,
        }) => {
            let state = engine.connect(&ConnectRequest {
                server,
                domain,
                email,
                password: password()?,
                device_name: name,
                code,
            })?;
            out.emit(&state, |s| {
                format!(
                    "connected to {} ({}) as device {}",
                    s.server.as_deref().unwrap_or("?"),
                    s.domain.as_deref().unwrap_or("?"),
                    s.device
                )
            });
        }
        Some(SyncCmd::Status) => {
            let state = engine.sync_state()?;
            out.emit(&state, status_text);
        }
        Some(SyncCmd::Rejected) => {
            let list = engine.sync_rejected()?;
            out.emit(&list, |l| {
                l.iter()
                    .map(|r| {
                        format!(
                            "{} {} {}: {} — {}",
                            r.operation,
                            r.entity,
                            r.entity_id,
                            r.code,
                            for_terminal(&r.message)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        Some(SyncCmd::Resolve { id, keep, .. }) => {
            let Some(user) = user else {
                return Err(EngineError::input(
                    "auth.not_signed_in",
                    "name the user who resolves it: --user EMAIL (or ILS_NODE_USER)",
                ));
            };
            engine.act_as(user)?;
            let resolution = if keep {
                Resolution::Kept
            } else {
                Resolution::Restored
            };
            engine.resolve_conflict(&id, resolution)?;
            out.emit(
                &serde_json::json!({"id": id, "resolution": resolution}),
                |_| format!("conflict {id}: {}", resolution.as_str()),
            );
        }
        Some(SyncCmd::Conflicts) => {
            let list = engine.sync_conflicts()?;
            out.emit(&list, |l| {
                l.iter()
                    .map(|c| {
                        format!(
                            "{} {} {}: version {} lost to {} ({})",
                            c.id,
                            c.entity,
                            c.entity_id,
                            c.lost_change_id,
                            c.won_change_id,
                            c.reason
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        None => {
            let Some(email) = args.email.as_deref().or(user) else {
                return Err(EngineError::input(
                    "auth.not_signed_in",
                    "name the user who syncs: --email EMAIL (or --user EMAIL)",
                ));
            };
            engine.sign_in_with_password(email, &password()?)?;
            if args.watch {
                return watch(shared, out);
            }
            let report = engine.sync_now()?;
            out.emit(&report, |r| {
                format!(
                    "pushed {} (duplicates {}, rejected {}, conflicts {}); pulled {} (superseded {}, conflicts {}); at {}",
                    r.pushed.applied,
                    r.pushed.duplicate,
                    r.pushed.rejected,
                    r.pushed.conflicts,
                    r.pulled.applied,
                    r.pulled.superseded,
                    r.pulled.conflicts,
                    r.cursor
                )
            });
        }
    }
    Ok(())
}

fn status_text(s: &SyncState) -> String {
    let last = s
        .last_success
        .map_or_else(|| "never".to_owned(), |t| t.to_rfc3339());
    let link = match s.online {
        Some(true) => "online",
        Some(false) => "offline",
        None => "not tried yet",
    };
    let mut text = format!(
        "server {} ({link})\ndevice {}\nlast sync {last}\npending {}, rejected {}, conflicts {}",
        s.server.as_deref().unwrap_or("(not connected)"),
        s.device,
        s.pending,
        s.rejected,
        s.conflicts
    );
    if let Some(at) = s.retry_at {
        text.push_str(&format!("\nnext attempt {}", at.to_rfc3339()));
    }
    if let Some(e) = &s.last_error {
        text.push_str(&format!("\nlast error: {}", for_terminal(e)));
    }
    text
}

/// `sync --watch`: the background sync in the foreground, its status printed as it changes.
fn watch(engine: Arc<Engine>, out: Out) -> CliResult {
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        let handler = ctrlc::set_handler(move || {
            if stop.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
        });
        if let Err(e) = handler {
            eprintln!("warning: Ctrl-C will not stop cleanly: {e}");
        }
    }
    let background = BackgroundSync::start(Arc::clone(&engine), Backoff::default())?;
    let mut shown: Option<SyncState> = None;
    while !stop.load(Ordering::SeqCst) {
        let state = engine.sync_state()?;
        if shown.as_ref() != Some(&state) {
            out.emit(&state, |s| format!("{}\n", status_text(s)));
            shown = Some(state);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    drop(background);
    Ok(())
}
