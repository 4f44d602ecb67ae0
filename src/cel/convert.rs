//! Positioned manifest nodes into CEL values, built once per document and shared by every
//! policy and every expression.
//!
//! Maps and lists are the `cel` crate's own types behind an `Arc` ([`SharedMap`],
//! [`SharedList`]): the evaluator sees built-in maps and lists (every function works on them),
//! while handing one out of an expression, or keeping it in a variable, copies a pointer instead
//! of the subtree. Labels, annotations, `metadata.name` and `metadata.namespace` are strings in
//! Kubernetes, so a scalar written unquoted there (`namespace: 123456789`) is the text written.

use crate::manifest::{Node, NodeValue, ScalarKind};
use cel::common::traits::{Adder, Container, Indexer, Iterable, Sizer, Zeroer};
use cel::common::types::{
    CelBool, CelDouble, CelInt, CelList, CelMap, CelMapKey, CelNull, CelString, Type, LIST_TYPE,
    MAP_TYPE,
};
use cel::common::value::{Builtin, BuiltinRef, CowVal, Val};
use cel::ExecutionError;
use std::collections::HashMap;
use std::sync::Arc;

/// A value shared between scopes, expressions and variables.
pub type Shared = Arc<dyn Val>;

/// Converts a node to a CEL value.
pub fn to_val(node: &Node) -> Box<dyn Val> {
    convert(node, Place::Other)
}

/// A CEL string.
pub fn string_val(text: &str) -> Box<dyn Val> {
    Box::new(CelString::from(text.to_owned()))
}

/// A CEL map with string keys.
pub fn map_val(entries: Vec<(&str, Box<dyn Val>)>) -> Box<dyn Val> {
    let map: HashMap<CelMapKey<'static>, Box<dyn Val>> = entries
        .into_iter()
        .map(|(k, v)| (CelMapKey::from(k.to_owned()), v))
        .collect();
    Box::new(SharedMap(Arc::new(CelMap::from(map))))
}

/// A CEL list.
pub fn list_val(items: Vec<Box<dyn Val>>) -> Box<dyn Val> {
    Box::new(SharedList(Arc::new(CelList::from(items))))
}

/// CEL `null`.
pub fn null_val() -> Box<dyn Val> {
    Box::new(CelNull)
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

fn convert(node: &Node, place: Place) -> Box<dyn Val> {
    match &node.value {
        NodeValue::Scalar(s) => match (place, s.kind) {
            (Place::StringMap | Place::StringField, kind) if kind != ScalarKind::Null => {
                string_val(&s.text)
            }
            (_, ScalarKind::Null) => null_val(),
            (_, ScalarKind::Bool(b)) => Box::new(CelBool::from(b)),
            (_, ScalarKind::Int(i)) => Box::new(CelInt::from(i)),
            (_, ScalarKind::Float(f)) => Box::new(CelDouble::from(f)),
            (_, ScalarKind::Str) => string_val(&s.text),
        },
        NodeValue::Seq(items) => list_val(items.iter().map(|i| convert(i, Place::Other)).collect()),
        NodeValue::Map(entries) => {
            let mut map: HashMap<CelMapKey<'static>, Box<dyn Val>> =
                HashMap::with_capacity(entries.len());
            for entry in entries {
                let child = match (place, entry.key.as_str()) {
                    (Place::StringMap, _) => Place::StringField,
                    (_, "metadata") => Place::Metadata,
                    (Place::Metadata, "labels" | "annotations") => Place::StringMap,
                    (Place::Metadata, "name" | "namespace" | "generateName") => Place::StringField,
                    _ => Place::Other,
                };
                map.insert(
                    CelMapKey::from(entry.key.clone()),
                    convert(&entry.value, child),
                );
            }
            Box::new(SharedMap(Arc::new(CelMap::from(map))))
        }
    }
}

/// Delegates `Val` to a built-in container behind an `Arc`: copies share the container.
macro_rules! shared_container {
    ($name:ident, $inner:ident, $variant:ident, $ty:ident) => {
        #[derive(Debug, Clone)]
        pub struct $name(pub Arc<$inner<'static>>);

        impl Val for $name {
            fn get_type(&self) -> &Type {
                &$ty
            }

            fn cel_type() -> &'static Type {
                &$ty
            }

            fn as_adder<'b, 'w>(&'b self) -> Option<&'b (dyn Adder + 'w)>
            where
                Self: 'w,
            {
                self.0.as_adder()
            }

            fn as_container(&self) -> Option<&dyn Container> {
                self.0.as_container()
            }

            fn as_indexer<'b, 'w>(&'b self) -> Option<&'b (dyn Indexer + 'w)>
            where
                Self: 'w,
            {
                self.0.as_indexer()
            }

            fn into_indexer<'w>(self: Box<Self>) -> Option<Box<dyn Indexer + 'w>>
            where
                Self: 'w,
            {
                Some(self)
            }

            fn as_iterable<'b, 'w>(&'b self) -> Option<&'b (dyn Iterable + 'w)>
            where
                Self: 'w,
            {
                self.0.as_iterable()
            }

            fn as_sizer(&self) -> Option<&dyn Sizer> {
                self.0.as_sizer()
            }

            fn as_zeroer(&self) -> Option<&dyn Zeroer> {
                self.0.as_zeroer()
            }

            fn equals(&self, other: &dyn Val) -> bool {
                self.0.equals(other)
            }

            fn clone_as_boxed<'w>(&self) -> Box<dyn Val + 'w>
            where
                Self: 'w,
            {
                Box::new(self.clone())
            }

            fn as_builtin<'b, 'w>(&'b self) -> BuiltinRef<'b, 'w>
            where
                Self: 'w,
            {
                BuiltinRef::$variant(&*self.0)
            }

            /// Lets the cost meter tell a shared container (1 unit to copy) from a built one.
            fn as_any(&self) -> Option<&dyn std::any::Any> {
                Some(self)
            }

            fn into_builtin<'w>(self: Box<Self>) -> Option<Builtin<'w>>
            where
                Self: 'w,
            {
                Some(Builtin::$variant(
                    Arc::try_unwrap(self.0).unwrap_or_else(|shared| (*shared).clone()),
                ))
            }
        }

        impl cel::common::value::StaticVal for $name {}

        impl Indexer for $name {
            fn get<'b, 'w>(&'b self, idx: &dyn Val) -> Result<CowVal<'b, 'w>, ExecutionError>
            where
                Self: 'w,
            {
                Indexer::get(&*self.0, idx)
            }

            fn steal<'w>(
                self: Box<Self>,
                idx: &dyn Val,
            ) -> Result<Box<dyn Val + 'w>, ExecutionError>
            where
                Self: 'w,
            {
                let value = Indexer::get(&*self.0, idx).map(CowVal::into_owned);
                value
            }
        }
    };
}

shared_container!(SharedMap, CelMap, Map, MAP_TYPE);
shared_container!(SharedList, CelList, List, LIST_TYPE);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{parse_documents, ReadLimits};
    use cel::Value;

    #[test]
    fn metadata_strings_keep_their_text() {
        let text = "apiVersion: v1\nkind: X\nmetadata:\n  namespace: 123\n  labels: {k: 12, b: true}\nspec: {k: 12, b: true, l: [1, x]}\n";
        let root = &parse_documents(text, &ReadLimits::default()).unwrap()[0].root;
        let value = Value::try_from(&*to_val(root)).unwrap();
        let expected = serde_json::json!({
            "apiVersion": "v1", "kind": "X",
            "metadata": {"namespace": "123", "labels": {"k": "12", "b": "true"}},
            "spec": {"k": 12, "b": true, "l": [1, "x"]}
        });
        assert_eq!(value.json().unwrap(), expected);
    }
}
