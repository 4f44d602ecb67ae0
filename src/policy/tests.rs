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
        ..CompileOptions::default()
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
        refused.contains("`kms.available()` is not in Kubernetes' CEL: it is cmek-gate's \"kms\" extension; ask for it with the policy annotation cmek-gate.dev/cel-extensions: \"kms\""),
        "{refused}"
    );
    let unknown = compile(&with_kms(
        "  annotations:\n    cmek-gate.dev/cel-extensions: kms, gcs\n",
    ))
    .unwrap_err()
    .to_string();
    assert!(
        unknown.contains(
            "unknown CEL extension \"gcs\" (the extensions are math, encoders, bind, strings, kms)"
        ),
        "{unknown}"
    );
    let set = compile(&with_kms(
        "  annotations:\n    cmek-gate.dev/cel-extensions: kms\n",
    ))
    .unwrap();
    assert_eq!(set.policies.len(), 1);
}

/// A policy whose one validation is `expression`, with `annotations` (YAML lines, indented).
fn targeted(expression: &str, annotations: &str) -> String {
    format!(
        "apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: p
{annotations}spec:
  validations:
    - expression: \"{expression}\"
"
    )
}

fn compile_for(text: &str, options: &CompileOptions) -> Result<PolicySet, String> {
    PolicySet::compile_with(
        &[Source {
            name: "p.yaml".into(),
            text: text.into(),
        }],
        &[],
        options,
    )
    .map_err(|e| e.to_string())
}

#[test]
fn the_target_release_refuses_what_it_lacks_at_the_line_and_column() {
    let at = |minor| CompileOptions::default().targeting(KubernetesVersion::new(minor).unwrap());
    let includes = targeted("[1, 2].includes(object.spec.replicas)", "");
    assert!(compile_for(&includes, &at(37)).is_ok());
    assert!(compile_for(&includes, &CompileOptions::default()).is_ok());
    assert_eq!(
        compile_for(&includes, &at(36)).unwrap_err(),
        "p.yaml:7:35: policy \"p\", spec.validations[0].expression: `list.includes()` needs Kubernetes 1.37 or newer; --kubernetes-version is 1.36"
    );
    let pairs = targeted("[object.metadata.name].all(i, v, v != '')", "");
    assert_eq!(compile_for(&pairs, &at(32)).err(), None);
    let refused = compile_for(&pairs, &at(31)).unwrap_err();
    assert!(
        refused.starts_with("p.yaml:7:") && refused.contains("needs Kubernetes 1.32 or newer"),
        "{refused}"
    );
    let set = compile_for(&pairs, &at(33)).unwrap();
    assert_eq!(set.kubernetes_version.to_string(), "1.33");
}

#[test]
fn extensions_are_offered_only_to_a_policy_that_asks() {
    let math = "math.abs(size(object.metadata.name)) > 0";
    let refused = compile_for(&targeted(math, ""), &CompileOptions::default()).unwrap_err();
    assert!(
        refused.starts_with("p.yaml:7:28: policy \"p\", spec.validations[0].expression: `math.abs()` is not in Kubernetes' CEL: it is cmek-gate's \"math\" extension; ask for it with the policy annotation cmek-gate.dev/cel-extensions: \"math\""),
        "{refused}"
    );
    let asked = "  annotations:\n    cmek-gate.dev/cel-extensions: 'bind, math'\n";
    let set = compile_for(&targeted(math, asked), &CompileOptions::default()).unwrap();
    assert_eq!(set.policies.len(), 1);
    // Another policy of the set does not get them.
    let global = CompileOptions {
        extensions: cel_k8s::Extensions::parse("math").unwrap(),
        ..CompileOptions::default()
    };
    assert!(compile_for(&targeted(math, ""), &global).is_ok());
    let unknown = "  annotations:\n    cmek-gate.dev/cel-extensions: math,base64\n";
    assert_eq!(
        compile_for(&targeted(math, unknown), &CompileOptions::default()).unwrap_err(),
        "p.yaml:6: policy \"p\": metadata.annotations[cmek-gate.dev/cel-extensions]: unknown CEL extension \"base64\" (the extensions are math, encoders, bind, strings, kms)"
    );
    let bind = targeted("cel.bind(n, object.metadata.name, n != '')", "");
    let refused = compile_for(&bind, &CompileOptions::default()).unwrap_err();
    assert!(
        refused.contains("cmek-gate.dev/cel-extensions: \"bind\""),
        "{refused}"
    );
}

#[test]
fn a_loaded_cmek_gate_params_names_the_target_unless_the_options_do() {
    let includes = targeted("[1, 2].includes(object.spec.replicas)", "");
    let params = |version: &str| {
        Source {
        name: "params.yaml".into(),
        text: format!("apiVersion: cmek-gate.dev/v1alpha1\nkind: CmekGateParams\nmetadata: {{name: default}}\nspec:\n  kubernetesVersion: '{version}'\n"),
    }
    };
    let policy = Source {
        name: "p.yaml".into(),
        text: includes,
    };
    let load = |params: &[Source], options: &CompileOptions| {
        PolicySet::compile_with(std::slice::from_ref(&policy), params, options)
            .map(|set| set.kubernetes_version.to_string())
            .map_err(|e| e.to_string())
    };
    let refused = load(&[params("1.36")], &CompileOptions::default()).unwrap_err();
    assert!(
        refused.contains("--kubernetes-version is 1.36"),
        "{refused}"
    );
    let flag = CompileOptions::default().targeting(KubernetesVersion::NEWEST);
    assert_eq!(load(&[params("1.36")], &flag).as_deref(), Ok("1.37"));
    assert_eq!(
        load(&[params("1.40")], &CompileOptions::default()).unwrap_err(),
        "params.yaml:5: CmekGateParams, spec.kubernetesVersion: Kubernetes 1.40 is not supported: the gate targets 1.30 to 1.37"
    );
}

#[test]
fn the_oldest_release_is_the_first_on_which_every_expression_checks() {
    use typing::{oldest_release, PolicyExpression};
    let expression = |field: &str, text: &'static str, mutation: bool| PolicyExpression {
        field: field.to_owned(),
        text,
        mutation,
    };
    let none = cel_k8s::Extensions::NONE;
    let math = cel_k8s::Extensions::parse("math").unwrap();
    // (variables, other expressions, extensions, oldest, the field refused before it)
    type Case = (
        Vec<(&'static str, &'static str)>,
        Vec<PolicyExpression<'static>>,
        cel_k8s::Extensions,
        Option<&'static str>,
        Option<&'static str>,
    );
    let validation = "spec.validations[0].expression";
    let cases: Vec<Case> = vec![
        (
            vec![],
            vec![expression(validation, "true", false)],
            none,
            Some("1.30"),
            None,
        ),
        (
            vec![("sorted", "[2, 1].sort()")],
            vec![expression(validation, "variables.sorted[0] == 1", false)],
            none,
            Some("1.34"),
            Some("spec.variables[0].expression"),
        ),
        (
            vec![],
            vec![
                expression(
                    "spec.matchConditions[0].expression",
                    "isSemver('1.0.0')",
                    false,
                ),
                expression(validation, "[1].includes(1)", false),
            ],
            none,
            Some("1.37"),
            Some(validation),
        ),
        (
            vec![],
            vec![expression(
                "spec.mutations[0].jsonPatch.expression",
                "[JSONPatch{op: 'remove', path: '/metadata/labels/' + jsonpatch.escapeKey('a/b')}]",
                true,
            )],
            none,
            Some("1.30"),
            None,
        ),
        (
            vec![],
            vec![expression(validation, "math.abs(-1) == 1", false)],
            none,
            None,
            Some(validation),
        ),
        (
            vec![],
            vec![expression(validation, "math.abs(-1) == 1", false)],
            math,
            Some("1.30"),
            None,
        ),
        (
            vec![],
            vec![expression(validation, "1 +", false)],
            none,
            None,
            Some(validation),
        ),
    ];
    for (variables, others, extensions, oldest, refused) in cases {
        let found = oldest_release(&variables, &others, false, extensions);
        assert_eq!(
            found.version.map(|v| v.to_string()).as_deref(),
            oldest,
            "{others:?}"
        );
        assert_eq!(
            found.refused.as_ref().map(|(field, _)| field.as_str()),
            refused,
            "{found:?}"
        );
    }
}

/// The live policies (`--live`) load on every release the gate targets: `--live` combines with
/// any `--kubernetes-version`.
#[test]
fn the_live_policies_load_on_the_oldest_release() {
    let mut sources = embedded::sources();
    sources.extend(embedded::live_sources());
    for version in KubernetesVersion::all() {
        let options = CompileOptions::default().targeting(version);
        let set = PolicySet::compile_with(&sources, &[], &options)
            .unwrap_or_else(|e| panic!("Kubernetes {version}: {e}"));
        assert!(
            set.policies.iter().any(|p| p.name == "cmek-image-key"),
            "Kubernetes {version}"
        );
    }
}

/// The scan role annotation: `sensitivity` is read (with the `sensitive` variable when there is
/// one); another value is refused naming it, rather than giving the policy no role.
#[test]
fn the_scan_role_annotation_is_read_or_refused() {
    let marked = |role: &str| {
        VALID.replacen(
            "name: p\n",
            &format!("name: p\n  annotations: {{cmek-gate.dev/scan-role: {role}}}\n"),
            1,
        )
    };
    let set = compile(&marked("sensitivity")).unwrap();
    assert_eq!(
        set.policies[0].sensitivity,
        Some(Sensitivity { variable: None })
    );
    assert_eq!(set.sensitivity_policies(), ["p"]);
    let with_variable = marked("sensitivity").replace("name: a\n", "name: sensitive\n");
    let with_variable = with_variable.replace("variables.a", "variables.sensitive");
    let set = compile(&with_variable).unwrap();
    assert_eq!(
        set.policies[0].sensitivity,
        Some(Sensitivity { variable: Some(0) })
    );
    assert!(compile(VALID).unwrap().sensitivity_policies().is_empty());
    let error = compile(&marked("sensitive")).unwrap_err().to_string();
    assert!(
        error.contains("annotation cmek-gate.dev/scan-role: \"sensitive\" is not a scan role"),
        "{error}"
    );
}

/// Definitions that read `params` are numbered apart from the others: a request keeps one
/// column of them per parameter object, and one of the others.
#[test]
fn definitions_that_read_params_are_numbered_apart() {
    let set = PolicySet::compile(&embedded::sources(), &[]).unwrap();
    let mut seen = [Vec::new(), Vec::new()];
    for policy in set.policies.iter().chain(&set.mutating_policies) {
        for slot in &policy.variable_slots {
            seen[usize::from(slot.uses_params)].push(slot.slot);
        }
    }
    for (numbered, count) in seen
        .iter_mut()
        .zip([set.variable_slots, set.param_variable_slots])
    {
        numbered.sort_unstable();
        numbered.dedup();
        assert_eq!(*numbered, (0..count).collect::<Vec<_>>());
    }
    assert!(set.variable_slots > 0 && set.param_variable_slots > 0);
}

/// A validating policy of `paramKind` CmekGateParams on Knative services, whose one validation
/// always holds: for tests of how bindings select parameter objects.
pub(crate) const PARAMS_POLICY: &str = "apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: p}
spec:
  paramKind: {apiVersion: cmek-gate.dev/v1alpha1, kind: CmekGateParams}
  matchConstraints:
    resourceRules:
      - {apiGroups: [serving.knative.dev], apiVersions: ['*'], resources: [services], operations: [CREATE]}
  validations:
    - expression: 'true'
";
