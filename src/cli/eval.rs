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
        required_unless_present_any = ["policy", "batch"]
    )]
    pub expression: Option<String>,
    /// Instead of one expression: a file (or - for stdin) of JSON lines, {"id", "expression",
    /// "object"?, "oldObject"?, "params"?}; each is type-checked as a policy's expressions are
    /// and answered by a JSON line {"id", "compileError"} | {"id", "value", "type"} |
    /// {"id", "runtimeError"} (see docs/cel-differential.md).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["expression", "policy", "file"])]
    pub batch: Option<PathBuf>,
    /// Instead of an expression: policy files whose variables and validations (or mutations) to
    /// show.
    #[arg(long = "policy", value_name = "FILE", conflicts_with = "expression")]
    pub policy: Vec<PathBuf>,
    /// The manifest (`object`), or - for stdin.
    #[arg(
        short = 'f',
        long = "file",
        value_name = "FILE",
        required_unless_present = "batch"
    )]
    pub file: Option<PathBuf>,
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

/// `--batch`: answers each line of the file, in order, as it is read, for the target release and
/// the extensions asked for (none by default, as a policy without the annotation).
fn run_batch(path: &PathBuf, profile: cel_k8s::Profile) -> anyhow::Result<i32> {
    use crate::eval_batch::{Batch, Case};
    use std::io::BufRead;
    let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let file = std::fs::File::open(path).with_context(|| path.display().to_string())?;
        Box::new(std::io::BufReader::new(file))
    };
    let env = crate::cel::Environment::for_profile(profile);
    let batch = Batch::new(&env);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for (i, line) in reader.lines().enumerate() {
        let name = || format!("{}: line {}", path.display(), i + 1);
        let line = line.with_context(name)?;
        if line.trim().is_empty() {
            continue;
        }
        let case: Case = serde_json::from_str(&line).with_context(name)?;
        let answer = batch.answer(&case).with_context(name)?;
        writeln!(out, "{}", serde_json::to_string(&answer)?)?;
    }
    out.flush()?;
    Ok(0)
}

pub fn run(args: EvalArgs) -> anyhow::Result<i32> {
    if let Some(path) = &args.batch {
        let options = args.cost.compile_options();
        let profile = cel_k8s::Profile::new(
            options.kubernetes_version.unwrap_or_default(),
            options.extensions,
        );
        return run_batch(path, profile);
    }
    let mut out = std::io::stdout().lock();
    let file = args.file.as_ref().context("--file is required")?;
    let document = read_document(file, args.document)?;
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
