//! Which parameter objects the bindings select, so that an object no binding reads is named
//! rather than ignored in silence. Pure.
//!
//! A binding's `paramRef` selects the objects of its policy's `paramKind` by `name` (else by
//! `selector`), in `namespace` when it gives one. The shipped bindings select the
//! `CmekGateParams` named `default`.

use super::{matching, CompiledBinding, CompiledPolicy, ParamObject, PolicySet};

/// A parameter object that no binding selects: the policies never read it.
#[derive(Debug, Clone, PartialEq)]
pub struct UnselectedParam {
    pub source_name: String,
    pub kind: String,
    pub name: String,
    /// What the bindings of policies of its kind select instead (`name "default"`, ...).
    pub selected_by: Vec<String>,
}

impl std::fmt::Display for UnselectedParam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} \"{}\" is ignored: no binding selects it",
            self.source_name, self.kind, self.name
        )?;
        if self.selected_by.is_empty() {
            write!(f, " (no binding reads a {})", self.kind)
        } else {
            write!(
                f,
                " (the bindings' paramRef selects {}",
                self.selected_by.join(", ")
            )?;
            match self
                .selected_by
                .iter()
                .find_map(|s| s.strip_prefix("name "))
            {
                Some(name) => write!(f, "; name it {name} to use it)"),
                None => write!(f, ")"),
            }
        }
    }
}

fn selects(policy: &CompiledPolicy, binding: &CompiledBinding, param: &ParamObject) -> bool {
    let (Some(kind), Some(param_ref)) = (&policy.spec.param_kind, &binding.spec.param_ref) else {
        return false;
    };
    if (kind.api_version.as_str(), kind.kind.as_str()) != (&param.api_version, &param.kind) {
        return false;
    }
    if param_ref
        .namespace
        .as_ref()
        .is_some_and(|ns| ns != &param.namespace)
    {
        return false;
    }
    match (&param_ref.name, &param_ref.selector) {
        (Some(name), _) => name == &param.name,
        (None, Some(selector)) => matching::selector_matches(selector, &param.labels),
        (None, None) => false,
    }
}

/// What a binding's `paramRef` selects, in words.
fn describe_ref(binding: &CompiledBinding) -> Option<String> {
    let param_ref = binding.spec.param_ref.as_ref()?;
    let mut text = match (&param_ref.name, &param_ref.selector) {
        (Some(name), _) => format!("name \"{name}\""),
        (None, Some(_)) => "by a label selector".to_owned(),
        (None, None) => return None,
    };
    if let Some(ns) = &param_ref.namespace {
        text.push_str(&format!(" in namespace \"{ns}\""));
    }
    Some(text)
}

impl PolicySet {
    /// The parameter objects that no binding (validating or mutating) selects, in load order.
    pub fn unselected_params(&self) -> Vec<UnselectedParam> {
        let pairs: Vec<(&CompiledPolicy, &CompiledBinding)> = self
            .bindings
            .iter()
            .filter_map(|b| Some((self.policies.get(b.policy?)?, b)))
            .chain(
                self.mutating_bindings
                    .iter()
                    .filter_map(|b| Some((self.mutating_policies.get(b.policy?)?, b))),
            )
            .collect();
        self.params
            .iter()
            .filter(|param| !pairs.iter().any(|(p, b)| selects(p, b, param)))
            .map(|param| {
                let mut selected_by: Vec<String> = pairs
                    .iter()
                    .filter(|(p, _)| {
                        p.spec.param_kind.as_ref().is_some_and(|k| {
                            (k.api_version.as_str(), k.kind.as_str())
                                == (&param.api_version, &param.kind)
                        })
                    })
                    .filter_map(|(_, b)| describe_ref(b))
                    .collect();
                selected_by.sort();
                selected_by.dedup();
                UnselectedParam {
                    source_name: param.source_name.clone(),
                    kind: param.kind.clone(),
                    name: param.name.clone(),
                    selected_by,
                }
            })
            .collect()
    }
}
