//! The command line: arguments in, a library call, output and an exit code out. One file per
//! subcommand. Errors here carry context for people (anyhow); the library's are typed.

pub mod certs;
pub mod check;
pub mod krm;
pub mod scan;
pub mod serve;

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
    /// Run as a KRM function (kpt): a ResourceList on stdin, the same with results on stdout.
    Krm(krm::KrmArgs),
    /// Report the CMEK compliance of Cloud Run resources: rate, breakdowns, keys in use.
    Scan(scan::ScanArgs),
    /// Serve the HTTPS admission webhook (/validate) and check endpoint (/v1/check).
    Serve(serve::ServeArgs),
    /// Write development certificates (a CA and a serving certificate) and print the caBundle.
    Certs(certs::CertsArgs),
}

/// Runs the parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Check(args) => check::run(args),
        Command::Krm(args) => krm::run(args),
        Command::Scan(args) => scan::run(args),
        Command::Serve(args) => serve::run_serve(args),
        Command::Certs(args) => certs::run_certs(args),
    }
}

/// Policy paths as given: an empty list means the embedded library.
pub(crate) fn policy_paths(paths: Vec<std::path::PathBuf>) -> Vec<std::path::PathBuf> {
    paths
        .into_iter()
        .filter(|p| !p.as_os_str().is_empty())
        .collect()
}
