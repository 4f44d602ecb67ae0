//! Every rule on a small policy, with the exact line and column of what it finds.

use super::*;

/// A ValidatingAdmissionPolicy `p` matching Knative Services: 11 lines, then `body` (its
/// spec's other fields, indented by 2) from line 12.
fn policy(body: &str) -> String {
    format!(
        "apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: p
spec:
  matchConstraints:
    resourceRules:
      - apiGroups: [serving.knative.dev]
        apiVersions: [v1]
        operations: [CREATE]
        resources: [services]
{body}"
    )
}

const BINDING: &str = "---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: b
spec:
  policyName: p
  validationActions: [Deny]
";

/// The findings of linting `text` (as `p.yaml`), as `line:column rule`.
fn found(text: &str) -> Vec<String> {
    found_with(text, &LintOptions::default())
}

fn found_with(text: &str, options: &LintOptions) -> Vec<String> {
    let sources = [Source {
        name: "p.yaml".into(),
        text: text.into(),
    }];
    lint(&sources, options)
        .iter()
        .map(|f| format!("{}:{} {}", f.line, f.column, f.rule))
        .collect()
}

#[test]
fn each_rule_at_its_line_and_column() {
    let cases: Vec<(&str, String, &[&str])> = vec![
        (
            "clean",
            policy("  validations:\n    - expression: has(object.spec.template)\n") + BINDING,
            &[],
        ),
        ("parse", "a: [\n".to_owned(), &["2:1 parse"]),
        (
            "decode: an unknown field",
            policy("  validatons:\n    - expression: 'true'\n"),
            &["12:3 decode"],
        ),
        (
            "compile: plain scalar",
            policy("  validations:\n    - expression: object.metadata.name ==\n") + BINDING,
            &["13:42 compile"],
        ),
        (
            "compile: double-quoted, after an escape",
            policy("  validations:\n    - expression: \"'\\u00e9' == objet.x\"\n") + BINDING,
            &["13:32 compile"],
        ),
        (
            "compile: literal block, second line",
            policy("  validations:\n    - expression: |\n        1 == 1 &&\n          foo(1)\n")
                + BINDING,
            &["15:11 compile"],
        ),
        (
            "compile: folded block",
            policy("  validations:\n    - expression: >-\n        true &&\n        nope.x\n")
                + BINDING,
            &["15:9 compile"],
        ),
        (
            "load: a binding without actions",
            policy("  validations:\n    - expression: has(object.spec)\n")
                + &BINDING.replace("[Deny]", "[]"),
            &["15:1 load"],
        ),
        (
            "unknown-field, with the column of the name",
            policy("  validations:\n    - expression: object.metadata.anotations == {}\n")
                + BINDING,
            &["13:35 unknown-field"],
        ),
        (
            "unknown-field through a variable and a comprehension variable",
            policy(
                "  variables:
    - name: spec
      expression: \"!has(object.spec) ? {} : object.spec\"
  validations:
    - expression: variables.spec.template.spec.containers.all(c, c.imag != '')
",
            ) + BINDING,
            &["16:68 unknown-field"],
        ),
        (
            "unknown-field in has() and in an optional access",
            policy(
                "  validations:
    - expression: has(object.spec.tempalte) || object.?metdata.orValue(null) == null
",
            ) + BINDING,
            &["13:35 unknown-field", "13:56 unknown-field"],
        ),
        (
            "unguarded-key: an index and a select into labels",
            policy(
                "  validations:
    - expression: object.metadata.labels['team'] == 'a' || object.metadata.labels.owner == 'b'
",
            ) + BINDING,
            &[
                "13:35 unguarded-key",
                "13:43 unguarded-key",
                "13:76 unguarded-key",
                "13:83 unguarded-key",
            ],
        ),
        (
            "unguarded-key: a whole map read by `in`, size(), exists(), an index",
            policy(
                "  validations:
    - expression: \"'team' in object.metadata.labels\"
    - expression: object.metadata.labels.size() > 0
    - expression: object.metadata.annotations.exists(k, k == 'a')
    - expression: object.metadata.annotations[object.metadata.name] == 'x'
    - expression: object.spec.template.metadata.annotations.all(k, k != 'a')
",
            ) + BINDING,
            &[
                "13:46 unguarded-key",
                "14:35 unguarded-key",
                "15:35 unguarded-key",
                "16:35 unguarded-key",
                "17:49 unguarded-key",
            ],
        ),
        (
            "unguarded-key: a whole map guarded by has(), `in`, optional access, a match condition",
            policy(
                "  matchConditions:
    - name: annotated
      expression: has(object.metadata.annotations)
  validations:
    - expression: \"has(object.metadata.labels) && 'team' in object.metadata.labels\"
    - expression: \"'labels' in object.metadata && object.metadata.labels.size() > 0\"
    - expression: object.?metadata.?labels.orValue({}).size() > 0
    - expression: object.metadata.annotations.exists(k, k == 'a')
",
            ) + BINDING,
            // `in` on an object typed from its schema (ObjectMeta is no map): Kubernetes' type
            // checking warns.
            &["17:29 schema-type"],
        ),
        (
            "unguarded-key: guarded by in, has(), optional access, a match condition",
            policy(
                "  matchConditions:
    - name: owned
      expression: has(object.metadata.labels) && has(object.metadata.labels.owner)
  validations:
    - expression: \"'team' in object.metadata.labels && object.metadata.labels['team'] == 'a'\"
    - expression: object.metadata.labels[?'x'].orValue('') == '' && object.metadata.labels.owner != ''
",
            ) + BINDING,
            &[],
        ),
        (
            "unguarded-key: guarded by a variable the expression uses",
            policy(
                "  variables:
    - name: owned
      expression: has(object.metadata.labels) && has(object.metadata.labels.owner)
  validations:
    - expression: variables.owned && object.metadata.labels.owner != ''
",
            ) + BINDING,
            &[],
        ),
        (
            "expression-type: a message that is not a string, a validation that is not a bool",
            policy(
                "  validations:
    - expression: object.metadata.name
      messageExpression: object.metadata.name == 'x'
",
            ) + BINDING,
            // object.metadata.name is dyn where Kubernetes refuses the policy: dyn is not bool.
            &["13:19 expression-type", "14:26 expression-type"],
        ),
        (
            "expression-type: a literal",
            policy("  validations:\n    - expression: \"'yes'\"\n") + BINDING,
            &["13:20 constant-validation", "13:20 expression-type"],
        ),
        (
            "schema-type: a library function given a field of the wrong type, an int read as a map",
            policy(
                "  validations:
    - expression: object.metadata.name.startsWith(object.metadata.generation)
    - expression: object.spec.template.spec.timeoutSeconds['x'] == 1
      messageExpression: \"'timeout ' + object.spec.template.spec.timeoutSeconds\"
",
            ) + BINDING,
            &["13:50 schema-type", "14:59 schema-type", "15:38 schema-type"],
        ),
        (
            "schema-type: not for an object whose kinds have different schemas",
            policy(
                "  validations:
    - expression: object.metadata.name.startsWith(object.metadata.generation)
",
            )
            .replace("resources: [services]", "resources: [services, configurations]")
                + BINDING,
            &[],
        ),
        (
            "constant-validation",
            policy("  validations:\n    - expression: 1 == 1\n") + BINDING,
            &["13:19 constant-validation"],
        ),
        (
            "unused-variable",
            policy(
                "  variables:
    - name: used
      expression: object.metadata
    - name: idle
      expression: object.spec
  validations:
    - expression: has(variables.used.name)
",
            ) + BINDING,
            &["15:7 unused-variable"],
        ),
        (
            "binding-without-policy",
            policy("  validations:\n    - expression: has(object.spec)\n")
                + &BINDING.replace("policyName: p", "policyName: q"),
            &["20:3 binding-without-policy"],
        ),
        (
            "param-ref: a paramRef for a policy without paramKind",
            policy("  validations:\n    - expression: has(object.spec)\n")
                + &BINDING.replace("  policyName: p\n", "  policyName: p\n  paramRef: {name: x}\n"),
            &["21:3 param-ref"],
        ),
        (
            "param-ref and params-not-loaded: a paramKind, no paramRef, no parameters",
            policy(
                "  paramKind: {apiVersion: example.com/v1, kind: Params}
  validations:
    - expression: params == null
",
            ) + BINDING,
            &["12:3 params-not-loaded", "21:3 param-ref"],
        ),
    ];
    let mut failed = Vec::new();
    for (name, text, expected) in &cases {
        let got = found(text);
        if got != *expected {
            failed.push(format!("{name}: got {got:?}, expected {expected:?}"));
        }
    }
    assert!(failed.is_empty(), "{failed:#?}");
}

#[test]
fn cost_over_the_limits() {
    let text = policy(
        "  validations:
    - expression: object.spec.template.spec.containers.all(c, c.env.all(e, e.name != ''))
    - expression: has(object.spec)
",
    ) + BINDING;
    assert_eq!(found(&text), Vec::<String>::new());
    let tight = LintOptions {
        max_expression_cost: 1000,
        max_policy_cost: 100_000,
        ..LintOptions::default()
    };
    assert_eq!(found_with(&text, &tight), ["13:19 cost"]);
    let tighter = LintOptions {
        max_expression_cost: 1_000_000,
        max_policy_cost: 1000,
        ..LintOptions::default()
    };
    assert_eq!(found_with(&text, &tighter), ["1:1 cost"]);
    // Nested comprehensions over lists nothing bounds are over the default limit.
    let unbounded = policy(
        "  validations:
    - expression: object.spec.template.spec.containers.all(c, params.a.all(x, params.b.all(y, x == y)))
  paramKind: {apiVersion: v1, kind: ConfigMap}
",
    ) + BINDING.replace("  policyName: p\n", "  policyName: p\n  paramRef: {name: x}\n").as_str()
        + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {}\n";
    assert_eq!(
        found(&unbounded),
        Vec::<String>::new(),
        "params as loaded are small"
    );
}

#[test]
fn the_shipped_library_lints_clean() {
    let findings = lint(&crate::policy::embedded::sources(), &LintOptions::default());
    assert!(findings.is_empty(), "{findings:#?}");
}

#[test]
fn exit_codes() {
    let warning = Finding {
        file: "p.yaml".into(),
        line: 1,
        column: 1,
        severity: Severity::Warning,
        rule: "unused-variable",
        message: String::new(),
    };
    let error = Finding {
        severity: Severity::Error,
        ..warning.clone()
    };
    assert_eq!(exit_code(&[], false), 0);
    assert_eq!(exit_code(std::slice::from_ref(&warning), false), 0);
    assert_eq!(exit_code(std::slice::from_ref(&warning), true), 1);
    assert_eq!(exit_code(&[warning, error.clone()], false), 1);
    assert_eq!(error.to_string(), "p.yaml:1:1: error:  [unused-variable]");
}

#[test]
fn docs_list_every_rule_with_its_severity() {
    let docs = include_str!("../../docs/lint.md");
    for rule in RULES {
        let row = format!("| `{}` | {} |", rule.id, rule.severity.as_str());
        assert!(docs.contains(&row), "docs/lint.md lacks the row {row}");
    }
}

/// A policy that enables the `kms` extension (with `annotations`), whose validation reads a
/// key: 14 lines before `body`.
fn kms_policy(annotations: &str, body: &str) -> String {
    format!(
        "apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: p
{annotations}spec:
  matchConstraints:
    resourceRules:
      - apiGroups: [serving.knative.dev]
        apiVersions: [v1]
        operations: [CREATE]
        resources: [services]
{body}  validations:
    - expression: kms.key('projects/p/locations/l/keyRings/r/cryptoKeys/k').state == 'ENABLED'
"
    ) + BINDING
}

#[test]
fn live_functions_need_the_extension_and_a_guard() {
    let enabled = "  annotations:\n    cmek-gate.dev/cel-extensions: kms\n";
    let guard = "  matchConditions:\n    - name: live\n      expression: kms.available()\n";
    let cases: [(&str, String, &[&str]); 4] = [
        ("not enabled", kms_policy("", ""), &["13:26 compile"]),
        (
            "unknown extension",
            kms_policy(
                "  annotations:\n    cmek-gate.dev/cel-extensions: kms,gcs\n",
                "",
            ),
            // The annotation is reported where it is, and the policy checked without it.
            &["6:5 kubernetes-version", "15:26 compile"],
        ),
        // Reading live data is not a constant validation.
        (
            "unguarded",
            kms_policy(enabled, ""),
            &["15:7 live-unguarded"],
        ),
        ("guarded", kms_policy(enabled, guard), &[]),
    ];
    for (name, text, expected) in cases {
        assert_eq!(found(&text), expected, "{name}");
    }
}

/// The oldest release of each policy: its expressions', and for a MutatingAdmissionPolicy the
/// release that serves them by default.
#[test]
fn each_policy_has_its_oldest_release() {
    let sources = crate::policy::embedded::sources();
    let report = crate::lint::lint_report(&sources, &LintOptions::default());
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    assert_eq!(report.policies.len(), 10);
    for release in &report.policies {
        let expected = match release.kind.as_str() {
            "MutatingAdmissionPolicy" => "1.36",
            _ => "1.30",
        };
        assert_eq!(
            release.oldest_kubernetes_version.as_deref(),
            Some(expected),
            "{release}"
        );
    }
    let mutating = report
        .policies
        .iter()
        .find(|r| r.kind == "MutatingAdmissionPolicy")
        .expect("the library has a mutating policy");
    assert!(
        mutating.to_string().contains("runs on Kubernetes 1.36 or newer (MutatingAdmissionPolicy is on by default from Kubernetes 1.36"),
        "{mutating}"
    );
}
