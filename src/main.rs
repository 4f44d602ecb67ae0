//! The `cmek-gate` binary: parse the command line, run it, map errors to exit code 2.

use clap::Parser;
use std::process::ExitCode;

/// mimalloc instead of the system's allocator: parsing YAML and evaluating CEL allocate many small
/// values, and glibc's malloc and free were about a quarter of `check`'s instructions (see the
/// README's Performance section).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cmek_gate::cli::Cli::parse();
    match cmek_gate::cli::run(cli) {
        Ok(code) => ExitCode::from(code as u8),
        Err(error) => {
            eprintln!("error: {}", cmek_gate::cli::error_text(&error));
            ExitCode::from(2)
        }
    }
}
