//! `cmek-gate check`: reads manifest files, directories and stdin, checks them with the engine
//! and prints the report.

use crate::check::{check_inputs, CheckOptions, Input};
use crate::policy::load::manifest_files;
use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use std::io::{Read, Write};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Output {
    Human,
    Json,
    /// SARIF 2.1.0, for GitHub code scanning and other CI systems.
    Sarif,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Manifest files or directories (walked for .yaml, .yml and .json), or - for stdin.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub policy: super::PolicyArgs,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Human)]
    pub output: Output,
    /// The admission operation the documents are checked as.
    #[arg(long, default_value = "CREATE", value_parser = ["CREATE", "UPDATE"])]
    pub operation: String,
    /// Also list documents that no policy applies to.
    #[arg(long, short = 'v')]
    pub verbose: bool,
}

pub fn run(args: CheckArgs) -> anyhow::Result<i32> {
    let set = args.policy.load()?;
    let inputs = read_inputs(&args.paths)?;
    let options = CheckOptions {
        operation: args.operation.clone(),
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        ..CheckOptions::default()
    };
    let report = check_inputs(&set, &inputs, &options);
    let mut stdout = std::io::stdout().lock();
    match args.output {
        Output::Json => {
            serde_json::to_writer_pretty(&mut stdout, &report.to_json())?;
            writeln!(stdout)?;
        }
        Output::Sarif => {
            let log = crate::sarif::to_sarif(&report, &set, env!("CARGO_PKG_VERSION"));
            serde_json::to_writer_pretty(&mut stdout, &log)?;
            writeln!(stdout)?;
        }
        Output::Human => write!(stdout, "{}", report.to_human(args.verbose))?,
    }
    for error in &report.errors {
        eprintln!("error: {}: {}", error.file, error.message);
    }
    Ok(report.exit_code())
}

/// Reads every input: `-` is stdin (once), a directory is walked, a file is read as it is.
pub(crate) fn read_inputs(paths: &[PathBuf]) -> anyhow::Result<Vec<Input>> {
    let mut inputs = Vec::new();
    let mut stdin_read = false;
    for path in paths {
        if path.as_os_str() == "-" {
            if stdin_read {
                bail!("- (stdin) is given more than once");
            }
            stdin_read = true;
            let mut text = Vec::new();
            std::io::stdin()
                .read_to_end(&mut text)
                .context("cannot read stdin")?;
            inputs.push(Input {
                name: "<stdin>".into(),
                text,
            });
            continue;
        }
        let files = manifest_files(path, false)?;
        if files.is_empty() {
            bail!(
                "{}: no .yaml, .yml or .json files in this directory",
                path.display()
            );
        }
        for file in files {
            let text =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            inputs.push(Input {
                name: file.display().to_string(),
                text,
            });
        }
    }
    Ok(inputs)
}
