//! `cmek-gate scan`: the compliance of what is deployed or committed, with the KPIs.
//! `gcloud run services list --format json | cmek-gate scan -` scans what runs today.

mod history;
mod inputs;
mod spool;

use crate::batch::{check_inputs_judging, CheckOptions, Input};
use crate::report::InputError;
use crate::scan::cai;
use crate::scan::listing::{write_json, ScanLists};
use crate::scan::{
    describe, is_empty_list, listed, to_html, to_markdown, to_prometheus, to_table, write_csv,
    List, LiveProblem, Scan, ScanSettings, Tallies,
};
use anyhow::Context;
use clap::{Args, ValueEnum};
use spool::Spool;
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

/// How many CAI assets make one input of the check: each is parsed as one JSON array (a few
/// hundred kilobytes), and a batch of one per thread is judged at a time.
const ASSETS_PER_PIECE: usize = 256;

/// What the scan gathers as inputs are judged: the counts, the lists (in files), the errors.
struct Gathered {
    tallies: Tallies,
    spool: Spool,
    errors: Vec<InputError>,
    /// Each undecided binding as it is said on stderr.
    undecided: usize,
    /// The CAI inputs read that hold no Cloud Run resource.
    empty_lists: Vec<String>,
    documents: usize,
}

impl Gathered {
    /// Adds what a check found: each Cloud Run resource with its verdict (`kept` in the order of
    /// the report's results), its document number moved by `documents_before` and its line by
    /// `lines_before`.
    fn add(
        &mut self,
        judged: crate::batch::Judged<Option<crate::scan::Resource>>,
        documents_before: usize,
        lines_before: u32,
    ) -> anyhow::Result<()> {
        self.errors.extend(judged.report.errors);
        self.documents += judged.kept.len();
        for (resource, mut result) in judged.kept.into_iter().zip(judged.report.results) {
            for u in &result.undecided {
                eprintln!(
                    "error: {}:{}: {} {}: {}",
                    result.file,
                    result.line + lines_before,
                    result.kind,
                    result.name,
                    u.message
                );
                self.undecided += 1;
            }
            let Some(resource) = resource else {
                continue;
            };
            result.document += documents_before;
            result.line += lines_before;
            let listed = listed(resource, &result);
            self.tallies.add(&listed);
            self.spool.add(&listed)?;
        }
        Ok(())
    }
}

/// Judges some inputs, their document numbers and lines moved by so many, into what is gathered.
type Judge<'a> = dyn FnMut(&[Input], usize, u32, &mut Gathered) -> anyhow::Result<()> + 'a;

/// Judges a CAI input as it is read, a batch of pieces at a time: only a batch's assets are held.
fn scan_cai(
    input: inputs::CaiInput,
    threads: usize,
    max_line_bytes: usize,
    judge: &mut Judge,
    gathered: &mut Gathered,
) -> anyhow::Result<usize> {
    let mut batch: Vec<(usize, serde_json::Value)> = Vec::new();
    let mut judged_before = 0;
    let mut failed: Option<anyhow::Error> = None;
    let name = input.name;
    let mut flush = |batch: &mut Vec<(usize, serde_json::Value)>,
                     judged_before: &mut usize,
                     gathered: &mut Gathered|
     -> anyhow::Result<()> {
        for piece in batch.chunks(ASSETS_PER_PIECE) {
            // An export's lines: the piece's text starts on its first asset's line.
            let first_line = piece[0].0.max(1);
            let text = cai::to_check_text_from(piece, first_line);
            let input = Input {
                name: name.clone(),
                text: text.into_bytes(),
            };
            judge(
                std::slice::from_ref(&input),
                *judged_before,
                first_line as u32 - 1,
                gathered,
            )?;
            *judged_before += piece.len();
        }
        batch.clear();
        Ok(())
    };
    let read = cai::read_each(
        input.reader,
        input.format,
        max_line_bytes,
        &mut |line, manifest| {
            if failed.is_some() {
                return;
            }
            batch.push((line, manifest));
            if batch.len() >= ASSETS_PER_PIECE * threads {
                if let Err(e) = flush(&mut batch, &mut judged_before, gathered) {
                    failed = Some(e);
                }
            }
        },
    );
    if let Some(e) = failed {
        return Err(e);
    }
    // What was read before an error is counted; the error makes the scan fail (exit 2).
    flush(&mut batch, &mut judged_before, gathered)?;
    match read {
        Ok(other_assets) => {
            // Read, with no Cloud Run resource: an empty list, as an empty `[]` is.
            if judged_before == 0 {
                gathered.empty_lists.push(name);
            }
            Ok(other_assets)
        }
        Err(error) => {
            gathered.errors.push(InputError {
                file: name.clone(),
                message: format!("{}: {error}", input.format.describe()),
            });
            Ok(0)
        }
    }
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
    // Sensitivity is what the policies say: a set with no policy saying it would count nothing
    // sensitive, 100% compliant. Refused instead.
    anyhow::ensure!(
        !set.sensitivity_policies().is_empty(),
        "no bound policy in the set is marked {}: {}, so scan cannot tell which resources are sensitive; mark the policy that requires a key (see docs/scan-policies.md)",
        crate::policy::SCAN_ROLE_ANNOTATION,
        crate::policy::SCAN_ROLE_SENSITIVITY
    );
    let live = args.live.live()?;
    let opened = inputs::open(&args.paths, args.input_format)?;
    let limits = CheckOptions::default().limits;
    let (empty_lists, manifests): (Vec<_>, Vec<_>) = opened
        .manifests
        .into_iter()
        .partition(|input| is_empty_list(&input.text, &limits));
    if progress {
        let bytes: usize = manifests.iter().map(|i| i.text.len()).sum();
        eprint!(
            "scanning {} input(s), {} KiB, and {} Cloud Asset Inventory input(s) ...",
            manifests.len(),
            bytes / 1024,
            opened.cai.len()
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
    let mut gathered = Gathered {
        tallies: Tallies::default(),
        spool: Spool::new().context("cannot create the scan's temporary files")?,
        errors: opened.unreadable,
        undecided: 0,
        empty_lists: Vec::new(),
        documents: 0,
    };
    // Each document is described as it is judged and then released: only the Cloud Run
    // resources' facts are kept, and written to the spool.
    let mut judge = |inputs: &[Input],
                     documents_before: usize,
                     lines_before: u32,
                     gathered: &mut Gathered|
     -> anyhow::Result<()> {
        let judged = check_inputs_judging(&set, inputs, &options, |document, _| {
            describe(&settings, &document)
        });
        gathered.add(judged, documents_before, lines_before)
    };
    judge(&manifests, 0, 0, &mut gathered)?;
    drop(manifests);
    let mut other_assets = 0;
    for input in opened.cai {
        other_assets += scan_cai(
            input,
            options.threads,
            limits.max_bytes,
            &mut judge,
            &mut gathered,
        )?;
    }
    let Gathered {
        tallies,
        mut spool,
        errors,
        undecided,
        documents,
        empty_lists: empty_cai,
    } = gathered;
    let mut result = tallies.finish(&settings);
    result.errors = errors;
    result.empty_lists = empty_lists.into_iter().map(|i| i.name).collect();
    result.empty_lists.extend(empty_cai);
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
    if let (Some(dir), Some(now)) = (&args.history, now) {
        if result.errors.is_empty() && undecided == 0 {
            let mut snapshot = crate::scan::history::Snapshot {
                taken_at: now,
                entries: Default::default(),
            };
            spool.each(List::Resources, &mut |r, _| {
                snapshot.add(r);
                Ok(())
            })?;
            result.history = Some(history::record(dir, args.history_keep, now, snapshot)?);
        } else {
            eprintln!(
                "note: no snapshot written to {}: a scan with errors would count what it could not read as gone",
                dir.display()
            );
        }
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match args.output {
        ScanOutput::Json => write_json(&result, &mut spool, &mut out)?,
        ScanOutput::Csv => write_csv(&result, &mut spool, &mut out)?,
        ScanOutput::Table | ScanOutput::Markdown | ScanOutput::Prometheus | ScanOutput::Html => {
            // These list the non-compliant and over-applied resources, not every resource:
            // only those lists are read back into memory.
            load_lists(&mut result, &mut spool)?;
            let text = match args.output {
                ScanOutput::Table => to_table(&result),
                ScanOutput::Markdown => to_markdown(&result),
                ScanOutput::Html => to_html(&result),
                _ => to_prometheus(&result),
            };
            out.write_all(text.as_bytes())?;
        }
    }
    out.flush()?;
    drop(out);
    for error in &result.errors {
        eprintln!("error: {}: {}", error.file, error.message);
    }
    if !result.errors.is_empty() || undecided > 0 {
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

/// The lists but `resources`, read back from the spool into the scan.
fn load_lists(result: &mut Scan, spool: &mut Spool) -> std::io::Result<()> {
    for list in [List::NonCompliant, List::KeysNotNeeded] {
        let mut resources = Vec::new();
        spool.each(list, &mut |r, _| {
            resources.push(r.clone());
            Ok(())
        })?;
        match list {
            List::NonCompliant => result.non_compliant = resources,
            _ => result.keys_not_needed = resources,
        }
    }
    for list in [List::KeyNotUsable, List::AgentWithoutRole] {
        let mut problems = Vec::new();
        spool.each(list, &mut |resource, message| {
            problems.push(LiveProblem {
                resource: resource.clone(),
                message: message.unwrap_or_default().to_owned(),
            });
            Ok(())
        })?;
        match list {
            List::KeyNotUsable => result.key_not_usable = problems,
            _ => result.agent_without_role = problems,
        }
    }
    Ok(())
}
