//! Which requests a policy's `matchConstraints` and a binding's `matchResources` select, with the
//! Kubernetes semantics: resource rules (groups, versions, resources, operations, names, scope),
//! exclusions, and namespace and object label selectors.

use super::types::{LabelSelector, MatchResources, NamedRuleWithOperations, SelectorOperator};
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
    pub object_labels: BTreeMap<String, String>,
    pub namespace_labels: BTreeMap<String, String>,
}

/// Whether the resources selected by `constraints` include the target. With `required_rules`
/// (a policy's matchConstraints), no resource rule means nothing matches; for a binding's
/// matchResources it means everything the policy matches.
pub fn matches(constraints: &MatchResources, target: &MatchTarget, required_rules: bool) -> bool {
    let included = if constraints.resource_rules.is_empty() {
        !required_rules
    } else {
        constraints
            .resource_rules
            .iter()
            .any(|r| rule_matches(r, target))
    };
    included
        && !constraints
            .exclude_resource_rules
            .iter()
            .any(|r| rule_matches(r, target))
        && (!target.namespaced
            || constraints
                .namespace_selector
                .as_ref()
                .is_none_or(|s| selector_matches(s, &target.namespace_labels)))
        && constraints
            .object_selector
            .as_ref()
            .is_none_or(|s| selector_matches(s, &target.object_labels))
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
                matches(constraints, &target, *required),
                *expected,
                "case {i}"
            );
        }
    }
}
