//! Loading and compiling policies: what is accepted, and how mistakes are reported.

use super::embedded;
use super::*;

const VALID: &str = "apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: p
spec:
  matchConstraints:
    resourceRules:
      - apiGroups: ['*']
        apiVersions: ['*']
        resources: ['*']
        operations: ['*']
  variables:
    - name: a
      expression: object.metadata.name
  validations:
    - expression: variables.a != ''
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: b
spec:
  policyName: p
  validationActions: [Deny]
";

fn compile(text: &str) -> Result<PolicySet, PolicyError> {
    PolicySet::compile(
        &[Source {
            name: "p.yaml".into(),
            text: text.into(),
        }],
        &[],
    )
}

#[test]
fn valid_policies_compile_and_link() {
    let set = compile(VALID).unwrap();
    assert_eq!(set.policies.len(), 1);
    assert_eq!(set.bindings[0].policy, Some(0));
    assert_eq!(
        set.policies[0].variables[0].1.field,
        "spec.variables[0].expression"
    );
}

#[test]
fn mistakes_name_the_file_line_policy_and_field() {
    let cases = [
        (
            VALID.replace("  variables:", "  variabels:"),
            "p.yaml:12: document 0: spec.variabels: unknown field `variabels`",
        ),
        (
            VALID.replace(
                "expression: variables.a != ''",
                "expression: variables.a !=",
            ),
            "p.yaml:16:33: policy \"p\", spec.validations[0].expression: Syntax error",
        ),
        (
            VALID.replace(
                "expression: object.metadata.name",
                "expression: objct.metadata.name",
            ),
            "p.yaml:14:19: policy \"p\", spec.variables[0].expression: unknown variable \"objct\"",
        ),
        (
            VALID.replace("variables.a != ''", "variables.b != ''"),
            "unknown variable \"variables.b\"",
        ),
        (
            VALID.replace("validationActions: [Deny]", "validationActions: [Block]"),
            "p.yaml:24: document 1: spec.validationActions[0]: unknown variant `Block`",
        ),
        (
            format!("{VALID}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: x}}\n"),
            "neither a policy, a binding, nor the paramKind of a loaded policy",
        ),
        (
            format!("{VALID}---\n{}", VALID.split("---").next().unwrap()),
            "policy \"p\" is defined twice",
        ),
        (
            VALID.replace("  validationActions: [Deny]\n", "  validationActions: []\n"),
            "spec.validationActions must name at least one action",
        ),
        ("a: [\n".to_owned(), "p.yaml: document 0: line"),
    ];
    for (text, expected) in cases {
        let err = compile(&text).unwrap_err().to_string();
        assert!(err.contains(expected), "{err:?}\n lacks {expected:?}");
    }
}

#[test]
fn field_annotations_point_validations_at_shape_fields() {
    let mut annotations = BTreeMap::new();
    annotations.insert(FIELDS_ANNOTATION.to_owned(), "key, region".to_owned());
    assert_eq!(
        fields_pointed_at(&annotations, 3),
        vec![
            Some("key".to_owned()),
            Some("region".to_owned()),
            Some("region".to_owned())
        ]
    );
    let mut one = BTreeMap::new();
    one.insert(FIELD_ANNOTATION.to_owned(), "key".to_owned());
    assert_eq!(fields_pointed_at(&one, 2), vec![Some("key".to_owned()); 2]);
}

#[test]
fn identical_variable_definitions_share_a_slot() {
    let second = VALID
        .replace("name: p\n", "name: q\n")
        .replace("name: b\n", "name: c\n")
        .replace("policyName: p", "policyName: q");
    let set = compile(&format!("{VALID}---\n{second}")).unwrap();
    assert_eq!(set.variable_slots, 1);
    assert_eq!(
        set.policies[0].variable_slots,
        set.policies[1].variable_slots
    );
    let other = second.replace(
        "expression: object.metadata.name",
        "expression: object.metadata.namespace",
    );
    let set = compile(&format!("{VALID}---\n{other}")).unwrap();
    assert_eq!(set.variable_slots, 2);
}

/// Every shipped policy is far below the cost limits (docs/lint.md gives these numbers).
#[test]
fn the_shipped_library_is_far_below_the_cost_limits() {
    let set = PolicySet::compile(&embedded::sources(), &[]).unwrap();
    for p in set.policies.iter().chain(&set.mutating_policies) {
        let costs: Vec<u64> =
            p.variables
                .iter()
                .map(|(_, c)| c)
                .chain(p.match_conditions.iter().map(|(_, c)| c))
                .chain(p.validations.iter().flat_map(|v| {
                    std::iter::once(&v.expression).chain(v.message_expression.as_ref())
                }))
                .chain(p.audit_annotations.iter().map(|(_, c)| c))
                .chain(p.mutations.iter().map(|m| &m.expression))
                .map(|c| c.program.estimate.cost)
                .collect();
        let total: u64 = costs.iter().sum();
        assert!(total < 1_500_000, "{}: {total}", p.name);
        assert!(costs.iter().all(|c| *c < 400_000), "{}: {costs:?}", p.name);
    }
}

#[test]
fn policies_over_the_cost_limits_are_refused_with_the_field() {
    let nested = VALID.replace(
        "expression: variables.a != ''",
        "expression: object.spec.list.all(x, object.spec.list.all(y, x == y))",
    );
    let sources = [Source {
        name: "p.yaml".into(),
        text: nested,
    }];
    let error = PolicySet::compile(&sources, &[]).unwrap_err().to_string();
    assert!(
        error.starts_with(
            "p.yaml:16: policy \"p\", spec.validations[0].expression: estimated cost "
        ),
        "{error}"
    );
    assert!(
        error.ends_with("is over the limit of 10000000 (see docs/lint.md for the cost model)"),
        "{error}"
    );
    let tight = CompileOptions {
        max_expression_cost: u64::MAX - 1,
        max_policy_cost: 100,
    };
    let error = PolicySet::compile_with(&sources, &[], &tight)
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("p.yaml:1: policy \"p\": estimated cost "),
        "{error}"
    );
    assert!(PolicySet::compile_with(&sources, &[], &CompileOptions::unlimited()).is_ok());
}
