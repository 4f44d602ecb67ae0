//! The values an expression computes, and the document trees it reads in place.
//!
//! A document (`object`, `oldObject`, `params`, ...) is never converted as a whole: it is bound
//! as a [`Tree`] and a field read returns the subtree by reference ([`Value::List`] and
//! [`Value::Map`] over a tree), or the scalar itself. Values built by an expression hold their
//! parts behind an `Arc`, so copying one (into a variable, out of a comprehension) copies a
//! pointer.

use crate::types::Type;
use std::any::Any;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// A node of a document tree (a parsed manifest), read in place by the evaluator.
///
/// Maps have string keys, in the order written; lookups are by linear scan or whatever the
/// implementation prefers, never hashed per read by the evaluator.
pub trait Tree: fmt::Debug + Send + Sync {
    /// The scalar at this node, or `None` for a list or a map.
    fn scalar(&self) -> Option<TreeScalar<'_>>;
    /// Whether this node is a list.
    fn is_list(&self) -> bool;
    /// Whether this node is a map.
    fn is_map(&self) -> bool;
    /// Items of a list, entries of a map, 0 for a scalar.
    fn len(&self) -> usize;
    /// Whether [`Tree::len`] is 0.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The item at `index` of a list.
    fn item(&self, index: usize) -> Option<&dyn Tree>;
    /// The value under `key` of a map.
    fn field(&self, key: &str) -> Option<&dyn Tree>;
    /// The entry at `index` of a map, in the order written.
    fn entry(&self, index: usize) -> Option<(&str, &dyn Tree)>;
    /// What the node is, in one call: its scalar, a list or a map (as [`Tree::scalar`] and
    /// [`Tree::is_list`] say; implementations answer it without asking twice).
    fn shape(&self) -> TreeShape<'_> {
        match self.scalar() {
            Some(scalar) => TreeShape::Scalar(scalar),
            None if self.is_list() => TreeShape::List,
            None => TreeShape::Map,
        }
    }
}

/// What a tree node is (see [`Tree::shape`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TreeShape<'t> {
    Scalar(TreeScalar<'t>),
    List,
    Map,
}

/// A scalar of a tree: what it resolved to, and the text it was written as (so that a value a
/// schema types as a string, such as a label written `team: 123`, reads as the text written).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TreeScalar<'t> {
    pub kind: ScalarKind,
    pub text: &'t str,
}

/// What a tree's scalar resolved to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ScalarKind {
    Null,
    Bool(bool),
    Int(i64),
    Double(f64),
    /// A string: the text is the value.
    Str,
}

/// A string: borrowed from a document or the program, or built.
#[derive(Clone)]
pub enum Str<'a> {
    Borrowed(&'a str),
    Owned(Arc<str>),
}

impl Deref for Str<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        match self {
            Str::Borrowed(s) => s,
            Str::Owned(s) => s,
        }
    }
}

impl fmt::Debug for Str<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl PartialEq for Str<'_> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl From<String> for Str<'_> {
    fn from(s: String) -> Self {
        Str::Owned(Arc::from(s))
    }
}

/// A list: a document's, in place, or built.
#[derive(Clone, Debug)]
pub enum List<'a> {
    Tree(&'a dyn Tree),
    Owned(Arc<[Value<'a>]>),
}

/// A map: a document's, in place, or built. Keys of a built map are `Value`s of the key kinds
/// CEL allows (string, int, uint, bool), in insertion order.
#[derive(Clone, Debug)]
pub enum Map<'a> {
    Tree(&'a dyn Tree),
    Owned(Arc<[(Value<'a>, Value<'a>)]>),
}

/// A value type of a library (a quantity, a URL, an IP address, a CIDR, a semver, a format...).
pub trait Opaque: fmt::Debug + Send + Sync + 'static {
    /// The type name Kubernetes gives it (`kubernetes.Quantity`, `net.IP`).
    fn type_name(&self) -> &'static str;
    /// Equality with another value of any opaque type (false across types).
    fn equals(&self, other: &dyn Opaque) -> bool;
    /// For downcasting in the library's functions.
    fn as_any(&self) -> &dyn Any;
    /// What `string(x)` gives for it (`string(ip('::1'))`), if it converts to a string.
    fn to_cel_string(&self) -> Option<String> {
        None
    }
}

/// A duration: nanoseconds, as Go's `time.Duration` holds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration(pub i64);

/// A timestamp: seconds and nanoseconds since the Unix epoch, UTC, within years 1 to 9999, and
/// the UTC offset it was written with (which only `string()` shows, as cel-go keeps a parsed
/// time's zone; equality and order ignore it).
#[derive(Debug, Clone, Copy, Default)]
pub struct Timestamp {
    pub seconds: i64,
    pub nanos: u32,
    /// Seconds east of UTC of the text it was parsed from (`+01:00`: 3600), 0 for UTC.
    pub offset: i32,
}

impl PartialEq for Timestamp {
    fn eq(&self, other: &Timestamp) -> bool {
        (self.seconds, self.nanos) == (other.seconds, other.nanos)
    }
}

impl Eq for Timestamp {}

impl PartialOrd for Timestamp {
    fn partial_cmp(&self, other: &Timestamp) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Timestamp {
    fn cmp(&self, other: &Timestamp) -> std::cmp::Ordering {
        (self.seconds, self.nanos).cmp(&(other.seconds, other.nanos))
    }
}

/// A CEL value.
#[derive(Clone, Debug)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Double(f64),
    String(Str<'a>),
    Bytes(Arc<[u8]>),
    Duration(Duration),
    Timestamp(Timestamp),
    List(List<'a>),
    Map(Map<'a>),
    /// `optional.none()` or `optional.of(v)`.
    Optional(Option<Arc<Value<'a>>>),
    Type(Type),
    Opaque(Arc<dyn Opaque>),
}

impl<'a> Value<'a> {
    /// A string value.
    pub fn string(text: impl Into<String>) -> Value<'a> {
        Value::String(Str::from(text.into()))
    }

    /// A document node read in place: a scalar becomes its value, a list or map stays a view.
    #[inline]
    pub fn from_tree(tree: &'a dyn Tree) -> Value<'a> {
        match tree.shape() {
            TreeShape::Scalar(scalar) => match scalar.kind {
                ScalarKind::Null => Value::Null,
                ScalarKind::Bool(b) => Value::Bool(b),
                ScalarKind::Int(i) => Value::Int(i),
                ScalarKind::Double(d) => Value::Double(d),
                ScalarKind::Str => Value::String(Str::Borrowed(scalar.text)),
            },
            TreeShape::List => Value::List(List::Tree(tree)),
            TreeShape::Map => Value::Map(Map::Tree(tree)),
        }
    }
}
