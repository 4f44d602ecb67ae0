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
    pub api_version: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// What the bindings of policies of its kind select instead (`name "default"`, ...).
    pub selected_by: Vec<String>,
}

impl UnselectedParam {
    /// Why it is ignored, in words: `no binding selects it (the bindings' paramRef selects ...)`.
    pub fn reason(&self) -> String {
        Reason(self).to_string()
    }
}

impl std::fmt::Display for UnselectedParam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} \"{}\" is ignored: {}",
            self.source_name,
            self.kind,
            self.name,
            Reason(self)
        )
    }
}

/// The reason part of the message.
struct Reason<'a>(&'a UnselectedParam);

impl std::fmt::Display for Reason<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let param = self.0;
        write!(f, "no binding selects it")?;
        if param.selected_by.is_empty() {
            write!(f, " (no binding reads a {})", param.kind)
        } else {
            write!(
                f,
                " (the bindings' paramRef selects {}",
                param.selected_by.join(", ")
            )?;
            match param
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

/// Whether `binding` (of `policy`) selects `param` for some request: its policy's `paramKind`,
/// its `paramRef`'s name or selector, and the `paramRef`'s namespace when it gives one (without
/// one, the request's namespace decides too: see [`super::binding_index`]).
pub(super) fn selects(
    policy: &CompiledPolicy,
    binding: &CompiledBinding,
    param: &ParamObject,
) -> bool {
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
                    api_version: param.api_version.clone(),
                    kind: param.kind.clone(),
                    namespace: param.namespace.clone(),
                    name: param.name.clone(),
                    selected_by,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::policy::tests::PARAMS_POLICY;
    use crate::policy::{embedded, PolicySet, Source};

    fn params(name: &str, namespace: &str, labels: &str) -> String {
        format!(
            "apiVersion: cmek-gate.dev/v1alpha1\nkind: CmekGateParams\nmetadata:\n  name: {name}\n  namespace: '{namespace}'\n  labels: {{{labels}}}\nspec: {{}}\n"
        )
    }

    /// Over the shipped library (bindings select `name: default`): which extra objects are
    /// named as ignored, and the message.
    #[test]
    fn objects_no_binding_selects_are_named_with_what_is_selected() {
        for (object, ignored) in [
            (params("default", "", ""), None),
            (params("default", "shop", ""), None),
            (
                params("prod", "", ""),
                Some("my.yaml: CmekGateParams \"prod\" is ignored: no binding selects it (the bindings' paramRef selects name \"default\"; name it \"default\" to use it)"),
            ),
            (
                params("Default", "", "tier: gold"),
                Some("my.yaml: CmekGateParams \"Default\" is ignored"),
            ),
        ] {
            let set = PolicySet::compile(
                &embedded::sources(),
                &[Source {
                    name: "my.yaml".into(),
                    text: object.clone(),
                }],
            )
            .unwrap();
            let found: Vec<String> = set
                .unselected_params()
                .iter()
                .map(ToString::to_string)
                .collect();
            match ignored {
                None => assert!(found.is_empty(), "{object}: {found:?}"),
                Some(start) => {
                    assert_eq!(found.len(), 1, "{object}: {found:?}");
                    assert!(found[0].starts_with(start), "{object}: {found:?}");
                }
            }
        }
    }

    /// A binding that selects by label, in a namespace: the rule the engine applies.
    #[test]
    fn selectors_and_namespaces_select_as_the_engine_does() {
        let policy = format!(
            "{PARAMS_POLICY}---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {{name: p}}
spec:
  policyName: p
  validationActions: [Deny]
  paramRef:
    namespace: shop
    selector: {{matchLabels: {{tier: gold}}}}
    parameterNotFoundAction: Deny
"
        );
        let objects = [
            params("a", "shop", "tier: gold"),
            params("b", "shop", "tier: bronze"),
            params("c", "other", "tier: gold"),
        ]
        .join("---\n");
        let set = PolicySet::compile(
            &[
                Source {
                    name: "p.yaml".into(),
                    text: policy,
                },
                Source {
                    name: "objects.yaml".into(),
                    text: objects,
                },
            ],
            &[],
        )
        .unwrap();
        let ignored: Vec<(String, Vec<String>)> = set
            .unselected_params()
            .into_iter()
            .map(|u| (u.name, u.selected_by))
            .collect();
        let by = vec!["by a label selector in namespace \"shop\"".to_owned()];
        assert_eq!(
            ignored,
            vec![("b".to_owned(), by.clone()), ("c".to_owned(), by)]
        );
    }
}
