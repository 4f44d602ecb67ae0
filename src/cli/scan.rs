//! `cmek-gate scan`: the compliance of what is deployed or committed, with the KPIs.
//! `gcloud run services list --format json | cmek-gate scan -` scans what runs today.

use super::check::read_inputs_reporting;
use crate::batch::{check_inputs_keeping_documents, CheckOptions};
use crate::scan::{
    is_empty_list, scan, to_csv, to_markdown, to_prometheus, to_table, ScanSettings,
};
use clap::{Args, ValueEnum};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ScanOutput {
    Table,
    Json,
    Csv,
    Markdown,
    Prometheus,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Manifest files or directories, or - for stdin (e.g. `gcloud run services list --format json`).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub policy: super::PolicyArgs,
    #[command(flatten)]
    pub namespaces: super::NamespaceArgs,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = ScanOutput::Table)]
    pub output: ScanOutput,
    /// Exit 1 when the compliance rate (compliant / sensitive) is below this percentage.
    #[arg(long, value_name = "PERCENT")]
    pub min_compliance: Option<f64>,
    /// With --live, compliant also means the key works (the live policies read Google), and the
    /// report lists the resources whose key does not and those whose service agent lacks the
    /// role.
    #[command(flatten)]
    pub live: super::LiveArgs,
}

pub fn run(args: ScanArgs) -> anyhow::Result<i32> {
    if let Some(p) = args.min_compliance {
        anyhow::ensure!(
            (0.0..=100.0).contains(&p),
            "--min-compliance {p}: must be a percentage from 0 to 100"
        );
    }
    let namespaces = args.namespaces.known()?;
    let progress = std::io::stderr().is_terminal();
    let set = args.policy.load_live(args.live.live)?;
    let live = args.live.live()?;
    let (inputs, unreadable) = read_inputs_reporting(&args.paths)?;
    let limits = CheckOptions::default().limits;
    let (empty_lists, inputs): (Vec<_>, Vec<_>) = inputs
        .into_iter()
        .partition(|input| is_empty_list(&input.text, &limits));
    if progress {
        let bytes: usize = inputs.iter().map(|i| i.text.len()).sum();
        eprint!(
            "scanning {} input(s), {} KiB ...",
            inputs.len(),
            bytes / 1024
        );
    }
    let options = CheckOptions {
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        namespaces,
        live,
        ..CheckOptions::default()
    };
    let (mut report, documents) = check_inputs_keeping_documents(&set, &inputs, &options);
    report.errors.splice(0..0, unreadable);
    let mut result = scan(&ScanSettings::from_policy_set(&set), &documents, &report);
    result.empty_lists = empty_lists.into_iter().map(|i| i.name).collect();
    if progress {
        eprintln!(
            " {} documents, {} Cloud Run resources",
            documents.len(),
            result.total.resources
        );
    }
    let text = match args.output {
        ScanOutput::Table => to_table(&result),
        ScanOutput::Json => serde_json::to_string_pretty(&result)? + "\n",
        ScanOutput::Csv => to_csv(&result),
        ScanOutput::Markdown => to_markdown(&result),
        ScanOutput::Prometheus => to_prometheus(&result),
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    for error in &report.errors {
        eprintln!("error: {}: {}", error.file, error.message);
    }
    let undecided: Vec<_> = report
        .results
        .iter()
        .flat_map(|r| r.undecided.iter().map(move |u| (r, u)))
        .collect();
    for (r, u) in &undecided {
        eprintln!(
            "error: {}:{}: {} {}: {}",
            r.file, r.line, r.kind, r.name, u.message
        );
    }
    if !report.errors.is_empty() || !undecided.is_empty() {
        return Ok(2);
    }
    if let Some(minimum) = args.min_compliance {
        if result.total.compliance_percent < minimum {
            eprintln!(
                "compliance {:.2}% is below the minimum {minimum}%",
                result.total.compliance_percent
            );
            return Ok(1);
        }
    }
    Ok(0)
}
