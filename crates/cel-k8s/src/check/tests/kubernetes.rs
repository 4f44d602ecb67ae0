//! The checker against what a real kube-apiserver says of the same expressions, recorded in
//! `testdata/kubernetes` by `regenerate.py` (it starts the tests' Kubernetes rig):
//!
//! - `compile.jsonl`: each expression as a validation of a policy created with a server dry
//!   run (`object`, `oldObject` typed `dyn`, no params, no variables): the errors the API
//!   server refuses it with, or none;
//! - `mutation.jsonl`: each expression as a mutation of a MutatingAdmissionPolicy (an
//!   ApplyConfiguration's, a JSONPatch's when it starts with `[`), created the same way;
//! - `typecheck.jsonl`: each expression type-checked by Kubernetes' own TypeChecker against
//!   Knative's Service CRD (`integration/fixtures/kube/crds`), what it reports as warnings.
//!
//! Every message, line and column must be the same, and so must the result type where the API
//! server requires `bool`.

use super::super::schema::{crd_schema, declared_type, Rules};
use super::super::{check, expect_result, Declarations};
use super::{parse, yaml};
use crate::profile::{Extensions, KubernetesVersion, Profile};
use crate::types::{ObjectType, Type};
use serde_json::Value;
use std::sync::Arc;

const COMPILE: &str = include_str!("../../../testdata/kubernetes/compile.jsonl");
const TYPECHECK: &str = include_str!("../../../testdata/kubernetes/typecheck.jsonl");
const MUTATION: &str = include_str!("../../../testdata/kubernetes/mutation.jsonl");
const SERVICE_CRD: &str =
    include_str!("../../../../../integration/fixtures/kube/crds/serving.knative.dev_services.yaml");

/// The recorded Kubernetes version and each expression with what Kubernetes said.
fn entries(text: &str) -> (String, Vec<(String, Vec<String>)>) {
    let mut lines = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON"));
    let header = lines.next().expect("a header line");
    let version = header["kubernetes"].as_str().expect("a version").to_owned();
    let entries = lines
        .map(|entry| {
            let expression = entry["expression"]
                .as_str()
                .expect("an expression")
                .to_owned();
            let messages = entry["messages"]
                .as_array()
                .expect("messages")
                .iter()
                .flat_map(|m| normalize(m.as_str().expect("a message")))
                .collect();
            (expression, messages)
        })
        .collect();
    (version, entries)
}

/// `LINE:COLUMN: MESSAGE` for each `ERROR: <input>:LINE:COLUMN: MESSAGE` of a cel-go issue
/// list (without its source excerpts), or the message itself (`must evaluate to ...`);
/// Kubernetes' generated type names (`Service900660001`) without their number.
fn normalize(message: &str) -> Vec<String> {
    let message = message
        .split_once(": ERROR: ")
        .map_or(message, |(gvk, rest)| {
            if gvk.contains("Kind=") {
                &message[gvk.len() + 2..]
            } else {
                let _ = rest;
                message
            }
        });
    if !message.starts_with("ERROR: ") {
        return vec![message.to_owned()];
    }
    message
        .lines()
        .filter_map(|line| line.strip_prefix("ERROR: <input>:"))
        .map(|line| {
            let mut out = String::new();
            let mut chars = line.chars().peekable();
            while let Some(c) = chars.next() {
                out.push(c);
                if c == 'e' && out.ends_with("Service") {
                    while chars.peek().is_some_and(char::is_ascii_digit) {
                        chars.next();
                    }
                }
            }
            out
        })
        .collect()
}

/// The result type Kubernetes requires of an expression, if it requires one.
type Required = fn(&str) -> Option<Type>;

fn bool_result(_: &str) -> Option<Type> {
    Some(Type::Bool)
}

fn no_result(_: &str) -> Option<Type> {
    None
}

/// `list(JSONPatch)` for a JSONPatch's expression, `Object` for an ApplyConfiguration's.
fn mutation_result(expression: &str) -> Option<Type> {
    let object = |name: &str| {
        Type::Object(Arc::new(ObjectType {
            name: name.to_owned(),
            fields: Vec::new(),
        }))
    };
    Some(if expression.starts_with('[') {
        Type::list(object("JSONPatch"))
    } else {
        object("Object")
    })
}

/// What the checker says, in the same form.
fn ours(expression: &str, declarations: &Declarations, required: Required) -> Vec<String> {
    let (expr, info) = match parse::parse_kubernetes(expression) {
        Ok(parsed) => parsed,
        Err(e) => return vec![format!("parse error: {e}")],
    };
    match check(&expr, &info, declarations) {
        Err(errors) => errors
            .iter()
            .map(|e| match e.position {
                Some((line, column)) => format!("{line}:{column}: {}", e.message),
                None => e.message.clone(),
            })
            .collect(),
        Ok(checked) => match required(expression) {
            Some(t) => expect_result(&checked, &[t])
                .err()
                .map(|e| e.message)
                .into_iter()
                .collect(),
            None => Vec::new(),
        },
    }
}

/// Expressions the API server refuses with more errors than the checker reports: the same
/// first error. (Kubernetes' parser leaves a one-variable `existsOne` a call, whose variable is
/// then undeclared too; the checker refuses the expansion at the call.)
const FIRST_ERROR_ONLY: [&str; 1] = ["[1, 2].existsOne(x, x > 0)"];

/// A refusal of something the target lacks names it and how to have it (`math.abs()` is not in
/// Kubernetes' CEL: ...) where cel-go says `undeclared reference` or `found no matching
/// overload`: the same refusal if the API server refuses too, at one of the same positions.
fn same_refusal_reworded(ours: &[String], kubernetes: &[String]) -> bool {
    let position = |e: &String| e.split(": ").next().unwrap_or_default().to_owned();
    let reworded = |e: &String| {
        e.contains("is not in Kubernetes' CEL")
            || e.contains("is not offered here")
            || e.contains("or newer; --kubernetes-version is")
    };
    !ours.is_empty()
        && ours.iter().all(|e| {
            reworded(e)
                && kubernetes.iter().any(|k| position(k) == position(e))
                && kubernetes.iter().any(|k| {
                    k.contains("undeclared reference") || k.contains("found no matching overload")
                })
        })
}

/// The target of the API server the expressions were compiled by: a 1.37 kube-apiserver
/// compiles new expressions for its default compatibility version, 1.36
/// (`environment.DefaultCompatibilityVersion()`).
fn api_server_target() -> Profile {
    Profile::new(KubernetesVersion::new(36).unwrap(), Extensions::NONE)
}

fn compare(entries: &[(String, Vec<String>)], declarations: &Declarations, required: Required) {
    for (expression, kubernetes) in entries {
        if FIRST_ERROR_ONLY.contains(&expression.as_str()) {
            let ours = ours(expression, declarations, required);
            assert!(
                ours.len() == 1 && kubernetes.len() > 1 && ours[0] == kubernetes[0],
                "{expression}: not the same first error: {ours:?} against {kubernetes:?}"
            );
        }
    }
    let mismatches: Vec<String> = entries
        .iter()
        .filter(|(expression, _)| !FIRST_ERROR_ONLY.contains(&expression.as_str()))
        .filter_map(|(expression, kubernetes)| {
            let ours = ours(expression, declarations, required);
            (ours != *kubernetes && !same_refusal_reworded(&ours, kubernetes)).then(|| {
                format!("{expression:?}\n  kubernetes: {kubernetes:?}\n  ours:       {ours:?}")
            })
        })
        .collect();
    assert!(
        mismatches.is_empty(),
        "{} of {} differ:\n{}",
        mismatches.len(),
        entries.len(),
        mismatches.join("\n")
    );
}

#[test]
fn compile_errors_are_the_api_servers() {
    let (version, entries) = entries(COMPILE);
    assert!(version.starts_with("v1."), "{version}");
    assert!(entries.len() > 200, "{} expressions", entries.len());
    compare(
        &entries,
        &Declarations::admission(Type::Dyn, None).profile(api_server_target()),
        bool_result,
    );
}

#[test]
fn mutation_compile_errors_are_the_api_servers() {
    let (_, entries) = entries(MUTATION);
    assert!(entries.len() > 10, "{} expressions", entries.len());
    let mutation = Declarations::admission(Type::Dyn, None)
        .profile(api_server_target())
        .mutation();
    compare(&entries, &mutation, mutation_result);
}

#[test]
fn type_checking_warnings_are_the_api_servers() {
    let (_, entries) = entries(TYPECHECK);
    let crd = yaml::documents(SERVICE_CRD)
        .expect("the CRD parses")
        .remove(0);
    let schema = crd_schema(&crd, None).expect("a schema");
    let object = declared_type(schema, "Service", Rules::default());
    compare(&entries, &Declarations::admission(object, None), no_result);
}
