//! `cmek-gate check`: reads manifest files, directories and stdin, checks them with the engine
//! and prints the report.

use crate::batch::{check_inputs, check_inputs_streaming, CheckOptions, Input};
use crate::policy::load::manifest_files;
use crate::report::{InputError, ReportWriter, StreamFormat};
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
    #[command(flatten)]
    pub namespaces: super::NamespaceArgs,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Human)]
    pub output: Output,
    /// The admission operation the documents are checked as.
    #[arg(long, default_value = "CREATE", value_parser = ["CREATE", "UPDATE"])]
    pub operation: String,
    /// Also list documents that no policy applies to.
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// Run the mutating policies first: report what they would change (as warnings, and as a
    /// JSON patch in the JSON output) and judge the changed objects. Files are not written:
    /// `cmek-gate fix` writes the changes.
    #[arg(long)]
    pub mutate: bool,
    #[command(flatten)]
    pub live: super::LiveArgs,
}

pub fn run(args: CheckArgs) -> anyhow::Result<i32> {
    let set = args.policy.load_live(args.live.live)?;
    let live = args.live.live()?;
    let (inputs, unreadable) = read_inputs_reporting(&args.paths)?;
    let options = CheckOptions {
        operation: args.operation.clone(),
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        mutate: args.mutate,
        namespaces: args.namespaces.known()?,
        live,
        ..CheckOptions::default()
    };
    let stdout = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    let format = match args.output {
        Output::Json => StreamFormat::Json,
        Output::Human => StreamFormat::Human {
            verbose: args.verbose,
        },
        Output::Sarif => {
            // The SARIF log names the unreadable inputs and undecided bindings before its
            // results: the (small) results are gathered first; the documents are not kept.
            let mut report = check_inputs(&set, &inputs, &options);
            report.errors.splice(0..0, unreadable);
            let mut stdout = stdout;
            let log = crate::report::sarif::to_sarif(&report, &set, env!("CARGO_PKG_VERSION"));
            serde_json::to_writer_pretty(&mut stdout, &log)?;
            writeln!(stdout)?;
            stdout.flush()?;
            for error in &report.errors {
                eprintln!("error: {}: {}", error.file, error.message);
            }
            for r in &report.results {
                for u in &r.undecided {
                    eprintln!(
                        "error: {}:{}: {} {}: {}",
                        r.file, r.line, r.kind, r.name, u.message
                    );
                }
            }
            return Ok(report.exit_code());
        }
    };
    // Each input's entries are written as soon as it is decided, and its documents released.
    let mut writer = ReportWriter::new(stdout, format, unreadable);
    check_inputs_streaming(&set, &inputs, &options, &mut writer);
    let mut finished = writer.finish()?;
    if format == StreamFormat::Json {
        // The JSON document ends with a line break.
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout)?;
        stdout.flush()?;
    }
    for error in &finished.errors {
        eprintln!("error: {}: {}", error.file, error.message);
    }
    for line in finished.undecided.drain(..) {
        eprintln!("error: {line}");
    }
    Ok(finished.exit_code)
}

/// Reads every input: `-` is stdin (once), a directory is walked, a file is read as it is.
/// Reads every input; a path that cannot be read becomes an error of the report (so JSON and
/// SARIF output still say what was checked) rather than ending the run. `-` is stdin (once).
pub(crate) fn read_inputs_reporting(
    paths: &[PathBuf],
) -> anyhow::Result<(Vec<Input>, Vec<InputError>)> {
    if paths.iter().filter(|p| p.as_os_str() == "-").count() > 1 {
        bail!("- (stdin) is given more than once");
    }
    let mut inputs = Vec::new();
    let mut unreadable = Vec::new();
    for path in paths {
        match read_path(path) {
            Ok(read) => inputs.extend(read),
            Err(e) => unreadable.push(unreadable_input(path, &e)),
        }
    }
    Ok((inputs, unreadable))
}

/// Reads every input; the first that cannot be read ends it with an error.
pub(crate) fn read_inputs(paths: &[PathBuf]) -> anyhow::Result<Vec<Input>> {
    let (inputs, unreadable) = read_inputs_reporting(paths)?;
    match unreadable.into_iter().next() {
        Some(e) => bail!("{}: {}", e.file, e.message),
        None => Ok(inputs),
    }
}

/// An input that could not be read, its message without the file name it would repeat.
pub(crate) fn unreadable_input(path: &std::path::Path, error: &anyhow::Error) -> InputError {
    let file = path.display().to_string();
    let message = format!("{error:#}");
    let message = message
        .strip_prefix(&format!("{file}: "))
        .unwrap_or(&message)
        .to_owned();
    InputError { file, message }
}

/// One path: stdin for `-`, a directory walked, or a file.
fn read_path(path: &std::path::Path) -> anyhow::Result<Vec<Input>> {
    if path.as_os_str() == "-" {
        let mut text = Vec::new();
        std::io::stdin()
            .read_to_end(&mut text)
            .context("cannot read stdin")?;
        return Ok(vec![Input {
            name: "<stdin>".into(),
            text,
        }]);
    }
    let files = manifest_files(path, false)?;
    if files.is_empty() {
        bail!("no .yaml, .yml or .json files in this directory");
    }
    files
        .into_iter()
        .map(|file| {
            let text =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            Ok(Input {
                name: file.display().to_string(),
                text,
            })
        })
        .collect()
}
