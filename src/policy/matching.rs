//! Which requests a policy's `matchConstraints` and a binding's `matchResources` select, with the
//! Kubernetes semantics: resource rules (groups, versions, resources, operations, names, scope),
//! exclusions, and namespace and object label selectors.
//!
//! A namespace selector needs the labels of the object's namespace, which the API server always
//! knows but a file or an AdmissionReview may not give. Without them a non-empty selector is
//! [`Matched::Undecided`] (or, as the user says, no match or a match: [`UnknownNamespaces`]),
//! never silently a no-match. As in Kubernetes (`MatchNamespaceSelector`), a selector never skips
//! a cluster-scoped object other than a Namespace, and a Namespace is matched by its own labels.

use super::types::{LabelSelector, MatchResources, NamedRuleWithOperations, SelectorOperator};
use crate::manifest::Node;
use std::collections::BTreeMap;

/// What matching looks at in a request.
#[derive(Debug, Clone, Default)]
pub struct MatchTarget<'a> {
    pub group: &'a str,
    pub version: &'a str,
    pub resource: &'a str,
    pub name: &'a str,
    pub operation: &'a str,
    pub namespaced: bool,
    pub object_labels: Labels<'a>,
    /// The labels of the object's namespace (of the object itself for a Namespace); `None` when
    /// they are not known.
    pub namespace_labels: Option<Labels<'a>>,
    /// What a namespace selector says when the labels are not known.
    pub unknown_namespaces: UnknownNamespaces,
}

/// A document's labels as text ([`Node::metadata_labels`]), read when a selector first needs
/// them: most bindings have none.
#[derive(Debug, Clone, Default)]
pub struct Labels<'a> {
    document: Option<&'a Node>,
    read: std::cell::OnceCell<BTreeMap<String, String>>,
}

impl<'a> Labels<'a> {
    /// The labels of `document` (none without one).
    pub fn of(document: Option<&'a Node>) -> Labels<'a> {
        Labels {
            document,
            read: std::cell::OnceCell::new(),
        }
    }

    pub fn get(&self) -> &BTreeMap<String, String> {
        self.read
            .get_or_init(|| self.document.map(Node::metadata_labels).unwrap_or_default())
    }
}

impl From<BTreeMap<String, String>> for Labels<'_> {
    fn from(labels: BTreeMap<String, String>) -> Self {
        Labels {
            document: None,
            read: std::cell::OnceCell::from(labels),
        }
    }
}

/// What a non-empty namespace selector does when the namespace's labels are not known.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UnknownNamespaces {
    /// The binding is undecided: the document is neither allowed nor skipped.
    #[default]
    Undecided,
    /// The selector does not match (the binding is skipped).
    NoMatch,
    /// The selector matches (the binding applies).
    MatchAll,
}

/// Whether constraints select a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matched {
    Yes,
    No,
    /// Everything else matches, but a namespace selector cannot be decided without the
    /// namespace's labels.
    Undecided,
}

impl Matched {
    /// Both: `No` if either is, else `Undecided` if either is.
    pub fn and(self, other: Matched) -> Matched {
        match (self, other) {
            (Matched::No, _) | (_, Matched::No) => Matched::No,
            (Matched::Undecided, _) | (_, Matched::Undecided) => Matched::Undecided,
            _ => Matched::Yes,
        }
    }
}

/// Whether the resources selected by `constraints` include the target. With `required_rules`
/// (a policy's matchConstraints), no resource rule means nothing matches; for a binding's
/// matchResources it means everything the policy matches.
pub fn matches(
    constraints: &MatchResources,
    target: &MatchTarget,
    required_rules: bool,
) -> Matched {
    let included = if constraints.resource_rules.is_empty() {
        !required_rules
    } else {
        constraints
            .resource_rules
            .iter()
            .any(|r| rule_matches(r, target))
    };
    let selected = included
        && !constraints
            .exclude_resource_rules
            .iter()
            .any(|r| rule_matches(r, target))
        && constraints
            .object_selector
            .as_ref()
            .is_none_or(|s| selector_matches(s, target.object_labels.get()));
    if !selected {
        return Matched::No;
    }
    namespace_matches(constraints.namespace_selector.as_ref(), target)
}

/// The namespace selector's verdict: a cluster-scoped object (not a Namespace, whose own labels
/// are its namespace labels) is never skipped, an empty selector selects everything, and
/// unknown labels decide as `target.unknown_namespaces` says.
fn namespace_matches(selector: Option<&LabelSelector>, target: &MatchTarget) -> Matched {
    let Some(selector) = selector else {
        return Matched::Yes;
    };
    let is_namespace = target.group.is_empty() && target.resource == "namespaces";
    if (!target.namespaced && !is_namespace) || selector_is_empty(selector) {
        return Matched::Yes;
    }
    match (&target.namespace_labels, target.unknown_namespaces) {
        (Some(labels), _) if selector_matches(selector, labels.get()) => Matched::Yes,
        (Some(_), _) | (None, UnknownNamespaces::NoMatch) => Matched::No,
        (None, UnknownNamespaces::MatchAll) => Matched::Yes,
        (None, UnknownNamespaces::Undecided) => Matched::Undecided,
    }
}

/// Whether a selector has no requirement (it then selects everything).
pub fn selector_is_empty(selector: &LabelSelector) -> bool {
    selector.match_labels.is_empty() && selector.match_expressions.is_empty()
}

fn listed(list: &[String], value: &str) -> bool {
    list.iter().any(|item| item == "*" || item == value)
}

fn rule_matches(rule: &NamedRuleWithOperations, target: &MatchTarget) -> bool {
    let scope_ok = match rule.scope.as_deref() {
        Some("Namespaced") => target.namespaced,
        Some("Cluster") => !target.namespaced,
        _ => true,
    };
    let resource_ok = rule.resources.iter().any(|r| {
        r == "*"
            || r == "*/*"
            || r == target.resource
            || r.strip_suffix("/*") == Some(target.resource)
    });
    scope_ok
        && resource_ok
        && listed(&rule.operations, target.operation)
        && listed(&rule.api_groups, target.group)
        && listed(&rule.api_versions, target.version)
        && (rule.resource_names.is_empty() || rule.resource_names.iter().any(|n| n == target.name))
}

/// A Kubernetes label selector: every matchLabels pair and every requirement must hold. An
/// empty selector selects everything.
pub fn selector_matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    selector
        .match_labels
        .iter()
        .all(|(k, v)| labels.get(k) == Some(v))
        && selector.match_expressions.iter().all(|req| {
            let value = labels.get(&req.key);
            match req.operator {
                SelectorOperator::In => value.is_some_and(|v| req.values.contains(v)),
                SelectorOperator::NotIn => value.is_none_or(|v| !req.values.contains(v)),
                SelectorOperator::Exists => value.is_some(),
                SelectorOperator::DoesNotExist => value.is_none(),
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::types::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn rule(groups: &[&str], resources: &[&str], ops: &[&str]) -> NamedRuleWithOperations {
        let own = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        NamedRuleWithOperations {
            api_groups: own(groups),
            api_versions: vec!["*".into()],
            resources: own(resources),
            operations: own(ops),
            ..Default::default()
        }
    }

    #[test]
    fn selectors() {
        let req = |key: &str, operator, values: &[&str]| LabelSelectorRequirement {
            key: key.into(),
            operator,
            values: values.iter().map(|s| s.to_string()).collect(),
        };
        let present = labels(&[("env", "prod"), ("team", "a")]);
        let cases = [
            (LabelSelector::default(), true),
            (
                LabelSelector {
                    match_labels: labels(&[("env", "prod")]),
                    ..Default::default()
                },
                true,
            ),
            (
                LabelSelector {
                    match_labels: labels(&[("env", "dev")]),
                    ..Default::default()
                },
                false,
            ),
            (
                LabelSelector {
                    match_expressions: vec![req("env", SelectorOperator::In, &["prod", "qa"])],
                    ..Default::default()
                },
                true,
            ),
            (
                LabelSelector {
                    match_expressions: vec![req("env", SelectorOperator::NotIn, &["prod"])],
                    ..Default::default()
                },
                false,
            ),
            (
                LabelSelector {
                    match_expressions: vec![req("x", SelectorOperator::NotIn, &["prod"])],
                    ..Default::default()
                },
                true,
            ),
            (
                LabelSelector {
                    match_expressions: vec![req("team", SelectorOperator::Exists, &[])],
                    ..Default::default()
                },
                true,
            ),
            (
                LabelSelector {
                    match_expressions: vec![req("team", SelectorOperator::DoesNotExist, &[])],
                    ..Default::default()
                },
                false,
            ),
        ];
        for (i, (selector, expected)) in cases.iter().enumerate() {
            assert_eq!(selector_matches(selector, &present), *expected, "case {i}");
        }
    }

    #[test]
    fn resource_rules_and_exclusions() {
        let target = MatchTarget {
            group: "serving.knative.dev",
            version: "v1",
            resource: "services",
            name: "svc",
            operation: "CREATE",
            namespaced: true,
            ..Default::default()
        };
        let with = |rules, excludes| MatchResources {
            resource_rules: rules,
            exclude_resource_rules: excludes,
            ..Default::default()
        };
        let knative = rule(
            &["serving.knative.dev"],
            &["services"],
            &["CREATE", "UPDATE"],
        );
        let cases = [
            (with(vec![knative.clone()], vec![]), true, true),
            (with(vec![rule(&["*"], &["*"], &["*"])], vec![]), true, true),
            (
                with(vec![rule(&["apps"], &["services"], &["*"])], vec![]),
                true,
                false,
            ),
            (
                with(
                    vec![rule(&["serving.knative.dev"], &["services"], &["DELETE"])],
                    vec![],
                ),
                true,
                false,
            ),
            (
                with(vec![knative.clone()], vec![knative.clone()]),
                true,
                false,
            ),
            (with(vec![], vec![]), true, false),
            (with(vec![], vec![]), false, true),
            (
                with(
                    vec![NamedRuleWithOperations {
                        resource_names: vec!["other".into()],
                        ..knative.clone()
                    }],
                    vec![],
                ),
                true,
                false,
            ),
        ];
        for (i, (constraints, required, expected)) in cases.iter().enumerate() {
            assert_eq!(
                matches(constraints, &target, *required) == Matched::Yes,
                *expected,
                "case {i}"
            );
        }
    }

    #[test]
    fn namespace_selectors_with_known_and_unknown_labels() {
        use UnknownNamespaces::*;
        let env_test = LabelSelector {
            match_labels: labels(&[("environment", "test")]),
            ..Default::default()
        };
        let not_prod = LabelSelector {
            match_expressions: vec![LabelSelectorRequirement {
                key: "environment".into(),
                operator: SelectorOperator::NotIn,
                values: vec!["prod".into()],
            }],
            ..Default::default()
        };
        let empty = LabelSelector::default();
        let test_labels = Some(labels(&[("environment", "test")]));
        let prod_labels = Some(labels(&[("environment", "prod")]));
        // (selector, namespaced, resource, labels, unknown, expected)
        let cases = [
            (
                Some(&env_test),
                true,
                "services",
                test_labels.clone(),
                Undecided,
                Matched::Yes,
            ),
            (
                Some(&env_test),
                true,
                "services",
                prod_labels.clone(),
                Undecided,
                Matched::No,
            ),
            (
                Some(&env_test),
                true,
                "services",
                None,
                Undecided,
                Matched::Undecided,
            ),
            (
                Some(&env_test),
                true,
                "services",
                None,
                NoMatch,
                Matched::No,
            ),
            (
                Some(&env_test),
                true,
                "services",
                None,
                MatchAll,
                Matched::Yes,
            ),
            // NotIn would match empty labels: unknown labels are still undecided.
            (
                Some(&not_prod),
                true,
                "services",
                None,
                Undecided,
                Matched::Undecided,
            ),
            (
                Some(&not_prod),
                true,
                "services",
                prod_labels.clone(),
                Undecided,
                Matched::No,
            ),
            (
                Some(&empty),
                true,
                "services",
                None,
                Undecided,
                Matched::Yes,
            ),
            (None, true, "services", None, Undecided, Matched::Yes),
            // Cluster-scoped: never skipped by a namespace selector.
            (
                Some(&env_test),
                false,
                "clusterroles",
                None,
                Undecided,
                Matched::Yes,
            ),
            (
                Some(&env_test),
                false,
                "clusterroles",
                prod_labels.clone(),
                NoMatch,
                Matched::Yes,
            ),
            // A Namespace: its own labels.
            (
                Some(&env_test),
                false,
                "namespaces",
                test_labels.clone(),
                Undecided,
                Matched::Yes,
            ),
            (
                Some(&env_test),
                false,
                "namespaces",
                prod_labels.clone(),
                Undecided,
                Matched::No,
            ),
        ];
        for (i, (selector, namespaced, resource, namespace_labels, unknown, expected)) in
            cases.into_iter().enumerate()
        {
            let target = MatchTarget {
                resource,
                operation: "CREATE",
                namespaced,
                namespace_labels: namespace_labels.map(Labels::from),
                unknown_namespaces: unknown,
                ..Default::default()
            };
            let constraints = MatchResources {
                namespace_selector: selector.cloned(),
                ..Default::default()
            };
            assert_eq!(matches(&constraints, &target, false), expected, "case {i}");
        }
        let (no, undecided, yes) = (Matched::No, Matched::Undecided, Matched::Yes);
        assert_eq!(yes.and(undecided), undecided);
        assert_eq!(undecided.and(no), no);
        assert_eq!(yes.and(yes), yes);
    }
}
