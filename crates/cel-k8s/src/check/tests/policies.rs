//! Every expression of every shipped policy (the main crate's `policies/*.yaml`) type-checks
//! both ways Kubernetes checks it, variables inferred in order:
//!
//! - with `object`, `oldObject` and `params` typed `dyn`, every expression, variables included:
//!   what the API server refuses when the policy is created;
//! - typed from the schemas of the kinds the policy matches and of its `paramKind`, the
//!   validations' `expression` and `messageExpression`: what its type checking reports
//!   (validating/typechecking.go), where a variable that does not check is `dyn` and not
//!   reported itself. Kinds without a shipped CRD (run.googleapis.com's) are not type-checked,
//!   as the API server skips a kind whose schema it cannot resolve.

use super::super::schema::{crd_schema, declared_type, Rules};
use super::super::{check_variables, expect_result, Declarations};
use super::{check_source, yaml};
use crate::types::{ObjectType, Type};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn yaml_files(dir: &Path) -> Vec<(PathBuf, Vec<Value>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("readable");
            let docs = yaml::documents(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path, docs)
        })
        .collect()
}

fn str_at<'v>(v: &'v Value, pointer: &str) -> Option<&'v str> {
    v.pointer(pointer).and_then(Value::as_str)
}

/// An expression of a policy, where it is, and whether it is a mutation's or a validation's.
struct Expression {
    field: String,
    source: String,
    mutation: bool,
    validation: bool,
    /// The types Kubernetes requires its result to have.
    result: Vec<Type>,
}

fn expressions(policy: &Value) -> (Vec<(String, String)>, Vec<Expression>) {
    let spec = &policy["spec"];
    let items = |key: &str| spec[key].as_array().cloned().unwrap_or_default();
    let variables = items("variables")
        .iter()
        .map(|v| {
            (
                str_at(v, "/name")
                    .expect("a variable has a name")
                    .to_owned(),
                str_at(v, "/expression")
                    .expect("a variable has an expression")
                    .to_owned(),
            )
        })
        .collect();
    let mut found = Vec::new();
    let mut add = |field: String, source: Option<&str>, mutation: bool| {
        let Some(source) = source else { return };
        let result = if field.ends_with("messageExpression") {
            vec![Type::String]
        } else if field.starts_with("auditAnnotations") {
            vec![Type::String, Type::Null]
        } else if field.ends_with("applyConfiguration") {
            vec![Type::Object(Arc::new(ObjectType {
                name: "Object".to_owned(),
                fields: Vec::new(),
            }))]
        } else if field.ends_with("jsonPatch") {
            vec![Type::list(Type::Object(Arc::new(ObjectType {
                name: "JSONPatch".to_owned(),
                fields: Vec::new(),
            })))]
        } else {
            vec![Type::Bool]
        };
        found.push(Expression {
            validation: field.starts_with("validations["),
            field,
            source: source.to_owned(),
            mutation,
            result,
        });
    };
    for (i, v) in items("validations").iter().enumerate() {
        add(
            format!("validations[{i}].expression"),
            str_at(v, "/expression"),
            false,
        );
        add(
            format!("validations[{i}].messageExpression"),
            str_at(v, "/messageExpression"),
            false,
        );
    }
    for (i, v) in items("matchConditions").iter().enumerate() {
        add(
            format!("matchConditions[{i}]"),
            str_at(v, "/expression"),
            false,
        );
    }
    for (i, v) in items("auditAnnotations").iter().enumerate() {
        add(
            format!("auditAnnotations[{i}]"),
            str_at(v, "/valueExpression"),
            false,
        );
    }
    for (i, m) in items("mutations").iter().enumerate() {
        add(
            format!("mutations[{i}].applyConfiguration"),
            str_at(m, "/applyConfiguration/expression"),
            true,
        );
        add(
            format!("mutations[{i}].jsonPatch"),
            str_at(m, "/jsonPatch/expression"),
            true,
        );
    }
    (variables, found)
}

/// The schemas of the kinds the policy's resource rules match, by `group/resource`.
fn matched_schemas(policy: &Value, crds: &[Value]) -> Vec<(String, Value)> {
    let mut schemas = Vec::new();
    let rules = policy
        .pointer("/spec/matchConstraints/resourceRules")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for rule in rules {
        let groups = rule["apiGroups"].as_array().cloned().unwrap_or_default();
        let resources = rule["resources"].as_array().cloned().unwrap_or_default();
        for group in groups.iter().filter_map(Value::as_str) {
            for resource in resources.iter().filter_map(Value::as_str) {
                let crd = crds.iter().find(|crd| {
                    str_at(crd, "/spec/group") == Some(group)
                        && str_at(crd, "/spec/names/plural") == Some(resource)
                });
                if let Some(schema) = crd.and_then(|crd| crd_schema(crd, None)) {
                    schemas.push((format!("{group}/{resource}"), schema.clone()));
                }
            }
        }
    }
    schemas
}

fn param_schema(policy: &Value, crds: &[Value]) -> Option<Value> {
    let kind = str_at(policy, "/spec/paramKind/kind")?;
    let group = str_at(policy, "/spec/paramKind/apiVersion")?
        .split('/')
        .next()?;
    let crd = crds.iter().find(|crd| {
        str_at(crd, "/spec/names/kind") == Some(kind) && str_at(crd, "/spec/group") == Some(group)
    })?;
    crd_schema(crd, None).cloned()
}

/// How a policy is checked: every expression, variables too (at creation), or the
/// validations only (type checking).
#[derive(Clone, Copy, PartialEq)]
enum Scope {
    Creation,
    TypeChecking,
}

/// Checks a policy's variables in order, then its expressions; returns the failures.
fn check_policy(
    name: &str,
    how: &str,
    scope: Scope,
    mut declarations: Declarations,
    variables: &[(String, String)],
    found: &[Expression],
) -> Vec<String> {
    let mut failures = Vec::new();
    let parsed: Vec<_> = variables
        .iter()
        .map(|(n, source)| (n, super::parse::parse(source).expect("parses")))
        .collect();
    let results = check_variables(
        &mut declarations,
        parsed.iter().map(|(n, (e, s))| (n.as_str(), e, s)),
    );
    for ((variable, _), result) in variables.iter().zip(results) {
        if let (Err(errors), Scope::Creation) = (result, scope) {
            failures.push(format!("{name} ({how}) variables.{variable}: {errors:?}"));
        }
    }
    for expression in found {
        if scope == Scope::TypeChecking && !expression.validation {
            continue;
        }
        let declarations = if expression.mutation {
            declarations.clone().mutation()
        } else {
            declarations.clone()
        };
        match check_source(&expression.source, &declarations) {
            Err(errors) => {
                failures.push(format!("{name} ({how}) {}: {errors:?}", expression.field))
            }
            Ok(checked) => {
                if let Err(error) = expect_result(&checked, &expression.result) {
                    failures.push(format!("{name} ({how}) {}: {error}", expression.field));
                }
            }
        }
    }
    failures
}

#[test]
fn every_shipped_policy_type_checks_dyn_and_against_the_matched_schemas() {
    let root = repository();
    let crds: Vec<Value> = [
        root.join("integration/fixtures/kube/crds"),
        root.join("policies/crd"),
    ]
    .iter()
    .flat_map(|dir| yaml_files(dir))
    .flat_map(|(_, docs)| docs)
    .filter(|d| str_at(d, "/kind") == Some("CustomResourceDefinition"))
    .collect();
    let mut failures = Vec::new();
    let (mut policies, mut typed_checks, mut checked_expressions) = (0, 0, 0);
    for (path, docs) in yaml_files(&root.join("policies")) {
        for policy in docs.iter().filter(|d| {
            matches!(
                str_at(d, "/kind"),
                Some("ValidatingAdmissionPolicy" | "MutatingAdmissionPolicy")
            )
        }) {
            policies += 1;
            let name = format!(
                "{}: {}",
                path.file_name().unwrap_or_default().to_string_lossy(),
                str_at(policy, "/metadata/name").unwrap_or("?")
            );
            let (variables, found) = expressions(policy);
            checked_expressions += variables.len() + found.len();
            let has_params = policy.pointer("/spec/paramKind").is_some();
            let dyn_params = has_params.then_some(Type::Dyn);
            failures.extend(check_policy(
                &name,
                "dyn",
                Scope::Creation,
                Declarations::admission(Type::Dyn, dyn_params.clone()),
                &variables,
                &found,
            ));
            for rules in [Rules::default(), Rules::preserve_unknown_fields_as_dyn()] {
                let params = match param_schema(policy, &crds) {
                    Some(schema) => Some(declared_type(&schema, "params", rules)),
                    None => dyn_params.clone(),
                };
                for (kind, schema) in matched_schemas(policy, &crds) {
                    typed_checks += 1;
                    let object = declared_type(&schema, &kind, rules);
                    failures.extend(check_policy(
                        &name,
                        &format!("{kind}, {rules:?}"),
                        Scope::TypeChecking,
                        Declarations::admission(object, params.clone()),
                        &variables,
                        &found,
                    ));
                }
            }
        }
    }
    assert!(policies >= 10, "only {policies} policies found");
    assert!(
        typed_checks >= 2 * policies,
        "only {typed_checks} schema-typed checks"
    );
    assert!(
        checked_expressions > 100,
        "only {checked_expressions} expressions"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
