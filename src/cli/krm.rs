//! `cmek-gate krm`: the gate as a KRM function. Reads a ResourceList on stdin, writes it back
//! with `results`; exit 1 when an error result is present (kpt then fails the pipeline), 2 when
//! the input or the policies cannot be read.
//!
//! ```text
//! kpt fn eval PACKAGE --exec "cmek-gate krm"
//! kpt fn render PACKAGE --allow-exec        (Kptfile: pipeline.validators: - exec: cmek-gate krm)
//! kpt fn render PACKAGE --allow-exec        (pipeline.mutators: - exec: cmek-gate krm --mutate)
//! ```

use crate::krm_function;
use crate::policy::load::{policy_sources, refuse_unbound};
use crate::policy::PolicySet;
use anyhow::Context;
use clap::Args;
use std::io::{Read, Write};

#[derive(Debug, Args)]
pub struct KrmArgs {
    #[command(flatten)]
    pub policy: super::PolicyArgs,
    #[command(flatten)]
    pub namespaces: super::NamespaceArgs,
    /// Apply the mutating policies to the items (e.g. add the region's default key) before
    /// judging them; a ConfigMap functionConfig's `mutate: "true"|"false"` says the same.
    #[arg(long)]
    pub mutate: bool,
}

pub fn run(args: KrmArgs) -> anyhow::Result<i32> {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .context("cannot read the ResourceList on stdin")?;
    let config = krm_function::function_config(&input)?;
    let mutate = config.mutate.unwrap_or(args.mutate);
    let set = match config.params {
        None => args.policy.load()?,
        Some(params) => {
            let policies =
                policy_sources(&args.policy.paths()).context("cannot read the policies")?;
            let set = PolicySet::compile_with(&policies, &[params], &args.policy.compile_options())
                .and_then(|set| refuse_unbound(set, &args.policy.paths()))
                .context("cannot load the policies")?;
            super::warn_type_warnings(&set);
            set
        }
    };
    let output = krm_function::run_knowing(&set, &input, mutate, &args.namespaces.known()?)?;
    std::io::stdout().lock().write_all(output.text.as_bytes())?;
    Ok(if output.has_errors { 1 } else { 0 })
}
