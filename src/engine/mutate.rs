//! The mutation phase: MutatingAdmissionPolicy bindings applied to the object, in order, before
//! any validation sees it. Pure.
//!
//! Semantics follow Kubernetes: bindings run in name order; each selects its policy's resources,
//! parameters and `matchConditions` as a validating binding does, then runs the policy's
//! mutations in order, each seeing the object as the previous one left it. A `JSONPatch`
//! mutation's expression builds RFC 6902 operations; an `ApplyConfiguration` mutation's builds a
//! partial object that is merged in: maps merge key by key; a list whose items are all maps with
//! a `name` merges item by item on that key (as server-side apply does for the list-maps keyed
//! by name: containers, initContainers, env, volumes, ...); any other value, other lists
//! included, replaces what was there; `null` removes the field. Without the resource's schema
//! this is the nearest we can come to structured-merge-diff. A policy with `reinvocationPolicy: IfNeeded` runs once more when a later policy
//! changed the object after it ran. A mutation that fails (an evaluation error, a result of the
//! wrong type, a patch that does not apply) denies under `failurePolicy: Fail` and is skipped
//! under `Ignore`.

use super::{match_target, RequestTree, SharedVariables, Variables};
use super::{Request, Violation, Warning};
use crate::manifest::{Entry, Node, NodeValue};
use crate::policy::binding_index::{selected_params, MatchMemo};
use crate::policy::matching::Matched;
use crate::policy::types::{FailurePolicy, ParameterNotFoundAction, PatchType, ReinvocationPolicy};
use crate::policy::{CompiledBinding, CompiledMutation, CompiledPolicy, ParamObject, PolicySet};
use serde::Serialize;
use std::borrow::Cow;

/// What one binding's policy changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub policy: String,
    pub binding: String,
    /// The change as the smallest RFC 6902 patch from the object before to the object after.
    pub patch: json_patch::Patch,
}

/// The outcome of the mutation phase.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mutated {
    /// The object after every mutation, when some mutation changed it.
    pub object: Option<Node>,
    /// The whole change, as the smallest RFC 6902 patch of the request's object.
    pub patch: Option<json_patch::Patch>,
    pub changes: Vec<Change>,
    /// Failed mutations under `failurePolicy: Fail`, and missing parameters under `Deny`.
    pub violations: Vec<Violation>,
    /// One per change, saying what was changed (so that the author can commit it).
    pub warnings: Vec<Warning>,
    /// Whether any mutating binding selected the request.
    pub matched: bool,
    /// Mutating bindings whose namespace selector could not be decided.
    pub undecided: Vec<super::Undecided>,
}

/// Runs every mutating binding against the request's object.
pub fn mutate(set: &PolicySet, request: &Request) -> Mutated {
    let request_value = super::request_value(request);
    mutate_sharing(set, request, &request_value, &SharedVariables::new(set))
}

/// [`mutate`], with the variable values of the unchanged object kept in `cache`: while no
/// mutation has changed the object, the validating policies' variables of the same definition
/// need not be evaluated again.
pub(super) fn mutate_sharing<'r>(
    set: &'r PolicySet,
    request: &Request<'r>,
    request_value: &'r RequestTree<'r>,
    cache: &'r SharedVariables<'r>,
) -> Mutated {
    let mut outcome = Mutated::default();
    let Some(original) = request.object else {
        return outcome;
    };
    let mut state = State {
        node: Cow::Borrowed(original),
        json: None,
        original_json: None,
        version: 0,
        steps: Vec::new(),
        first_change: Vec::new(),
    };
    // (binding index, object version when it last ran) of IfNeeded policies that ran.
    let mut reinvoke = Vec::new();
    for (index, binding) in set.mutating_bindings.iter().enumerate() {
        let Some(policy) = set.mutating_policy_of(binding) else {
            continue;
        };
        if run_binding(
            set,
            policy,
            binding,
            request,
            request_value,
            &mut state,
            &mut outcome,
            cache,
        ) && policy.reinvocation == ReinvocationPolicy::IfNeeded
        {
            reinvoke.push((index, state.version));
        }
    }
    for (index, version) in reinvoke {
        if state.version != version {
            let binding = &set.mutating_bindings[index];
            if let Some(policy) = set.mutating_policy_of(binding) {
                run_binding(
                    set,
                    policy,
                    binding,
                    request,
                    request_value,
                    &mut state,
                    &mut outcome,
                    cache,
                );
            }
        }
    }
    if let (Some(before), Some(after)) = (&state.original_json, &state.json) {
        // One change: its patch is the whole patch (it was made from the original).
        let patch = match state.version {
            1 => Some(json_patch::Patch(std::mem::take(&mut state.first_change))),
            _ => (before != after).then(|| smallest_patch(before, after)),
        };
        if let Some(patch) = patch {
            outcome.patch = Some(patch);
            outcome.object = Some(state.node.into_owned());
        }
    }
    outcome
}

/// The object as mutations leave it, as a positioned tree (for CEL and messages) and as JSON
/// (for patching), with a counter of changes. The JSON is made only when a mutation has
/// something to apply: most requests (a compliant object) never need it.
struct State<'r> {
    /// The request's object until a mutation changes it.
    node: Cow<'r, Node>,
    /// The object as JSON after the last change (none before the first: the original's it is).
    json: Option<serde_json::Value>,
    /// The request's object as JSON, made the first time JSON was needed.
    original_json: Option<serde_json::Value>,
    version: u64,
    /// The operations of each change since the last [`State::take_steps`].
    steps: Vec<json_patch::PatchOperation>,
    /// The operations of the first change, from the original object.
    first_change: Vec<json_patch::PatchOperation>,
}

impl State<'_> {
    fn json(&mut self) -> &serde_json::Value {
        if self.json.is_none() && self.original_json.is_none() {
            self.original_json = Some(self.node.to_json());
        }
        let json = self.json.as_ref().or(self.original_json.as_ref());
        json.expect("just set")
    }

    /// Makes `json` the object (a change: the caller has checked it differs).
    fn set(&mut self, json: serde_json::Value) {
        let mut node = Node::from_json(&json);
        carry_marks(&mut node, &self.node);
        if let Some(before) = self.json.as_ref().or(self.original_json.as_ref()) {
            let operations = smallest_patch(before, &json).0;
            if self.version == 0 {
                self.first_change.clone_from(&operations);
            }
            self.steps.extend(operations);
        }
        self.node = Cow::Owned(node);
        self.json = Some(json);
        self.version += 1;
    }

    fn take_steps(&mut self) -> Vec<json_patch::PatchOperation> {
        std::mem::take(&mut self.steps)
    }
}

/// `json_patch::diff(left, right)`, the same operations in the same order, without walking the
/// parts that are equal: that diff builds the pointer of every value it visits, and most of an
/// object is what it was (equal values give no operation there either).
pub fn smallest_patch(left: &serde_json::Value, right: &serde_json::Value) -> json_patch::Patch {
    let mut patch = json_patch::Patch(Vec::new());
    diff_unequal(
        left,
        right,
        &mut json_patch::jsonptr::PointerBuf::new(),
        &mut patch,
    );
    patch
}

fn diff_unequal(
    left: &serde_json::Value,
    right: &serde_json::Value,
    pointer: &mut json_patch::jsonptr::PointerBuf,
    patch: &mut json_patch::Patch,
) {
    use json_patch::{AddOperation, PatchOperation, RemoveOperation, ReplaceOperation};
    use serde_json::Value as J;
    if left == right {
        return;
    }
    match (left, right) {
        (J::Object(left), J::Object(right)) => {
            for (key, value) in right {
                pointer.push_back(key);
                match left.get(key) {
                    Some(old) => diff_unequal(old, value, pointer, patch),
                    None => patch.0.push(PatchOperation::Add(AddOperation {
                        path: pointer.clone(),
                        value: value.clone(),
                    })),
                }
                pointer.pop_back();
            }
            for key in left.keys().filter(|key| !right.contains_key(*key)) {
                pointer.push_back(key);
                let path = pointer.clone();
                patch
                    .0
                    .push(PatchOperation::Remove(RemoveOperation { path }));
                pointer.pop_back();
            }
        }
        (J::Array(left), J::Array(right)) => {
            let mut shift = 0usize;
            for index in 0..left.len().max(right.len()) {
                pointer.push_back(index - shift);
                match (left.get(index), right.get(index)) {
                    (Some(old), Some(value)) => diff_unequal(old, value, pointer, patch),
                    (Some(_), None) => {
                        shift += 1;
                        let path = pointer.clone();
                        patch
                            .0
                            .push(PatchOperation::Remove(RemoveOperation { path }));
                    }
                    (None, Some(value)) => patch.0.push(PatchOperation::Add(AddOperation {
                        path: pointer.clone(),
                        value: value.clone(),
                    })),
                    (None, None) => {}
                }
                pointer.pop_back();
            }
        }
        _ => patch.0.push(PatchOperation::Replace(ReplaceOperation {
            path: pointer.clone(),
            value: right.clone(),
        })),
    }
}

/// Runs one binding; whether it selected the request.
#[allow(clippy::too_many_arguments)]
fn run_binding<'r>(
    set: &'r PolicySet,
    policy: &'r CompiledPolicy,
    binding: &CompiledBinding,
    request: &Request<'r>,
    request_value: &'r RequestTree<'r>,
    state: &mut State<'r>,
    outcome: &mut Mutated,
    cache: &'r SharedVariables<'r>,
) -> bool {
    let current = Request {
        object: Some(&state.node),
        ..request.clone()
    };
    // The object may have changed since the last binding: its labels are judged afresh.
    match MatchMemo::new(set).selects(set, binding, &match_target(&current)) {
        Matched::No => return false,
        Matched::Undecided => {
            outcome.matched = true;
            outcome
                .undecided
                .push(super::undecided(policy, binding, request));
            return false;
        }
        Matched::Yes => outcome.matched = true,
    }
    let fail = |outcome: &mut Mutated, message: String| {
        if policy.failure_policy == FailurePolicy::Fail {
            outcome.violations.push(Violation {
                policy: policy.name.clone(),
                binding: binding.name.clone(),
                message,
                reason: "Invalid".into(),
                line: None,
                field: None,
            });
        }
    };
    let params = selected_params(set, binding, &current.namespace);
    if params.is_empty() {
        let action = binding
            .spec
            .param_ref
            .as_ref()
            .and_then(|r| r.parameter_not_found_action)
            .unwrap_or(ParameterNotFoundAction::Deny);
        if action == ParameterNotFoundAction::Deny {
            fail(
                outcome,
                "failed to configure binding: no params found for policy binding with `Deny` parameterNotFoundAction".into(),
            );
        }
        return true;
    }
    for param in params {
        if let Err(message) = run_policy(set, policy, request, request_value, param, state, cache) {
            fail(outcome, message);
        }
        let steps = state.take_steps();
        if !steps.is_empty() {
            let patch = json_patch::Patch(steps);
            for op in &patch.0 {
                outcome.warnings.push(Warning {
                    policy: policy.name.clone(),
                    binding: binding.name.clone(),
                    message: describe_operation(op),
                });
            }
            outcome.changes.push(Change {
                policy: policy.name.clone(),
                binding: binding.name.clone(),
                patch,
            });
        }
    }
    true
}

/// Runs a policy's conditions and mutations for one parameter object.
fn run_policy<'r>(
    set: &'r PolicySet,
    policy: &'r CompiledPolicy,
    request: &Request<'r>,
    request_value: &'r RequestTree<'r>,
    param: Option<&'r ParamObject>,
    state: &mut State<'r>,
    cache: &'r SharedVariables<'r>,
) -> Result<(), String> {
    let mut conditions_checked = false;
    for mutation in &policy.mutations {
        let check_conditions = !conditions_checked;
        conditions_checked = true;
        // Each mutation sees the object as the previous one left it. While no mutation has
        // changed it, that is the request's own object, whose variables may be shared; after a
        // change, the variables are evaluated afresh.
        let result = if state.version == 0 {
            let step = Step {
                set,
                policy,
                mutation,
                request_value,
                param,
            };
            step.evaluate(request, check_conditions, cache)?
        } else {
            let current = Request {
                object: Some(&state.node),
                ..request.clone()
            };
            let step = Step {
                set,
                policy,
                mutation,
                request_value,
                param,
            };
            step.evaluate(&current, check_conditions, &SharedVariables::new(set))?
        };
        let Some(result) = result else {
            return Ok(());
        };
        let context = |message: String| {
            format!(
                "policy \"{}\", {}: {message}",
                policy.name, mutation.expression.field
            )
        };
        // Nothing to apply (`[]`, `Object{}`): no JSON needed, nothing changes.
        let empty = match (&result, mutation.patch_type) {
            (serde_json::Value::Array(items), PatchType::JsonPatch) => items.is_empty(),
            (serde_json::Value::Object(map), PatchType::ApplyConfiguration) => map.is_empty(),
            _ => false,
        };
        if empty {
            continue;
        }
        let current = state.json();
        let mut next = current.clone();
        match mutation.patch_type {
            PatchType::JsonPatch => apply_json_patch(&mut next, result),
            PatchType::ApplyConfiguration => apply_configuration(&mut next, result),
        }
        .map_err(context)?;
        check_identity(current, &next).map_err(context)?;
        if &next != current {
            state.set(next);
        }
    }
    Ok(())
}

/// One mutation of a policy, evaluated against the object as it stands.
struct Step<'x> {
    set: &'x PolicySet,
    policy: &'x CompiledPolicy,
    mutation: &'x CompiledMutation,
    request_value: &'x RequestTree<'x>,
    param: Option<&'x ParamObject>,
}

impl<'x> Step<'x> {
    /// What the mutation's expression built, as JSON; `None` when a match condition (checked
    /// first, if asked) does not hold.
    fn evaluate(
        &self,
        request: &Request<'x>,
        check_conditions: bool,
        shared: &'x SharedVariables<'x>,
    ) -> Result<Option<serde_json::Value>, String> {
        let policy = self.policy;
        let mut activation =
            super::activation(request, self.request_value, self.param.map(|p| &p.root));
        let variables = Variables::new(policy, self.param, shared, &mut activation);
        let env = &self.set.env;
        let outcome = (|| {
            if check_conditions {
                // As for validation (see `super::Judge::run`): a false condition skips the
                // policy even when another failed; otherwise every failure is reported.
                let mut errors = Vec::new();
                for (_, condition) in &policy.match_conditions {
                    match variables.run(env, condition) {
                        Ok(value) => match value.as_bool() {
                            Some(true) => {}
                            Some(false) => return Ok(None),
                            None => errors.push(format!(
                                "expression '{}' must return a bool, returned {}",
                                condition.program.source,
                                value.type_name()
                            )),
                        },
                        Err(e) => errors.push(super::resulted_in_error(condition, &e)),
                    }
                }
                if !errors.is_empty() {
                    return Err(if errors.len() == 1 {
                        errors.remove(0)
                    } else {
                        format!("[{}]", errors.join(", "))
                    });
                }
            }
            let context = |message: String| {
                format!(
                    "policy \"{}\", {}: {message}",
                    policy.name, self.mutation.expression.field
                )
            };
            let value = variables
                .run(env, &self.mutation.expression)
                .map_err(|e| super::resulted_in_error(&self.mutation.expression, &e))?;
            value.to_json().map(Some).map_err(|e| context(e.0))
        })();
        outcome
    }
}

/// Applies the operations a `JSONPatch` expression returned.
fn apply_json_patch(
    object: &mut serde_json::Value,
    result: serde_json::Value,
) -> Result<(), String> {
    let serde_json::Value::Array(items) = &result else {
        return Err(format!(
            "must return a list of JSONPatch, returned {}",
            json_type(&result)
        ));
    };
    let mut operations = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let operation: json_patch::PatchOperation = serde_json::from_value(item.clone())
            .map_err(|e| format!("JSONPatch {i} is not a valid RFC 6902 operation: {e}"))?;
        operations.push(operation);
    }
    json_patch::patch(object, &operations)
        .map_err(|e| format!("the JSON patch does not apply: {e}"))
}

/// Merges the object an `ApplyConfiguration` expression returned.
fn apply_configuration(
    object: &mut serde_json::Value,
    result: serde_json::Value,
) -> Result<(), String> {
    if !result.is_object() {
        return Err(format!(
            "must return an Object{{...}}, returned {}",
            json_type(&result)
        ));
    }
    merge(object, result);
    Ok(())
}

/// Merges an apply configuration into a value (see the module documentation).
fn merge(target: &mut serde_json::Value, patch: serde_json::Value) {
    use serde_json::Value as J;
    match (target, patch) {
        (J::Object(target), J::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    target.remove(&key);
                } else if let Some(existing) = target.get_mut(&key) {
                    merge(existing, value);
                } else {
                    let mut fresh = J::Null;
                    merge(&mut fresh, value);
                    target.insert(key, fresh);
                }
            }
        }
        (J::Array(target), J::Array(patch)) if named_items(target) && named_items(&patch) => {
            for item in patch {
                match target
                    .iter_mut()
                    .find(|t| t.get("name") == item.get("name"))
                {
                    Some(existing) => merge(existing, item),
                    None => target.push(item),
                }
            }
        }
        (target, J::Object(patch)) => {
            *target = J::Object(Default::default());
            merge(target, J::Object(patch));
        }
        (target, patch) => *target = patch,
    }
}

/// Whether every item of a list is a map with a string `name` (a list-map keyed by name).
fn named_items(items: &[serde_json::Value]) -> bool {
    items
        .iter()
        .all(|i| i.get("name").is_some_and(serde_json::Value::is_string))
}

/// A mutation may not turn the object into another one.
fn check_identity(before: &serde_json::Value, after: &serde_json::Value) -> Result<(), String> {
    for pointer in [
        "/apiVersion",
        "/kind",
        "/metadata/name",
        "/metadata/namespace",
    ] {
        if before.pointer(pointer) != after.pointer(pointer) {
            return Err(format!(
                "a mutation may not change {}",
                pointer[1..].replace('/', ".")
            ));
        }
    }
    if !after.is_object() {
        return Err("a mutation must leave an object".into());
    }
    Ok(())
}

fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "bool",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "list",
        serde_json::Value::Object(_) => "map",
    }
}

/// A warning for one operation of a change: what was set where, so that the author can write it
/// into the file. Values are policy-made (a key name), shown up to a length.
fn describe_operation(operation: &json_patch::PatchOperation) -> String {
    use json_patch::PatchOperation as Op;
    let shown = |value: &serde_json::Value| {
        let text = value.to_string();
        if text.chars().count() > 200 {
            format!("{}...", text.chars().take(200).collect::<String>())
        } else {
            text
        }
    };
    let path = field_path(operation.path());
    match operation {
        Op::Add(op) => format!(
            "added {path}: {} (commit it to the manifest, e.g. with cmek-gate fix, so that the file matches what is deployed)",
            shown(&op.value)
        ),
        Op::Replace(op) => format!(
            "set {path} to {} (commit it to the manifest, e.g. with cmek-gate fix, so that the file matches what is deployed)",
            shown(&op.value)
        ),
        Op::Remove(_) => format!("removed {path}"),
        Op::Move(op) => format!("moved {} to {path}", field_path(&op.from)),
        Op::Copy(op) => format!("copied {} to {path}", field_path(&op.from)),
        Op::Test(_) => format!("tested {path}"),
    }
}

/// A JSON pointer as a field path: `spec.template.metadata.annotations["run.googleapis.com/x"]`.
pub fn field_path(pointer: &json_patch::jsonptr::Pointer) -> String {
    let path = dotted_path(pointer, |key| serde_json::Value::from(key).to_string());
    if path.is_empty() {
        "the object".into()
    } else {
        path
    }
}

/// A JSON pointer as a dotted path: plain keys joined with `.`, indexes as `[N]`, and other keys
/// bracketed as `quote` writes them (JSON strings in messages, `'...'` in JSONPath-like paths).
pub fn dotted_path(
    pointer: &json_patch::jsonptr::Pointer,
    quote: impl Fn(&str) -> String,
) -> String {
    let mut path = String::new();
    for token in pointer.tokens() {
        let key = token.decoded();
        if key.is_empty() {
            path.push_str(&format!("[{}]", quote(&key)));
        } else if key.chars().all(|c| c.is_ascii_digit()) {
            path.push_str(&format!("[{key}]"));
        } else if key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(&key);
        } else {
            path.push_str(&format!("[{}]", quote(&key)));
        }
    }
    path
}

/// Gives the nodes of a mutated tree the positions of the same nodes in the tree it came from;
/// a new node takes its parent's position (the place the change was made).
pub fn carry_marks(new: &mut Node, old: &Node) {
    new.mark = old.mark;
    match (&mut new.value, &old.value) {
        (NodeValue::Map(entries), NodeValue::Map(old_entries)) => {
            for entry in entries.iter_mut() {
                match old_entries.iter().find(|e| e.key == entry.key) {
                    Some(old_entry) => {
                        entry.key_mark = old_entry.key_mark;
                        carry_marks(&mut entry.value, &old_entry.value);
                    }
                    None => mark_all(entry, old.mark),
                }
            }
        }
        (NodeValue::Seq(items), NodeValue::Seq(old_items)) => {
            for (i, item) in items.iter_mut().enumerate() {
                match old_items.get(i) {
                    Some(old_item) => carry_marks(item, old_item),
                    None => mark_node(item, old.mark),
                }
            }
        }
        (value, _) => {
            if let NodeValue::Map(entries) = value {
                entries.iter_mut().for_each(|e| mark_all(e, old.mark));
            } else if let NodeValue::Seq(items) = value {
                items.iter_mut().for_each(|n| mark_node(n, old.mark));
            }
        }
    }
}

fn mark_all(entry: &mut Entry, mark: crate::manifest::Mark) {
    entry.key_mark = mark;
    mark_node(&mut entry.value, mark);
}

fn mark_node(node: &mut Node, mark: crate::manifest::Mark) {
    node.mark = mark;
    match &mut node.value {
        NodeValue::Map(entries) => entries.iter_mut().for_each(|e| mark_all(e, mark)),
        NodeValue::Seq(items) => items.iter_mut().for_each(|n| mark_node(n, mark)),
        NodeValue::Scalar(_) => {}
    }
}

#[cfg(test)]
#[path = "mutate_tests.rs"]
mod tests;
