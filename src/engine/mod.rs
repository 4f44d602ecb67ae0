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
mod request_tree;

pub use mutate::{Change, Mutated};
pub use request_tree::RequestTree;

use crate::cel;
use crate::manifest::cel_tree::ObjectTree;
use crate::manifest::{shape, Node};
use crate::policy::binding_index::{selected_params, MatchMemo};
use crate::policy::matching::{Labels, MatchTarget, Matched, UnknownNamespaces};
use crate::policy::types::{FailurePolicy, ParameterNotFoundAction, ValidationAction};
use crate::policy::{Compiled, CompiledBinding, CompiledPolicy, ParamObject, PolicySet};
use cel_k8s::{Activation, EvalError, Root, SharedCells, Value, VariableCell};
use serde::Serialize;
use std::collections::BTreeMap;

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
    /// Live data for the `kms` extension (live mode, see [`crate::live`]); `None`: not live.
    pub live: Option<&'a dyn cel_k8s::LiveData>,
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
            live: None,
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

/// The reason of a violation whose evaluation failed because live data (the `kms` extension)
/// could not be read from Google.
pub const LIVE_UNAVAILABLE_REASON: &str = "LiveDataUnavailable";

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
    /// The policies marked `cmek-gate.dev/scan-role: sensitivity` that hold the object
    /// sensitive (see [`crate::policy::Sensitivity`]), each once: what `scan` counts.
    #[serde(skip)]
    pub sensitive_by: Vec<String>,
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
    let request_value = request_value(request);
    let cache = SharedVariables::new(set);
    let mutated = if phases.mutate {
        mutate::mutate_sharing(set, request, &request_value, &cache)
    } else {
        Mutated::default()
    };
    // A mutating policy that denies ends the admission, as in the API server: the validating
    // policies never see the request.
    let validate = phases.validate && mutated.violations.is_empty();
    let mut decision = match (&mutated.object, validate) {
        (Some(object), true) => evaluate(
            set,
            &Request {
                object: Some(object),
                ..request.clone()
            },
        ),
        // The object is unchanged: the variables the mutation phase evaluated still hold.
        (None, true) => evaluate_sharing(set, request, &request_value, &cache),
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
    let request_value = request_value(request);
    let shared = SharedVariables::new(set);
    evaluate_sharing(set, request, &request_value, &shared)
}

fn evaluate_sharing<'r>(
    set: &'r PolicySet,
    request: &Request<'r>,
    request_value: &'r RequestTree<'r>,
    shared: &'r SharedVariables<'r>,
) -> Decision {
    let mut decision = Decision::default();
    let target = match_target(request);
    let mut memo = MatchMemo::new(set);
    // The activation of the last parameter object (by address): the next policy with the same
    // one (usually every policy) redefines its variables in it instead of building another.
    let mut last: Option<(Option<*const ParamObject>, Activation<'r>)> = None;
    for binding in &set.bindings {
        let Some(policy) = set.policy_of(binding) else {
            continue;
        };
        match memo.selects(set, binding, &target) {
            Matched::No => continue,
            Matched::Undecided => {
                decision.matched = true;
                decision.undecided.push(undecided(policy, binding, request));
                continue;
            }
            Matched::Yes => decision.matched = true,
        }
        let mut judge = Judge {
            policy,
            binding,
            request,
            decision: &mut decision,
        };
        let params = selected_params(set, binding, &request.namespace);
        if params.is_empty() {
            judge.params_not_found();
        }
        for param in params {
            let key = param.map(std::ptr::from_ref);
            let activation = match &mut last {
                Some((kept, activation)) if *kept == key => activation,
                slot => {
                    let roots = activation(request, request_value, param.map(|p| &p.root));
                    &mut slot.insert((key, roots)).1
                }
            };
            let variables = Variables::new(policy, param, shared, activation);
            judge.run(&set.env, &variables);
        }
    }
    decision
}

fn undecided(policy: &CompiledPolicy, binding: &CompiledBinding, request: &Request) -> Undecided {
    Undecided {
        policy: policy.name.clone(),
        binding: binding.name.clone(),
        namespace: request.namespace.clone(),
    }
}

fn match_target<'r>(request: &'r Request) -> MatchTarget<'r> {
    let namespaced = shape::kind_info(&request.group, &request.kind).is_none_or(|k| k.namespaced);
    let object = request.object.or(request.old_object);
    let namespace_labels = if request.kind == "Namespace" && request.group.is_empty() {
        Some(Labels::of(object))
    } else {
        request.namespace_object.map(|n| Labels::of(Some(n)))
    };
    let object_labels = Labels::of(object);
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

/// `request` as expressions read it (`request.operation`, `request.userInfo.username`, ...):
/// a view of the request, read in place (see [`RequestTree`]).
pub fn request_value<'r>(request: &'r Request<'r>) -> RequestTree<'r> {
    RequestTree::of(request)
}

/// The root variables of one request and parameter object: `object`, `oldObject`,
/// `namespaceObject` and `params` read in place from their documents (`null` when absent),
/// `request` from [`request_value`].
pub fn activation<'r>(
    request: &Request<'r>,
    request_value: &'r RequestTree<'r>,
    params: Option<&'r Node>,
) -> Activation<'r> {
    let mut activation = Activation::new();
    let roots = [
        (Root::Object, request.object),
        (Root::OldObject, request.old_object),
        (Root::NamespaceObject, request.namespace_object),
        (Root::Params, params),
    ];
    for (root, node) in roots {
        if let Some(node) = node {
            activation.bind_tree(root, ObjectTree::of(node));
        }
    }
    activation.bind_tree(Root::Request, request_value);
    if let Some(live) = request.live {
        activation.set_live(live);
    }
    activation
}

/// Evaluates one policy through one binding, writing into the decision.
struct Judge<'a, 'd> {
    policy: &'a CompiledPolicy,
    binding: &'a CompiledBinding,
    request: &'d Request<'d>,
    decision: &'d mut Decision,
}

impl<'a> Judge<'a, '_> {
    fn params_not_found(&mut self) {
        let action = self
            .binding
            .spec
            .param_ref
            .as_ref()
            .and_then(|r| r.parameter_not_found_action)
            .unwrap_or(ParameterNotFoundAction::Deny);
        if action == ParameterNotFoundAction::Deny {
            // The policy cannot be applied: whether it holds the object sensitive is not known.
            self.held_sensitive(true);
            self.configuration_error(
                "no params found for policy binding with `Deny` parameterNotFoundAction",
            );
        }
    }

    /// A binding that cannot be applied (its parameters are missing): under `failurePolicy:
    /// Fail` the request is denied whatever the binding's actions, as Kubernetes' dispatcher
    /// denies configuration errors; under `Ignore` nothing happens.
    fn configuration_error(&mut self, error: &str) {
        if self.policy.failure_policy == FailurePolicy::Ignore {
            return;
        }
        self.deny(
            format!("failed to configure binding: {error}"),
            "Invalid",
            None,
        );
    }

    /// A denial that does not go through the binding's actions.
    fn deny(&mut self, message: String, reason: &str, points_at: Option<&str>) {
        let line = points_at.and_then(|field| {
            let object = self.request.object?;
            shape::field_mark(object, &self.request.group, &self.request.kind, field)
                .map(|m| m.line)
        });
        self.decision.violations.push(Violation {
            policy: self.policy.name.clone(),
            binding: self.binding.name.clone(),
            message,
            reason: reason.to_owned(),
            line,
            field: points_at.map(str::to_owned),
        });
    }

    /// Records a failed validation by the binding's actions. A failure to evaluate (`error`) is
    /// dropped under `failurePolicy: Ignore`; under `Fail` it goes through the actions like a
    /// failed validation, as Kubernetes does (so a Warn-only binding warns).
    /// `index` is the failed validation's (0 for a failed match condition), as the audit
    /// annotation's `expressionIndex` says it.
    fn failure(
        &mut self,
        message: String,
        reason: &str,
        points_at: Option<&str>,
        error: bool,
        index: usize,
    ) {
        if error && self.policy.failure_policy == FailurePolicy::Ignore {
            return;
        }
        // A failure to read live data is told apart, for the door's --live-unreachable.
        let reason = if error && message.contains(cel_k8s::live::UNAVAILABLE) {
            LIVE_UNAVAILABLE_REASON
        } else {
            reason
        };
        let actions = &self.binding.spec.validation_actions;
        if actions.contains(&ValidationAction::Deny) {
            self.deny(message.clone(), reason, points_at);
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
                "expressionIndex": index,
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

    /// Records that the policy, if marked for sensitivity, holds the object sensitive.
    fn held_sensitive(&mut self, sensitive: bool) {
        let name = &self.policy.name;
        if sensitive
            && self.policy.sensitivity.is_some()
            && !self.decision.sensitive_by.contains(name)
        {
            self.decision.sensitive_by.push(name.clone());
        }
    }

    fn run<'r>(&mut self, env: &cel::Environment, variables: &Variables<'_, 'r>)
    where
        'a: 'r,
    {
        let policy: &'a CompiledPolicy = self.policy;
        let run = |compiled: &'r Compiled| variables.run(env, compiled);
        // Every condition is evaluated: one that is false skips the policy even when another
        // failed; only when none is false do the failures count (all of them, as Kubernetes
        // aggregates them).
        let mut errors = Vec::new();
        for (_, condition) in &policy.match_conditions {
            match run(condition) {
                Ok(value) => match value.as_bool() {
                    Some(true) => {}
                    Some(false) => return,
                    None => errors.push(format!(
                        "expression '{}' must return a bool, returned {}",
                        condition.program.source,
                        value.type_name()
                    )),
                },
                Err(e) => errors.push(resulted_in_error(condition, &e)),
            }
        }
        if !errors.is_empty() {
            let message = if errors.len() == 1 {
                errors.remove(0)
            } else {
                format!("[{}]", errors.join(", "))
            };
            // Whether the policy applies is not known: sensitive, failing closed.
            self.held_sensitive(true);
            return self.failure(message, "Invalid", None, true, 0);
        }
        for (index, validation) in policy.validations.iter().enumerate() {
            let points_at = validation.points_at.as_deref();
            let failure = match run(&validation.expression) {
                Ok(value) => match value.as_bool() {
                    Some(true) => continue,
                    Some(false) => None,
                    None => Some(format!(
                        "expression '{}' must return a bool, returned {}",
                        validation.expression.program.source,
                        value.type_name()
                    )),
                },
                Err(e) => Some(resulted_in_error(&validation.expression, &e)),
            };
            if let Some(failure) = failure {
                self.failure(failure, "Invalid", points_at, true, index);
                continue;
            }
            // Kubernetes' choice of message: the messageExpression's string, trimmed, unless
            // it is empty, over 5 KiB or on several lines; then the message, trimmed; then the
            // expression.
            let message = validation
                .message_expression
                .as_ref()
                .and_then(|m| run(m).ok())
                .and_then(|v| v.as_str().map(|m| m.trim().to_owned()))
                .filter(|m| {
                    !m.is_empty() && m.len() <= MAX_EVALUATED_MESSAGE_BYTES && !m.contains('\n')
                })
                .or_else(|| {
                    validation
                        .message
                        .as_deref()
                        .map(|m| m.trim().to_owned())
                        .filter(|m| !m.is_empty())
                })
                .unwrap_or_else(|| {
                    format!(
                        "failed expression: {}",
                        validation.expression.program.source.trim()
                    )
                });
            let reason = validation.reason.as_deref().unwrap_or("Invalid");
            self.failure(message, reason, points_at, false, index);
        }
        if let Some(sensitivity) = policy.sensitivity {
            // Read after the validations, which usually evaluated it already. A failure or a
            // value that is not a bool is sensitive, failing closed.
            let sensitive = sensitivity.variable.is_none_or(|index| {
                variables
                    .variable(env, index)
                    .map_or(true, |value| value.as_bool() != Some(false))
            });
            self.held_sensitive(sensitive);
        }
        for (key, annotation) in &policy.audit_annotations {
            let error = match run(annotation) {
                Ok(value) if value.is_null() => continue,
                Ok(value) => match value.as_str() {
                    Some(text) => {
                        let text = text.trim();
                        if !text.is_empty() {
                            let key = format!("{}/{key}", self.policy.name);
                            self.decision
                                .audit_annotations
                                .insert(key, audit_annotation_value(text));
                        }
                        continue;
                    }
                    None => format!(
                        "valueExpression '{}' resulted in unsupported return type: {}. Return type must be either string or null.",
                        annotation.program.source,
                        value.type_name()
                    ),
                },
                Err(e) => resulted_in_error(annotation, &e),
            };
            // A failed audit annotation denies under failurePolicy: Fail, whatever the
            // binding's actions.
            if self.policy.failure_policy == FailurePolicy::Fail {
                self.deny(error, "Invalid", None);
            }
        }
    }
}

/// The longest message a messageExpression may give (Kubernetes'
/// `MaxEvaluatedMessageExpressionSizeBytes`); a longer one is not used.
const MAX_EVALUATED_MESSAGE_BYTES: usize = 5 * 1024;

/// The longest audit annotation value Kubernetes records, in bytes.
const MAX_AUDIT_ANNOTATION_BYTES: usize = 10 * 1024;

/// An audit annotation's value as the API server records it: cut at 10 KiB, counted in bytes.
/// A character cut in two leaves its bytes invalid, and each reads as U+FFFD in the audit
/// event's JSON (Go's encoder replaces an invalid byte by one U+FFFD).
fn audit_annotation_value(text: &str) -> String {
    if text.len() <= MAX_AUDIT_ANNOTATION_BYTES {
        return text.to_owned();
    }
    let mut end = MAX_AUDIT_ANNOTATION_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut value = text[..end].to_owned();
    for _ in end..MAX_AUDIT_ANNOTATION_BYTES {
        value.push('\u{fffd}');
    }
    value
}

/// An evaluation error as Kubernetes words it, with the expression as written.
pub(crate) fn resulted_in_error(compiled: &Compiled, error: &EvalError) -> String {
    format!(
        "expression '{}' resulted in error: {error}",
        compiled.program.source
    )
}

/// Where the variable values of one request are kept, by slot (see
/// [`crate::policy::VariableSlot`]) and, for those that read `params`, parameter object: each
/// definition is evaluated once per request, whichever policies share it, in a cell every
/// activation that defines it reads (nothing is copied between policies, nothing hashed).
pub(crate) struct SharedVariables<'r> {
    params: &'r [ParamObject],
    /// The definitions that do not read `params`: the first cells.
    request_slots: usize,
    /// The definitions that do: a column of cells each for activations without a parameter
    /// object, then for each parameter object (when they are few enough; otherwise such values
    /// are kept per activation).
    param_slots: usize,
    param_columns: usize,
    cells: Vec<VariableCell<'r>>,
}

/// The most cells kept for the definitions that read `params` (slots times parameter objects):
/// with more parameter objects, such values are kept per policy, not shared.
const MAX_PARAMS_CELLS: usize = 4096;

impl<'r> SharedVariables<'r> {
    pub(crate) fn new(set: &'r PolicySet) -> SharedVariables<'r> {
        let param_slots = set.param_variable_slots;
        let param_columns = match param_slots.saturating_mul(set.params.len()) {
            cells if cells <= MAX_PARAMS_CELLS => 1 + set.params.len(),
            _ => 1,
        };
        let mut cells = Vec::new();
        cells.resize_with(
            set.variable_slots + param_slots * param_columns,
            VariableCell::new,
        );
        SharedVariables {
            params: &set.params,
            request_slots: set.variable_slots,
            param_slots,
            param_columns,
            cells,
        }
    }

    /// The cells of an activation with a parameter object (or none): those of the values that
    /// do not read `params`, and the column of its parameter object's values (none when they
    /// are too many to share).
    fn cells(&'r self, param: Option<&ParamObject>) -> SharedCells<'r> {
        let column = match param {
            None => Some(0),
            Some(param) => self
                .params
                .iter()
                .position(|p| std::ptr::eq(p, param))
                .map(|i| i + 1)
                .filter(|&c| c < self.param_columns),
        };
        let (request, by_params) = self.cells.split_at(self.request_slots);
        SharedCells {
            request,
            params: column
                .and_then(|c| by_params.get(c * self.param_slots..(c + 1) * self.param_slots)),
        }
    }
}

/// A policy's variable definitions, as activations read them.
impl cel_k8s::VariableDefinitions for CompiledPolicy {
    fn definition(&self, index: usize) -> Option<(&str, &cel_k8s::Program)> {
        let (name, compiled) = self.variables.get(index)?;
        Some((name, &compiled.program.executable))
    }

    fn len(&self) -> usize {
        self.variables.len()
    }
}

/// The `variables` of one policy for one request and parameter object, in the request's shared
/// cells: those another policy evaluated already are read there, the others are evaluated on
/// first use (see [`Activation::define_variables`]) and kept there for the next policies.
pub(crate) struct Variables<'v, 'r> {
    activation: &'v Activation<'r>,
}

impl<'v, 'r> Variables<'v, 'r> {
    /// The policy's variables defined in `activation` (in place of those of the policy it
    /// served before, if any).
    pub(crate) fn new(
        policy: &'r CompiledPolicy,
        param: Option<&ParamObject>,
        shared: &'r SharedVariables<'r>,
        activation: &'v mut Activation<'r>,
    ) -> Variables<'v, 'r> {
        let cells = shared.cells(param);
        activation.define_variables(policy, &policy.variable_slots, cells);
        Variables { activation }
    }

    /// The value of the policy's variable `index` (evaluated now if no expression read it yet).
    pub(crate) fn variable(
        &self,
        env: &cel::Environment,
        index: usize,
    ) -> Result<Value<'r>, EvalError> {
        self.activation.variable(index, env.budget())
    }

    /// Evaluates an expression of the policy (the variables it reads on first use).
    pub(crate) fn run(
        &self,
        env: &cel::Environment,
        compiled: &'r Compiled,
    ) -> Result<Value<'r>, EvalError> {
        let runtime = env.runtime();
        compiled
            .program
            .executable
            .evaluate(self.activation, &mut runtime.meter())
    }
}

#[cfg(test)]
mod tests;
