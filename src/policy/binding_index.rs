//! What evaluation reads to pick a binding's work, computed once at load: the distinct match
//! constraints of the set (the shipped policies share theirs) and, for each binding, which of
//! them it is judged by and which parameter objects it may select. Pure.
//!
//! An evaluation then judges each distinct constraint once per request ([`MatchMemo`]) and
//! reads a binding's parameter objects from a short list, instead of walking every policy's
//! rules and every parameter object's strings for every binding: on a server those are
//! scattered, cold data, read again on each request.

use super::matching::{self, MatchTarget, Matched};
use super::types::MatchResources;
use super::{CompiledBinding, CompiledPolicy, ParamObject, PolicySet};

/// Constraints a binding is judged by: resources, and whether rules are required (a policy's
/// `matchConstraints`: no rule matches nothing) or not (a binding's `matchResources`: no rule
/// means whatever the policy matches).
#[derive(Debug, Clone, PartialEq)]
pub struct MatchSet {
    pub resources: MatchResources,
    pub required_rules: bool,
}

/// A binding's part of the index (see [`PolicySet::index_bindings`]).
#[derive(Debug, Clone, PartialEq)]
pub struct BindingIndex {
    /// Into [`PolicySet::match_sets`]: its policy's `matchConstraints` (none given: a set that
    /// matches nothing).
    pub constraints: usize,
    /// Into [`PolicySet::match_sets`]: the binding's own `matchResources`, if it has them.
    pub resources: Option<usize>,
    pub params: ParamCandidates,
}

/// The parameter objects a binding may select.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamCandidates {
    /// The policy has no `paramKind` or the binding no `paramRef`: the policy runs once, with
    /// `params` null.
    NotRead,
    /// Indexes into [`PolicySet::params`] of the objects of the policy's `paramKind` that the
    /// `paramRef` names (or its selector selects), in its namespace when it gives one.
    /// `by_request_namespace`: the `paramRef` gives no namespace, so an object is selected
    /// only when it is cluster-scoped or in the request's namespace.
    Objects {
        indexes: Box<[usize]>,
        by_request_namespace: bool,
    },
}

impl PolicySet {
    /// Builds every binding's [`BindingIndex`] and the distinct [`MatchSet`]s. Called once the
    /// bindings are resolved and the parameter objects loaded.
    pub(super) fn index_bindings(&mut self) {
        let mut sets: Vec<MatchSet> = Vec::new();
        let mut intern = |resources: &MatchResources, required_rules: bool| {
            let wanted = MatchSet {
                resources: resources.clone(),
                required_rules,
            };
            match sets.iter().position(|s| *s == wanted) {
                Some(i) => i,
                None => {
                    sets.push(wanted);
                    sets.len() - 1
                }
            }
        };
        let no_constraints = MatchResources::default();
        for (bindings, policies) in [
            (&mut self.bindings, &self.policies),
            (&mut self.mutating_bindings, &self.mutating_policies),
        ] {
            for binding in bindings.iter_mut() {
                let policy = binding.policy.and_then(|i| policies.get(i));
                let constraints = policy
                    .and_then(|p| p.spec.match_constraints.as_ref())
                    .unwrap_or(&no_constraints);
                binding.index = Some(BindingIndex {
                    constraints: intern(constraints, true),
                    resources: binding
                        .spec
                        .match_resources
                        .as_ref()
                        .map(|r| intern(r, false)),
                    params: policy.map_or(ParamCandidates::NotRead, |p| {
                        param_candidates(p, binding, &self.params)
                    }),
                });
            }
        }
        self.match_sets = sets;
    }
}

/// The objects of `params` a binding of `policy` may select (see [`ParamCandidates`]).
fn param_candidates(
    policy: &CompiledPolicy,
    binding: &CompiledBinding,
    params: &[ParamObject],
) -> ParamCandidates {
    let (Some(_), Some(param_ref)) = (&policy.spec.param_kind, &binding.spec.param_ref) else {
        return ParamCandidates::NotRead;
    };
    // What the binding selects whatever the request (kind, name or selector, the paramRef's
    // namespace): the same rule that names the objects no binding selects.
    let indexes = params
        .iter()
        .enumerate()
        .filter(|(_, p)| super::selection::selects(policy, binding, p))
        .map(|(i, _)| i)
        .collect();
    ParamCandidates::Objects {
        indexes,
        by_request_namespace: param_ref.namespace.is_none(),
    }
}

/// The verdicts of one request's target on the set's [`MatchSet`]s, each judged on first use.
pub struct MatchMemo {
    verdicts: smallvec::SmallVec<[Option<Matched>; 8]>,
}

impl MatchMemo {
    pub fn new(set: &PolicySet) -> MatchMemo {
        MatchMemo {
            verdicts: smallvec::smallvec![None; set.match_sets.len()],
        }
    }

    /// Whether `binding` selects the target: its policy's constraints and its own
    /// `matchResources` both match. `target` must be the same for every call on this memo.
    pub fn selects(
        &mut self,
        set: &PolicySet,
        binding: &CompiledBinding,
        target: &MatchTarget,
    ) -> Matched {
        let index = binding.index();
        let by_policy = self.verdict(set, index.constraints, target);
        let by_binding = index
            .resources
            .map_or(Matched::Yes, |i| self.verdict(set, i, target));
        by_policy.and(by_binding)
    }

    fn verdict(&mut self, set: &PolicySet, index: usize, target: &MatchTarget) -> Matched {
        *self.verdicts[index].get_or_insert_with(|| {
            let MatchSet {
                resources,
                required_rules,
            } = &set.match_sets[index];
            matching::matches(resources, target, *required_rules)
        })
    }
}

/// The parameter objects a binding selects for a request in `namespace`: `[None]` when the
/// policy takes none, or when the binding has no `paramRef` (Kubernetes then evaluates the
/// policy with `params` null); empty when none is found.
pub fn selected_params<'s>(
    set: &'s PolicySet,
    binding: &CompiledBinding,
    namespace: &str,
) -> SelectedParams<'s> {
    match &binding.index().params {
        ParamCandidates::NotRead => smallvec::smallvec![None],
        ParamCandidates::Objects {
            indexes,
            by_request_namespace,
        } => indexes
            .iter()
            .map(|&i| &set.params[i])
            .filter(|p| !by_request_namespace || p.namespace.is_empty() || p.namespace == namespace)
            .map(Some)
            .collect(),
    }
}

/// The parameter objects selected for one binding and request (usually one).
pub type SelectedParams<'s> = smallvec::SmallVec<[Option<&'s ParamObject>; 1]>;

impl CompiledBinding {
    /// Its part of the index. Every binding of a loaded set has one.
    fn index(&self) -> &BindingIndex {
        self.index
            .as_ref()
            .expect("PolicySet::compile_with indexes every binding")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::tests::PARAMS_POLICY;
    use crate::policy::{embedded, Source};

    /// The verdict as evaluation judged it before the index: the policy's constraints (none
    /// given: nothing matches) and the binding's own resources, read directly.
    fn selects_directly(
        policies: &[CompiledPolicy],
        binding: &CompiledBinding,
        target: &MatchTarget,
    ) -> Matched {
        let none = MatchResources::default();
        let constraints = binding
            .policy
            .and_then(|i| policies[i].spec.match_constraints.as_ref())
            .unwrap_or(&none);
        let by_binding = binding
            .spec
            .match_resources
            .as_ref()
            .map_or(Matched::Yes, |r| matching::matches(r, target, false));
        matching::matches(constraints, target, true).and(by_binding)
    }

    /// The parameter objects as evaluation selected them before the index.
    fn params_directly<'s>(
        set: &'s PolicySet,
        binding: &CompiledBinding,
        namespace: &str,
    ) -> Vec<Option<&'s str>> {
        let policy = &set.policies[binding.policy.unwrap()];
        let (Some(kind), Some(param_ref)) = (&policy.spec.param_kind, &binding.spec.param_ref)
        else {
            return vec![None];
        };
        set.params
            .iter()
            .filter(|p| p.api_version == kind.api_version && p.kind == kind.kind)
            .filter(|p| match &param_ref.namespace {
                Some(ns) => &p.namespace == ns,
                None => p.namespace.is_empty() || p.namespace == namespace,
            })
            .filter(|p| match (&param_ref.name, &param_ref.selector) {
                (Some(name), _) => &p.name == name,
                (None, Some(selector)) => matching::selector_matches(selector, &p.labels),
                (None, None) => false,
            })
            .map(|p| Some(p.name.as_str()))
            .collect()
    }

    fn target<'a>(group: &'a str, resource: &'a str, operation: &'a str) -> MatchTarget<'a> {
        MatchTarget {
            group,
            version: "v1",
            resource,
            name: "x",
            operation,
            namespaced: true,
            ..MatchTarget::default()
        }
    }

    /// The shipped library: every binding is indexed, the policies share their constraints,
    /// and the memo gives every binding the verdict of reading its rules directly.
    #[test]
    fn the_memo_judges_as_the_rules_read_directly() {
        let set = PolicySet::compile(&embedded::sources(), &[]).unwrap();
        let bindings: Vec<(&CompiledBinding, &[CompiledPolicy])> = set
            .bindings
            .iter()
            .map(|b| (b, &set.policies[..]))
            .chain(
                set.mutating_bindings
                    .iter()
                    .map(|b| (b, &set.mutating_policies[..])),
            )
            .collect();
        assert!(bindings.iter().all(|(b, _)| b.index.is_some()));
        assert!(
            set.match_sets.len() < bindings.len(),
            "{} sets for {} bindings",
            set.match_sets.len(),
            bindings.len()
        );
        let targets = [
            target("serving.knative.dev", "services", "CREATE"),
            target("serving.knative.dev", "services", "DELETE"),
            target("serving.knative.dev", "configurations", "UPDATE"),
            target("run.googleapis.com", "jobs", "CREATE"),
            target("run.googleapis.com", "workerpools", "UPDATE"),
            target("run.cnrm.cloud.google.com", "runservices", "CREATE"),
            target("run.cnrm.cloud.google.com", "runjobs", "CONNECT"),
            target("apps", "deployments", "CREATE"),
            target("", "namespaces", "CREATE"),
        ];
        let mut matched = 0;
        for target in &targets {
            let mut memo = MatchMemo::new(&set);
            for (binding, policies) in &bindings {
                let direct = selects_directly(policies, binding, target);
                assert_eq!(
                    memo.selects(&set, binding, target),
                    direct,
                    "{}",
                    binding.name
                );
                matched += usize::from(direct == Matched::Yes);
            }
        }
        assert!(matched > 0);
    }

    fn object(name: &str, namespace: &str, labels: &str) -> String {
        format!(
            "apiVersion: cmek-gate.dev/v1alpha1\nkind: CmekGateParams\nmetadata:\n  name: {name}\n  namespace: '{namespace}'\n  labels: {{{labels}}}\nspec: {{}}\n"
        )
    }

    /// Bindings by name, by name in a namespace, by selector, and without a paramRef, with
    /// their own matchResources or not: the parameter objects each selects for requests in
    /// several namespaces are those of reading every object directly, in load order.
    #[test]
    fn parameter_objects_are_selected_as_read_directly() {
        let binding = |name: &str, param_ref: &str, resources: &str| {
            format!(
                "apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {{name: {name}}}
spec:
  policyName: p
  validationActions: [Deny]
{param_ref}{resources}"
            )
        };
        let texts = [
            PARAMS_POLICY.to_owned(),
            binding("by-name", "  paramRef: {name: a, parameterNotFoundAction: Deny}\n", ""),
            binding(
                "by-name-in-shop",
                "  paramRef: {name: a, namespace: shop, parameterNotFoundAction: Deny}\n",
                "",
            ),
            binding(
                "by-selector",
                "  paramRef: {selector: {matchLabels: {tier: gold}}, parameterNotFoundAction: Allow}\n",
                "  matchResources:\n    namespaceSelector: {}\n",
            ),
            binding("without", "", "  matchResources: {objectSelector: {matchLabels: {app: web}}}\n"),
            object("a", "", "tier: gold"),
            object("a", "shop", ""),
            object("b", "shop", "tier: gold"),
            object("a", "other", "tier: gold"),
            object("c", "other", "tier: bronze"),
        ];
        let set = PolicySet::compile(
            &[Source {
                name: "p.yaml".into(),
                text: texts.join("---\n"),
            }],
            &[],
        )
        .unwrap();
        assert_eq!(set.bindings.len(), 4);
        for binding in &set.bindings {
            for namespace in ["", "shop", "other", "elsewhere"] {
                let indexed: Vec<Option<&str>> = selected_params(&set, binding, namespace)
                    .iter()
                    .map(|p| p.map(|p| p.name.as_str()))
                    .collect();
                assert_eq!(
                    indexed,
                    params_directly(&set, binding, namespace),
                    "binding {}, namespace {namespace:?}",
                    binding.name
                );
            }
        }
        // Two bindings add their own resources (distinct), beside the policy's constraints.
        assert_eq!(set.match_sets.len(), 3);
        let by_name: Vec<_> = set.bindings.iter().map(|b| b.index().clone()).collect();
        assert_eq!(by_name[0].constraints, by_name[1].constraints);
        assert_eq!(by_name[0].resources, None);
        assert_ne!(by_name[2].resources, by_name[3].resources);
        assert_eq!(by_name[3].params, ParamCandidates::NotRead);
    }
}
