//! The old evaluator (`cel` crate, `src/cel`) against the new one (`cel-k8s`) on the shipped
//! library's expressions and one Service: every variable, match condition, validation,
//! message expression, audit annotation and mutation of every policy, evaluated the way each
//! engine evaluates them (the old one from the document converted to CEL values, the new one
//! reading the document in place). Before timing, both must agree on every expression: same
//! value, or both an error.

use cel_k8s::{Activation, CompileOptions, Environment, Program, Purpose, Root, VariableCell};
use cmek_gate::cel::{self as old, Shared};
use cmek_gate::engine::{reference_activation, Request};
use cmek_gate::manifest::cel_tree::ObjectTree;
use cmek_gate::manifest::Document;
use cmek_gate::policy::{CompiledPolicy, PolicySet};
use std::sync::Arc;

/// One policy compiled by the new engine: its variables in order (with the slot each shares
/// with the same definition in other policies), then its other expressions.
pub struct NewPolicy {
    variables: Vec<(Arc<str>, Program)>,
    slots: Vec<usize>,
    expressions: Vec<Program>,
    uses_params: bool,
}

/// Every expression of a policy other than its variables, with what it is compiled for.
fn expressions(policy: &CompiledPolicy) -> Vec<(&old::Program, Purpose)> {
    let mut out: Vec<(&old::Program, Purpose)> = Vec::new();
    out.extend(
        policy
            .match_conditions
            .iter()
            .map(|(_, c)| (&c.program, Purpose::Check)),
    );
    for v in &policy.validations {
        out.push((&v.expression.program, Purpose::Check));
        out.extend(
            v.message_expression
                .iter()
                .map(|c| (&c.program, Purpose::Check)),
        );
    }
    out.extend(
        policy
            .audit_annotations
            .iter()
            .map(|(_, c)| (&c.program, Purpose::Check)),
    );
    out.extend(
        policy
            .mutations
            .iter()
            .map(|m| (&m.expression.program, Purpose::Mutation)),
    );
    out
}

fn all_policies(set: &PolicySet) -> impl Iterator<Item = &CompiledPolicy> {
    set.policies.iter().chain(&set.mutating_policies)
}

/// Compiles the set's policies with the new engine; panics naming what does not compile.
pub fn compile(env: &Environment, set: &PolicySet) -> Vec<NewPolicy> {
    all_policies(set)
        .map(|policy| {
            let names: Vec<&str> = policy.variables.iter().map(|(n, _)| &**n).collect();
            let compile = |source: &str, variables: &[&str], purpose| {
                env.compile(source, &CompileOptions { variables, purpose })
                    .unwrap_or_else(|e| panic!("policy {}: {source}: {e}", policy.name))
            };
            let variables = policy
                .variables
                .iter()
                .enumerate()
                .map(|(i, (name, c))| {
                    (
                        Arc::clone(name),
                        compile(&c.program.source, &names[..i], Purpose::Check),
                    )
                })
                .collect();
            let expressions = expressions(policy)
                .into_iter()
                .map(|(p, purpose)| compile(&p.source, &names, purpose))
                .collect::<Vec<_>>();
            let uses_params = expressions.iter().any(Program::uses_params)
                || policy
                    .variables
                    .iter()
                    .any(|(_, c)| c.program.analysis.uses_params);
            NewPolicy {
                variables,
                slots: policy.variable_slots.iter().map(|s| s.slot).collect(),
                expressions,
                uses_params,
            }
        })
        .collect()
}

/// `request` as the new engine binds it: JSON read in place, as the old engine builds it.
pub fn request_json(request: &Request) -> serde_json::Value {
    let gvk = serde_json::json!({"group": request.group, "version": request.version, "kind": request.kind});
    let gvr = serde_json::json!({"group": request.group, "version": request.version, "resource": request.resource});
    serde_json::json!({
        "uid": request.uid, "kind": gvk, "resource": gvr, "requestKind": gvk,
        "requestResource": gvr, "name": request.name, "namespace": request.namespace,
        "operation": request.operation,
        "userInfo": {"username": request.username, "groups": request.groups},
        "dryRun": request.dry_run, "options": null,
    })
}

/// The outcome of one expression, comparable across engines: the value as JSON, or `Err`
/// (when timing, `Ok(null)` for every value: its JSON form is not built).
pub type Outcome = Result<serde_json::Value, String>;

/// The old engine: the document converted once, each policy's variables evaluated in order
/// (each definition once per document, shared between policies as the engine shares them),
/// then every expression with the variables it uses bound.
pub fn run_old(set: &PolicySet, document: &Document, json: bool) -> Vec<Outcome> {
    let request = Request::create(document);
    let scope = set.env.scope(&reference_activation(&request));
    let params = set.params.first();
    let mut outcomes = Vec::new();
    let mut shared: std::collections::HashMap<usize, Result<Shared, old::EvalError>> =
        std::collections::HashMap::new();
    for policy in all_policies(set) {
        let child;
        let scope = match params {
            Some(p) if policy.spec.param_kind.is_some() => {
                child = scope.child("params", &*p.value);
                &child
            }
            _ => &scope,
        };
        let mut values: Vec<Result<Shared, old::EvalError>> = Vec::new();
        let bound = |values: &[Result<Shared, old::EvalError>], uses: &[usize]| {
            uses.iter()
                .filter_map(|&u| {
                    let value = values.get(u)?.as_ref().ok()?;
                    Some((Arc::clone(&policy.variables[u].0), Shared::clone(value)))
                })
                .collect::<Vec<_>>()
        };
        for (i, (_, compiled)) in policy.variables.iter().enumerate() {
            let slot = policy.variable_slots[i].slot;
            let result = match shared.get(&slot) {
                Some(result) => result.clone(),
                None => {
                    let uses = bound(&values, &compiled.uses);
                    let result = set.env.run(scope, &compiled.program, uses);
                    shared.insert(slot, result.clone());
                    result
                }
            };
            values.push(result);
        }
        let uses = |p: &old::Program| -> Vec<usize> {
            p.analysis
                .variables
                .iter()
                .filter_map(|n| policy.variables.iter().position(|(v, _)| **v == **n))
                .collect()
        };
        outcomes.extend(values.iter().cloned().map(|r| old_outcome(r, json)));
        for (program, _) in expressions(policy) {
            let result = set.env.run(scope, program, bound(&values, &uses(program)));
            outcomes.push(old_outcome(result, json));
        }
    }
    outcomes
}

fn old_outcome(result: Result<Shared, old::EvalError>, json: bool) -> Outcome {
    match result {
        Ok(v) if json => old::to_json(&*v).map_err(|e| e.0),
        Ok(_) => Ok(serde_json::Value::Null),
        Err(e) => Err(e.0),
    }
}

/// The new engine: the document read in place, one activation per policy whose variables are
/// evaluated on first use (each definition once per document: cells shared by slot).
pub fn run_new(
    env: &Environment,
    set: &PolicySet,
    policies: &[NewPolicy],
    document: &Document,
    json: bool,
) -> Vec<Outcome> {
    let request = request_json(&Request::create(document));
    let object = ObjectTree::of(&document.root);
    let params = set.params.first().map(|p| ObjectTree::of(&p.root));
    let mut outcomes = Vec::new();
    let slots = policies
        .iter()
        .flat_map(|p| &p.slots)
        .max()
        .map_or(0, |m| m + 1);
    let cells: Vec<VariableCell> = (0..slots).map(|_| VariableCell::new()).collect();
    for policy in policies {
        let mut activation = Activation::new();
        activation.bind_tree(Root::Object, object);
        activation.bind_tree(Root::Request, &request);
        if let (Some(p), true) = (params, policy.uses_params) {
            activation.bind_tree(Root::Params, p);
        }
        for ((name, program), slot) in policy.variables.iter().zip(&policy.slots) {
            activation.define_shared_variable(name, program, &cells[*slot]);
        }
        for i in 0..policy.variables.len() {
            outcomes.push(new_outcome(activation.variable(i, env.budget()), json));
        }
        for program in &policy.expressions {
            outcomes.push(new_outcome(env.evaluate(program, &activation), json));
        }
    }
    outcomes
}

fn new_outcome(result: Result<cel_k8s::Value<'_>, cel_k8s::EvalError>, json: bool) -> Outcome {
    match result {
        Ok(v) if json => v.to_json().map_err(|e| e.0),
        Ok(_) => Ok(serde_json::Value::Null),
        Err(e) => Err(e.0),
    }
}

/// The expressions on which the two engines disagree (a value against another value or an
/// error; two errors agree whatever their wording).
pub fn disagreements(set: &PolicySet, old: &[Outcome], new: &[Outcome]) -> Vec<String> {
    let sources = all_policies(set).flat_map(|p| {
        p.variables
            .iter()
            .map(|(_, c)| c.program.source.clone())
            .chain(expressions(p).into_iter().map(|(e, _)| e.source.clone()))
            .collect::<Vec<_>>()
    });
    sources
        .zip(old.iter().zip(new))
        .filter(|(_, (o, n))| match (o, n) {
            (Ok(a), Ok(b)) => a != b,
            (Err(_), Err(_)) => false,
            _ => true,
        })
        .map(|(source, (o, n))| format!("{source}\n  old: {o:?}\n  new: {n:?}"))
        .collect()
}
