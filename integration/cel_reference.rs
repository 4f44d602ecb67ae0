//! The engine's CEL (`cel-k8s`) against the reference interpreter (the `cel` crate's, which the
//! engine ran until 2026-12-04, kept until `cel-k8s` has proved itself): for every policy set of
//! the corpora and every document of the corpora, every variable, validation and mutation of
//! every policy gives the same value, or an error in both.
//!
//! One difference is Kubernetes' and is accepted by name: the reference evaluates a policy's
//! variables first, and an expression that reads a variable which failed fails; Kubernetes (and
//! `cel-k8s`) evaluates a variable only when it is read, so where a short-circuit skips the
//! failed variable there is a value. That is accepted only for an expression that names a
//! variable the reference failed on.
//!
//! The corpora: the shipped library with its parameters; the policies and parameters of every
//! suite in `policies/tests`; the lint, mutation and hostile-CEL fixtures that load (the hostile
//! ones with the cost limit lifted, so that they stop on the runtime budget). The documents:
//! every object and old object of those suites, the README's examples and the inputs of the
//! check fixtures.

use cmek_gate::manifest::{parse_documents, Document, ReadLimits};
use cmek_gate::policy::{CompileOptions, PolicySet, Source};
use cmek_gate::suite::parse_suite;
use cmek_gate::trace::{reference_trace_policies, trace_policies, Outcome, PolicyTrace};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn source(path: &Path) -> Source {
    Source {
        name: path.display().to_string(),
        text: std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    }
}

fn yaml_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

/// A policy set of the corpora: its name, and the set (or why it did not load).
struct Corpus {
    name: String,
    set: PolicySet,
    /// Hostile expressions spend the whole runtime budget whatever the document: a few
    /// documents show that, and every document would only repeat it.
    hostile: bool,
}

/// How many documents a hostile corpus is evaluated on, and the runtime budget it runs with (the
/// reference interpreter, unoptimised, needs minutes to spend the default budget on some of
/// them; a smaller budget runs out the same way on both sides).
const HOSTILE_DOCUMENTS: usize = 2;
const HOSTILE_BUDGET: u64 = 200_000;

fn policy_sets() -> (Vec<Corpus>, Vec<String>) {
    let mut sets = Vec::new();
    let mut refused = Vec::new();
    let mut add = |name: String, policies: Vec<PathBuf>, params: Vec<PathBuf>, unlimited: bool| {
        let policies: Vec<Source> = policies.iter().map(|p| source(p)).collect();
        let params: Vec<Source> = params.iter().map(|p| source(p)).collect();
        let options = if unlimited {
            CompileOptions::unlimited()
        } else {
            CompileOptions::default()
        };
        match PolicySet::compile_with(&policies, &params, &options) {
            Ok(mut set) => {
                if unlimited {
                    set.env = std::mem::take(&mut set.env).with_budget(HOSTILE_BUDGET);
                }
                sets.push(Corpus {
                    name,
                    set,
                    hostile: unlimited,
                })
            }
            Err(e) => refused.push(format!("{name}: {e}")),
        }
    };
    add(
        "the shipped library".into(),
        yaml_files("policies"),
        Vec::new(),
        false,
    );
    for suite_file in yaml_files("policies/tests") {
        let text = std::fs::read_to_string(&suite_file).unwrap();
        let suite = parse_suite(&suite_file.display().to_string(), &text).unwrap();
        let base = suite_file.parent().unwrap();
        add(
            suite_file.display().to_string(),
            suite.policies.iter().map(|p| base.join(p)).collect(),
            suite.params.iter().map(|p| base.join(p)).collect(),
            false,
        );
    }
    for dir in ["integration/fixtures/lint", "integration/fixtures/mutation"] {
        for file in yaml_files(dir) {
            add(file.display().to_string(), vec![file], Vec::new(), false);
        }
    }
    for file in yaml_files("integration/fixtures/hostile-cel") {
        add(file.display().to_string(), vec![file], Vec::new(), true);
    }
    (sets, refused)
}

/// A document of the corpora, named for messages.
struct Input {
    name: String,
    document: Document,
    old: Option<Document>,
}

fn parse(name: &str, text: &str) -> Vec<Document> {
    parse_documents(text, &ReadLimits::default()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn documents() -> Vec<Input> {
    let mut inputs = Vec::new();
    let json = |v: &serde_json::Value| serde_json::to_string(v).unwrap();
    for suite_file in yaml_files("policies/tests") {
        let text = std::fs::read_to_string(&suite_file).unwrap();
        let suite = parse_suite(&suite_file.display().to_string(), &text).unwrap();
        let base = suite_file.parent().unwrap();
        for case in &suite.cases {
            let name = format!("{} :: {}", suite_file.display(), case.name);
            let object = match (&case.object, &case.object_file) {
                (Some(o), _) => json(o),
                (None, Some(f)) => std::fs::read_to_string(base.join(f)).unwrap(),
                (None, None) => continue,
            };
            let old = match (&case.old_object, &case.old_object_file) {
                (Some(o), _) => Some(json(o)),
                (None, Some(f)) => Some(std::fs::read_to_string(base.join(f)).unwrap()),
                (None, None) => None,
            };
            let Some(document) = parse(&name, &object).into_iter().next() else {
                continue;
            };
            let old = old.and_then(|o| parse(&name, &o).into_iter().next());
            inputs.push(Input {
                name,
                document,
                old,
            });
        }
    }
    let mut files = yaml_files("examples");
    for dir in std::fs::read_dir("integration/fixtures/check").unwrap() {
        let input = dir.unwrap().path().join("input.yaml");
        if input.exists() {
            files.push(input);
        }
    }
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let Ok(documents) = parse_documents(&text, &ReadLimits::default()) else {
            continue;
        };
        for (i, document) in documents.into_iter().enumerate() {
            inputs.push(Input {
                name: format!("{} #{i}", file.display()),
                document,
                old: None,
            });
        }
    }
    inputs
}

/// Each expression of a trace, named `policy: variables.NAME` or `policy: validation SOURCE`,
/// with its outcome.
fn expressions(trace: &[PolicyTrace]) -> Vec<(String, &Outcome)> {
    let mut out = Vec::new();
    for policy in trace {
        let p = &policy.policy;
        for (name, outcome) in &policy.variables {
            out.push((format!("{p}: variables.{name}"), outcome));
        }
        for (source, outcome) in &policy.validations {
            out.push((format!("{p}: validation {source}"), outcome));
        }
        for (i, (_, outcome)) in policy.mutations.iter().enumerate() {
            out.push((format!("{p}: mutations[{i}]"), outcome));
        }
    }
    out
}

/// Whether the reference's error is the eager evaluation of a variable the expression names,
/// which failed.
fn eager_variable_error(expression: &str, failed: &[String]) -> bool {
    failed.iter().any(|v| {
        let name = format!("variables.{v}");
        expression.match_indices(&name).any(|(i, _)| {
            let next = expression[i + name.len()..].chars().next();
            !next.is_some_and(|c| c.is_alphanumeric() || c == '_')
        })
    })
}

#[test]
fn cel_k8s_agrees_with_the_reference_interpreter_on_every_expression_of_the_corpora() {
    let (sets, refused) = policy_sets();
    let inputs = documents();
    assert!(
        sets.len() >= 15,
        "only {} policy sets loaded: {refused:#?}",
        sets.len()
    );
    assert!(inputs.len() >= 100, "only {} documents", inputs.len());
    // Per expression: (inputs that agree, inputs where only Kubernetes' lazy variables differ).
    let mut per_expression: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut disagreements = Vec::new();
    for corpus in &sets {
        let inputs = if corpus.hostile {
            &inputs[..HOSTILE_DOCUMENTS]
        } else {
            &inputs[..]
        };
        for input in inputs {
            let old = input.old.as_ref().map(|d| &d.root);
            let new = trace_policies(&corpus.set, &input.document, old);
            let reference = reference_trace_policies(&corpus.set, &input.document, old);
            assert_eq!(new.len(), reference.len());
            let failed: Vec<String> = reference
                .iter()
                .flat_map(|p| &p.variables)
                .filter(|(_, o)| matches!(o, Outcome::Error(_)))
                .map(|(name, _)| name.clone())
                .collect();
            for ((name, n), (_, r)) in expressions(&new).into_iter().zip(expressions(&reference)) {
                let key = format!("{} / {name}", corpus.name);
                let counts = per_expression.entry(key).or_default();
                match (n, r) {
                    (Outcome::Value(a), Outcome::Value(b)) if a == b => counts.0 += 1,
                    (Outcome::Error(_), Outcome::Error(_)) => counts.0 += 1,
                    (Outcome::Value(_), Outcome::Error(_))
                        if eager_variable_error(&name, &failed) =>
                    {
                        counts.1 += 1
                    }
                    _ => disagreements.push(format!(
                        "{} / {name}\n  on {}\n  cel-k8s:   {n:?}\n  reference: {r:?}",
                        corpus.name, input.name
                    )),
                }
            }
        }
    }
    let compared: usize = per_expression.values().map(|(a, l)| a + l).sum();
    let lazy: usize = per_expression.values().map(|(_, l)| l).sum();
    println!(
        "{} policy sets ({} refused by both at load), {} documents, {} expressions, {compared} evaluations compared: {lazy} differ only by Kubernetes' lazy variables, {} disagree",
        sets.len(),
        refused.len(),
        inputs.len(),
        per_expression.len(),
        disagreements.len()
    );
    for (expression, (agree, lazy)) in &per_expression {
        println!("agree {agree:>4} lazy {lazy:>4}  {expression}");
    }
    assert!(
        disagreements.is_empty(),
        "{} disagreements (first 20):\n{}",
        disagreements.len(),
        disagreements
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
