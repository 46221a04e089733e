//! Benchmarks.

use clap::Subcommand;

use crate::commands::Context;
use crate::output::CliResult;

#[derive(Debug, Subcommand)]
pub enum BenchCmd {
    Embed,
}

pub fn run(_ctx: &Context, _cmd: BenchCmd) -> CliResult {
    Ok(())
}
