//! `cmek-gate krm`: the gate as a KRM function. Reads a ResourceList on stdin, writes it back
//! with `results`; exit 1 when an error result is present (kpt then fails the pipeline), 2 when
//! the input or the policies cannot be read.
//!
//! ```text
//! kpt fn eval PACKAGE --exec "cmek-gate krm"
//! kpt fn render PACKAGE --allow-exec        (Kptfile: pipeline.validators: - exec: cmek-gate krm)
//! ```

use crate::krm;
use crate::policy::load::load_policy_set;
use crate::policy::PolicySet;
use anyhow::Context;
use clap::Args;
use std::io::{Read, Write};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct KrmArgs {
    /// Policy files or directories, replacing the embedded library (repeatable).
    #[arg(
        long = "policies",
        value_name = "PATH",
        env = "CMEK_GATE_POLICIES",
        value_delimiter = ','
    )]
    pub policies: Vec<PathBuf>,
    /// Parameter files (a CmekGateParams functionConfig overrides them too).
    #[arg(
        long = "params",
        value_name = "FILE",
        env = "CMEK_GATE_PARAMS",
        value_delimiter = ','
    )]
    pub params: Vec<PathBuf>,
}

pub fn run(args: KrmArgs) -> anyhow::Result<i32> {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .context("cannot read the ResourceList on stdin")?;
    let config_params = krm::function_config_params(&input)?;
    let set = match config_params {
        None => load_policy_set(&super::policy_paths(args.policies), &args.params)?,
        Some(params) => {
            let policies = if args.policies.is_empty() {
                crate::policy::embedded::sources()
            } else {
                let mut sources = Vec::new();
                for path in &args.policies {
                    for file in crate::policy::load::manifest_files(path, true)? {
                        let text = std::fs::read_to_string(&file)
                            .with_context(|| format!("cannot read {}", file.display()))?;
                        sources.push(crate::policy::Source {
                            name: file.display().to_string(),
                            text,
                        });
                    }
                }
                sources
            };
            PolicySet::compile(&policies, &[params])?
        }
    };
    let output = krm::run(&set, &input)?;
    std::io::stdout().lock().write_all(output.text.as_bytes())?;
    Ok(if output.has_errors { 1 } else { 0 })
}
