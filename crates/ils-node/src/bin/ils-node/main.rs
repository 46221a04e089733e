//! `ils-node`: the desktop engine without a window. Every subcommand calls the same library
//! functions the desktop app calls. Human-readable output by default, `--json` for scripts;
//! errors go to stderr with exit code 2 for input a person can fix and 1 for anything else.

mod bench;
mod commands;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use output::Out;

#[derive(Debug, Parser)]
#[command(
    name = "ils-node",
    version,
    about = "ILS Desktop engine, from the command line"
)]
struct Cli {
    /// The installation's database file (created by `init`).
    #[arg(long, env = "ILS_NODE_DB", global = true)]
    db: Option<PathBuf>,
    /// Who is working: the audit log names them.
    #[arg(long, env = "ILS_NODE_USER", global = true)]
    user: Option<String>,
    /// The embedding model's folder (default: models/all-MiniLM-L6-v2 of the checkout).
    #[arg(long, env = "ILS_MODEL_DIR", global = true)]
    model: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Creates (or upgrades) the database and prints where it is.
    Init,
    /// Patients: add, list, search, show.
    #[command(subcommand)]
    Patients(commands::PatientCmd),
    /// Prescriptions: add (JSON or FHIR), show, export as FHIR.
    #[command(subcommand)]
    Rx(commands::RxCmd),
    /// Lens orders: create, transition, list, timeline.
    #[command(subcommand)]
    Orders(commands::OrderCmd),
    /// The knowledge base: ingest, search, list, delete.
    #[command(subcommand)]
    Kb(commands::KbCmd),
    /// Benchmarks (build with --release): embedding, search, ingest.
    Bench(BenchArgs),
}

#[derive(Debug, Args)]
struct BenchArgs {
    #[command(subcommand)]
    which: bench::BenchCmd,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = Out::new(cli.json);
    let ctx = commands::Context {
        db: cli.db.unwrap_or_else(default_db),
        user: cli.user,
        model: cli.model,
        out,
    };
    let result = match cli.command {
        Command::Init => commands::init(&ctx),
        Command::Patients(c) => commands::patients(&ctx, c),
        Command::Rx(c) => commands::rx(&ctx, c),
        Command::Orders(c) => commands::orders(&ctx, c),
        Command::Kb(c) => commands::kb(&ctx, c),
        Command::Bench(b) => bench::run(&ctx, b.which),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            out.error(&e);
            ExitCode::from(if e.is_user_error() { 2 } else { 1 })
        }
    }
}

/// `$XDG_DATA_HOME/ils/ils-node.db`, else `~/.local/share/ils/ils-node.db`.
fn default_db() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("ils").join("ils-node.db")
}
