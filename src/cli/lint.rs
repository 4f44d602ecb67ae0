//! `cmek-gate lint`: reads policy files (or the embedded library), lints them, prints the findings
//! as `file:line:col: severity: message [rule]`, JSON or SARIF. Exit 0 clean (or warnings only),
//! 1 when an error is found (or a warning, with `--deny-warnings`), 2 when a file cannot be read.

use super::check::Output;
use crate::lint::{exit_code, lint_report, Finding, LintOptions, Severity};
use crate::policy::load::manifest_files;
use crate::policy::{embedded, Source};
use clap::Args;
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct LintArgs {
    /// Policy files or directories (walked for .yaml, .yml and .json, skipping tests/); none: the
    /// embedded library.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Human)]
    pub output: Output,
    /// Exit 1 on warnings too.
    #[arg(long)]
    pub deny_warnings: bool,
    #[command(flatten)]
    pub cost: super::CostArgs,
}

pub fn run(args: LintArgs) -> anyhow::Result<i32> {
    let (sources, unreadable) = read(&args.paths);
    let options = LintOptions {
        max_expression_cost: args.cost.max_expression_cost,
        max_policy_cost: args.cost.max_policy_cost,
        kubernetes_version: args.cost.kubernetes_version,
        extensions: args.cost.cel_extensions,
    };
    let report = lint_report(&sources, &options);
    let findings = report.findings;
    let code = if unreadable.is_empty() {
        exit_code(&findings, args.deny_warnings)
    } else {
        2
    };
    let mut stdout = std::io::stdout().lock();
    match args.output {
        Output::Human => {
            for finding in &findings {
                writeln!(stdout, "{finding}")?;
            }
            for policy in &report.policies {
                eprintln!("{policy}");
            }
            eprintln!("{}", summary(&findings, sources.len()));
        }
        Output::Json => {
            let report = json!({
                "findings": findings,
                "errors": unreadable.iter().map(|(file, message)| json!({"file": file, "message": message})).collect::<Vec<_>>(),
                "policies": report.policies,
                "summary": {
                    "files": sources.len(),
                    "errors": count(&findings, Severity::Error),
                    "warnings": count(&findings, Severity::Warning),
                },
            });
            serde_json::to_writer_pretty(&mut stdout, &report)?;
            writeln!(stdout)?;
        }
        Output::Sarif => {
            let mut log = crate::lint::sarif::to_sarif(
                &findings,
                &unreadable,
                code,
                env!("CARGO_PKG_VERSION"),
            );
            crate::lint::sarif::add_policy_releases(&mut log, &report.policies);
            serde_json::to_writer_pretty(&mut stdout, &log)?;
            writeln!(stdout)?;
        }
    }
    for (file, message) in &unreadable {
        eprintln!("error: {file}: {message}");
    }
    Ok(code)
}

/// The sources under `paths` (the embedded library when there are none), and those that could
/// not be read, as (name, message).
fn read(paths: &[PathBuf]) -> (Vec<Source>, Vec<(String, String)>) {
    if paths.is_empty() {
        return (embedded::sources(), Vec::new());
    }
    let mut sources = Vec::new();
    let mut unreadable = Vec::new();
    for path in paths {
        let files = match manifest_files(path, true) {
            Ok(files) => files,
            // The error names the file it is about (it may be one inside `path`): once.
            Err(crate::policy::PolicyError::Read { path, message }) => {
                unreadable.push((path, message));
                continue;
            }
            Err(error) => {
                unreadable.push((path.display().to_string(), error.to_string()));
                continue;
            }
        };
        for file in files {
            let name = file.display().to_string();
            match std::fs::read_to_string(&file) {
                Ok(text) => sources.push(Source { name, text }),
                Err(error) => unreadable.push((name, error.to_string())),
            }
        }
    }
    (sources, unreadable)
}

fn count(findings: &[Finding], severity: Severity) -> usize {
    findings.iter().filter(|f| f.severity == severity).count()
}

fn summary(findings: &[Finding], files: usize) -> String {
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    format!(
        "{}, {} in {}",
        plural(count(findings, Severity::Error), "error"),
        plural(count(findings, Severity::Warning), "warning"),
        plural(files, "file")
    )
}
