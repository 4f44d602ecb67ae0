//! What a policy set puts into effect (the policies some binding names), and whether a new set
//! may replace the serving one: a set that binds nothing never may (it would allow everything),
//! and one that binds fewer policies only when the operator allows it. Pure.

use super::PolicySet;
use std::collections::BTreeSet;

impl PolicySet {
    /// The policies some binding names, as `ValidatingAdmissionPolicy/NAME` and
    /// `MutatingAdmissionPolicy/NAME`, sorted: what takes effect. A policy without a binding,
    /// or a binding without its policy, does nothing (as in Kubernetes).
    pub fn bound_policies(&self) -> Vec<String> {
        let validating = self
            .bindings
            .iter()
            .filter_map(|b| self.policy_of(b))
            .map(|p| format!("ValidatingAdmissionPolicy/{}", p.name));
        let mutating = self
            .mutating_bindings
            .iter()
            .filter_map(|b| self.mutating_policy_of(b))
            .map(|p| format!("MutatingAdmissionPolicy/{}", p.name));
        validating
            .chain(mutating)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }
}

/// Why a new policy set may not replace the serving one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplaceRefusal {
    #[error("the new policy set binds no policy: it would allow everything")]
    BindsNothing,
    #[error(
        "the new policy set binds {new} policies, fewer than the {old} serving (no longer bound: {}); start the server with --allow-policy-shrink to allow that",
        dropped.join(", ")
    )]
    Shrinks {
        old: usize,
        new: usize,
        dropped: Vec<String>,
    },
}

impl ReplaceRefusal {
    /// The `reason` label of the reload failure metric.
    pub fn reason(&self) -> &'static str {
        match self {
            ReplaceRefusal::BindsNothing => "binds-nothing",
            ReplaceRefusal::Shrinks { .. } => "shrink",
        }
    }
}

/// Whether a set binding `new` may replace one binding `serving` (none at start). Binding
/// nothing is always refused; binding fewer policies only without `allow_shrink`. The same number
/// of other policies is a change, not a shrink.
pub fn may_replace(
    serving: Option<&[String]>,
    new: &[String],
    allow_shrink: bool,
) -> Result<(), ReplaceRefusal> {
    if new.is_empty() {
        return Err(ReplaceRefusal::BindsNothing);
    }
    match serving {
        Some(old) if new.len() < old.len() && !allow_shrink => Err(ReplaceRefusal::Shrinks {
            old: old.len(),
            new: new.len(),
            dropped: old.iter().filter(|p| !new.contains(p)).cloned().collect(),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Source;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn replacement_rules() {
        let (a, ab, abc, ad) = (
            names(&["V/a"]),
            names(&["V/a", "V/b"]),
            names(&["V/a", "V/b", "V/c"]),
            names(&["V/a", "V/d"]),
        );
        let none: Vec<String> = Vec::new();
        let shrink = |old, new, dropped: &[&str]| {
            Err(ReplaceRefusal::Shrinks {
                old,
                new,
                dropped: names(dropped),
            })
        };
        // (serving, new, allow_shrink, expected)
        type Case<'a> = (
            Option<&'a [String]>,
            &'a [String],
            bool,
            Result<(), ReplaceRefusal>,
        );
        let cases: Vec<Case> = vec![
            (None, &none, false, Err(ReplaceRefusal::BindsNothing)),
            (None, &none, true, Err(ReplaceRefusal::BindsNothing)),
            (None, &a, false, Ok(())),
            (Some(&ab), &none, false, Err(ReplaceRefusal::BindsNothing)),
            (Some(&ab), &none, true, Err(ReplaceRefusal::BindsNothing)),
            (Some(&ab), &a, false, shrink(2, 1, &["V/b"])),
            (Some(&abc), &ad, false, shrink(3, 2, &["V/b", "V/c"])),
            (Some(&ab), &a, true, Ok(())),
            (Some(&ab), &ab, false, Ok(())),
            (Some(&ab), &ad, false, Ok(())),
            (Some(&ab), &abc, false, Ok(())),
        ];
        for (i, (serving, new, allow, expected)) in cases.into_iter().enumerate() {
            assert_eq!(may_replace(serving, new, allow), expected, "case {i}");
        }
    }

    #[test]
    fn only_policies_a_binding_names_are_bound() {
        let policy = |name: &str| {
            format!(
                "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicy\nmetadata: {{name: {name}}}\nspec:\n  matchConstraints:\n    resourceRules: [{{apiGroups: ['*'], apiVersions: ['*'], operations: ['*'], resources: ['*']}}]\n  validations: [{{expression: 'true'}}]\n"
            )
        };
        let binding = |name: &str, policy: &str| {
            format!(
                "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicyBinding\nmetadata: {{name: {name}}}\nspec: {{policyName: {policy}, validationActions: [Deny]}}\n"
            )
        };
        let cases: Vec<(Vec<String>, Vec<&str>)> = vec![
            (vec![], vec![]),
            (vec![policy("a")], vec![]),
            (vec![binding("a-binding", "a")], vec![]),
            (
                vec![policy("a"), binding("a-binding", "a")],
                vec!["ValidatingAdmissionPolicy/a"],
            ),
            (
                vec![
                    policy("a"),
                    policy("b"),
                    binding("a1", "a"),
                    binding("a2", "a"),
                    binding("c", "c"),
                ],
                vec!["ValidatingAdmissionPolicy/a"],
            ),
        ];
        for (i, (docs, expected)) in cases.into_iter().enumerate() {
            let sources: Vec<Source> = docs
                .into_iter()
                .map(|text| Source {
                    name: format!("case-{i}.yaml"),
                    text,
                })
                .collect();
            let set = PolicySet::compile(&sources, &[]).unwrap();
            assert_eq!(set.bound_policies(), names(&expected), "case {i}");
        }
    }
}
