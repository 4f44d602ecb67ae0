//! The positioned value tree every manifest and policy is parsed into: YAML and JSON alike.
//!
//! Each node keeps the line and column it was written at, and each mapping entry the position of
//! its key, so that a message can point at the line to change. Scalars keep their source text, so
//! a value written unquoted (a project number in `metadata.namespace`) can still be read as the
//! string the user wrote.

use std::fmt;

/// A position in a source text: 1-based line and column.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mark {
    pub line: u32,
    pub column: u32,
}

impl fmt::Display for Mark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// What a scalar resolved to under the YAML 1.2 core schema.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ScalarKind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str,
}

/// A scalar: its source text (without quotes or escapes) and its resolved kind.
#[derive(Clone, Debug, PartialEq)]
pub struct Scalar {
    pub text: String,
    pub kind: ScalarKind,
}

/// One `key: value` of a mapping. Keys are always strings (Kubernetes objects have no others).
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_mark: Mark,
    pub value: Node,
}

#[derive(Clone, Debug, PartialEq)]
pub enum NodeValue {
    Scalar(Scalar),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// A value and where it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub value: NodeValue,
    pub mark: Mark,
}

impl Default for Node {
    fn default() -> Self {
        Node::null()
    }
}

impl Node {
    pub fn null() -> Node {
        Node::scalar("null", ScalarKind::Null)
    }

    pub fn scalar(text: impl Into<String>, kind: ScalarKind) -> Node {
        Node {
            value: NodeValue::Scalar(Scalar {
                text: text.into(),
                kind,
            }),
            mark: Mark::default(),
        }
    }

    pub fn string(text: impl Into<String>) -> Node {
        Node::scalar(text, ScalarKind::Str)
    }

    /// The entries of a mapping, or `None` for anything else.
    pub fn entries(&self) -> Option<&[Entry]> {
        match &self.value {
            NodeValue::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The entry for `key` of a mapping.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries()?.iter().find(|e| e.key == key)
    }

    /// The value for `key` of a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|e| &e.value)
    }

    /// The items of a sequence.
    pub fn items(&self) -> Option<&[Node]> {
        match &self.value {
            NodeValue::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// The text of a scalar that resolved to a string.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            NodeValue::Scalar(Scalar {
                text,
                kind: ScalarKind::Str,
            }) => Some(text),
            _ => None,
        }
    }

    /// The source text of any scalar, whatever it resolved to (`123456789` as written).
    pub fn scalar_text(&self) -> Option<&str> {
        match &self.value {
            NodeValue::Scalar(s) if s.kind != ScalarKind::Null => Some(&s.text),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(
            &self.value,
            NodeValue::Scalar(Scalar {
                kind: ScalarKind::Null,
                ..
            })
        )
    }

    /// `metadata.labels` of an object (see [`Node::string_map`]).
    pub fn metadata_labels(&self) -> std::collections::BTreeMap<String, String> {
        self.get("metadata")
            .and_then(|m| m.get("labels"))
            .map(Node::string_map)
            .unwrap_or_default()
    }

    /// A mapping of scalars (labels, annotations) as text: non-scalar values are left out; any
    /// other node gives an empty map.
    pub fn string_map(&self) -> std::collections::BTreeMap<String, String> {
        self.entries()
            .map(|entries| {
                entries
                    .iter()
                    .filter_map(|e| Some((e.key.clone(), e.value.scalar_text()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A short name for the node's type, for messages.
    pub fn type_name(&self) -> &'static str {
        match &self.value {
            NodeValue::Scalar(s) => match s.kind {
                ScalarKind::Null => "null",
                ScalarKind::Bool(_) => "bool",
                ScalarKind::Int(_) => "int",
                ScalarKind::Float(_) => "float",
                ScalarKind::Str => "string",
            },
            NodeValue::Seq(_) => "list",
            NodeValue::Map(_) => "map",
        }
    }

    /// Follows `path` (mapping keys, or decimal indexes into sequences) as far as it exists.
    /// Returns how many segments matched and the position of the last one matched: the key's
    /// position for a mapping entry, the item's for a sequence item.
    pub fn deepest<S: AsRef<str>>(&self, path: &[S]) -> (usize, Mark) {
        let mut node = self;
        let mut mark = self.mark;
        for (depth, segment) in path.iter().enumerate() {
            let segment = segment.as_ref();
            let next = match &node.value {
                NodeValue::Map(entries) => entries
                    .iter()
                    .find(|e| e.key == segment)
                    .map(|e| (&e.value, e.key_mark)),
                NodeValue::Seq(items) => segment
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| items.get(i))
                    .map(|n| (n, n.mark)),
                NodeValue::Scalar(_) => None,
            };
            match next {
                Some((n, m)) => {
                    node = n;
                    mark = m;
                }
                None => return (depth, mark),
            }
        }
        (path.len(), mark)
    }

    /// Converts to a JSON value (scalars by their resolved kind).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            NodeValue::Scalar(s) => match s.kind {
                ScalarKind::Null => J::Null,
                ScalarKind::Bool(b) => J::Bool(b),
                ScalarKind::Int(i) => J::from(i),
                ScalarKind::Float(f) => serde_json::Number::from_f64(f)
                    .map(J::Number)
                    .unwrap_or_else(|| J::String(s.text.clone())),
                ScalarKind::Str => J::String(s.text.clone()),
            },
            NodeValue::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            NodeValue::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|e| (e.key.clone(), e.value.to_json()))
                    .collect(),
            ),
        }
    }

    /// Whether the node reads as `json`: the same as `self.to_json() == *json`, without building
    /// the JSON (a parsed map has no duplicate keys; maps are compared key by key, as JSON
    /// objects are).
    pub fn reads_as(&self, json: &serde_json::Value) -> bool {
        use serde_json::Value as J;
        match (&self.value, json) {
            (NodeValue::Scalar(s), J::String(text)) => match s.kind {
                ScalarKind::Str => s.text == *text,
                ScalarKind::Float(f) => !f.is_finite() && s.text == *text,
                _ => false,
            },
            (NodeValue::Scalar(s), _) => match s.kind {
                ScalarKind::Null => json.is_null(),
                ScalarKind::Bool(b) => json.as_bool() == Some(b),
                ScalarKind::Int(i) => json.as_number() == Some(&serde_json::Number::from(i)),
                ScalarKind::Float(f) => {
                    serde_json::Number::from_f64(f).is_some_and(|n| *json == J::Number(n))
                }
                ScalarKind::Str => false,
            },
            (NodeValue::Seq(items), J::Array(values)) => {
                items.len() == values.len() && items.iter().zip(values).all(|(i, v)| i.reads_as(v))
            }
            (NodeValue::Map(entries), J::Object(map)) => {
                entries.len() == map.len()
                    && entries
                        .iter()
                        .all(|e| map.get(&e.key).is_some_and(|v| e.value.reads_as(v)))
            }
            _ => false,
        }
    }

    /// Builds a node from a JSON value (no positions): for values made in code.
    pub fn from_json(value: &serde_json::Value) -> Node {
        use serde_json::Value as J;
        match value {
            J::Null => Node::null(),
            J::Bool(b) => Node::scalar(b.to_string(), ScalarKind::Bool(*b)),
            J::Number(n) => match n.as_i64() {
                Some(i) => Node::scalar(n.to_string(), ScalarKind::Int(i)),
                None => Node::scalar(n.to_string(), ScalarKind::Float(n.as_f64().unwrap_or(0.0))),
            },
            J::String(s) => Node::string(s.clone()),
            J::Array(items) => Node {
                value: NodeValue::Seq(items.iter().map(Node::from_json).collect()),
                mark: Mark::default(),
            },
            J::Object(map) => Node {
                value: NodeValue::Map(
                    map.iter()
                        .map(|(k, v)| Entry {
                            key: k.clone(),
                            key_mark: Mark::default(),
                            value: Node::from_json(v),
                        })
                        .collect(),
                ),
                mark: Mark::default(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deepest_follows_keys_and_indexes() {
        let node = Node::from_json(&json!({"a": {"b": [{"c": 1}]}}));
        let cases: &[(&[&str], usize)] = &[
            (&["a", "b", "0", "c"], 4),
            (&["a", "b", "1", "c"], 2),
            (&["a", "x"], 1),
            (&["z"], 0),
            (&["a", "b", "0", "c", "d"], 4),
        ];
        for (path, depth) in cases {
            assert_eq!(node.deepest(path).0, *depth, "{path:?}");
        }
    }

    #[test]
    fn json_round_trip_keeps_order_and_kinds() {
        let value = json!({"z": 1, "a": [true, null, 1.5, "s"]});
        assert_eq!(Node::from_json(&value).to_json(), value);
        assert_eq!(
            serde_json::to_string(&Node::from_json(&value).to_json()).unwrap(),
            r#"{"z":1,"a":[true,null,1.5,"s"]}"#
        );
    }

    /// `reads_as` says what comparing `to_json` says, for every pair of a table of YAML values
    /// (scalars of each kind and their look-alikes, lists, maps in another order).
    #[test]
    fn reads_as_is_equality_of_the_json() {
        let texts = [
            "null",
            "~",
            "''",
            "true",
            "'true'",
            "false",
            "0",
            "'0'",
            "-1",
            "1",
            "1.0",
            "1.5",
            "-1.5",
            ".inf",
            "-.inf",
            ".nan",
            "'.inf'",
            "a",
            "'a'",
            "18446744073709551615",
            "0x10",
            "16",
            "[]",
            "[1]",
            "['1']",
            "[1, 2]",
            "[2, 1]",
            "{}",
            "{a: 1}",
            "{a: '1'}",
            "{a: 1, b: 2}",
            "{b: 2, a: 1}",
            "{a: 1, c: 2}",
            "{a: [1, {b: null}]}",
            "{a: [1, {b: ~}]}",
            "{a: [1, {b: 0}]}",
            "{items: [1]}",
        ];
        // Those the gate reads (a YAML 1.1 look-alike such as `0x10` is refused).
        let read: Vec<(&str, Node)> = texts
            .iter()
            .filter_map(|t| {
                let documents = crate::manifest::yaml::parse_stream(
                    &format!("v: {t}\n"),
                    &crate::manifest::yaml::Limits::default(),
                )
                .ok()?;
                let root = documents[0].root.clone()?;
                Some((*t, root.get("v")?.clone()))
            })
            .collect();
        assert!(read.len() > 25, "{} read", read.len());
        let mut equal = 0;
        for (text_a, a) in &read {
            for (text_b, b) in &read {
                let json = b.to_json();
                let expected = a.to_json() == json;
                assert_eq!(a.reads_as(&json), expected, "{text_a} against {text_b}");
                equal += usize::from(expected);
            }
        }
        // Each with itself, and the look-alikes that mean the same.
        assert!(equal > read.len(), "{equal}");
    }
}
