//! Table tests of the admission semantics, with small inline policies.

use super::*;
use crate::manifest::{parse_documents, ReadLimits};
use crate::policy::Source;

const SERVICE: &str = "apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: svc
  namespace: team-a
  labels:
    tier: gold
spec:
  template:
    metadata:
      annotations:
        k: v
";

fn policy(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: {name}
spec:
  matchConstraints:
    resourceRules:
      - apiGroups: [serving.knative.dev]
        apiVersions: ['*']
        resources: [services]
        operations: [CREATE, UPDATE]
{spec}
---
"
    )
}

fn binding(name: &str, policy: &str, extra: &str) -> String {
    format!(
        "apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: {name}
spec:
  policyName: {policy}
{extra}
---
"
    )
}

fn decide(policies: &str, object: &str) -> Decision {
    let set = PolicySet::compile(
        &[Source {
            name: "test.yaml".into(),
            text: policies.into(),
        }],
        &[],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let docs = parse_documents(object, &ReadLimits::default()).unwrap();
    evaluate(&set, &Request::create(&docs[0]))
}

fn policies_of(decision: &Decision) -> (Vec<&str>, Vec<&str>) {
    (
        decision
            .violations
            .iter()
            .map(|v| v.policy.as_str())
            .collect(),
        decision
            .warnings
            .iter()
            .map(|w| w.policy.as_str())
            .collect(),
    )
}

#[test]
fn validation_actions_failure_policy_and_conditions() {
    let deny = "  validationActions: [Deny]";
    let warn = "  validationActions: [Warn]";
    let cases: Vec<(&str, String, Vec<&str>, Vec<&str>)> = vec![
        (
            "false validation denies",
            policy("p", "  validations:\n    - expression: object.metadata.name == 'other'\n      message: wrong name") + &binding("b", "p", deny),
            vec!["p"],
            vec![],
        ),
        (
            "true validation allows",
            policy("p", "  validations:\n    - expression: object.metadata.name == 'svc'") + &binding("b", "p", deny),
            vec![],
            vec![],
        ),
        (
            "warn action warns",
            policy("p", "  validations:\n    - expression: 'false'") + &binding("b", "p", warn),
            vec![],
            vec!["p"],
        ),
        (
            "every failing validation is reported",
            policy("p", "  validations:\n    - expression: 'false'\n    - expression: 'true'\n    - expression: 1 == 2") + &binding("b", "p", deny),
            vec!["p", "p"],
            vec![],
        ),
        (
            "error with Fail denies under Deny",
            policy("p", "  validations:\n    - expression: object.spec.nope == 1") + &binding("b", "p", deny),
            vec!["p"],
            vec![],
        ),
        (
            "error with Fail warns under Warn, as in Kubernetes",
            policy("p", "  validations:\n    - expression: object.spec.nope == 1") + &binding("b", "p", warn),
            vec![],
            vec!["p"],
        ),
        (
            "error with Ignore is dropped",
            policy("p", "  failurePolicy: Ignore\n  validations:\n    - expression: object.spec.nope == 1") + &binding("b", "p", deny),
            vec![],
            vec![],
        ),
        (
            "false matchCondition skips",
            policy("p", "  matchConditions:\n    - name: gold\n      expression: object.metadata.labels.tier == 'silver'\n  validations:\n    - expression: 'false'") + &binding("b", "p", deny),
            vec![],
            vec![],
        ),
        (
            "unused failing variable is never evaluated",
            policy("p", "  variables:\n    - name: broken\n      expression: object.spec.nope\n    - name: name\n      expression: object.metadata.name\n  validations:\n    - expression: variables.name == 'svc'") + &binding("b", "p", deny),
            vec![],
            vec![],
        ),
        (
            "variables use earlier variables",
            policy("p", "  variables:\n    - name: a\n      expression: object.metadata.labels\n    - name: b\n      expression: variables.a.tier\n  validations:\n    - expression: variables.b == 'bronze'") + &binding("b", "p", deny),
            vec!["p"],
            vec![],
        ),
        (
            "binding matchResources narrows",
            policy("p", "  validations:\n    - expression: 'false'") + &binding("b", "p", "  validationActions: [Deny]\n  matchResources:\n    objectSelector:\n      matchLabels: {tier: silver}"),
            vec![],
            vec![],
        ),
        (
            "policy without binding does nothing",
            policy("p", "  validations:\n    - expression: 'false'"),
            vec![],
            vec![],
        ),
        (
            "rules that do not match do nothing",
            policy("p", "  validations:\n    - expression: 'false'").replace("[services]", "[configurations]") + &binding("b", "p", deny),
            vec![],
            vec![],
        ),
    ];
    for (name, text, violations, warnings) in cases {
        let decision = decide(&text, SERVICE);
        assert_eq!(
            policies_of(&decision),
            (violations, warnings),
            "{name}: {decision:?}"
        );
    }
}

#[test]
fn messages_come_from_message_expression_then_message_then_expression() {
    let text = policy(
        "p",
        "  validations:
    - expression: 'false'
      messageExpression: \"'name ' + object.metadata.name + ' is wrong'\"
      message: static
      reason: Forbidden
    - expression: 'false'
      message: static
    - expression: 1 > 2",
    ) + &binding("b", "p", "  validationActions: [Deny]");
    let decision = decide(&text, SERVICE);
    let messages: Vec<_> = decision
        .violations
        .iter()
        .map(|v| (v.message.as_str(), v.reason.as_str()))
        .collect();
    assert_eq!(
        messages,
        vec![
            ("name svc is wrong", "Forbidden"),
            ("static", "Invalid"),
            ("failed expression: 1 > 2", "Invalid")
        ]
    );
}

#[test]
fn params_by_name_selector_and_not_found() {
    let params = "apiVersion: example.com/v1
kind: Limits
metadata:
  name: gold
  labels: {env: prod}
want: gold
---
apiVersion: example.com/v1
kind: Limits
metadata:
  name: silver
  labels: {env: prod}
want: silver
---
";
    let with_params = |reference: &str| {
        policy(
            "p",
            "  paramKind: {apiVersion: example.com/v1, kind: Limits}\n  validations:\n    - expression: object.metadata.labels.tier == params.want\n      messageExpression: \"'want ' + params.want\"",
        ) + &binding("b", "p", &format!("  validationActions: [Deny]\n  paramRef:\n{reference}"))
            + params
    };
    let cases = [
        ("    name: gold", vec![]),
        ("    name: silver", vec!["want silver"]),
        (
            "    selector: {matchLabels: {env: prod}}",
            vec!["want silver"],
        ),
        (
            "    name: bronze\n    parameterNotFoundAction: Deny",
            vec!["failed to configure binding: no params found for policy binding with `Deny` parameterNotFoundAction"],
        ),
        (
            "    name: bronze\n    parameterNotFoundAction: Allow",
            vec![],
        ),
    ];
    for (reference, expected) in cases {
        let decision = decide(&with_params(reference), SERVICE);
        let got: Vec<_> = decision
            .violations
            .iter()
            .map(|v| v.message.as_str())
            .collect();
        assert_eq!(got, expected, "{reference}");
    }
}

#[test]
fn audit_action_and_audit_annotations() {
    let text = policy(
        "p",
        "  validations:\n    - expression: 'false'\n      message: audited\n  auditAnnotations:\n    - key: name\n      valueExpression: string(object.metadata.name)",
    ) + &binding("b", "p", "  validationActions: [Audit]");
    let decision = decide(&text, SERVICE);
    assert!(decision.allowed());
    assert_eq!(
        decision.audit_annotations.get("p/name").map(String::as_str),
        Some("svc")
    );
    let failure =
        &decision.audit_annotations["validation.policy.admission.k8s.io/validation_failure"];
    assert!(failure.contains("\"message\":\"audited\""), "{failure}");
}

#[test]
fn request_variables_and_namespace_object() {
    let text = policy(
        "p",
        "  validations:
    - expression: request.operation == 'CREATE' && request.resource.resource == 'services' && request.kind.group == 'serving.knative.dev'
    - expression: namespaceObject == null && oldObject == null
    - expression: request.namespace == 'team-a' && request.name == 'svc'",
    ) + &binding("b", "p", "  validationActions: [Deny]");
    let decision = decide(&text, SERVICE);
    assert!(decision.allowed(), "{decision:?}");
    assert!(decision.matched);
}

#[test]
fn variables_of_the_same_definition_are_shared_and_no_others() {
    let deny = "  validationActions: [Deny]";
    // `b` has the same text in both policies, but uses an `a` of another definition.
    let text = policy(
        "p1",
        "  variables:\n    - name: a\n      expression: object.metadata.name\n    - name: b\n      expression: variables.a + '!'\n  validations:\n    - expression: variables.b == 'svc!'",
    ) + &binding("b1", "p1", deny)
        + &policy(
            "p2",
            "  variables:\n    - name: a\n      expression: object.metadata.namespace\n    - name: b\n      expression: variables.a + '!'\n  validations:\n    - expression: variables.b == 'team-a!'",
        )
        + &binding("b2", "p2", deny);
    let decision = decide(&text, SERVICE);
    assert!(decision.allowed(), "{decision:?}");

    // The same policy through two bindings with different parameter objects.
    let params = "apiVersion: example.com/v1\nkind: Want\nmetadata: {name: gold}\nwant: gold\n---\napiVersion: example.com/v1\nkind: Want\nmetadata: {name: silver}\nwant: silver\n---\n";
    let text = policy(
        "p",
        "  paramKind: {apiVersion: example.com/v1, kind: Want}\n  variables:\n    - name: want\n      expression: params.want\n  validations:\n    - expression: object.metadata.labels.tier == variables.want\n      messageExpression: \"'want ' + variables.want\"",
    ) + &binding("gold", "p", "  validationActions: [Deny]\n  paramRef: {name: gold}")
        + &binding("silver", "p", "  validationActions: [Deny]\n  paramRef: {name: silver}")
        + params;
    let decision = decide(&text, SERVICE);
    let messages: Vec<_> = decision
        .violations
        .iter()
        .map(|v| (v.binding.as_str(), v.message.as_str()))
        .collect();
    assert_eq!(messages, vec![("silver", "want silver")]);
}

#[test]
fn audit_annotation_values_are_cut_at_10_kib_as_the_api_server_records_them() {
    let cases = [
        ("short".to_owned(), "short".to_owned()),
        ("a".repeat(10 * 1024), "a".repeat(10 * 1024)),
        ("a".repeat(10 * 1024 + 5), "a".repeat(10 * 1024)),
        // 'ü' is two bytes: the 5,121st is cut after its first byte.
        (
            "a".to_owned() + &"ü".repeat(6000),
            "a".to_owned() + &"ü".repeat(5119) + "\u{fffd}",
        ),
        // '€' is three bytes: cut after two, two bytes read as two U+FFFD.
        (
            "ab".to_owned() + &"€".repeat(4000),
            "ab".to_owned() + &"€".repeat(3412) + "\u{fffd}\u{fffd}",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(
            super::audit_annotation_value(&text),
            expected,
            "{}",
            text.len()
        );
    }
}

/// A policy marked `cmek-gate.dev/scan-role: sensitivity` holds an object sensitive when it
/// applies to it and its `sensitive` variable (if any) is true; when that cannot be decided, it
/// is sensitive (failing closed). A policy not marked says nothing of sensitivity.
#[test]
fn policies_marked_for_sensitivity_say_which_objects_are_sensitive() {
    let marked = |spec: &str| {
        policy("p", spec).replace(
            "name: p\nspec:",
            "name: p\n  annotations: {cmek-gate.dev/scan-role: sensitivity}\nspec:",
        ) + &binding("b", "p", "  validationActions: [Deny]")
    };
    let validation = "  validations: [{expression: 'true'}]";
    let cases = [
        (marked(validation), true),
        (
            marked(&format!(
                "  matchConditions: [{{name: gold, expression: \"object.metadata.labels.tier == 'gold'\"}}]\n{validation}"
            )),
            true,
        ),
        (
            marked(&format!(
                "  matchConditions: [{{name: silver, expression: \"object.metadata.labels.tier == 'silver'\"}}]\n{validation}"
            )),
            false,
        ),
        (
            marked(&format!(
                "  variables: [{{name: sensitive, expression: \"object.metadata.labels.tier == 'gold'\"}}]\n{validation}"
            )),
            true,
        ),
        (
            marked(&format!(
                "  variables: [{{name: sensitive, expression: \"object.metadata.labels.tier == 'bronze'\"}}]\n{validation}"
            )),
            false,
        ),
        // Cannot be decided: a label that is not there, a value that is not a bool.
        (
            marked(&format!(
                "  variables: [{{name: sensitive, expression: \"object.metadata.labels.missing == 'x'\"}}]\n{validation}"
            )),
            true,
        ),
        (
            marked(&format!(
                "  variables: [{{name: sensitive, expression: \"object.metadata.labels.tier\"}}]\n{validation}"
            )),
            true,
        ),
        (
            policy("p", validation) + &binding("b", "p", "  validationActions: [Deny]"),
            false,
        ),
        // Its parameters are missing: it cannot be applied, so cannot say.
        (
            marked(&format!(
                "  paramKind: {{apiVersion: v1, kind: ConfigMap}}\n{validation}"
            ))
            .replace(
                "  validationActions: [Deny]",
                "  paramRef: {name: missing, parameterNotFoundAction: Deny}\n  validationActions: [Deny]",
            ),
            true,
        ),
    ];
    for (i, (policies, sensitive)) in cases.into_iter().enumerate() {
        let decision = decide(&policies, SERVICE);
        let expected: Vec<String> = if sensitive { vec!["p".into()] } else { vec![] };
        assert_eq!(decision.sensitive_by, expected, "case {i}: {policies}");
    }
}
