//! `cmek-gate eval`: evaluates one CEL expression against a manifest, or traces a policy's
//! variables and validations on it, for policy authors.

use crate::batch::Input;
use crate::manifest::{self, Document, Node, ReadLimits};
use crate::policy::load::read_sources;
use crate::policy::PolicySet;
use crate::trace::{eval_expression, trace_policies, Outcome};
use anyhow::{bail, Context};
use clap::Args;
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The CEL expression (sees object, oldObject, request, params, namespaceObject).
    #[arg(
        short = 'e',
        long = "expression",
        value_name = "EXPR",
        required_unless_present = "policy"
    )]
    pub expression: Option<String>,
    /// Instead of an expression: policy files whose variables and validations (or mutations) to
    /// show.
    #[arg(long = "policy", value_name = "FILE", conflicts_with = "expression")]
    pub policy: Vec<PathBuf>,
    /// The manifest (`object`), or - for stdin.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: PathBuf,
    /// Which object of the file (0-based).
    #[arg(long, default_value_t = 0)]
    pub document: usize,
    /// The previous version of the object (`oldObject`; the request becomes an UPDATE).
    #[arg(long, value_name = "FILE")]
    pub old: Option<PathBuf>,
    /// A parameter object: `params` for -e; for --policy, it replaces the one of the same name.
    #[arg(long, value_name = "FILE")]
    pub params: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// The cost limits the `--policy` files are compiled with.
    #[command(flatten)]
    pub cost: super::CostArgs,
}

fn read_document(path: &PathBuf, index: usize) -> anyhow::Result<Document> {
    let inputs = super::check::read_inputs(std::slice::from_ref(path))?;
    let Input { name, text } = inputs.into_iter().next().context("no input")?;
    let limits = ReadLimits::default();
    let text = manifest::decode(&text, &limits).with_context(|| name.clone())?;
    let mut documents = manifest::parse_documents(text, &limits).with_context(|| name.clone())?;
    if index >= documents.len() {
        bail!(
            "{name}: there is no document {index} (it has {})",
            documents.len()
        );
    }
    Ok(documents.swap_remove(index))
}

fn show(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Value(v) => v.to_string(),
        Outcome::Error(e) => format!("error: {e}"),
    }
}

pub fn run(args: EvalArgs) -> anyhow::Result<i32> {
    let mut out = std::io::stdout().lock();
    let document = read_document(&args.file, args.document)?;
    let old: Option<Node> = match &args.old {
        Some(path) => Some(read_document(path, args.document)?.root),
        None => None,
    };
    if let Some(expression) = &args.expression {
        let params = match &args.params {
            Some(path) => Some(read_document(path, 0)?.root),
            None => None,
        };
        // Not type-checked, but the functions are the target's.
        let options = args.cost.compile_options();
        let env = crate::cel::Environment::for_profile(cel_k8s::Profile::new(
            options.kubernetes_version.unwrap_or_default(),
            options.extensions,
        ));
        let outcome = eval_expression(&env, expression, &document, old.as_ref(), params.as_ref())
            .map_err(|e| anyhow::anyhow!("the expression does not compile: {e}"))?;
        return Ok(match outcome {
            Outcome::Value(value) => {
                writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
                0
            }
            Outcome::Error(e) => {
                eprintln!("error: {e}");
                1
            }
        });
    }
    let policies = read_sources(&args.policy)?;
    let params = match &args.params {
        Some(path) => read_sources(std::slice::from_ref(path))?,
        None => Vec::new(),
    };
    let options = args.cost.compile_options();
    let mut set =
        PolicySet::compile_with(&policies, &params, &options).context("cannot load the policy")?;
    let wants_library_params = set.policies.iter().any(|p| {
        p.spec
            .param_kind
            .as_ref()
            .is_some_and(|k| k.kind == "CmekGateParams")
    });
    if wants_library_params && !set.params.iter().any(|p| p.kind == "CmekGateParams") {
        // The shipped policies with the library's parameters.
        let library_params: Vec<_> = crate::policy::embedded::sources()
            .into_iter()
            .filter(|s| s.name.ends_with("-params.yaml"))
            .collect();
        set = PolicySet::compile_with(&policies, &library_params, &options)
            .context("cannot load the policy")?;
    }
    super::warn_type_warnings(&set);
    let traces = trace_policies(&set, &document, old.as_ref());
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&traces)?)?;
        return Ok(0);
    }
    for trace in &traces {
        let params = trace
            .params
            .as_deref()
            .map(|p| format!(" (params {p})"))
            .unwrap_or_default();
        writeln!(out, "policy {}{params}", trace.policy)?;
        for (name, outcome) in &trace.variables {
            writeln!(out, "  variables.{name} = {}", show(outcome))?;
        }
        for (i, (source, outcome)) in trace.validations.iter().enumerate() {
            let first_line = source.lines().next().unwrap_or_default();
            writeln!(
                out,
                "  validations[{i}] {first_line}{} => {}",
                if source.contains('\n') { " ..." } else { "" },
                show(outcome)
            )?;
        }
        for (i, (patch_type, outcome)) in trace.mutations.iter().enumerate() {
            writeln!(out, "  mutations[{i}] {patch_type} => {}", show(outcome))?;
        }
    }
    Ok(0)
}
