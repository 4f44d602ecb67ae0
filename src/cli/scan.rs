//! `cmek-gate scan`: the compliance of what is deployed or committed, with the KPIs.
//! `gcloud run services list --format json | cmek-gate scan -` scans what runs today.

mod history;

use super::check::read_inputs_reporting;
use crate::batch::{check_inputs_judging, CheckOptions, Input};
use crate::report::InputError;
use crate::scan::cai::{self, CaiFormat};
use crate::scan::{
    describe, is_empty_list, scan, to_csv, to_html, to_markdown, to_prometheus, to_table,
    ScanSettings,
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
    // One self-contained page (src/scan/html.rs): the KPIs, the trend from --history,
    // breakdowns, the non-compliant list and the keys with their estimated cost.
    Html,
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
    /// What the inputs hold: manifests (YAML or JSON, `gcloud run … list --format json`), or
    /// Cloud Asset Inventory output (`gcloud asset export --content-type=resource`'s
    /// newline-delimited JSON, `gcloud asset list` or `search-all-resources --read-mask='*'`
    /// with `--format json`). `auto` tells them apart by their first object.
    #[arg(long, alias = "format", value_enum, default_value_t = InputFormat::Auto)]
    pub input_format: InputFormat,
    /// Keep a snapshot of each run in DIR and report the changes since the last one, how long
    /// each non-compliant resource has been so, and the mean time to remediate.
    #[arg(long, value_name = "DIR")]
    pub history: Option<PathBuf>,
    /// Delete the snapshots in the --history DIR older than this many days.
    #[arg(long, value_name = "DAYS", default_value_t = 90, value_parser = clap::value_parser!(u32).range(1..))]
    pub history_keep: u32,
    /// The time of this run's snapshot, in UTC as RFC 3339 (2026-01-31T02:00:00Z), instead of the
    /// clock's: for backfills and tests.
    #[arg(long, env = "CMEK_GATE_NOW", value_name = "TIME")]
    pub now: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum InputFormat {
    Auto,
    Manifests,
    #[value(alias = "export")]
    CaiExport,
    #[value(alias = "list")]
    CaiList,
    #[value(alias = "search")]
    CaiSearch,
}

/// Turns each input that holds Cloud Asset Inventory output into the manifests of its Cloud Run
/// resources (see [`crate::scan::cai`]); the others are left as they are. An input that cannot
/// be read as the format it was given or detected as is an error, not skipped.
fn read_assets(inputs: Vec<Input>, format: InputFormat) -> (Vec<Input>, Vec<InputError>, usize) {
    let (mut read, mut errors, mut other_assets) = (Vec::new(), Vec::new(), 0);
    for mut input in inputs {
        let text = std::str::from_utf8(&input.text).ok();
        let cai_format = match format {
            InputFormat::Manifests => None,
            InputFormat::CaiExport => Some(CaiFormat::Export),
            InputFormat::CaiList => Some(CaiFormat::List),
            InputFormat::CaiSearch => Some(CaiFormat::Search),
            InputFormat::Auto => text.and_then(cai::detect),
        };
        let Some(cai_format) = cai_format else {
            read.push(input);
            continue;
        };
        let assets = match text {
            Some(text) => cai::read(text, cai_format),
            None => Err(cai::CaiError::Json("not UTF-8".into())),
        };
        match assets {
            Ok(assets) => {
                other_assets += assets.other_assets;
                input.text = cai::to_check_text(&assets).into_bytes();
                read.push(input);
            }
            Err(error) => errors.push(InputError {
                file: input.name,
                message: format!("{}: {error}", cai_format.describe()),
            }),
        }
    }
    (read, errors, other_assets)
}

pub fn run(args: ScanArgs) -> anyhow::Result<i32> {
    if let Some(p) = args.min_compliance {
        anyhow::ensure!(
            (0.0..=100.0).contains(&p),
            "--min-compliance {p}: must be a percentage from 0 to 100"
        );
    }
    // The run's time, for --history only (a CMEK_GATE_NOW left in the environment of a scan
    // without history is not read).
    let now = match (&args.history, &args.now) {
        (None, _) => None,
        (Some(_), Some(text)) => Some(
            crate::scan::history::parse_time(text)
                .map_err(|e| anyhow::anyhow!("--now (CMEK_GATE_NOW): {e}"))?,
        ),
        (Some(_), None) => Some(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_secs() as i64,
        ),
    };
    let namespaces = args.namespaces.known()?;
    let progress = std::io::stderr().is_terminal();
    let set = args.policy.load_live(args.live.live)?;
    let live = args.live.live()?;
    let (inputs, mut unreadable) = read_inputs_reporting(&args.paths)?;
    let (inputs, unreadable_assets, other_assets) = read_assets(inputs, args.input_format);
    unreadable.extend(unreadable_assets);
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
    let settings = ScanSettings::from_policy_set(&set)
        .map_err(|e| anyhow::anyhow!("the CmekGateParams object `default`: {e}"))?;
    // Each document is described as it is judged and then released: only the Cloud Run
    // resources' facts are kept.
    let judged = check_inputs_judging(&set, &inputs, &options, |document, _| {
        describe(&settings, &document)
    });
    let mut report = judged.report;
    report.errors.splice(0..0, unreadable);
    let documents = judged.kept.len();
    let mut result = scan(&settings, judged.kept, &report);
    result.empty_lists = empty_lists.into_iter().map(|i| i.name).collect();
    if progress {
        eprintln!(
            " {} documents, {} Cloud Run resources",
            documents, result.total.resources
        );
    }
    if other_assets > 0 {
        eprintln!(
            "note: {other_assets} Cloud Asset Inventory asset(s) of other types than Cloud Run services, jobs and worker pools were not scanned"
        );
    }
    let undecided = report.results.iter().any(|r| !r.undecided.is_empty());
    if let (Some(dir), Some(now)) = (&args.history, now) {
        if report.errors.is_empty() && !undecided {
            result.history = Some(history::record(
                dir,
                args.history_keep,
                now,
                &result.resources,
            )?);
        } else {
            eprintln!(
                "note: no snapshot written to {}: a scan with errors would count what it could not read as gone",
                dir.display()
            );
        }
    }
    let text = match args.output {
        ScanOutput::Table => to_table(&result),
        ScanOutput::Json => serde_json::to_string_pretty(&result)? + "\n",
        ScanOutput::Csv => to_csv(&result),
        ScanOutput::Markdown => to_markdown(&result),
        ScanOutput::Prometheus => to_prometheus(&result),
        ScanOutput::Html => to_html(&result),
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
