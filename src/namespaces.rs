//! The namespaces a user told about without a `kind: Namespace` document: labels given as
//! `--namespace-labels NS=key=value,...`, turned into the Namespace objects that a binding's
//! `namespaceSelector` and the `namespaceObject` variable see; and what a selector does for a
//! namespace nobody told about ([`UnknownNamespaces`]). Pure.

use crate::manifest::Node;
use crate::policy::matching::UnknownNamespaces;
use std::collections::BTreeMap;

/// Namespaces given by their labels, and the rule for the others.
#[derive(Debug, Clone, Default)]
pub struct KnownNamespaces {
    objects: BTreeMap<String, Node>,
    /// What a namespace selector does for a namespace whose labels are not known.
    pub unknown: UnknownNamespaces,
}

/// A `--namespace-labels` value that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NamespaceLabelsError {
    #[error("{0:?}: expected NAMESPACE=KEY=VALUE[,KEY=VALUE...] (or NAMESPACE= for no labels)")]
    Syntax(String),
    #[error("{given:?}: label {key:?} of namespace {namespace:?} is given twice, as {first:?} and {second:?}")]
    Conflict {
        given: String,
        namespace: String,
        key: String,
        first: String,
        second: String,
    },
}

/// Reads `NAMESPACE=KEY=VALUE,KEY2=VALUE2` (`NAMESPACE=` for a namespace without labels).
pub fn parse_namespace_labels(
    text: &str,
) -> Result<(String, BTreeMap<String, String>), NamespaceLabelsError> {
    let syntax = || NamespaceLabelsError::Syntax(text.to_owned());
    let (namespace, pairs) = text.split_once('=').ok_or_else(syntax)?;
    if namespace.trim().is_empty() {
        return Err(syntax());
    }
    let mut labels = BTreeMap::new();
    for pair in pairs.split(',').filter(|p| !p.trim().is_empty()) {
        let (key, value) = pair.split_once('=').ok_or_else(syntax)?;
        let (key, value) = (key.trim(), value.trim());
        if key.is_empty() {
            return Err(syntax());
        }
        if let Some(first) = labels.insert(key.to_owned(), value.to_owned()) {
            if first != value {
                return Err(NamespaceLabelsError::Conflict {
                    given: text.to_owned(),
                    namespace: namespace.trim().to_owned(),
                    key: key.to_owned(),
                    first,
                    second: value.to_owned(),
                });
            }
        }
    }
    Ok((namespace.trim().to_owned(), labels))
}

impl KnownNamespaces {
    /// From `--namespace-labels` values (a namespace given twice has the labels of both; the
    /// same label with two values is an error) and the rule for the others.
    pub fn parse(
        given: &[String],
        unknown: UnknownNamespaces,
    ) -> Result<Self, NamespaceLabelsError> {
        let mut all: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for text in given {
            let (namespace, labels) = parse_namespace_labels(text)?;
            let known = all.entry(namespace.clone()).or_default();
            for (key, value) in labels {
                if let Some(first) = known.insert(key.clone(), value.clone()) {
                    if first != value {
                        return Err(NamespaceLabelsError::Conflict {
                            given: text.clone(),
                            namespace,
                            key,
                            first,
                            second: value,
                        });
                    }
                }
            }
        }
        let objects = all
            .into_iter()
            .map(|(name, labels)| {
                let object = serde_json::json!({
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {"name": name, "labels": labels},
                });
                (name, Node::from_json(&object))
            })
            .collect();
        Ok(KnownNamespaces { objects, unknown })
    }

    /// The Namespace object made from the labels given for `name`.
    pub fn object(&self, name: &str) -> Option<&Node> {
        self.objects.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_labels_syntax() {
        let labels = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        let ok = |ns: &str, pairs: &[(&str, &str)]| Ok((ns.to_owned(), labels(pairs)));
        let syntax = |t: &str| Err(NamespaceLabelsError::Syntax(t.to_owned()));
        let cases = [
            (
                "demo=environment=test",
                ok("demo", &[("environment", "test")]),
            ),
            (
                "demo=environment=test,team=a",
                ok("demo", &[("environment", "test"), ("team", "a")]),
            ),
            ("demo=", ok("demo", &[])),
            ("demo=k=", ok("demo", &[("k", "")])),
            ("demo=k=a=b", ok("demo", &[("k", "a=b")])),
            ("demo", syntax("demo")),
            ("=k=v", syntax("=k=v")),
            ("demo=k", syntax("demo=k")),
            ("demo==v", syntax("demo==v")),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_namespace_labels(text), expected, "{text}");
        }
        assert!(matches!(
            parse_namespace_labels("demo=k=a,k=b"),
            Err(NamespaceLabelsError::Conflict { .. })
        ));
    }

    #[test]
    fn given_labels_become_namespace_objects() {
        let known = KnownNamespaces::parse(
            &["demo=environment=test".into(), "demo=team=a".into()],
            UnknownNamespaces::NoMatch,
        )
        .unwrap();
        let demo = known.object("demo").unwrap();
        assert_eq!(
            demo.metadata_labels(),
            [("environment", "test"), ("team", "a")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        );
        assert!(known.object("other").is_none());
        assert!(KnownNamespaces::parse(
            &["demo=k=a".into(), "demo=k=b".into()],
            UnknownNamespaces::Undecided
        )
        .is_err());
    }
}
