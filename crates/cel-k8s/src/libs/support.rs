//! What the library functions share: reading lists and maps (tree-backed or built) without
//! caring which, CEL equality and ordering, type names for messages, and a few constructors.
//!
//! These are private to `libs` on purpose: the evaluator has its own equality and ordering on
//! `Value`; the two are to be merged into one.

use crate::error::EvalError;
use crate::types::Type;
use crate::value::{List, Map, Str, Value};
use crate::value_ops::compare_numbers;
use std::cmp::Ordering;
use std::sync::Arc;

/// The CEL type name of a value, as cel-go prints it in messages.
pub(crate) fn type_name(value: &Value<'_>) -> &'static str {
    value.type_name()
}

/// `no matching overload for 'NAME' applied to '(T1, T2)'` for these arguments.
#[cold]
#[inline(never)]
pub(crate) fn no_overload(function: &str, args: &[Value<'_>]) -> EvalError {
    let types: Vec<&str> = args.iter().map(type_name).collect();
    EvalError::no_overload(function, &types)
}

/// A function's error: the function's name and what went wrong, never the input.
#[cold]
#[inline(never)]
pub(crate) fn fail(function: &str, message: impl std::fmt::Display) -> EvalError {
    EvalError::new(format!("{function}: {message}"))
}

/// The number of elements of a list.
pub(crate) fn list_len(list: &List<'_>) -> usize {
    match list {
        List::Tree(t) => t.len(),
        List::Owned(items) => items.len(),
    }
}

/// The element at `index`.
pub(crate) fn list_get<'a>(list: &List<'a>, index: usize) -> Option<Value<'a>> {
    match list {
        List::Tree(t) => t.item(index).map(Value::from_tree),
        List::Owned(items) => items.get(index).cloned(),
    }
}

/// The elements of a list, in order (a tree's are read in place).
pub(crate) fn list_iter<'a, 'l>(
    list: &'l List<'a>,
) -> impl DoubleEndedIterator<Item = Value<'a>> + ExactSizeIterator + 'l {
    (0..list_len(list)).map(move |i| list_get(list, i).unwrap_or(Value::Null))
}

/// The elements of a list, collected.
pub(crate) fn list_items<'a>(list: &List<'a>) -> Vec<Value<'a>> {
    list_iter(list).collect()
}

/// The number of entries of a map.
pub(crate) fn map_len(map: &Map<'_>) -> usize {
    match map {
        Map::Tree(t) => t.len(),
        Map::Owned(entries) => entries.len(),
    }
}

/// The entries of a map, in order.
pub(crate) fn map_entries<'a>(map: &Map<'a>) -> Vec<(Value<'a>, Value<'a>)> {
    match map {
        Map::Tree(t) => (0..t.len())
            .filter_map(|i| t.entry(i))
            .map(|(k, v)| (Value::String(Str::Borrowed(k)), Value::from_tree(v)))
            .collect(),
        Map::Owned(entries) => entries.to_vec(),
    }
}

/// The value under `key`, keys compared as CEL does (`1`, `1u` and `1.0` are one key).
pub(crate) fn map_get<'a>(map: &Map<'a>, key: &Value<'_>) -> Option<Value<'a>> {
    match map {
        Map::Tree(t) => match key {
            Value::String(k) => t.field(k).map(Value::from_tree),
            _ => None,
        },
        Map::Owned(entries) => entries
            .iter()
            .find(|(k, _)| equals(k, key))
            .map(|(_, v)| v.clone()),
    }
}

/// A built list.
pub(crate) fn list_of<'a>(items: Vec<Value<'a>>) -> Value<'a> {
    Value::List(List::Owned(Arc::from(items)))
}

/// A built list of strings.
pub(crate) fn string_list<'a>(items: impl IntoIterator<Item = String>) -> Value<'a> {
    list_of(items.into_iter().map(Value::string).collect())
}

/// A built map.
pub(crate) fn map_of<'a>(entries: Vec<(Value<'a>, Value<'a>)>) -> Value<'a> {
    Value::Map(Map::Owned(Arc::from(entries)))
}

/// The library value of type `T` a value holds, if it holds one.
pub(crate) fn opaque<'v, T: 'static>(value: &'v Value<'_>) -> Option<&'v T> {
    match value {
        Value::Opaque(o) => o.as_any().downcast_ref::<T>(),
        _ => None,
    }
}

/// A library value.
pub(crate) fn opaque_value<'a>(value: impl crate::value::Opaque) -> Value<'a> {
    Value::Opaque(Arc::new(value))
}

/// Implements [`Opaque`](crate::value::Opaque) for a library value type: its Kubernetes type
/// name, equality by `PartialEq` (false across types), downcasting.
macro_rules! opaque_type {
    ($rust:ty, $name:expr) => {
        impl $crate::value::Opaque for $rust {
            fn type_name(&self) -> &'static str {
                $name
            }
            fn equals(&self, other: &dyn $crate::value::Opaque) -> bool {
                other
                    .as_any()
                    .downcast_ref::<$rust>()
                    .is_some_and(|o| o == self)
            }
            fn as_any(&self) -> &dyn std::any::Any {
                self
            }
        }
    };
}
pub(crate) use opaque_type;

/// Whether a value is a number (int, uint or double).
pub(crate) fn is_number(v: &Value<'_>) -> bool {
    matches!(v, Value::Int(_) | Value::Uint(_) | Value::Double(_))
}

/// CEL equality: numbers across types, lists element-wise, maps by key, values of different
/// types unequal.
pub(crate) fn equals(a: &Value<'_>, b: &Value<'_>) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::String(x), Value::String(y)) => **x == **y,
        (Value::Bytes(x), Value::Bytes(y)) => x == y,
        (Value::Duration(x), Value::Duration(y)) => x == y,
        (Value::Timestamp(x), Value::Timestamp(y)) => x == y,
        (Value::Type(x), Value::Type(y)) => type_value_name(x) == type_value_name(y),
        (Value::Opaque(x), Value::Opaque(y)) => x.equals(y.as_ref()),
        (Value::Optional(x), Value::Optional(y)) => match (x, y) {
            (None, None) => true,
            (Some(x), Some(y)) => equals(x, y),
            _ => false,
        },
        (Value::List(x), Value::List(y)) => {
            list_len(x) == list_len(y)
                && list_iter(x).zip(list_iter(y)).all(|(a, b)| equals(&a, &b))
        }
        (Value::Map(x), Value::Map(y)) => {
            map_len(x) == map_len(y)
                && map_entries(x)
                    .iter()
                    .all(|(k, v)| map_get(y, k).is_some_and(|w| equals(v, &w)))
        }
        _ if is_number(a) && is_number(b) => compare_numbers(a, b) == Some(Ordering::Equal),
        _ => false,
    }
}

/// CEL ordering, for the types that have one (numbers across types, strings, bools, bytes,
/// durations, timestamps); `None` for others, across other types, and for NaN.
pub(crate) fn compare(a: &Value<'_>, b: &Value<'_>) -> Option<Ordering> {
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::String(x), Value::String(y)) => Some((**x).cmp(&**y)),
        (Value::Bytes(x), Value::Bytes(y)) => Some(x.cmp(y)),
        (Value::Duration(x), Value::Duration(y)) => Some(x.cmp(y)),
        (Value::Timestamp(x), Value::Timestamp(y)) => Some(x.cmp(y)),
        _ => compare_numbers(a, b),
    }
}

/// The name of a type value as cel-go prints it at run time (`list`, not `list(int)`).
pub(crate) fn type_value_name(t: &Type) -> String {
    match t {
        Type::List(_) => "list".into(),
        Type::Map(..) => "map".into(),
        Type::Optional(_) => "optional_type".into(),
        Type::Type(_) => "type".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Values and document trees for the tables of every module.

    use super::*;
    use crate::value::{ScalarKind, Tree, TreeScalar};

    pub fn s<'a>(text: &str) -> Value<'a> {
        Value::string(text)
    }

    pub fn i<'a>(n: i64) -> Value<'a> {
        Value::Int(n)
    }

    pub fn u<'a>(n: u64) -> Value<'a> {
        Value::Uint(n)
    }

    pub fn d<'a>(n: f64) -> Value<'a> {
        Value::Double(n)
    }

    pub fn b<'a>(x: bool) -> Value<'a> {
        Value::Bool(x)
    }

    pub fn bytes<'a>(x: &[u8]) -> Value<'a> {
        Value::Bytes(Arc::from(x))
    }

    pub fn l<'a>(items: Vec<Value<'a>>) -> Value<'a> {
        list_of(items)
    }

    pub fn strs<'a>(items: &[&str]) -> Value<'a> {
        string_list(items.iter().map(|s| s.to_string()))
    }

    pub fn m<'a>(entries: Vec<(Value<'a>, Value<'a>)>) -> Value<'a> {
        map_of(entries)
    }

    /// Equal, and of the same type (so `1` is not `1.0`).
    pub fn same(a: &Value<'_>, b: &Value<'_>) -> bool {
        if type_name(a) != type_name(b) {
            return false;
        }
        match (a, b) {
            (Value::List(x), Value::List(y)) => {
                list_len(x) == list_len(y)
                    && list_iter(x).zip(list_iter(y)).all(|(a, b)| same(&a, &b))
            }
            (Value::Double(x), Value::Double(y)) if x.is_nan() => y.is_nan(),
            _ => equals(a, b),
        }
    }

    #[track_caller]
    pub fn check(name: &str, got: Result<Value<'_>, EvalError>, want: Value<'_>) {
        match got {
            Ok(v) => assert!(same(&v, &want), "{name}: got {v:?}, want {want:?}"),
            Err(e) => panic!("{name}: error {e}, want {want:?}"),
        }
    }

    #[track_caller]
    pub fn check_err(name: &str, got: Result<Value<'_>, EvalError>, fragment: &str) {
        match got {
            Ok(v) => panic!("{name}: got {v:?}, want an error with {fragment:?}"),
            Err(e) => assert!(
                e.0.contains(fragment),
                "{name}: error {e}, want {fragment:?}"
            ),
        }
    }

    /// A small document tree (a parsed manifest stand-in).
    #[derive(Debug)]
    pub enum Doc {
        Int(i64, String),
        Double(f64, String),
        Bool(bool),
        Str(String),
        List(Vec<Doc>),
        Map(Vec<(String, Doc)>),
    }

    impl Doc {
        pub fn int(n: i64) -> Doc {
            Doc::Int(n, n.to_string())
        }
        pub fn double(n: f64) -> Doc {
            Doc::Double(n, n.to_string())
        }
        pub fn str(s: &str) -> Doc {
            Doc::Str(s.to_owned())
        }
        /// The node as a value read in place.
        pub fn value(&self) -> Value<'_> {
            Value::from_tree(self)
        }
    }

    impl Tree for Doc {
        fn scalar(&self) -> Option<TreeScalar<'_>> {
            let (kind, text) = match self {
                Doc::Int(n, t) => (ScalarKind::Int(*n), t.as_str()),
                Doc::Double(n, t) => (ScalarKind::Double(*n), t.as_str()),
                Doc::Bool(x) => (ScalarKind::Bool(*x), if *x { "true" } else { "false" }),
                Doc::Str(s) => (ScalarKind::Str, s.as_str()),
                Doc::List(_) | Doc::Map(_) => return None,
            };
            Some(TreeScalar { kind, text })
        }
        fn is_list(&self) -> bool {
            matches!(self, Doc::List(_))
        }
        fn is_map(&self) -> bool {
            matches!(self, Doc::Map(_))
        }
        fn len(&self) -> usize {
            match self {
                Doc::List(items) => items.len(),
                Doc::Map(entries) => entries.len(),
                _ => 0,
            }
        }
        fn item(&self, index: usize) -> Option<&dyn Tree> {
            match self {
                Doc::List(items) => items.get(index).map(|d| d as &dyn Tree),
                _ => None,
            }
        }
        fn field(&self, key: &str) -> Option<&dyn Tree> {
            match self {
                Doc::Map(entries) => entries
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, d)| d as &dyn Tree),
                _ => None,
            }
        }
        fn entry(&self, index: usize) -> Option<(&str, &dyn Tree)> {
            match self {
                Doc::Map(entries) => entries
                    .get(index)
                    .map(|(k, d)| (k.as_str(), d as &dyn Tree)),
                _ => None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    #[test]
    fn equality_is_cels() {
        let cases = [
            (i(1), u(1), true),
            (i(1), d(1.0), true),
            (u(1), d(1.5), false),
            (i(-1), u(u64::MAX), false),
            (d(f64::NAN), d(f64::NAN), false),
            (s("a"), s("a"), true),
            (s("1"), i(1), false),
            (l(vec![i(1), s("a")]), l(vec![d(1.0), s("a")]), true),
            (l(vec![i(1)]), l(vec![i(1), i(2)]), false),
            (m(vec![(s("a"), i(1))]), m(vec![(s("a"), u(1))]), true),
            (m(vec![(i(1), i(1))]), m(vec![(u(1), i(1))]), true),
            (Value::Null, Value::Null, true),
            (Value::Null, i(0), false),
        ];
        for (a, b, want) in cases {
            assert_eq!(equals(&a, &b), want, "{a:?} == {b:?}");
            assert_eq!(equals(&b, &a), want, "{b:?} == {a:?}");
        }
    }

    #[test]
    fn ordering_crosses_numeric_types_only() {
        assert_eq!(compare(&i(1), &d(1.5)), Some(Ordering::Less));
        assert_eq!(compare(&u(2), &i(-1)), Some(Ordering::Greater));
        assert_eq!(
            compare(&i(i64::MAX), &d(i64::MAX as f64)),
            Some(Ordering::Less)
        );
        assert_eq!(compare(&d(f64::NAN), &i(1)), None);
        assert_eq!(compare(&s("a"), &i(1)), None);
        assert_eq!(
            compare(&s("é"), &s("z")),
            Some(Ordering::Greater),
            "by bytes"
        );
    }

    #[test]
    fn trees_read_as_lists_and_maps() {
        let doc = Doc::Map(vec![
            ("a".into(), Doc::List(vec![Doc::int(1), Doc::str("x")])),
            ("b".into(), Doc::Bool(true)),
        ]);
        let Value::Map(map) = doc.value() else {
            panic!("a map")
        };
        assert_eq!(map_len(&map), 2);
        let Some(Value::List(list)) = map_get(&map, &s("a")) else {
            panic!("a list")
        };
        assert!(equals(&Value::List(list), &l(vec![i(1), s("x")])));
        assert!(map_get(&map, &i(1)).is_none());
        assert!(equals(
            &doc.value(),
            &m(vec![(s("b"), b(true)), (s("a"), l(vec![u(1), s("x")]))])
        ));
    }
}
