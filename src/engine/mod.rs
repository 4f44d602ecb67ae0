//! The one decision function every entry point calls: a request (an object, and what the API
//! server would say about it) and a compiled [`PolicySet`] in, a [`Decision`] out. Pure.
//!
//! Semantics follow Kubernetes' ValidatingAdmissionPolicy: bindings select policies, matching
//! narrows to the resources both select, parameters come from the binding's `paramRef`,
//! `matchConditions` must all hold, `variables` are evaluated lazily (only those an expression
//! uses, once per policy and parameter), and each failed validation becomes a denial, a warning
//! or an audit annotation by the binding's `validationActions`. Unlike Kubernetes, every failed
//! validation is reported, not only the first.
//!
//! [`admit`] runs the whole admission: the mutating policies first (see [`mutate`]), then every
//! validating policy on the object as they left it, as the API server orders the two phases.

pub mod mutate;

pub use mutate::{Change, Mutated};

use crate::cel::{self, Activation, EvalError, Scope, Shared};
use crate::manifest::{shape, Node};
use crate::policy::matching::{self, MatchTarget, Matched, UnknownNamespaces};
use crate::policy::types::{FailurePolicy, ParameterNotFoundAction, ValidationAction};
use crate::policy::{Compiled, CompiledBinding, CompiledPolicy, ParamObject, PolicySet};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// What is being admitted: the object and what the API server would say about it.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The object (absent for DELETE).
    pub object: Option<&'a Node>,
    pub old_object: Option<&'a Node>,
    pub group: String,
    pub version: String,
    pub kind: String,
    /// The resource plural, e.g. `services`.
    pub resource: String,
    pub name: String,
    pub namespace: String,
    /// CREATE, UPDATE, DELETE or CONNECT.
    pub operation: String,
    pub namespace_object: Option<&'a Node>,
    pub username: String,
    pub groups: Vec<String>,
    pub dry_run: bool,
    pub uid: String,
    /// What a namespace selector does when the namespace's labels are not known (no
    /// `namespace_object`).
    pub unknown_namespaces: UnknownNamespaces,
}

impl<'a> Request<'a> {
    /// A CREATE request for an object read from a file, as the CLI and `/v1/check` make it.
    pub fn create(document: &'a crate::manifest::Document) -> Request<'a> {
        Request {
            object: Some(&document.root),
            old_object: None,
            group: document.group().to_owned(),
            version: document.version().to_owned(),
            kind: document.kind.clone(),
            resource: shape::resource_for(document.group(), &document.kind),
            name: document.name.clone(),
            namespace: document.namespace.clone(),
            operation: "CREATE".into(),
            namespace_object: None,
            username: String::new(),
            groups: Vec::new(),
            dry_run: false,
            uid: String::new(),
            unknown_namespaces: UnknownNamespaces::default(),
        }
    }
}

/// A binding that could not be decided: its namespace selector needs the labels of a
/// namespace nobody gave. The document is not allowed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Undecided {
    pub policy: String,
    pub binding: String,
    /// The object's namespace (empty when the object names none).
    pub namespace: String,
}

impl Undecided {
    /// What cannot be decided, and how to decide it.
    pub fn message(&self) -> String {
        let namespace = if self.namespace.is_empty() {
            "the object's namespace (it names none)".to_owned()
        } else {
            format!("namespace \"{}\"", self.namespace)
        };
        format!(
            "binding \"{}\" of policy \"{}\" selects namespaces by label, and the labels of {namespace} are not known: give them (a kind: Namespace document, or --namespace-labels {}=KEY=VALUE,...), or say --unknown-namespaces=no-match|match-all",
            self.binding,
            self.policy,
            if self.namespace.is_empty() { "NAMESPACE" } else { &self.namespace },
        )
    }
}

/// A failed validation that denies.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Violation {
    pub policy: String,
    pub binding: String,
    pub message: String,
    pub reason: String,
    /// The line of the offending field in the object's source, where known.
    pub line: Option<u32>,
    /// The shape field (see `manifest::shape`) the policy says the violation is about.
    pub field: Option<String>,
}

/// A failed validation that warns.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Warning {
    pub policy: String,
    pub binding: String,
    pub message: String,
}

/// The verdict on one request.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Decision {
    /// Whether any binding selected the request.
    pub matched: bool,
    pub violations: Vec<Violation>,
    pub warnings: Vec<Warning>,
    #[serde(rename = "auditAnnotations")]
    pub audit_annotations: BTreeMap<String, String>,
    /// Bindings whose namespace selector could not be decided: the request is not allowed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub undecided: Vec<Undecided>,
    /// What the mutating policies changed, policy by policy (with [`Phases::mutate`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mutations: Vec<Change>,
    /// The whole change as the smallest RFC 6902 patch of the request's object: what a mutating
    /// webhook answers and what `fix` writes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<json_patch::Patch>,
    /// The object after the mutations, when they changed it.
    #[serde(skip)]
    pub mutated: Option<Node>,
}

/// Which admission phases to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Phases {
    pub mutate: bool,
    pub validate: bool,
}

impl Phases {
    pub const VALIDATE: Phases = Phases {
        mutate: false,
        validate: true,
    };
    pub const MUTATE: Phases = Phases {
        mutate: true,
        validate: false,
    };
    pub const ALL: Phases = Phases {
        mutate: true,
        validate: true,
    };
}

/// The admission of one request: the mutating policies (if asked), then the validating policies
/// on the object as mutated. A failed mutation under `failurePolicy: Fail` denies.
pub fn admit(set: &PolicySet, request: &Request, phases: Phases) -> Decision {
    admit_telling(set, request, phases).0
}

/// [`admit`], also telling whether the decision is the one validation alone gives for the
/// object as written ([`Phases::VALIDATE`]): always without mutation; with it, when no mutating
/// binding changed the object, failed, warned or was left undecided, and a validating binding
/// selected the object if a mutating one did. `fix` keeps such a verdict for a document it does
/// not change rather than judging the same text again.
pub fn admit_telling(set: &PolicySet, request: &Request, phases: Phases) -> (Decision, bool) {
    let mut cache = SharedVariables::default();
    let mutated = if phases.mutate {
        mutate::mutate_sharing(set, request, &mut cache)
    } else {
        Mutated::default()
    };
    let mut decision = match (&mutated.object, phases.validate) {
        (Some(object), true) => evaluate(
            set,
            &Request {
                object: Some(object),
                ..request.clone()
            },
        ),
        // The object is unchanged: the variables the mutation phase evaluated still hold.
        (None, true) => evaluate_sharing(set, request, cache),
        (_, false) => Decision::default(),
    };
    let validation_alone = phases.validate
        && mutated.object.is_none()
        && mutated.violations.is_empty()
        && mutated.warnings.is_empty()
        && mutated.undecided.is_empty()
        && (decision.matched || !mutated.matched);
    decision.matched |= mutated.matched;
    let mut violations = mutated.violations;
    violations.append(&mut decision.violations);
    decision.violations = violations;
    let mut warnings = mutated.warnings;
    warnings.append(&mut decision.warnings);
    decision.warnings = warnings;
    let mut undecided = mutated.undecided;
    undecided.append(&mut decision.undecided);
    decision.undecided = undecided;
    decision.patch = mutated.patch;
    decision.mutations = mutated.changes;
    decision.mutated = mutated.object;
    (decision, validation_alone)
}

impl Decision {
    /// No violation, and no binding left undecided.
    pub fn allowed(&self) -> bool {
        self.violations.is_empty() && self.undecided.is_empty()
    }

    /// Every violation as `[policy] message`, then every undecided binding the same way, joined
    /// with `; `: the denial message of the webhook and the API gate.
    pub fn violation_summary(&self) -> String {
        self.violations
            .iter()
            .map(|v| format!("[{}] {}", v.policy, v.message))
            .chain(
                self.undecided
                    .iter()
                    .map(|u| format!("[{}] undecided: {}", u.policy, u.message())),
            )
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Evaluates every validating binding of the set against the request (no mutation).
pub fn evaluate(set: &PolicySet, request: &Request) -> Decision {
    evaluate_sharing(set, request, SharedVariables::default())
}

fn evaluate_sharing(set: &PolicySet, request: &Request, mut shared: SharedVariables) -> Decision {
    let mut decision = Decision::default();
    let target = match_target(request);
    // The request's values are converted only if some binding selects it.
    let mut scope = None;
    for binding in &set.bindings {
        let Some(policy) = set.policy_of(binding) else {
            continue;
        };
        match selects(policy, binding, &target) {
            Matched::No => continue,
            Matched::Undecided => {
                decision.matched = true;
                decision.undecided.push(undecided(policy, binding, request));
                continue;
            }
            Matched::Yes => decision.matched = true,
        }
        let mut judge = Judge {
            set,
            policy,
            binding,
            request,
            decision: &mut decision,
        };
        match params_for(set, policy, binding, request) {
            Ok(params) if params.is_empty() => judge.params_not_found(),
            Ok(params) => {
                let scope: &Scope =
                    scope.get_or_insert_with(|| set.env.scope(&base_activation(request)));
                let null = cel::null_val();
                for param in params {
                    let value = param.map_or(&*null, |p| &*p.value);
                    // The parameter object's identity keys the variables that read it.
                    let key = param.map_or(usize::MAX, |p| p as *const ParamObject as usize);
                    judge.run(&scope.child("params", value), key, &mut shared);
                }
            }
            Err(message) => judge.failure(message, "InternalError", None, true),
        }
    }
    decision
}

/// Whether a binding selects the request: its policy's `matchConstraints` and its own
/// `matchResources` both match.
fn selects(policy: &CompiledPolicy, binding: &CompiledBinding, target: &MatchTarget) -> Matched {
    let no_constraints = crate::policy::types::MatchResources::default();
    let constraints = policy
        .spec
        .match_constraints
        .as_ref()
        .unwrap_or(&no_constraints);
    let by_binding = binding
        .spec
        .match_resources
        .as_ref()
        .map_or(Matched::Yes, |resources| {
            matching::matches(resources, target, false)
        });
    matching::matches(constraints, target, true).and(by_binding)
}

fn undecided(policy: &CompiledPolicy, binding: &CompiledBinding, request: &Request) -> Undecided {
    Undecided {
        policy: policy.name.clone(),
        binding: binding.name.clone(),
        namespace: request.namespace.clone(),
    }
}

fn match_target<'r>(request: &'r Request) -> MatchTarget<'r> {
    let labels_of = |node: Option<&Node>| node.map(Node::metadata_labels).unwrap_or_default();
    let namespaced = shape::kind_info(&request.group, &request.kind).is_none_or(|k| k.namespaced);
    let object_labels = labels_of(request.object.or(request.old_object));
    let namespace_labels = if request.kind == "Namespace" && request.group.is_empty() {
        Some(object_labels.clone())
    } else {
        request.namespace_object.map(Node::metadata_labels)
    };
    MatchTarget {
        group: &request.group,
        version: &request.version,
        resource: &request.resource,
        name: &request.name,
        operation: &request.operation,
        namespaced,
        object_labels,
        namespace_labels,
        unknown_namespaces: request.unknown_namespaces,
    }
}

/// `object`, `oldObject`, `namespaceObject` and `request`, converted once per request.
pub fn base_activation(request: &Request) -> Activation {
    let text = cel::string_val;
    let node = |n: Option<&Node>| n.map_or_else(cel::null_val, cel::to_val);
    let gvk = || {
        cel::map_val(vec![
            ("group", text(&request.group)),
            ("version", text(&request.version)),
            ("kind", text(&request.kind)),
        ])
    };
    let gvr = || {
        cel::map_val(vec![
            ("group", text(&request.group)),
            ("version", text(&request.version)),
            ("resource", text(&request.resource)),
        ])
    };
    let user = cel::map_val(vec![
        ("username", text(&request.username)),
        (
            "groups",
            cel::list_val(request.groups.iter().map(|g| text(g)).collect()),
        ),
    ]);
    let mut activation = Activation::default();
    activation.set("object", node(request.object));
    activation.set("oldObject", node(request.old_object));
    activation.set("namespaceObject", node(request.namespace_object));
    activation.set(
        "request",
        cel::map_val(vec![
            ("uid", text(&request.uid)),
            ("kind", gvk()),
            ("resource", gvr()),
            ("requestKind", gvk()),
            ("requestResource", gvr()),
            ("name", text(&request.name)),
            ("namespace", text(&request.namespace)),
            ("operation", text(&request.operation)),
            ("userInfo", user),
            (
                "dryRun",
                Box::new(::cel::common::types::CelBool::from(request.dry_run)),
            ),
            ("options", cel::null_val()),
        ]),
    );
    activation
}

/// The parameter objects a binding selects: `[None]` when the policy takes none.
fn params_for<'s>(
    set: &'s PolicySet,
    policy: &CompiledPolicy,
    binding: &CompiledBinding,
    request: &Request,
) -> Result<Vec<Option<&'s ParamObject>>, String> {
    let Some(kind) = &policy.spec.param_kind else {
        return Ok(vec![None]);
    };
    let Some(param_ref) = &binding.spec.param_ref else {
        return Err(format!(
            "binding \"{}\" has no paramRef, but policy \"{}\" takes parameters of kind {}",
            binding.name, policy.name, kind.kind
        ));
    };
    let namespace_ok = |p: &ParamObject| match &param_ref.namespace {
        Some(ns) => &p.namespace == ns,
        None => p.namespace.is_empty() || p.namespace == request.namespace,
    };
    let found = set
        .params
        .iter()
        .filter(|p| p.api_version == kind.api_version && p.kind == kind.kind && namespace_ok(p))
        .filter(|p| match (&param_ref.name, &param_ref.selector) {
            (Some(name), _) => &p.name == name,
            (None, Some(selector)) => matching::selector_matches(selector, &p.labels),
            (None, None) => false,
        })
        .map(Some)
        .collect();
    Ok(found)
}

/// Evaluates one policy through one binding, writing into the decision.
struct Judge<'a, 'd> {
    set: &'a PolicySet,
    policy: &'a CompiledPolicy,
    binding: &'a CompiledBinding,
    request: &'a Request<'a>,
    decision: &'d mut Decision,
}

impl Judge<'_, '_> {
    fn params_not_found(&mut self) {
        let action = self
            .binding
            .spec
            .param_ref
            .as_ref()
            .and_then(|r| r.parameter_not_found_action)
            .unwrap_or(ParameterNotFoundAction::Deny);
        if action == ParameterNotFoundAction::Deny {
            let message =
                "no params found for policy binding with `Deny` parameterNotFoundAction".to_owned();
            self.failure(message, "InternalError", None, true);
        }
    }

    /// Records a failed validation by the binding's actions. A failure to evaluate (`error`) is
    /// dropped under `failurePolicy: Ignore`; under `Fail` it goes through the actions like a
    /// failed validation, as Kubernetes does (so a Warn-only binding warns).
    fn failure(&mut self, message: String, reason: &str, points_at: Option<&str>, error: bool) {
        if error && self.policy.failure_policy == FailurePolicy::Ignore {
            return;
        }
        let actions = &self.binding.spec.validation_actions;
        let line = points_at.and_then(|field| {
            let object = self.request.object?;
            shape::field_mark(object, &self.request.group, &self.request.kind, field)
                .map(|m| m.line)
        });
        if actions.contains(&ValidationAction::Deny) {
            self.decision.violations.push(Violation {
                policy: self.policy.name.clone(),
                binding: self.binding.name.clone(),
                message: message.clone(),
                reason: reason.to_owned(),
                line,
                field: points_at.map(str::to_owned),
            });
        }
        if actions.contains(&ValidationAction::Warn) {
            self.decision.warnings.push(Warning {
                policy: self.policy.name.clone(),
                binding: self.binding.name.clone(),
                message: message.clone(),
            });
        }
        if actions.contains(&ValidationAction::Audit) {
            let key = "validation.policy.admission.k8s.io/validation_failure".to_owned();
            let entry = serde_json::json!({
                "message": message,
                "policy": self.policy.name,
                "binding": self.binding.name,
                "validationActions": actions,
            });
            let mut list: Vec<serde_json::Value> = self
                .decision
                .audit_annotations
                .get(&key)
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or_default();
            list.push(entry);
            self.decision
                .audit_annotations
                .insert(key, serde_json::Value::Array(list).to_string());
        }
    }

    fn run(&mut self, scope: &Scope<'_>, params_key: usize, shared: &mut SharedVariables) {
        let env = &self.set.env;
        let mut variables = Variables {
            policy: self.policy,
            params_key,
            shared,
        };
        let mut run = |compiled: &Compiled| variables.run(env, scope, compiled);
        for (name, condition) in &self.policy.match_conditions {
            let failure = match run(condition) {
                Ok(value) => match cel::as_bool(&*value) {
                    Some(true) => continue,
                    Some(false) => return,
                    None => format!("must return a bool, returned {}", cel::type_name(&*value)),
                },
                Err(e) => format!("failed: {e}"),
            };
            let message = format!(
                "policy \"{}\": matchCondition \"{name}\" {failure}",
                self.policy.name
            );
            return self.failure(message, "InternalError", None, true);
        }
        for validation in &self.policy.validations {
            let points_at = validation.points_at.as_deref();
            let failure = match run(&validation.expression) {
                Ok(value) => match cel::as_bool(&*value) {
                    Some(true) => continue,
                    Some(false) => None,
                    None => Some(format!(
                        "must return a bool, returned {}",
                        cel::type_name(&*value)
                    )),
                },
                Err(e) => Some(format!("evaluation failed: {e}")),
            };
            if let Some(failure) = failure {
                let message = format!(
                    "policy \"{}\", {}: {failure}",
                    self.policy.name, validation.expression.field
                );
                self.failure(message, "InternalError", points_at, true);
                continue;
            }
            let message = validation
                .message_expression
                .as_ref()
                .and_then(|m| run(m).ok())
                .and_then(|v| cel::as_string(&*v))
                .filter(|m| !m.trim().is_empty())
                .or_else(|| validation.message.clone())
                .unwrap_or_else(|| {
                    format!(
                        "failed expression: {}",
                        validation.expression.program.source.trim()
                    )
                });
            let reason = validation.reason.as_deref().unwrap_or("Invalid");
            self.failure(message, reason, points_at, false);
        }
        for (key, annotation) in &self.policy.audit_annotations {
            let failure = match run(annotation) {
                Ok(value) if cel::is_null(&*value) => continue,
                Ok(value) => match cel::as_string(&*value) {
                    Some(text) => {
                        let key = format!("{}/{key}", self.policy.name);
                        self.decision.audit_annotations.insert(key, text);
                        continue;
                    }
                    None => format!(
                        "must return a string or null, returned {}",
                        cel::type_name(&*value)
                    ),
                },
                Err(e) => format!("evaluation failed: {e}"),
            };
            let message = format!(
                "policy \"{}\", {}: {failure}",
                self.policy.name, annotation.field
            );
            self.failure(message, "InternalError", None, true);
        }
    }
}

/// Variable values of one request, by slot (see [`crate::policy::VariableSlot`]) and, for those
/// that read `params`, parameter object: each definition is evaluated once per request.
type SharedVariables = HashMap<(usize, usize), Result<Shared, EvalError>>;

/// The lazily evaluated `variables` of one policy for one request and parameter object.
struct Variables<'p, 's> {
    policy: &'p CompiledPolicy,
    params_key: usize,
    shared: &'s mut SharedVariables,
}

impl Variables<'_, '_> {
    /// Runs an expression with the variables it uses evaluated first (each once).
    fn run(
        &mut self,
        env: &cel::Environment,
        scope: &Scope<'_>,
        compiled: &Compiled,
    ) -> Result<Shared, EvalError> {
        let mut bound = Vec::with_capacity(compiled.uses.len());
        for &i in &compiled.uses {
            let (name, variable) = &self.policy.variables[i];
            let slot = self.policy.variable_slots[i];
            let key = (
                slot.slot,
                if slot.uses_params {
                    self.params_key
                } else {
                    usize::MAX
                },
            );
            if !self.shared.contains_key(&key) {
                let result = self.run(env, scope, variable);
                self.shared.insert(key, result);
            }
            match &self.shared[&key] {
                Ok(value) => bound.push((Arc::clone(name), Shared::clone(value))),
                // The innermost variable that failed names the cause; don't repeat the chain.
                Err(e) if e.0.starts_with("variables.") => return Err(e.clone()),
                Err(e) => return Err(EvalError(format!("variables.{name}: {}", e.0))),
            }
        }
        env.run(scope, &compiled.program, bound)
    }
}

#[cfg(test)]
mod tests;
