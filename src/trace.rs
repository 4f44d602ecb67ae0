//! Evaluating CEL for a policy author: one expression against one object, or every variable
//! and validation of a policy, with their values. Pure: the CLI (`cmek-gate eval`) reads the
//! files.

use crate::cel::{self, CompileError};
use crate::engine::{activation, request_value, Request};
use crate::manifest::{Document, Node};
use crate::policy::PolicySet;
use serde::Serialize;

/// What an expression gave: its value as JSON, or the error.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    Value(serde_json::Value),
    Error(String),
}

fn outcome(result: Result<cel_k8s::Value<'_>, cel_k8s::EvalError>) -> Outcome {
    match result.and_then(|value| value.to_json()) {
        Ok(json) => Outcome::Value(json),
        Err(e) => Outcome::Error(e.0),
    }
}

/// The request a document is evaluated as, with `oldObject` when given.
fn request<'a>(document: &'a Document, old: Option<&'a Node>) -> Request<'a> {
    let mut request = Request::create(document);
    if old.is_some() {
        request.old_object = old;
        request.operation = "UPDATE".into();
    }
    request
}

/// Evaluates `expression` against a document (`params` as given, `null` if none).
pub fn eval_expression(
    env: &cel::Environment,
    expression: &str,
    document: &Document,
    old: Option<&Node>,
    params: Option<&Node>,
) -> Result<Outcome, CompileError> {
    let program = env.compile(expression, &[])?;
    let request = request(document, old);
    Ok(eval_program(env, &program, &request, params, outcome))
}

/// Evaluates a compiled expression for a request (`params` as given, `null` if none), on the
/// environment's runtime budget, and gives the result to `read`.
pub fn eval_program<R>(
    env: &cel::Environment,
    program: &cel::Program,
    request: &Request<'_>,
    params: Option<&Node>,
    read: impl FnOnce(Result<cel_k8s::Value<'_>, cel_k8s::EvalError>) -> R,
) -> R {
    let request_value = request_value(request);
    let activation = activation(request, &request_value, params);
    let meter = &mut env.runtime().meter();
    read(program.executable.evaluate(&activation, meter))
}

/// One policy's variables and validations on a document.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PolicyTrace {
    pub policy: String,
    /// The parameter object used (`kind/name`), if the policy takes one.
    pub params: Option<String>,
    pub variables: Vec<(String, Outcome)>,
    /// Each validation's expression and result (`true` passes).
    pub validations: Vec<(String, Outcome)>,
    /// A mutating policy's mutations: each one's patch type and what its expression built (the
    /// JSON patch operations, or the apply configuration), before it is applied.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mutations: Vec<(String, Outcome)>,
}

/// Evaluates every variable (in order) and every validation or mutation of every policy of the
/// set (validating, then mutating), using
/// the first parameter object of each policy's `paramKind`.
pub fn trace_policies(
    set: &PolicySet,
    document: &Document,
    old: Option<&Node>,
) -> Vec<PolicyTrace> {
    let runtime = set.env.runtime();
    let request = request(document, old);
    let request_value = request_value(&request);
    set.policies
        .iter()
        .chain(&set.mutating_policies)
        .map(|policy| {
            let param = policy.spec.param_kind.as_ref().and_then(|kind| {
                set.params
                    .iter()
                    .find(|p| p.api_version == kind.api_version && p.kind == kind.kind)
            });
            let mut activation = activation(&request, &request_value, param.map(|p| &p.root));
            for (name, compiled) in &policy.variables {
                activation.define_variable(name, &compiled.program.executable);
            }
            let variables = policy
                .variables
                .iter()
                .enumerate()
                .map(|(i, (name, _))| {
                    let result = activation.variable(i, runtime.budget());
                    (name.to_string(), outcome(result))
                })
                .collect();
            fn run<'a>(
                runtime: &cel_k8s::Environment,
                activation: &cel_k8s::Activation<'a>,
                program: &'a cel::Program,
            ) -> Outcome {
                outcome(
                    program
                        .executable
                        .evaluate(activation, &mut runtime.meter()),
                )
            }
            let validations = policy
                .validations
                .iter()
                .map(|v| {
                    let program = &v.expression.program;
                    (
                        program.source.trim().to_owned(),
                        run(runtime, &activation, program),
                    )
                })
                .collect();
            let mutations = policy
                .mutations
                .iter()
                .map(|m| {
                    let program = &m.expression.program;
                    (
                        m.patch_type.as_str().to_owned(),
                        run(runtime, &activation, program),
                    )
                })
                .collect();
            PolicyTrace {
                policy: policy.name.clone(),
                params: param.map(|p| format!("{}/{}", p.kind, p.name)),
                variables,
                validations,
                mutations,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{parse_documents, ReadLimits};
    use crate::policy::embedded;
    use serde_json::json;

    fn service() -> Document {
        let text = include_str!("../examples/service.yaml");
        parse_documents(text, &ReadLimits::default())
            .unwrap()
            .remove(0)
    }

    #[test]
    fn expressions_give_json_values_or_errors() {
        let env = cel::Environment::new();
        let doc = service();
        let cases = [
            (
                "object.metadata.name",
                Outcome::Value(json!("payments-api")),
            ),
            (
                "object.metadata.labels['data-classification'] == 'confidential'",
                Outcome::Value(json!(true)),
            ),
            ("request.operation", Outcome::Value(json!("CREATE"))),
            ("[1, 2].map(x, x * 2)", Outcome::Value(json!([2, 4]))),
            ("params", Outcome::Value(json!(null))),
        ];
        for (expression, expected) in cases {
            assert_eq!(
                eval_expression(&env, expression, &doc, None, None).unwrap(),
                expected,
                "{expression}"
            );
        }
        assert!(matches!(
            eval_expression(&env, "object.spec.nope", &doc, None, None).unwrap(),
            Outcome::Error(e) if e.contains("nope")
        ));
        let err = eval_expression(&env, "object.metadata.", &doc, None, None).unwrap_err();
        assert!(err.position.is_some());
        let old = doc.root.clone();
        let updated = eval_expression(
            &env,
            "request.operation + ' ' + oldObject.metadata.name",
            &doc,
            Some(&old),
            None,
        )
        .unwrap();
        assert_eq!(updated, Outcome::Value(json!("UPDATE payments-api")));
    }

    #[test]
    fn policies_are_traced_variable_by_variable() {
        let set = PolicySet::compile(&embedded::sources(), &[]).unwrap();
        let traces = trace_policies(&set, &service(), None);
        let required = traces.iter().find(|t| t.policy == "cmek-required").unwrap();
        assert_eq!(required.params.as_deref(), Some("CmekGateParams/default"));
        let sensitive = required
            .variables
            .iter()
            .find(|(n, _)| n == "sensitive")
            .unwrap();
        assert_eq!(sensitive.1, Outcome::Value(json!(true)));
        assert_eq!(required.validations[0].1, Outcome::Value(json!(false)));
    }

    #[test]
    fn a_mutating_policy_is_traced_with_what_its_mutations_build() {
        let params = crate::policy::Source {
            name: "p".into(),
            text: "apiVersion: cmek-gate.dev/v1alpha1\nkind: CmekGateParams\nmetadata: {name: default}\nspec:\n  defaultKeys: {europe-west1: projects/kms-central/locations/europe-west1/keyRings/r/cryptoKeys/d}\n".into(),
        };
        let set = PolicySet::compile(&embedded::sources(), &[params]).unwrap();
        let traces = trace_policies(&set, &service(), None);
        let default_key = traces
            .iter()
            .find(|t| t.policy == "cmek-default-key")
            .unwrap();
        assert!(default_key.validations.is_empty());
        assert_eq!(
            default_key.mutations,
            [(
                "ApplyConfiguration".to_owned(),
                Outcome::Value(json!({"spec": {"template": {"metadata": {"annotations": {
                    "run.googleapis.com/encryption-key": "projects/kms-central/locations/europe-west1/keyRings/r/cryptoKeys/d"
                }}}}}))
            )]
        );
    }
}
