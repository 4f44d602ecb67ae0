//! Manifest nodes as the CEL evaluator's [`cel_k8s::Tree`]: documents are read in place.
//!
//! Kubernetes types labels, annotations and `metadata.name`, `namespace` and `generateName` as
//! strings, so a scalar written unquoted there (`namespace: 123456789`, `team: 42`) reads as the
//! text written. Which rule applies follows from where a node sits, so each place is a
//! zero-cost view of the same node ([`RefCast`]): a `metadata` mapping at any depth, a string
//! map inside it, a string field.
//!
//! A document's own `metadata` is what the API server decodes into ObjectMeta before any
//! admission policy sees it: a field written `null` there is absent (`labels: null` is no
//! labels), and a label or annotation written `null` is the empty string. Nested `metadata`
//! (a template's) is read as written.

use crate::manifest::{Node, NodeValue, ScalarKind};
use cel_k8s::value::{ScalarKind as Kind, Tree, TreeScalar, TreeShape};
use ref_cast::RefCast;

/// A node anywhere but inside `metadata`: the root of every document.
#[derive(Debug, RefCast)]
#[repr(transparent)]
pub struct ObjectTree(Node);

/// A `metadata` mapping.
#[derive(Debug, RefCast)]
#[repr(transparent)]
struct MetadataTree(Node);

/// `metadata.labels` or `metadata.annotations`: every value is a string.
#[derive(Debug, RefCast)]
#[repr(transparent)]
struct StringMapTree(Node);

/// A node read as a string wherever it holds a scalar other than null.
#[derive(Debug, RefCast)]
#[repr(transparent)]
struct StringTree(Node);

/// A document's root: its `metadata` is [`RootMetadataTree`].
#[derive(Debug, RefCast)]
#[repr(transparent)]
pub struct RootTree(Node);

/// A document's own `metadata`, as ObjectMeta: fields written `null` are absent.
#[derive(Debug, RefCast)]
#[repr(transparent)]
struct RootMetadataTree(Node);

/// The labels or annotations of a document's own `metadata`: a value written `null` is "".
#[derive(Debug, RefCast)]
#[repr(transparent)]
struct RootStringMapTree(Node);

impl ObjectTree {
    /// The node as a tree the evaluator reads: a document's root (see [`RootTree`]).
    pub fn of(node: &Node) -> &RootTree {
        RootTree::ref_cast(node)
    }
}

fn is_null(node: &Node) -> bool {
    matches!(&node.value, NodeValue::Scalar(s) if matches!(s.kind, ScalarKind::Null))
}

impl Tree for RootTree {
    fn scalar(&self) -> Option<TreeScalar<'_>> {
        ObjectTree::ref_cast(&self.0).scalar()
    }
    fn shape(&self) -> TreeShape<'_> {
        ObjectTree::ref_cast(&self.0).shape()
    }
    fn is_list(&self) -> bool {
        ObjectTree::ref_cast(&self.0).is_list()
    }
    fn is_map(&self) -> bool {
        ObjectTree::ref_cast(&self.0).is_map()
    }
    fn len(&self) -> usize {
        len(&self.0)
    }
    fn item(&self, index: usize) -> Option<&dyn Tree> {
        ObjectTree::ref_cast(&self.0).item(index)
    }
    fn field(&self, key: &str) -> Option<&dyn Tree> {
        let entry = self.0.entry(key)?;
        Some(root_view(key, &entry.value))
    }
    fn entry(&self, index: usize) -> Option<(&str, &dyn Tree)> {
        let entry = self.0.entries()?.get(index)?;
        Some((&entry.key, root_view(&entry.key, &entry.value)))
    }
}

fn root_view<'n>(key: &str, node: &'n Node) -> &'n dyn Tree {
    if key == "metadata" {
        RootMetadataTree::ref_cast(node)
    } else {
        ObjectTree::ref_cast(node)
    }
}

/// The entries of a map that are not `null`.
fn present(node: &Node) -> impl Iterator<Item = &crate::manifest::Entry> {
    node.entries()
        .into_iter()
        .flatten()
        .filter(|e| !is_null(&e.value))
}

impl Tree for RootMetadataTree {
    fn scalar(&self) -> Option<TreeScalar<'_>> {
        scalar(&self.0, false)
    }
    fn shape(&self) -> TreeShape<'_> {
        shape(&self.0, false)
    }
    fn is_list(&self) -> bool {
        matches!(self.0.value, NodeValue::Seq(_))
    }
    fn is_map(&self) -> bool {
        matches!(self.0.value, NodeValue::Map(_))
    }
    fn len(&self) -> usize {
        match &self.0.value {
            NodeValue::Map(_) => present(&self.0).count(),
            _ => len(&self.0),
        }
    }
    fn item(&self, index: usize) -> Option<&dyn Tree> {
        MetadataTree::ref_cast(&self.0).item(index)
    }
    fn field(&self, key: &str) -> Option<&dyn Tree> {
        let entry = self.0.entry(key)?;
        (!is_null(&entry.value)).then(|| root_metadata_view(key, &entry.value))
    }
    fn entry(&self, index: usize) -> Option<(&str, &dyn Tree)> {
        let entry = present(&self.0).nth(index)?;
        Some((&entry.key, root_metadata_view(&entry.key, &entry.value)))
    }
}

fn root_metadata_view<'n>(key: &str, node: &'n Node) -> &'n dyn Tree {
    match key {
        "labels" | "annotations" => RootStringMapTree::ref_cast(node),
        _ => MetadataTree::ref_cast(node).field_view(key, node),
    }
}

impl MetadataTree {
    /// The view of one of its fields (as `field` gives it).
    fn field_view<'n>(&self, key: &str, node: &'n Node) -> &'n dyn Tree {
        view_as(
            match key {
                "name" | "namespace" | "generateName" => View::String,
                "metadata" => View::Metadata,
                _ => View::Object,
            },
            node,
        )
    }
}

impl Tree for RootStringMapTree {
    fn scalar(&self) -> Option<TreeScalar<'_>> {
        scalar(&self.0, false)
    }
    fn shape(&self) -> TreeShape<'_> {
        shape(&self.0, false)
    }
    fn is_list(&self) -> bool {
        matches!(self.0.value, NodeValue::Seq(_))
    }
    fn is_map(&self) -> bool {
        matches!(self.0.value, NodeValue::Map(_))
    }
    fn len(&self) -> usize {
        len(&self.0)
    }
    fn item(&self, index: usize) -> Option<&dyn Tree> {
        StringMapTree::ref_cast(&self.0).item(index)
    }
    fn field(&self, key: &str) -> Option<&dyn Tree> {
        let entry = self.0.entry(key)?;
        Some(string_or_empty(&entry.value))
    }
    fn entry(&self, index: usize) -> Option<(&str, &dyn Tree)> {
        let entry = self.0.entries()?.get(index)?;
        Some((&entry.key, string_or_empty(&entry.value)))
    }
}

/// A label or annotation value: `null` reads as "".
#[derive(Debug, RefCast)]
#[repr(transparent)]
struct EmptyStringTree(Node);

fn string_or_empty(node: &Node) -> &dyn Tree {
    if is_null(node) {
        EmptyStringTree::ref_cast(node)
    } else {
        StringTree::ref_cast(node)
    }
}

impl Tree for EmptyStringTree {
    fn scalar(&self) -> Option<TreeScalar<'_>> {
        Some(TreeScalar {
            kind: Kind::Str,
            text: "",
        })
    }
    fn is_list(&self) -> bool {
        false
    }
    fn is_map(&self) -> bool {
        false
    }
    fn len(&self) -> usize {
        0
    }
    fn item(&self, _index: usize) -> Option<&dyn Tree> {
        None
    }
    fn field(&self, _key: &str) -> Option<&dyn Tree> {
        None
    }
    fn entry(&self, _index: usize) -> Option<(&str, &dyn Tree)> {
        None
    }
}

fn scalar(node: &Node, as_string: bool) -> Option<TreeScalar<'_>> {
    let NodeValue::Scalar(s) = &node.value else {
        return None;
    };
    let kind = match s.kind {
        ScalarKind::Null => Kind::Null,
        _ if as_string => Kind::Str,
        ScalarKind::Bool(b) => Kind::Bool(b),
        ScalarKind::Int(i) => Kind::Int(i),
        ScalarKind::Float(f) => Kind::Double(f),
        ScalarKind::Str => Kind::Str,
    };
    Some(TreeScalar {
        kind,
        text: &s.text,
    })
}

/// What a node is, its scalar read as [`scalar`] reads it.
fn shape(node: &Node, as_string: bool) -> TreeShape<'_> {
    match &node.value {
        NodeValue::Scalar(_) => scalar(node, as_string).map_or(TreeShape::Map, TreeShape::Scalar),
        NodeValue::Seq(_) => TreeShape::List,
        NodeValue::Map(_) => TreeShape::Map,
    }
}

fn len(node: &Node) -> usize {
    match &node.value {
        NodeValue::Scalar(_) => 0,
        NodeValue::Seq(items) => items.len(),
        NodeValue::Map(entries) => entries.len(),
    }
}

/// The views of a node's children: items of a list keep the parent's view (`ObjectTree`), map
/// values take the one their key gives.
macro_rules! tree {
    ($view:ident, as_string: $as_string:expr, item: $item:ident, field: |$key:ident| $field:expr) => {
        impl Tree for $view {
            fn scalar(&self) -> Option<TreeScalar<'_>> {
                scalar(&self.0, $as_string)
            }
            fn shape(&self) -> TreeShape<'_> {
                shape(&self.0, $as_string)
            }
            fn is_list(&self) -> bool {
                matches!(self.0.value, NodeValue::Seq(_))
            }
            fn is_map(&self) -> bool {
                matches!(self.0.value, NodeValue::Map(_))
            }
            fn len(&self) -> usize {
                len(&self.0)
            }
            fn item(&self, index: usize) -> Option<&dyn Tree> {
                let item = self.0.items()?.get(index)?;
                Some($item::ref_cast(item))
            }
            fn field(&self, key: &str) -> Option<&dyn Tree> {
                let entry = self.0.entry(key)?;
                let $key = key;
                Some(view_as($field, &entry.value))
            }
            fn entry(&self, index: usize) -> Option<(&str, &dyn Tree)> {
                let entry = self.0.entries()?.get(index)?;
                let $key = entry.key.as_str();
                Some((&entry.key, view_as($field, &entry.value)))
            }
        }
    };
}

/// Which view a map value takes.
#[derive(Clone, Copy)]
enum View {
    Object,
    Metadata,
    StringMap,
    String,
}

fn view_as(view: View, node: &Node) -> &dyn Tree {
    match view {
        View::Object => ObjectTree::ref_cast(node),
        View::Metadata => MetadataTree::ref_cast(node),
        View::StringMap => StringMapTree::ref_cast(node),
        View::String => StringTree::ref_cast(node),
    }
}

tree!(ObjectTree, as_string: false, item: ObjectTree, field: |key| if key == "metadata" {
    View::Metadata
} else {
    View::Object
});
tree!(MetadataTree, as_string: false, item: ObjectTree, field: |key| match key {
    "labels" | "annotations" => View::StringMap,
    "name" | "namespace" | "generateName" => View::String,
    "metadata" => View::Metadata,
    _ => View::Object,
});
tree!(StringMapTree, as_string: false, item: ObjectTree, field: |_key| View::String);
tree!(StringTree, as_string: true, item: ObjectTree, field: |key| if key == "metadata" {
    View::Metadata
} else {
    View::Object
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{parse_documents, ReadLimits};
    use cel_k8s::value::ScalarKind as K;

    fn kind_at(tree: &dyn Tree, path: &[&str]) -> Option<(K, String)> {
        let mut at = tree;
        for step in path {
            at = match step.parse::<usize>() {
                Ok(i) => at.item(i)?,
                Err(_) => at.field(step)?,
            };
        }
        at.scalar().map(|s| (s.kind, s.text.to_owned()))
    }

    #[test]
    fn metadata_strings_read_as_written_and_other_scalars_keep_their_kind() {
        let text = "apiVersion: v1\nkind: X\nmetadata:\n  namespace: 123\n  labels: {k: 12, b: true, z: null}\nspec:\n  k: 12\n  b: true\n  l: [1, x]\n  template:\n    metadata:\n      name: 7\n      annotations: {a: 1.5}\n";
        let root = &parse_documents(text, &ReadLimits::default()).unwrap()[0].root;
        let tree = ObjectTree::of(root);
        type Case<'c> = (&'c [&'c str], Option<(K, &'c str)>);
        let cases: &[Case] = &[
            (&["metadata", "namespace"], Some((K::Str, "123"))),
            (&["metadata", "labels", "k"], Some((K::Str, "12"))),
            (&["metadata", "labels", "b"], Some((K::Str, "true"))),
            (&["metadata", "labels", "z"], Some((K::Str, ""))),
            (&["spec", "k"], Some((K::Int(12), "12"))),
            (&["spec", "b"], Some((K::Bool(true), "true"))),
            (&["spec", "l", "0"], Some((K::Int(1), "1"))),
            (&["spec", "l", "1"], Some((K::Str, "x"))),
            (
                &["spec", "template", "metadata", "name"],
                Some((K::Str, "7")),
            ),
            (
                &["spec", "template", "metadata", "annotations", "a"],
                Some((K::Str, "1.5")),
            ),
            (&["spec", "missing"], None),
            (&["metadata"], None),
        ];
        for (path, expected) in cases {
            let got = kind_at(tree, path);
            let expected = expected.map(|(k, t)| (k, t.to_owned()));
            assert_eq!(got, expected, "{path:?}");
        }
        assert!(tree.field("metadata").unwrap().is_map());
        assert!(tree.field("spec").unwrap().field("l").unwrap().is_list());
        assert_eq!(tree.field("spec").unwrap().len(), 4);
        let (key, value) = tree.entry(1).unwrap();
        assert_eq!((key, value.scalar().map(|s| s.text)), ("kind", Some("X")));
    }

    #[test]
    fn a_documents_own_metadata_reads_as_object_meta_and_nested_metadata_as_written() {
        let text = "apiVersion: v1\nkind: X\nmetadata:\n  name: x\n  labels: null\n  annotations: {a: null, b: '1'}\n  generateName: ~\nspec:\n  template:\n    metadata:\n      labels: null\n      annotations: {a: null}\n";
        let root = &parse_documents(text, &ReadLimits::default()).unwrap()[0].root;
        let tree = ObjectTree::of(root);
        let metadata = tree.field("metadata").unwrap();
        assert!(
            metadata.field("labels").is_none(),
            "labels: null is no labels"
        );
        assert!(metadata.field("generateName").is_none());
        assert_eq!(metadata.len(), 2, "name and annotations");
        let keys: Vec<&str> = (0..metadata.len())
            .map(|i| metadata.entry(i).unwrap().0)
            .collect();
        assert_eq!(keys, ["name", "annotations"]);
        assert_eq!(
            kind_at(tree, &["metadata", "annotations", "a"]),
            Some((K::Str, String::new()))
        );
        assert_eq!(
            kind_at(tree, &["metadata", "annotations", "b"]),
            Some((K::Str, "1".to_owned()))
        );
        assert_eq!(
            kind_at(tree, &["spec", "template", "metadata", "labels"]),
            Some((K::Null, "null".to_owned()))
        );
        assert_eq!(
            kind_at(tree, &["spec", "template", "metadata", "annotations", "a"]),
            Some((K::Null, "null".to_owned()))
        );
    }
}
