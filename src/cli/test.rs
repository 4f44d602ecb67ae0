//! `cmek-gate test`: runs policy test suites (see `crate::suite` for the format) and reports
//! like `cargo test`: a line per case, the differences of a failed one, and a last line
//! `N passed, N failed`. Exit 1 when a case fails, 2 when a suite or its policies cannot be read.

use crate::manifest::{self, Node, ReadLimits};
use crate::policy::load::{manifest_files, policy_sources, read_sources, refuse_unbound};
use crate::policy::PolicySet;
use crate::suite::{parse_suite, run_case, Case};
use anyhow::{bail, Context};
use clap::Args;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Suite files, or directories walked for them (files of kind PolicyTest); none:
    /// `policies/tests`, the suites' conventional place, if it exists, else `.`.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub cost: super::CostArgs,
}

/// Where `cmek-gate test` looks when given no path.
pub const DEFAULT_SUITE_DIR: &str = "policies/tests";

fn is_suite(text: &str) -> bool {
    text.lines().any(|l| l.trim() == "kind: PolicyTest")
}

fn load_object(
    base: &Path,
    inline: &Option<serde_json::Value>,
    file: &Option<String>,
) -> anyhow::Result<Option<Node>> {
    match (inline, file) {
        (Some(_), Some(_)) => bail!("give the object inline or as a file, not both"),
        (Some(value), None) => Ok(Some(Node::from_json(value))),
        (None, Some(path)) => {
            let path = base.join(path);
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let mut docs = manifest::parse_documents(&text, &ReadLimits::default())
                .with_context(|| path.display().to_string())?;
            Ok(Some(docs.swap_remove(0).root))
        }
        (None, None) => Ok(None),
    }
}

fn run_suite_case(
    set: &PolicySet,
    base: &Path,
    case: &Case,
    live: Option<&crate::live::Fixture>,
) -> anyhow::Result<Option<String>> {
    let object =
        load_object(base, &case.object, &case.object_file)?.context("the case has no object")?;
    let old = load_object(base, &case.old_object, &case.old_object_file)?;
    run_case(set, case, &object, old.as_ref(), live).map_err(anyhow::Error::msg)
}

pub fn run(args: TestArgs) -> anyhow::Result<i32> {
    // No path: the conventional place when it is there, else the current directory.
    let paths = match (args.paths.is_empty(), Path::new(DEFAULT_SUITE_DIR).is_dir()) {
        (false, _) => args.paths.clone(),
        (true, true) => vec![PathBuf::from(DEFAULT_SUITE_DIR)],
        (true, false) => vec![PathBuf::from(".")],
    };
    let mut files = Vec::new();
    for path in &paths {
        let explicit = path.is_file();
        for file in manifest_files(path, false)? {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            if explicit || is_suite(&text) {
                files.push((file, text));
            }
        }
    }
    if files.is_empty() {
        bail!(
            "no test suites (files of kind PolicyTest) under {:?}{}",
            paths,
            if args.paths.is_empty() {
                format!(" (with no path given, {DEFAULT_SUITE_DIR} if it exists, else .)")
            } else {
                String::new()
            }
        );
    }
    let mut out = std::io::stdout().lock();
    let (mut passed, mut failed) = (0, 0);
    let mut failures = Vec::new();
    for (file, text) in &files {
        let name = file.display().to_string();
        let suite = parse_suite(&name, text)?;
        let base = file.parent().unwrap_or(Path::new("."));
        let resolve = |paths: &[String]| paths.iter().map(|p| base.join(p)).collect::<Vec<_>>();
        let policies = policy_sources(&resolve(&suite.policies))
            .with_context(|| format!("{name}: policies"))?;
        let params =
            read_sources(&resolve(&suite.params)).with_context(|| format!("{name}: params"))?;
        // A suite's policies that bind nothing would pass every case expecting an allow.
        let set = PolicySet::compile_with(&policies, &params, &args.cost.compile_options())
            .and_then(|set| refuse_unbound(set, &resolve(&suite.policies)))
            .with_context(|| format!("{name}: cannot load the policies"))?;
        super::warn_type_warnings(&set);
        writeln!(out, "running {} case(s) from {name}", suite.cases.len())?;
        for case in &suite.cases {
            let outcome = run_suite_case(&set, base, case, suite.live.as_ref())
                .with_context(|| format!("{name}: case {:?}", case.name))?;
            match outcome {
                None => {
                    passed += 1;
                    writeln!(out, "test {name} :: {} ... ok", case.name)?;
                }
                Some(difference) => {
                    failed += 1;
                    writeln!(out, "test {name} :: {} ... FAILED", case.name)?;
                    failures.push(format!("---- {name} :: {} ----\n{difference}", case.name));
                }
            }
        }
    }
    if !failures.is_empty() {
        writeln!(out, "\nfailures:\n")?;
        for failure in &failures {
            writeln!(out, "{failure}\n")?;
        }
    }
    writeln!(out, "\n{passed} passed, {failed} failed")?;
    Ok(if failed > 0 { 1 } else { 0 })
}
