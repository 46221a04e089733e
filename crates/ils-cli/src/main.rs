//! `ils-node`: ILS Desktop's engine without a window. Every subcommand parses its arguments,
//! calls one function of the engine API (`ils_node::Engine`) and prints the result: text for
//! people, `--json` for scripts. Errors go to stderr as `error: …` (or, with `--json`,
//! `{"error": {code, message, fields}}`), with exit code 2 for what the person running it can
//! fix and 1 for anything else.

mod commands;
mod output;
mod sync;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ils_node::{Engine, EngineError, NodeSettings};

use output::Out;

#[derive(Debug, Parser)]
#[command(
    name = "ils-node",
    version,
    about = "ILS Desktop's engine, from the command line"
)]
struct Cli {
    /// The installation's database file (default: ~/.local/share/ils/ils-node.db).
    #[arg(long, global = true)]
    db: Option<PathBuf>,
    /// The e-mail address of the practice's user who is working (the audit log names them;
    /// their role decides what they may do).
    #[arg(long, global = true)]
    user: Option<String>,
    /// The embedding model's folder.
    #[arg(long, global = true)]
    model: Option<PathBuf>,
    /// A settings file (TOML), read before the environment (ILS_NODE_*).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Creates (or upgrades) the database; with --practice, creates the practice and its
    /// first administrator.
    Init(commands::InitArgs),
    /// The practice's users: add, list.
    #[command(subcommand)]
    Users(commands::UserCmd),
    /// Patients: add, list, search, show, update, delete.
    #[command(subcommand)]
    Patients(commands::PatientCmd),
    /// Prescriptions: add (ILS form or FHIR), show, update a draft, change status, export FHIR.
    #[command(subcommand)]
    Rx(commands::RxCmd),
    /// Lens orders: create, transition, list, show, timeline, DCS.
    #[command(subcommand)]
    Orders(commands::OrderCmd),
    /// The knowledge base: ingest, search, list, delete.
    #[command(subcommand)]
    Kb(commands::KbCmd),
    /// The audit log, newest first.
    Audit(commands::AuditArgs),
    /// Asks the assistant; the answer streams as it is written, then the passages it used.
    Ask(commands::AskArgs),
    /// Sync with ILS Central: `sync connect`, `sync` (push and pull now), `sync status`,
    /// `sync rejected`, `sync conflicts`.
    Sync(sync::SyncArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = Out::new(cli.json);
    let result = run(cli, out);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            out.error(&e);
            ExitCode::from(if e.user_error { 2 } else { 1 })
        }
    }
}

fn run(cli: Cli, out: Out) -> Result<(), EngineError> {
    let mut settings = NodeSettings::load(cli.config.as_deref())
        .map_err(|e| EngineError::input("settings.invalid", e.to_string()))?;
    if cli.db.is_some() {
        settings.db = cli.db;
    }
    if cli.user.is_some() {
        settings.user = cli.user;
    }
    if cli.model.is_some() {
        settings.model_dir = cli.model;
    }
    let engine = Engine::open(&settings)?;
    let command = match cli.command {
        Command::Init(args) => return commands::init(&engine, args, out),
        Command::Sync(args) => return sync::sync(engine, args, settings.user.as_deref(), out),
        other => other,
    };
    let Some(user) = settings.user.as_deref() else {
        return Err(EngineError::input(
            "auth.not_signed_in",
            "name the user who is working: --user EMAIL (or ILS_NODE_USER)",
        ));
    };
    engine.act_as(user)?;
    match command {
        Command::Init(_) | Command::Sync(_) => Ok(()),
        Command::Users(c) => commands::users(&engine, c, out),
        Command::Patients(c) => commands::patients(&engine, c, out),
        Command::Rx(c) => commands::rx(&engine, c, out),
        Command::Orders(c) => commands::orders(&engine, c, out),
        Command::Kb(c) => commands::kb(&engine, c, out),
        Command::Audit(a) => commands::audit(&engine, a, out),
        Command::Ask(a) => commands::ask(&engine, a, out),
    }
}
