//! The command line: arguments in, a library call, output and an exit code out. One file per
//! subcommand. Errors here carry context for people (anyhow); the library's are typed.

pub mod check;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "cmek-gate",
    version,
    about = "Keeps sensitive Cloud Run services from being deployed without a customer-managed encryption key (CMEK)",
    long_about = None,
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check manifests against the policies: exit 0 allowed, 1 denied, 2 error.
    Check(check::CheckArgs),
}

/// Runs the parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Check(args) => check::run(args),
    }
}
