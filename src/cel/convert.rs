//! Positioned manifest nodes into CEL values, built once per document and shared by every
//! policy. Labels, annotations, `metadata.name` and `metadata.namespace` are strings in
//! Kubernetes, so a scalar written unquoted there (`namespace: 123456789`) is given to CEL as the
//! text written.

use crate::manifest::{Node, NodeValue, ScalarKind};
use cel::objects::{Key, Map};
use cel::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// Converts a node to a CEL value.
pub fn to_cel(node: &Node) -> Value {
    convert(node, Place::Other)
}

#[derive(Clone, Copy, PartialEq)]
enum Place {
    Other,
    /// Inside a `metadata` mapping.
    Metadata,
    /// A map of strings: labels or annotations.
    StringMap,
    /// A string field: name, namespace.
    StringField,
}

fn convert(node: &Node, place: Place) -> Value {
    match &node.value {
        NodeValue::Scalar(s) => match (place, s.kind) {
            (Place::StringMap | Place::StringField, kind) if kind != ScalarKind::Null => {
                Value::String(Arc::new(s.text.clone()))
            }
            (_, ScalarKind::Null) => Value::Null,
            (_, ScalarKind::Bool(b)) => Value::Bool(b),
            (_, ScalarKind::Int(i)) => Value::Int(i),
            (_, ScalarKind::Float(f)) => Value::Float(f),
            (_, ScalarKind::Str) => Value::String(Arc::new(s.text.clone())),
        },
        NodeValue::Seq(items) => Value::List(Arc::new(
            items.iter().map(|i| convert(i, Place::Other)).collect(),
        )),
        NodeValue::Map(entries) => {
            let mut map = HashMap::with_capacity(entries.len());
            for entry in entries {
                let child = match (place, entry.key.as_str()) {
                    (Place::StringMap, _) => Place::StringField,
                    (_, "metadata") => Place::Metadata,
                    (Place::Metadata, "labels" | "annotations") => Place::StringMap,
                    (Place::Metadata, "name" | "namespace" | "generateName") => Place::StringField,
                    _ => Place::Other,
                };
                map.insert(
                    Key::String(Arc::new(entry.key.clone())),
                    convert(&entry.value, child),
                );
            }
            Value::Map(Map { map: Arc::new(map) })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{parse_documents, ReadLimits};

    #[test]
    fn metadata_strings_keep_their_text() {
        let text = "apiVersion: v1\nkind: X\nmetadata:\n  namespace: 0123\n  labels: {n: 12, b: true}\nspec: {n: 12, b: true}\n";
        let root = &parse_documents(text, &ReadLimits::default()).unwrap()[0].root;
        let value = to_cel(root);
        let Value::Map(map) = value else { panic!() };
        let get = |m: &Map, k: &str| {
            m.map
                .get(&Key::String(Arc::new(k.into())))
                .cloned()
                .unwrap()
        };
        let Value::Map(metadata) = get(&map, "metadata") else {
            panic!()
        };
        assert_eq!(get(&metadata, "namespace"), Value::from("0123"));
        let Value::Map(labels) = get(&metadata, "labels") else {
            panic!()
        };
        assert_eq!(get(&labels, "n"), Value::from("12"));
        assert_eq!(get(&labels, "b"), Value::from("true"));
        let Value::Map(spec) = get(&map, "spec") else {
            panic!()
        };
        assert_eq!(get(&spec, "n"), Value::Int(12));
        assert_eq!(get(&spec, "b"), Value::Bool(true));
    }
}
