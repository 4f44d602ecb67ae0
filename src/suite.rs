//! Policy test suites (`cmek-gate test`): YAML files of cases, each an object and what the
//! policies must decide about it. Pure: the CLI reads the files and hands their text here.
//!
//! ```yaml
//! apiVersion: cmek-gate.dev/v1alpha1
//! kind: PolicyTest
//! metadata: {name: cmek-required}
//! policies: [../cmek-required.yaml]   # relative to the suite; none: the embedded library
//! params: [../cmek-gate-params.yaml]  # optional parameter files
//! cases:
//!   - name: a sensitive service without a key is denied
//!     object: {apiVersion: serving.knative.dev/v1, kind: Service, ...}   # or objectFile: PATH
//!     oldObject: {...}                # or oldObjectFile; the operation then defaults to UPDATE
//!     operation: CREATE
//!     namespaceLabels: {env: prod}    # the object's namespace's labels (namespaceObject)
//!     userInfo: {username: alice, groups: [dev]}
//!     expect:
//!       allowed: false
//!       violations: [cmek-required]   # exactly these denying policies (sorted, once each)
//!       warnings: [owner-label]       # exactly these warning policies
//!       messages: ["no customer-managed encryption key"]   # each a substring of some message
//!       patch: [{op: add, path: /spec/..., value: ...}]     # the mutations' patch, exactly ([] = none)
//!       mutatedObject: {...}          # the whole object after the mutations, exactly
//! ```
//!
//! Cases are admitted as the API server would: the mutating policies of the suite's policies
//! first, then the validating ones on the object as mutated.

use crate::engine::{self, Request};
use crate::manifest::{self, Document, Node, ReadLimits};
use crate::policy::PolicySet;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Suite {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub metadata: SuiteMetadata,
    #[serde(default)]
    pub policies: Vec<String>,
    #[serde(default)]
    pub params: Vec<String>,
    /// Live data for the `kms` extension (live mode): Google's answers written out. A case's
    /// own `live` replaces it. Without either, the cases run without live data.
    #[serde(default)]
    pub live: Option<crate::live::Fixture>,
    pub cases: Vec<Case>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SuiteMetadata {
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Case {
    pub name: String,
    #[serde(default)]
    pub object: Option<serde_json::Value>,
    #[serde(default)]
    pub object_file: Option<String>,
    #[serde(default)]
    pub old_object: Option<serde_json::Value>,
    #[serde(default)]
    pub old_object_file: Option<String>,
    #[serde(default)]
    pub operation: Option<String>,
    #[serde(default)]
    pub namespace_labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub user_info: Option<UserInfo>,
    /// Live data for this case (replaces the suite's).
    #[serde(default)]
    pub live: Option<crate::live::Fixture>,
    pub expect: Expect,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct UserInfo {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Expect {
    pub allowed: bool,
    #[serde(default)]
    pub violations: Option<Vec<String>>,
    #[serde(default)]
    pub warnings: Option<Vec<String>>,
    #[serde(default)]
    pub messages: Vec<String>,
    /// The RFC 6902 patch the mutating policies make (`[]`: none).
    #[serde(default)]
    pub patch: Option<serde_json::Value>,
    /// The object after the mutating policies.
    #[serde(default)]
    pub mutated_object: Option<serde_json::Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
}

/// Parses a suite file.
pub fn parse_suite(file: &str, text: &str) -> Result<Suite, SuiteError> {
    let invalid = |message: String| SuiteError::Invalid {
        file: file.to_owned(),
        message,
    };
    let docs = manifest::yaml::parse_stream(text, &ReadLimits::default().yaml)
        .map_err(|e| invalid(e.error.to_string()))?;
    let root = docs
        .into_iter()
        .find_map(|d| d.root)
        .ok_or_else(|| invalid("no document".into()))?;
    let suite: Suite = serde_path_to_error::deserialize(root.to_json()).map_err(|e| {
        let mut message = e.inner().to_string();
        if let Some(cut) = message.find(", expected") {
            message.truncate(cut);
        }
        invalid(format!("{}: {message}", e.path()))
    })?;
    if suite.kind != "PolicyTest" || !suite.api_version.starts_with("cmek-gate.dev/") {
        return Err(invalid(format!(
            "expected cmek-gate.dev/v1alpha1 PolicyTest, found {} {}",
            suite.api_version, suite.kind
        )));
    }
    Ok(suite)
}

/// The outcome of one case: `None` when it passed, else what differed.
pub fn run_case(
    set: &PolicySet,
    case: &Case,
    object: &Node,
    old: Option<&Node>,
    live: Option<&crate::live::Fixture>,
) -> Result<Option<String>, String> {
    let document: Document =
        manifest::document_from_node(0, object.clone()).map_err(|e| format!("object: {e}"))?;
    let mut request = Request::create(&document);
    request.old_object = old;
    request.operation = case.operation.clone().unwrap_or_else(|| {
        if old.is_some() {
            "UPDATE".into()
        } else {
            "CREATE".into()
        }
    });
    if let Some(user) = &case.user_info {
        request.username = user.username.clone();
        request.groups = user.groups.clone();
    }
    let namespace = case.namespace_labels.as_ref().map(|labels| {
        Node::from_json(&serde_json::json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": document.namespace, "labels": labels},
        }))
    });
    request.namespace_object = namespace.as_ref();
    let live = case
        .live
        .as_ref()
        .or(live)
        .map(|fixture| crate::live::Live {
            source: crate::live::Source::Fixture(fixture.clone()),
            unreachable: crate::live::Unreachable::Deny,
        });
    let decision = crate::live::admit(live.as_ref(), set, &request, engine::Phases::ALL);
    let names = |v: Vec<&str>| {
        let mut v: Vec<String> = v.into_iter().map(str::to_owned).collect();
        v.sort();
        v.dedup();
        v
    };
    let violations = names(
        decision
            .violations
            .iter()
            .map(|v| v.policy.as_str())
            .collect(),
    );
    let warnings = names(
        decision
            .warnings
            .iter()
            .map(|w| w.policy.as_str())
            .collect(),
    );
    let mut differences = Vec::new();
    if decision.allowed() != case.expect.allowed {
        differences.push(format!(
            "allowed: expected {}, got {}",
            case.expect.allowed,
            decision.allowed()
        ));
    }
    // A namespace selector without the case's namespaceLabels cannot be decided.
    for undecided in &decision.undecided {
        differences.push(format!(
            "undecided: {} (give the case namespaceLabels)",
            undecided.message()
        ));
    }
    if let Some(expected) = &case.expect.violations {
        if names(expected.iter().map(String::as_str).collect()) != violations {
            differences.push(format!(
                "violations: expected {expected:?}, got {violations:?}"
            ));
        }
    }
    if let Some(expected) = &case.expect.warnings {
        if names(expected.iter().map(String::as_str).collect()) != warnings {
            differences.push(format!("warnings: expected {expected:?}, got {warnings:?}"));
        }
    }
    let messages: Vec<&str> = decision
        .violations
        .iter()
        .map(|v| v.message.as_str())
        .chain(decision.warnings.iter().map(|w| w.message.as_str()))
        .collect();
    for pattern in &case.expect.messages {
        if !messages.iter().any(|m| m.contains(pattern.as_str())) {
            differences.push(format!("no message contains {pattern:?}"));
        }
    }
    if let Some(expected) = &case.expect.patch {
        let actual = decision
            .patch
            .as_ref()
            .map(|p| serde_json::to_value(p).expect("a patch serializes"))
            .unwrap_or_else(|| serde_json::json!([]));
        if &actual != expected {
            differences.push(format!("patch: expected {expected}\n         got {actual}"));
        }
    }
    if let Some(expected) = &case.expect.mutated_object {
        let actual = decision.mutated.as_ref().unwrap_or(object).to_json();
        if &actual != expected {
            differences.push(format!(
                "mutatedObject differs:\n{}",
                object_difference(expected, &actual)
            ));
        }
    }
    if differences.is_empty() {
        return Ok(None);
    }
    for m in &messages {
        differences.push(format!("  message: {m}"));
    }
    Ok(Some(differences.join("\n")))
}

/// A readable difference between an expected and an actual object: one line per field.
fn object_difference(expected: &serde_json::Value, actual: &serde_json::Value) -> String {
    use json_patch::PatchOperation as Op;
    json_patch::diff(expected, actual)
        .0
        .iter()
        .map(|op| {
            let path = op.path();
            let at = crate::engine::mutate::field_path(path);
            match op {
                Op::Add(a) => format!("    + {at}: {} (not expected)", a.value),
                Op::Remove(_) => format!(
                    "    - {at}: {} (expected, missing)",
                    expected
                        .pointer(path.as_str())
                        .unwrap_or(&serde_json::Value::Null)
                ),
                Op::Replace(r) => format!(
                    "    ~ {at}: expected {}, got {}",
                    expected
                        .pointer(path.as_str())
                        .unwrap_or(&serde_json::Value::Null),
                    r.value
                ),
                other => format!("    ? {other:?}"),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::embedded;

    const SUITE: &str = "apiVersion: cmek-gate.dev/v1alpha1
kind: PolicyTest
metadata: {name: t}
cases:
  - name: denied
    object:
      apiVersion: serving.knative.dev/v1
      kind: Service
      metadata: {name: s, namespace: '1', labels: {data-classification: restricted, owner: x}}
      spec: {template: {spec: {containers: [{image: x}]}}}
    expect:
      allowed: false
      violations: [cmek-required]
      warnings: []
      messages: [has no customer-managed encryption key]
";

    #[test]
    fn a_case_passes_and_a_wrong_expectation_fails_with_the_difference() {
        let set = PolicySet::compile(&embedded::sources(), &[]).unwrap();
        let suite = parse_suite("t.yaml", SUITE).unwrap();
        let case = &suite.cases[0];
        let object = Node::from_json(case.object.as_ref().unwrap());
        assert_eq!(run_case(&set, case, &object, None, None).unwrap(), None);
        let mut wrong = case.clone();
        wrong.expect.allowed = true;
        wrong.expect.violations = Some(vec!["cmek-key-format".into()]);
        let diff = run_case(&set, &wrong, &object, None, None)
            .unwrap()
            .unwrap();
        assert!(diff.contains("allowed: expected true, got false"), "{diff}");
        assert!(
            diff.contains("violations: expected [\"cmek-key-format\"], got [\"cmek-required\"]"),
            "{diff}"
        );
        let err = parse_suite("t.yaml", &SUITE.replace("expect:", "expekt:"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("t.yaml: cases[0].expekt: unknown field `expekt`"),
            "{err}"
        );
    }

    #[test]
    fn mutation_expectations_compare_the_patch_and_the_object_field_by_field() {
        let params = crate::policy::Source {
            name: "p.yaml".into(),
            text: "apiVersion: cmek-gate.dev/v1alpha1\nkind: CmekGateParams\nmetadata: {name: default}\nspec:\n  defaultKeys: {europe-west1: projects/k/locations/europe-west1/keyRings/r/cryptoKeys/d}\n".into(),
        };
        let set = PolicySet::compile(&embedded::sources(), &[params]).unwrap();
        let suite = parse_suite(
            "t.yaml",
            "apiVersion: cmek-gate.dev/v1alpha1
kind: PolicyTest
cases:
  - name: m
    object: {apiVersion: serving.knative.dev/v1, kind: Service, metadata: {name: s, labels: {data-classification: restricted, cloud.googleapis.com/location: europe-west1}}, spec: {template: {metadata: {annotations: {a: b}}}}}
    expect:
      allowed: true
      patch: []
      mutatedObject: {apiVersion: serving.knative.dev/v1, kind: Service, metadata: {name: s, labels: {data-classification: restricted, cloud.googleapis.com/location: europe-west1}}, spec: {template: {metadata: {annotations: {a: c}}}}}
",
        )
        .unwrap();
        let case = &suite.cases[0];
        let object = Node::from_json(case.object.as_ref().unwrap());
        let diff = run_case(&set, case, &object, None, None).unwrap().unwrap();
        assert!(diff.contains("patch: expected []"), "{diff}");
        assert!(
            diff.contains("~ spec.template.metadata.annotations.a: expected \"c\", got \"b\""),
            "{diff}"
        );
        assert!(
            diff.contains("+ spec.template.metadata.annotations[\"run.googleapis.com/encryption-key\"]: \"projects/k/locations/europe-west1/keyRings/r/cryptoKeys/d\" (not expected)"),
            "{diff}"
        );
    }
}
