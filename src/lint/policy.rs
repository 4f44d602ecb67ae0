//! The rules on one policy (its expressions, variables, parameters and cost) and on bindings.

use super::expressions::{self, Expression, Role};
use super::{schema, Doc, Finding, LintOptions, Loaded};
use crate::cel::size_bound::cost_text;
use crate::cel::{Environment, Purpose, TypeCheck};
use crate::policy::types::{
    MutatingAdmissionPolicy, ObjectMeta, ParamKind, PolicySpec, ValidatingAdmissionPolicy,
};
use crate::policy::typing;
use crate::policy::PolicyError;

/// A decoded policy, validating or mutating, and the expressions it holds.
pub(crate) struct PolicyDoc<'a> {
    pub doc: Doc<'a>,
    pub metadata: ObjectMeta,
    pub spec: PolicySpec,
    /// A mutating policy's mutations: (field, expression).
    pub mutations: Option<Vec<(String, String)>>,
}

impl<'a> PolicyDoc<'a> {
    pub fn decode(doc: Doc<'a>) -> Result<PolicyDoc<'a>, PolicyError> {
        if doc.doc.kind == "MutatingAdmissionPolicy" {
            let policy: MutatingAdmissionPolicy = crate::policy::decode(doc.source, &doc.doc)?;
            let spec = policy.spec;
            let mutations = spec
                .mutations
                .iter()
                .enumerate()
                .flat_map(|(i, m)| {
                    let json = m.json_patch.as_ref().map(|e| {
                        (
                            format!("spec.mutations[{i}].jsonPatch.expression"),
                            e.expression.clone(),
                        )
                    });
                    let apply = m.apply_configuration.as_ref().map(|e| {
                        (
                            format!("spec.mutations[{i}].applyConfiguration.expression"),
                            e.expression.clone(),
                        )
                    });
                    json.into_iter().chain(apply)
                })
                .collect();
            return Ok(PolicyDoc {
                doc,
                metadata: policy.metadata,
                spec: PolicySpec {
                    param_kind: spec.param_kind,
                    match_constraints: spec.match_constraints,
                    validations: Vec::new(),
                    failure_policy: spec.failure_policy,
                    audit_annotations: Vec::new(),
                    match_conditions: spec.match_conditions,
                    variables: spec.variables,
                },
                mutations: Some(mutations),
            });
        }
        let policy: ValidatingAdmissionPolicy = crate::policy::decode(doc.source, &doc.doc)?;
        Ok(PolicyDoc {
            doc,
            metadata: policy.metadata,
            spec: policy.spec,
            mutations: None,
        })
    }

    pub fn is_mutating(&self) -> bool {
        self.mutations.is_some()
    }

    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    /// Every expression of the policy: variables first (each sees those before it), then match
    /// conditions, validations and their messages, audit annotations and mutations.
    fn expressions(&self) -> Vec<(String, &str, Role, usize)> {
        let spec = &self.spec;
        let all = spec.variables.len();
        let mut out: Vec<(String, &str, Role, usize)> = Vec::new();
        for (i, v) in spec.variables.iter().enumerate() {
            let field = format!("spec.variables[{i}].expression");
            out.push((field, &v.expression, Role::Variable(i), i));
        }
        for (i, c) in spec.match_conditions.iter().enumerate() {
            let field = format!("spec.matchConditions[{i}].expression");
            out.push((field, &c.expression, Role::MatchCondition, all));
        }
        for (i, v) in spec.validations.iter().enumerate() {
            let field = format!("spec.validations[{i}].expression");
            out.push((field, &v.expression, Role::Validation, all));
            if let Some(m) = &v.message_expression {
                let field = format!("spec.validations[{i}].messageExpression");
                out.push((field, m, Role::Message, all));
            }
        }
        for (i, a) in spec.audit_annotations.iter().enumerate() {
            let field = format!("spec.auditAnnotations[{i}].valueExpression");
            out.push((field, &a.value_expression, Role::AuditAnnotation, all));
        }
        for (field, expression) in self.mutations.iter().flatten() {
            out.push((field.clone(), expression, Role::Mutation, all));
        }
        out
    }
}

/// Compiles every expression of a policy and applies the expression, variable, parameter and
/// cost rules.
pub(crate) fn lint_policy(
    env: &Environment,
    target: cel_k8s::Profile,
    policy: &PolicyDoc<'_>,
    loaded: &Loaded<'_>,
    options: &LintOptions,
    findings: &mut Vec<Finding>,
) -> cel_k8s::Profile {
    let names: Vec<&str> = policy
        .spec
        .variables
        .iter()
        .map(|v| v.name.as_str())
        .collect();
    // Type-checked as the API server checks a policy it is asked to create (its result type is
    // the expression-type rule's), each variable with the type inferred for it (dyn when it does
    // not compile, as Kubernetes declares it).
    let profile = crate::policy::policy_profile(target, &policy.metadata.annotations)
        .unwrap_or_else(|message| {
            let annotation = crate::policy::EXTENSIONS_ANNOTATION;
            findings.push(
                policy.doc.finding(
                    policy
                        .doc
                        .key_position(&["metadata", "annotations", annotation]),
                    "kubernetes-version",
                    format!("policy \"{}\": {message}", policy.name()),
                ),
            );
            target
        });
    let mut declarations = typing::creation_declarations(policy.spec.param_kind.is_some(), profile);
    if !names.is_empty() {
        declarations.declare_variables();
    }
    // Built once the variables are declared (they come first).
    let mut mutation_declarations = None;
    let mut compiled: Vec<Expression> = Vec::new();
    let mut failed: Vec<String> = Vec::new();
    for (field, text, role, visible) in policy.expressions() {
        let purpose = match role {
            Role::Mutation => Purpose::Mutation,
            _ => Purpose::Check,
        };
        let check = TypeCheck {
            declarations: match role {
                Role::Mutation => {
                    mutation_declarations.get_or_insert_with(|| declarations.clone().mutation())
                }
                _ => &declarations,
            },
            result: &[],
        };
        let outcome = env.compile_checked(text, &names[..visible], purpose, Some(check));
        if let Role::Variable(i) = role {
            let inferred = outcome
                .as_ref()
                .ok()
                .and_then(|p| p.result_type.clone())
                .unwrap_or(cel_k8s::Type::Dyn);
            declarations.add_variable(names[i], inferred);
        }
        match outcome {
            Ok(program) => compiled.push(Expression::new(field, text, role, program)),
            Err(error) => {
                failed.push(field.clone());
                let segments = expressions::segments(&field);
                let (line, column) = crate::policy::expression_position(
                    policy.doc.source,
                    &policy.doc.doc,
                    &segments,
                    &error,
                );
                findings.push(policy.doc.finding(
                    (line, column.unwrap_or(1)),
                    "compile",
                    format!(
                        "policy \"{}\", {field}: {}",
                        policy.name(),
                        if column.is_some() {
                            error.message.clone()
                        } else {
                            error.to_string()
                        }
                    ),
                ));
            }
        }
    }
    let object = schema::for_match(policy.spec.match_constraints.as_ref());
    let context = expressions::Context::new(policy, object.as_deref(), &compiled, env);
    let before = findings.len();
    for expression in &compiled {
        context.check(expression, findings);
    }
    // What unknown-field found: the type checker's `undefined field` of the same name in the
    // same expression says the same.
    let unknown_fields: Vec<String> = findings[before..]
        .iter()
        .filter(|f| f.rule == "unknown-field")
        .map(|f| f.message.clone())
        .collect();
    schema_types(policy, loaded, &failed, &unknown_fields, profile, findings);
    unused_variables(policy, &compiled, findings);
    live_unguarded(policy, &compiled, findings);
    params_loaded(policy, loaded, findings);
    cost(policy, loaded, &compiled, options, findings);
    profile
}

/// The oldest release a policy runs on with `extensions` (see `policy::typing`).
pub(crate) fn oldest_release(
    policy: &PolicyDoc<'_>,
    extensions: cel_k8s::Extensions,
) -> super::PolicyRelease {
    let no_mutations = Vec::new();
    let mutations = policy.mutations.as_ref().unwrap_or(&no_mutations);
    let (variables, others) = typing::expressions(&policy.spec, mutations);
    let oldest = typing::oldest_release(
        &variables,
        &others,
        policy.spec.param_kind.is_some(),
        extensions,
    );
    let mut version = oldest.version;
    let mut refused_before = oldest
        .refused
        .map(|(field, message)| format!("{field}: {message}"));
    // The API itself: k8s.io/apiserver's MutatingAdmissionPolicy feature gate.
    let generally_available = cel_k8s::KubernetesVersion::new(MUTATING_POLICIES_GA);
    if policy.is_mutating() && version.is_some() && version < generally_available {
        version = generally_available;
        refused_before = Some(
            "MutatingAdmissionPolicy is on by default from Kubernetes 1.36 (1.32 to 1.35 \
             only with the MutatingAdmissionPolicy feature gate: alpha 1.32, beta 1.34)"
                .to_owned(),
        );
    }
    super::PolicyRelease {
        file: policy.doc.source.name.clone(),
        line: policy.doc.doc.line,
        policy: policy.name().to_owned(),
        kind: policy.doc.doc.kind.clone(),
        oldest_kubernetes_version: version.map(|v| v.to_string()),
        extensions: extensions.iter().map(cel_k8s::Extension::name).collect(),
        refused_before,
    }
}

/// The release whose API servers serve MutatingAdmissionPolicies by default (GA).
const MUTATING_POLICIES_GA: u8 = 36;

/// The schema-typed check (see `policy::typing`): what does not check with `object` typed from
/// the schemas of the kinds the policy matches and `params` from its paramKind's CRD among the
/// files, at its line and column. Expressions that did not compile (`failed`) are reported as
/// such already, and so are the unknown fields the `unknown-field` rule found (its messages:
/// `unknown_fields`).
fn schema_types(
    policy: &PolicyDoc<'_>,
    loaded: &Loaded<'_>,
    failed: &[String],
    unknown_fields: &[String],
    profile: cel_k8s::Profile,
    findings: &mut Vec<Finding>,
) {
    if policy.is_mutating() {
        return;
    }
    let Some(types) = typing::schema_types(
        policy.spec.match_constraints.as_ref(),
        policy.spec.param_kind.as_ref(),
        &loaded.crds,
    ) else {
        return;
    };
    let no_mutations = Vec::new();
    let mutations = policy.mutations.as_ref().unwrap_or(&no_mutations);
    let (variables, others) = typing::expressions(&policy.spec, mutations);
    let skip = |field: &str| failed.iter().any(|f| f == field);
    for mistake in typing::schema_mistakes(&types, &variables, &others, &skip, profile) {
        let segments = expressions::segments(&mistake.field);
        let error = crate::cel::CompileError::from(mistake.error.clone());
        let (line, column) = crate::policy::expression_position(
            policy.doc.source,
            &policy.doc.doc,
            &segments,
            &error,
        );
        let subject = format!("policy \"{}\", {}: ", policy.name(), mistake.field);
        let undefined = mistake
            .error
            .message
            .strip_prefix("undefined field '")
            .and_then(|rest| rest.strip_suffix('\''));
        if let Some(name) = undefined {
            let said = format!("has no field \"{name}\"");
            if unknown_fields
                .iter()
                .any(|m| m.starts_with(&subject) && m.contains(&said))
            {
                continue;
            }
        }
        let message = match column {
            Some(_) => mistake.message(&types),
            None => format!(
                "{}{}",
                error
                    .position
                    .map(|(l, c)| format!("line {l}, column {c}: "))
                    .unwrap_or_default(),
                mistake.message(&types)
            ),
        };
        findings.push(policy.doc.finding(
            (line, column.unwrap_or(1)),
            "schema-type",
            format!("policy \"{}\", {}: {message}", policy.name(), mistake.field),
        ));
    }
}

/// Variables no other expression uses.
fn unused_variables(policy: &PolicyDoc<'_>, compiled: &[Expression], findings: &mut Vec<Finding>) {
    for (i, variable) in policy.spec.variables.iter().enumerate() {
        let used = compiled.iter().any(|e| {
            e.role != Role::Variable(i) && e.program.references.variables.contains(&variable.name)
        });
        let compiles = compiled.iter().any(|e| e.role == Role::Variable(i));
        if !used && compiles {
            let index = i.to_string();
            findings.push(
                policy.doc.finding(
                    policy
                        .doc
                        .key_position(&["spec", "variables", &index, "name"]),
                    "unused-variable",
                    format!(
                        "policy \"{}\": variable \"{}\" is never used",
                        policy.name(),
                        variable.name
                    ),
                ),
            );
        }
    }
}

/// A policy that reads live data (`kms.key`, ...) but never tests `kms.available()`: without
/// `--live` its evaluation fails, which denies under `failurePolicy: Fail`.
fn live_unguarded(policy: &PolicyDoc<'_>, compiled: &[Expression], findings: &mut Vec<Finding>) {
    let reads = |e: &&Expression| e.facts.live_calls.iter().any(|c| c != "kms.available");
    let guarded = compiled
        .iter()
        .any(|e| e.facts.live_calls.iter().any(|c| c == "kms.available"));
    let Some(first) = compiled.iter().find(reads) else {
        return;
    };
    if guarded {
        return;
    }
    let called = first
        .facts
        .live_calls
        .iter()
        .find(|c| *c != "kms.available")
        .cloned()
        .unwrap_or_default();
    let segments = expressions::segments(&first.field);
    let path: Vec<&str> = segments.iter().map(String::as_str).collect();
    findings.push(policy.doc.finding(
        policy.doc.key_position(&path),
        "live-unguarded",
        format!(
            "policy \"{}\", {}: calls {called} but no expression of the policy tests kms.available(): without --live the evaluation fails (a denial under failurePolicy Fail); add the matchCondition kms.available()",
            policy.name(),
            first.field
        ),
    ));
}

/// Whether a parameter object of the policy's paramKind is loaded.
fn params_loaded(policy: &PolicyDoc<'_>, loaded: &Loaded<'_>, findings: &mut Vec<Finding>) {
    let Some(kind) = &policy.spec.param_kind else {
        return;
    };
    if !loaded.params.iter().any(|p| is_param_of(p, kind)) {
        findings.push(policy.doc.finding(
            policy.doc.key_position(&["spec", "paramKind"]),
            "params-not-loaded",
            format!(
                "policy \"{}\": no {} {} parameter object is loaded: its bindings find no parameters (lint the file that holds them too)",
                policy.name(),
                kind.api_version,
                kind.kind
            ),
        ));
    }
}

fn is_param_of(doc: &Doc<'_>, kind: &ParamKind) -> bool {
    doc.doc.api_version == kind.api_version && doc.doc.kind == kind.kind
}

/// Each expression's estimated cost, and the policy's, against the limits.
fn cost(
    policy: &PolicyDoc<'_>,
    loaded: &Loaded<'_>,
    compiled: &[Expression],
    options: &LintOptions,
    findings: &mut Vec<Finding>,
) {
    let mut shapes = crate::policy::root_shapes(
        policy.spec.match_constraints.as_ref(),
        policy.spec.param_kind.as_ref(),
        loaded
            .params
            .iter()
            .map(|p| (p.doc.api_version.as_str(), p.doc.kind.as_str(), &p.doc.root)),
    );
    let mut total: u64 = 0;
    for expression in compiled {
        let estimate = expression.program.estimate(&shapes);
        total = total.saturating_add(estimate.cost);
        if let Role::Variable(i) = expression.role {
            shapes.variables.push((
                policy.spec.variables[i].name.clone(),
                estimate.shape.clone(),
            ));
        }
        if estimate.cost > options.max_expression_cost {
            let segments = expressions::segments(&expression.field);
            let node = crate::policy::node_at(&policy.doc.doc.root, &segments);
            let position = node.map_or_else(
                || policy.doc.key_position(&[]),
                |n| (n.mark.line, n.mark.column),
            );
            findings.push(policy.doc.finding(
                position,
                "cost",
                format!(
                    "policy \"{}\", {}: estimated cost {} is over the limit of {} per expression",
                    policy.name(),
                    expression.field,
                    cost_text(estimate.cost),
                    options.max_expression_cost
                ),
            ));
        }
    }
    if total > options.max_policy_cost {
        findings.push(policy.doc.finding(
            (policy.doc.doc.line, 1),
            "cost",
            format!(
                "policy \"{}\": estimated cost {} (all its expressions) is over the limit of {} per policy",
                policy.name(),
                cost_text(total),
                options.max_policy_cost
            ),
        ));
    }
}

/// Bindings that name no loaded policy, and paramRefs that do not fit their policy.
pub(crate) fn lint_bindings(loaded: &Loaded<'_>, findings: &mut Vec<Finding>) {
    let validating = loaded.validating_bindings.iter().map(|(doc, b)| {
        (
            doc,
            &b.metadata.name,
            &b.spec.policy_name,
            b.spec.param_ref.is_some(),
            &loaded.validating,
        )
    });
    let mutating = loaded.mutating_bindings.iter().map(|(doc, b)| {
        (
            doc,
            &b.metadata.name,
            &b.spec.policy_name,
            b.spec.param_ref.is_some(),
            &loaded.mutating,
        )
    });
    for (doc, name, policy_name, has_param_ref, policies) in validating.chain(mutating) {
        let Some(policy) = policies.iter().find(|p| p.name() == policy_name.as_str()) else {
            findings.push(doc.finding(
                doc.key_position(&["spec", "policyName"]),
                "binding-without-policy",
                format!(
                    "binding \"{name}\" names policy \"{policy_name}\", which is not loaded: the binding does nothing"
                ),
            ));
            continue;
        };
        match (&policy.spec.param_kind, has_param_ref) {
            (None, true) => findings.push(doc.finding(
                doc.key_position(&["spec", "paramRef"]),
                "param-ref",
                format!(
                    "binding \"{name}\" has a paramRef, but policy \"{policy_name}\" has no paramKind: the parameters are never read"
                ),
            )),
            (Some(kind), false) => findings.push(doc.finding(
                doc.key_position(&["spec", "policyName"]),
                "param-ref",
                format!(
                    "binding \"{name}\" has no paramRef, but policy \"{policy_name}\" has paramKind {} {}: the API server evaluates it with params null on every request it matches",
                    kind.api_version, kind.kind
                ),
            )),
            _ => {}
        }
    }
}
