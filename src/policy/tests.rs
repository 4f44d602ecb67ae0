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

/// A policy for every kind with a variable `count` (an int), a match condition, a validation
/// with its message, and an audit annotation: each replaced in turn by a mistake.
const TYPED: &str = "apiVersion: admissionregistration.k8s.io/v1
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
    - name: count
      expression: \"size(object.spec.items)\"
  matchConditions:
    - name: named
      expression: \"object.metadata.name != ''\"
  validations:
    - expression: \"variables.count < 10\"
      messageExpression: \"'too many: ' + string(variables.count)\"
  auditAnnotations:
    - key: count
      valueExpression: \"string(variables.count)\"
";

/// What Kubernetes refuses when a policy is created (type errors with `object`, `oldObject` and
/// `params` dyn, results of another type than the field's) is refused at load, with the file,
/// line and column, the policy and the field (verified against kube-apiserver 1.37.2:
/// crates/cel-k8s/testdata/kubernetes).
#[test]
fn type_errors_are_refused_at_load_at_their_position() {
    let validation = "\"variables.count < 10\"";
    let cases = [
        (
            validation,
            "\"'abc'.startsWith(1)\"",
            "p.yaml:19:36: policy \"p\", spec.validations[0].expression: found no matching overload for 'startsWith' applied to 'string.(int)'",
        ),
        (
            validation,
            "\"[1, 'a'] == []\"",
            "p.yaml:19:24: policy \"p\", spec.validations[0].expression: expected type 'int' but found 'string'",
        ),
        (
            validation,
            "\"['a', 'b'].sum() == 'ab'\"",
            "p.yaml:19:34: policy \"p\", spec.validations[0].expression: found no matching overload for 'sum' applied to 'list(string).()'",
        ),
        (
            validation,
            "\"request.nope == 'x'\"",
            "p.yaml:19:27: policy \"p\", spec.validations[0].expression: undefined field 'nope'",
        ),
        (
            validation,
            "\"request.userInfo.groups.exists(g, g > 1)\"",
            "p.yaml:19:56: policy \"p\", spec.validations[0].expression: found no matching overload for '_>_' applied to '(string, int)'",
        ),
        (
            validation,
            "\"variables.count.startsWith('a')\"",
            "p.yaml:19:46: policy \"p\", spec.validations[0].expression: found no matching overload for 'startsWith' applied to 'int.(string)'",
        ),
        (
            validation,
            "\"1 + 'a' == 2 && 'x' + 1 == 'y'\"",
            "p.yaml:19:22: policy \"p\", spec.validations[0].expression: found no matching overload for '_+_' applied to '(int, string)' (and 1 more type error)",
        ),
        (
            validation,
            "object.metadata.name",
            "p.yaml:19:19: policy \"p\", spec.validations[0].expression: must evaluate to bool but got dyn",
        ),
        (
            validation,
            "\"params.x == 1\"",
            "p.yaml:19:20: policy \"p\", spec.validations[0].expression: undeclared reference to 'params' (in container '')",
        ),
        (
            validation,
            "\"authorizer.group('g').resource('r').check('get').allowed()\"",
            "p.yaml:19:20: policy \"p\", spec.validations[0].expression: \"authorizer\" is not supported: the gate has no API server to ask",
        ),
        (
            validation,
            "\"duration('1x') > duration('1s')\"",
            "p.yaml:19:29: policy \"p\", spec.validations[0].expression: invalid duration argument",
        ),
        (
            "\"'too many: ' + string(variables.count)\"",
            "\"variables.count\"",
            "p.yaml:20:27: policy \"p\", spec.validations[0].messageExpression: must evaluate to string but got int",
        ),
        (
            "\"object.metadata.name != ''\"",
            "\"variables.count\"",
            "p.yaml:17:20: policy \"p\", spec.matchConditions[0].expression: must evaluate to bool but got int",
        ),
        (
            "\"string(variables.count)\"",
            "\"object.metadata.name\"",
            "p.yaml:23:25: policy \"p\", spec.auditAnnotations[0].valueExpression: must evaluate to one of [string null_type] but got dyn",
        ),
        (
            "\"size(object.spec.items)\"",
            "\"size(object.spec.items) + 'a'\"",
            "p.yaml:14:44: policy \"p\", spec.variables[0].expression: found no matching overload for '_+_' applied to '(int, string)'",
        ),
    ];
    assert!(compile(TYPED).is_ok(), "{:?}", compile(TYPED).err());
    let mut wrong = Vec::new();
    for (original, mistake, expected) in cases {
        assert!(TYPED.contains(original), "{original}");
        let text = TYPED.replacen(original, mistake, 1);
        match compile(&text) {
            Ok(_) => wrong.push(format!("{mistake}: loaded")),
            Err(error) if error.to_string() != expected => wrong.push(format!(
                "{mistake}:\n  got      {error}\n  expected {expected}"
            )),
            Err(_) => {}
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Mistakes only the schemas show (`object` typed from the shipped schema of the kind matched,
/// `params` from its CRD among the files, wherever it is) are warnings at their position, as
/// Kubernetes' type checking reports them: the policy loads.
#[test]
fn schema_typed_mistakes_are_warnings_at_their_position() {
    let text = "apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: p
spec:
  paramKind: {apiVersion: example.com/v1, kind: Limits}
  matchConstraints:
    resourceRules:
      - apiGroups: [serving.knative.dev]
        apiVersions: [v1]
        resources: [services]
        operations: [CREATE]
  validations:
    - expression: \"object.spec.template.spec.timeoutSeconds.startsWith('1')\"
    - expression: \"params.spec.max == 'ten'\"
      messageExpression: \"'at most ' + string(params.spec.max)\"
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: limits.example.com}
spec:
  group: example.com
  names: {kind: Limits, plural: limits}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                max: {type: integer}
";
    let set = compile(text).unwrap_or_else(|e| panic!("{e}"));
    let warnings: Vec<String> = set.type_warnings().map(ToString::to_string).collect();
    let with = "with object typed from the schema of serving.knative.dev/v1 Service, params typed from the CustomResourceDefinition of example.com/v1 Limits (Kubernetes reports this as a type-checking warning)";
    assert_eq!(
        warnings,
        [
            format!("p.yaml:14:71: policy \"p\", spec.validations[0].expression: found no matching overload for 'startsWith' applied to 'int.(string)', {with}"),
            format!("p.yaml:15:36: policy \"p\", spec.validations[1].expression: found no matching overload for '_==_' applied to '(int, string)', {with}"),
        ]
    );
    // Without the CRD, params is dyn: only the object's mistake is left.
    let without = text.split("---").next().unwrap();
    let set = compile(without).unwrap_or_else(|e| panic!("{e}"));
    let warnings: Vec<String> = set.type_warnings().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].ends_with("with object typed from the schema of serving.knative.dev/v1 Service (Kubernetes reports this as a type-checking warning)"), "{warnings:?}");
    // Kinds of different schemas: object is dyn, nothing to warn about.
    let both = without.replace(
        "resources: [services]",
        "resources: [services, configurations]",
    );
    assert_eq!(compile(&both).unwrap().type_warnings().count(), 0);
}

/// The `kms` extension is a policy's to enable: without the annotation a call is refused with
/// how to enable it, an unknown extension name is refused, and with it the policy compiles.
#[test]
fn cel_extensions_are_enabled_per_policy() {
    let with_kms = |annotations: &str| {
        VALID
            .replace("  name: p\n", &format!("  name: p\n{annotations}"))
            .replace("variables.a != ''", "variables.a != '' || !kms.available()")
    };
    let refused = compile(&with_kms("")).unwrap_err().to_string();
    assert!(
        refused.contains("undeclared reference to 'kms'")
            && refused
                .contains("enable it with the annotation cmek-gate.dev/cel-extensions: \"kms\""),
        "{refused}"
    );
    let unknown = compile(&with_kms(
        "  annotations:\n    cmek-gate.dev/cel-extensions: kms, gcs\n",
    ))
    .unwrap_err()
    .to_string();
    assert!(
        unknown.contains("unknown CEL extension \"gcs\" (known: kms)"),
        "{unknown}"
    );
    let set = compile(&with_kms(
        "  annotations:\n    cmek-gate.dev/cel-extensions: kms\n",
    ))
    .unwrap();
    assert_eq!(set.policies.len(), 1);
}
