//! `request` as expressions read it (`request.operation`, `request.userInfo.username`, ...):
//! a view of the [`Request`] itself, read in place like the documents, so that no value is
//! built per request. Its fields, in order, are those of Kubernetes' `AdmissionRequest` that
//! the gate knows: `uid`, `kind`, `resource`, `requestKind`, `requestResource`, `name`,
//! `namespace`, `operation`, `userInfo` (`username`, `groups`), `dryRun` and `options` (null).

use super::Request;
use cel_k8s::value::{ScalarKind, Tree, TreeScalar};
use ref_cast::RefCast;

/// `request`: the root of the view.
#[derive(Debug, Clone, Copy)]
pub struct RequestTree<'a>(&'a Request<'a>);

impl<'a> RequestTree<'a> {
    /// The view of a request.
    pub fn of(request: &'a Request<'a>) -> RequestTree<'a> {
        RequestTree(request)
    }
}

/// `request.kind` and `request.requestKind`: group, version, kind.
#[derive(Debug, RefCast)]
#[repr(transparent)]
struct KindTree<'a>(Request<'a>);

/// `request.resource` and `request.requestResource`: group, version, resource.
#[derive(Debug, RefCast)]
#[repr(transparent)]
struct ResourceTree<'a>(Request<'a>);

/// `request.userInfo`: username, groups.
#[derive(Debug, RefCast)]
#[repr(transparent)]
struct UserInfoTree<'a>(Request<'a>);

/// `request.userInfo.groups`.
#[derive(Debug, RefCast)]
#[repr(transparent)]
struct GroupsTree<'a>(Request<'a>);

/// A string field.
#[derive(Debug, RefCast)]
#[repr(transparent)]
struct StringTree(String);

/// `dryRun` and `options`.
#[derive(Debug)]
enum ScalarTree {
    Null,
    Bool(bool),
}

static NULL: ScalarTree = ScalarTree::Null;
static TRUE: ScalarTree = ScalarTree::Bool(true);
static FALSE: ScalarTree = ScalarTree::Bool(false);

const REQUEST_FIELDS: [&str; 11] = [
    "uid",
    "kind",
    "resource",
    "requestKind",
    "requestResource",
    "name",
    "namespace",
    "operation",
    "userInfo",
    "dryRun",
    "options",
];
const KIND_FIELDS: [&str; 3] = ["group", "version", "kind"];
const RESOURCE_FIELDS: [&str; 3] = ["group", "version", "resource"];
const USER_INFO_FIELDS: [&str; 2] = ["username", "groups"];

fn text(s: &String) -> &dyn Tree {
    StringTree::ref_cast(s)
}

/// The map trees: their keys in order, and the value under each.
macro_rules! map_tree {
    ($view:ty, $keys:expr, |$request:ident, $key:ident| $value:expr) => {
        impl Tree for $view {
            fn scalar(&self) -> Option<TreeScalar<'_>> {
                None
            }
            fn is_list(&self) -> bool {
                false
            }
            fn is_map(&self) -> bool {
                true
            }
            fn len(&self) -> usize {
                $keys.len()
            }
            fn item(&self, _index: usize) -> Option<&dyn Tree> {
                None
            }
            fn field(&self, $key: &str) -> Option<&dyn Tree> {
                let $request = self.request();
                $value
            }
            fn entry(&self, index: usize) -> Option<(&str, &dyn Tree)> {
                let key = *$keys.get(index)?;
                Some((key, self.field(key)?))
            }
        }
    };
}

trait OfRequest {
    fn request(&self) -> &Request<'_>;
}

impl OfRequest for RequestTree<'_> {
    fn request(&self) -> &Request<'_> {
        self.0
    }
}

macro_rules! of_request {
    ($($view:ident),*) => {
        $(impl OfRequest for $view<'_> {
            fn request(&self) -> &Request<'_> {
                &self.0
            }
        })*
    };
}
of_request!(KindTree, ResourceTree, UserInfoTree, GroupsTree);

map_tree!(RequestTree<'_>, REQUEST_FIELDS, |r, key| Some(match key {
    "uid" => text(&r.uid),
    "kind" | "requestKind" => KindTree::ref_cast(r),
    "resource" | "requestResource" => ResourceTree::ref_cast(r),
    "name" => text(&r.name),
    "namespace" => text(&r.namespace),
    "operation" => text(&r.operation),
    "userInfo" => UserInfoTree::ref_cast(r),
    "dryRun" if r.dry_run => &TRUE,
    "dryRun" => &FALSE,
    "options" => &NULL,
    _ => return None,
}));
map_tree!(KindTree<'_>, KIND_FIELDS, |r, key| Some(match key {
    "group" => text(&r.group),
    "version" => text(&r.version),
    "kind" => text(&r.kind),
    _ => return None,
}));
map_tree!(ResourceTree<'_>, RESOURCE_FIELDS, |r, key| Some(
    match key {
        "group" => text(&r.group),
        "version" => text(&r.version),
        "resource" => text(&r.resource),
        _ => return None,
    }
));
map_tree!(UserInfoTree<'_>, USER_INFO_FIELDS, |r, key| Some(
    match key {
        "username" => text(&r.username),
        "groups" => GroupsTree::ref_cast(r),
        _ => return None,
    }
));

impl Tree for GroupsTree<'_> {
    fn scalar(&self) -> Option<TreeScalar<'_>> {
        None
    }
    fn is_list(&self) -> bool {
        true
    }
    fn is_map(&self) -> bool {
        false
    }
    fn len(&self) -> usize {
        self.0.groups.len()
    }
    fn item(&self, index: usize) -> Option<&dyn Tree> {
        self.0.groups.get(index).map(text)
    }
    fn field(&self, _key: &str) -> Option<&dyn Tree> {
        None
    }
    fn entry(&self, _index: usize) -> Option<(&str, &dyn Tree)> {
        None
    }
}

/// The scalar trees: no children.
macro_rules! leaf_tree {
    ($view:ty, |$this:ident| $scalar:expr) => {
        impl Tree for $view {
            fn scalar(&self) -> Option<TreeScalar<'_>> {
                let $this = self;
                Some($scalar)
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
    };
}

leaf_tree!(StringTree, |s| TreeScalar {
    kind: ScalarKind::Str,
    text: &s.0,
});
leaf_tree!(ScalarTree, |s| TreeScalar {
    kind: match s {
        ScalarTree::Null => ScalarKind::Null,
        ScalarTree::Bool(b) => ScalarKind::Bool(*b),
    },
    text: "",
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{parse_documents, ReadLimits};

    /// The view reads as the JSON the engine built before it, field for field and in order.
    #[test]
    fn the_view_reads_as_the_json_of_the_request() {
        let text = "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {name: a, namespace: b}\n";
        let documents = parse_documents(text, &ReadLimits::default()).unwrap();
        let mut request = Request::create(&documents[0]);
        request.username = "alice".into();
        request.groups = vec!["system:authenticated".into(), "devs".into()];
        request.uid = "u-1".into();
        for dry_run in [false, true] {
            request.dry_run = dry_run;
            let gvk = serde_json::json!({
                "group": request.group, "version": request.version, "kind": request.kind,
            });
            let gvr = serde_json::json!({
                "group": request.group, "version": request.version, "resource": request.resource,
            });
            let expected = serde_json::json!({
                "uid": request.uid,
                "kind": gvk,
                "resource": gvr,
                "requestKind": gvk,
                "requestResource": gvr,
                "name": request.name,
                "namespace": request.namespace,
                "operation": request.operation,
                "userInfo": {"username": request.username, "groups": request.groups},
                "dryRun": request.dry_run,
                "options": null,
            });
            let got = to_json(&RequestTree::of(&request));
            assert_eq!(got.to_string(), expected.to_string());
            assert!(RequestTree::of(&request).field("missing").is_none());
        }
    }

    /// A tree as JSON, through the trait alone (map entries in order).
    fn to_json(tree: &dyn Tree) -> serde_json::Value {
        if let Some(scalar) = tree.scalar() {
            return match scalar.kind {
                ScalarKind::Null => serde_json::Value::Null,
                ScalarKind::Bool(b) => b.into(),
                ScalarKind::Int(i) => i.into(),
                ScalarKind::Double(d) => d.into(),
                ScalarKind::Str => scalar.text.into(),
            };
        }
        if tree.is_list() {
            assert!(tree.item(tree.len()).is_none());
            return (0..tree.len())
                .map(|i| to_json(tree.item(i).unwrap()))
                .collect();
        }
        assert!(tree.is_map());
        assert!(tree.entry(tree.len()).is_none());
        let mut map = serde_json::Map::new();
        for i in 0..tree.len() {
            let (key, value) = tree.entry(i).unwrap();
            let by_key = to_json(tree.field(key).unwrap());
            assert_eq!(to_json(value), by_key, "{key}");
            map.insert(key.to_owned(), by_key);
        }
        serde_json::Value::Object(map)
    }
}
