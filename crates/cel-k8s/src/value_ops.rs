//! What every value can do: its type, equality and ordering as cel-go has them (ints, uints
//! and doubles compare across types by numeric value), reading lists and maps (a document's in
//! place, or built), and the value as JSON.

use crate::error::EvalError;
use crate::types::Type;
use crate::value::{Duration, List, Map, Str, Timestamp, Tree, Value};
use std::cmp::Ordering;
use std::sync::LazyLock;

/// The runtime types of lists, maps and optionals, built once.
static LIST: LazyLock<Type> = LazyLock::new(|| Type::list(Type::Dyn));
static MAP: LazyLock<Type> = LazyLock::new(|| Type::map(Type::Dyn, Type::Dyn));
static OPTIONAL: LazyLock<Type> = LazyLock::new(|| Type::optional(Type::Dyn));

impl<'a> List<'a> {
    /// The number of elements.
    pub fn len(&self) -> usize {
        match self {
            List::Tree(tree) => tree.len(),
            List::Owned(items) => items.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The element at `index`.
    pub fn get(&self, index: usize) -> Option<Value<'a>> {
        match self {
            List::Tree(tree) => tree.item(index).map(Value::from_tree),
            List::Owned(items) => items.get(index).cloned(),
        }
    }

    /// The elements, in order.
    pub fn iter(&self) -> impl Iterator<Item = Value<'a>> + '_ {
        (0..self.len()).map_while(|i| self.get(i))
    }

    /// A built list of these values.
    pub fn from_values(values: Vec<Value<'a>>) -> List<'a> {
        List::Owned(values.into())
    }
}

impl<'a> Map<'a> {
    /// The number of entries.
    pub fn len(&self) -> usize {
        match self {
            Map::Tree(tree) => tree.len(),
            Map::Owned(entries) => entries.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value under a string key.
    pub fn get_str(&self, key: &str) -> Option<Value<'a>> {
        match self {
            Map::Tree(tree) => tree.field(key).map(Value::from_tree),
            Map::Owned(entries) => entries
                .iter()
                .find(|(k, _)| matches!(k, Value::String(s) if **s == *key))
                .map(|(_, v)| v.clone()),
        }
    }

    /// Whether the map has a string key (without reading its value).
    pub fn has_str(&self, key: &str) -> bool {
        match self {
            Map::Tree(tree) => tree.field(key).is_some(),
            Map::Owned(entries) => entries
                .iter()
                .any(|(k, _)| matches!(k, Value::String(s) if **s == *key)),
        }
    }

    /// The value under a key, keys compared as CEL compares them (`1`, `1u` and `1.0` are
    /// the same key).
    pub fn get(&self, key: &Value<'_>) -> Option<Value<'a>> {
        match (self, key) {
            (_, Value::String(s)) => self.get_str(s),
            (Map::Tree(_), _) => None,
            (Map::Owned(entries), key) => entries
                .iter()
                .find(|(k, _)| equals(k, key))
                .map(|(_, v)| v.clone()),
        }
    }

    /// Whether the map has the key.
    pub fn contains(&self, key: &Value<'_>) -> bool {
        match (self, key) {
            (Map::Tree(tree), Value::String(s)) => tree.field(s).is_some(),
            _ => self.get(key).is_some(),
        }
    }

    /// The entry at `index`, in the map's order.
    pub fn entry(&self, index: usize) -> Option<(Value<'a>, Value<'a>)> {
        match self {
            Map::Tree(tree) => tree
                .entry(index)
                .map(|(k, v)| (Value::String(Str::Borrowed(k)), Value::from_tree(v))),
            Map::Owned(entries) => entries.get(index).cloned(),
        }
    }

    /// The entries, in the map's order.
    pub fn iter(&self) -> impl Iterator<Item = (Value<'a>, Value<'a>)> + '_ {
        (0..self.len()).map_while(|i| self.entry(i))
    }

    /// The key at `index`.
    pub fn key(&self, index: usize) -> Option<Value<'a>> {
        match self {
            Map::Tree(tree) => tree
                .entry(index)
                .map(|(k, _)| Value::String(Str::Borrowed(k))),
            Map::Owned(entries) => entries.get(index).map(|(k, _)| k.clone()),
        }
    }
}

impl<'a> Value<'a> {
    /// The CEL type name, for messages: `int`, `string`, `list`, `map`, `null_type`...
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null_type",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Uint(_) => "uint",
            Value::Double(_) => "double",
            Value::String(_) => "string",
            Value::Bytes(_) => "bytes",
            Value::Duration(_) => "google.protobuf.Duration",
            Value::Timestamp(_) => "google.protobuf.Timestamp",
            Value::List(_) => "list",
            Value::Map(_) => "map",
            Value::Optional(_) => "optional_type",
            Value::Type(_) => "type",
            Value::Opaque(o) => o.type_name(),
        }
    }

    /// The value's runtime type, as `type(x)` gives it: `list` and `map` unparameterized.
    pub fn type_of(&self) -> Type {
        match self {
            Value::Null => Type::Null,
            Value::Bool(_) => Type::Bool,
            Value::Int(_) => Type::Int,
            Value::Uint(_) => Type::Uint,
            Value::Double(_) => Type::Double,
            Value::String(_) => Type::String,
            Value::Bytes(_) => Type::Bytes,
            Value::Duration(_) => Type::Duration,
            Value::Timestamp(_) => Type::Timestamp,
            Value::List(_) => LIST.clone(),
            Value::Map(_) => MAP.clone(),
            Value::Optional(_) => OPTIONAL.clone(),
            Value::Type(_) => Type::Type(None),
            Value::Opaque(o) => Type::Opaque(o.type_name()),
        }
    }

    /// The value if it is a bool.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The value if it is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The value if it is an int.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// Whether the value is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Whether the value is its type's zero value (`optional.ofNonZeroValue`).
    pub fn is_zero(&self) -> bool {
        match self {
            Value::Null => true,
            Value::Bool(b) => !b,
            Value::Int(i) => *i == 0,
            Value::Uint(u) => *u == 0,
            Value::Double(d) => *d == 0.0,
            Value::String(s) => s.is_empty(),
            Value::Bytes(b) => b.is_empty(),
            Value::Duration(d) => d.0 == 0,
            // Go's zero time.Time, 0001-01-01T00:00:00Z, not the epoch.
            Value::Timestamp(t) => t.seconds == -62_135_596_800 && t.nanos == 0,
            Value::List(l) => l.is_empty(),
            Value::Map(m) => m.is_empty(),
            // cel-go has no zero optional: `optional.ofNonZeroValue(optional.none())` holds it.
            Value::Optional(_) | Value::Type(_) | Value::Opaque(_) => false,
        }
    }

    /// The value with its string borrowed from `'a` data turned into shared ones, so it may
    /// outlive the document (a constant folded at compile time).
    pub fn into_static(self) -> Option<Value<'static>> {
        Some(match self {
            Value::Null => Value::Null,
            Value::Bool(b) => Value::Bool(b),
            Value::Int(i) => Value::Int(i),
            Value::Uint(u) => Value::Uint(u),
            Value::Double(d) => Value::Double(d),
            Value::String(s) => Value::String(Str::Owned(match s {
                Str::Owned(s) => s,
                Str::Borrowed(s) => s.into(),
            })),
            Value::Bytes(b) => Value::Bytes(b),
            Value::Duration(d) => Value::Duration(d),
            Value::Timestamp(t) => Value::Timestamp(t),
            Value::List(l) => Value::List(List::Owned(
                l.iter()
                    .map(Value::into_static)
                    .collect::<Option<Vec<_>>>()?
                    .into(),
            )),
            Value::Map(m) => Value::Map(Map::Owned(
                m.iter()
                    .map(|(k, v)| Some((k.into_static()?, v.into_static()?)))
                    .collect::<Option<Vec<_>>>()?
                    .into(),
            )),
            Value::Optional(None) => Value::Optional(None),
            Value::Optional(Some(v)) => {
                Value::Optional(Some(std::sync::Arc::new((*v).clone().into_static()?)))
            }
            Value::Type(t) => Value::Type(t),
            Value::Opaque(o) => Value::Opaque(o),
        })
    }

    /// The value as JSON, map keys sorted (maps have no order in CEL: the same value always
    /// gives the same JSON).
    pub fn to_json(&self) -> Result<serde_json::Value, EvalError> {
        use serde_json::Value as J;
        Ok(match self {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Uint(u) => J::from(*u),
            Value::Double(d) => serde_json::Number::from_f64(*d)
                .map(J::Number)
                .ok_or_else(|| no_json("a double that is not finite"))?,
            Value::String(s) => J::String(s.to_string()),
            Value::Bytes(b) => J::String(crate::stdlib::base64_encode(b)),
            Value::Duration(d) => J::String(crate::stdlib::format_duration(*d)),
            Value::Timestamp(t) => J::String(crate::stdlib::format_timestamp(*t)),
            Value::List(l) => J::Array(l.iter().map(|v| v.to_json()).collect::<Result<_, _>>()?),
            Value::Map(m) => {
                let mut entries = m
                    .iter()
                    .map(|(k, v)| Ok((json_key(&k)?, v)))
                    .collect::<Result<Vec<_>, EvalError>>()?;
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                let mut map = serde_json::Map::with_capacity(entries.len());
                for (k, v) in entries {
                    map.insert(k, v.to_json()?);
                }
                J::Object(map)
            }
            Value::Optional(_) => return Err(no_json("an optional")),
            Value::Type(_) => return Err(no_json("a type")),
            Value::Opaque(o) => return Err(no_json(o.type_name())),
        })
    }
}

fn no_json(what: &str) -> EvalError {
    EvalError::new(format!("the value has no JSON form: {what}"))
}

fn json_key(key: &Value<'_>) -> Result<String, EvalError> {
    match key {
        Value::String(s) => Ok(s.to_string()),
        Value::Int(i) => Ok(i.to_string()),
        Value::Uint(u) => Ok(u.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(no_json(&format!("a map key of type {}", other.type_name()))),
    }
}

/// A value as a JSON tree, for tests and callers that hold JSON: see [`Value::to_json`].
pub fn tree_to_json(tree: &dyn Tree) -> Result<serde_json::Value, EvalError> {
    Value::from_tree(tree).to_json()
}

/// Whether `type(value) == t`, without building the value's type.
pub fn has_type(value: &Value<'_>, t: &Type) -> bool {
    match (value, t) {
        (Value::Null, Type::Null)
        | (Value::Bool(_), Type::Bool)
        | (Value::Int(_), Type::Int)
        | (Value::Uint(_), Type::Uint)
        | (Value::Double(_), Type::Double)
        | (Value::String(_), Type::String)
        | (Value::Bytes(_), Type::Bytes)
        | (Value::Duration(_), Type::Duration)
        | (Value::Timestamp(_), Type::Timestamp) => true,
        (Value::Type(_), Type::Type(None)) => true,
        (Value::Opaque(o), Type::Opaque(name)) => o.type_name() == *name,
        (Value::List(_), Type::List(e)) | (Value::Optional(_), Type::Optional(e)) => {
            **e == Type::Dyn
        }
        (Value::Map(_), Type::Map(k, v)) => **k == Type::Dyn && **v == Type::Dyn,
        _ => false,
    }
}

/// CEL equality (`==`): numbers across int, uint and double by value; lists element-wise;
/// maps by keys and values; values of different types are unequal.
pub fn equals(a: &Value<'_>, b: &Value<'_>) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::String(x), Value::String(y)) => **x == **y,
        (Value::Bytes(x), Value::Bytes(y)) => x == y,
        (Value::Duration(x), Value::Duration(y)) => x == y,
        (Value::Timestamp(x), Value::Timestamp(y)) => x == y,
        (Value::Int(_) | Value::Uint(_) | Value::Double(_), _) => {
            compare_numbers(a, b) == Some(Ordering::Equal)
        }
        (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| equals(&p, &q))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(&k).is_some_and(|w| equals(&v, &w)))
        }
        (Value::Optional(x), Value::Optional(y)) => match (x, y) {
            (None, None) => true,
            (Some(p), Some(q)) => equals(p, q),
            _ => false,
        },
        (Value::Type(x), Value::Type(y)) => x == y,
        (Value::Opaque(x), Value::Opaque(y)) => x.equals(&**y),
        _ => false,
    }
}

/// The order of two numbers of any of the numeric types; `None` when either is not a number
/// or a double is NaN.
pub fn compare_numbers(a: &Value<'_>, b: &Value<'_>) -> Option<Ordering> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Uint(x), Value::Uint(y)) => Some(x.cmp(y)),
        (Value::Double(x), Value::Double(y)) => x.partial_cmp(y),
        (Value::Int(x), Value::Uint(y)) => Some(compare_int_uint(*x, *y)),
        (Value::Uint(x), Value::Int(y)) => Some(compare_int_uint(*y, *x).reverse()),
        (Value::Int(x), Value::Double(y)) => compare_int_double(*x, *y),
        (Value::Double(x), Value::Int(y)) => compare_int_double(*y, *x).map(Ordering::reverse),
        (Value::Uint(x), Value::Double(y)) => compare_uint_double(*x, *y),
        (Value::Double(x), Value::Uint(y)) => compare_uint_double(*y, *x).map(Ordering::reverse),
        _ => None,
    }
}

fn compare_int_uint(x: i64, y: u64) -> Ordering {
    if x < 0 {
        Ordering::Less
    } else {
        (x as u64).cmp(&y)
    }
}

fn compare_int_double(x: i64, y: f64) -> Option<Ordering> {
    if y.is_nan() {
        return None;
    }
    // -2^63 is exact as a double; 2^63 is the first double above every i64.
    if y < -9_223_372_036_854_775_808.0 {
        return Some(Ordering::Greater);
    }
    if y >= 9_223_372_036_854_775_808.0 {
        return Some(Ordering::Less);
    }
    let truncated = y.trunc();
    match x.cmp(&(truncated as i64)) {
        Ordering::Equal => 0.0f64.partial_cmp(&(y - truncated)),
        other => Some(other),
    }
}

fn compare_uint_double(x: u64, y: f64) -> Option<Ordering> {
    if y.is_nan() {
        return None;
    }
    if y < 0.0 {
        return Some(Ordering::Greater);
    }
    if y >= 18_446_744_073_709_551_616.0 {
        return Some(Ordering::Less);
    }
    let truncated = y.trunc();
    match x.cmp(&(truncated as u64)) {
        Ordering::Equal => 0.0f64.partial_cmp(&(y - truncated)),
        other => Some(other),
    }
}

/// CEL ordering (`<`, `<=`, ...): numbers across types, strings, bytes, bools, durations and
/// timestamps. `Err` for operands it does not apply to, and for NaN (cel-go: "NaN values
/// cannot be ordered").
pub fn compare(a: &Value<'_>, b: &Value<'_>, op: &str) -> Result<Option<Ordering>, EvalError> {
    Ok(match (a, b) {
        (Value::Int(_) | Value::Uint(_) | Value::Double(_), _)
            if matches!(b, Value::Int(_) | Value::Uint(_) | Value::Double(_)) =>
        {
            Some(
                compare_numbers(a, b)
                    .ok_or_else(|| EvalError::new("NaN values cannot be ordered"))?,
            )
        }
        (Value::String(x), Value::String(y)) => Some((**x).cmp(&**y)),
        (Value::Bytes(x), Value::Bytes(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Duration(x), Value::Duration(y)) => Some(x.cmp(y)),
        (Value::Timestamp(x), Value::Timestamp(y)) => Some(x.cmp(y)),
        _ => return Err(EvalError::no_overload(op, &[a.type_name(), b.type_name()])),
    })
}

/// The order `sort`, `min`, `max` and `sortBy` use: [`compare`], with an error for mixed types
/// or NaN.
pub fn order(a: &Value<'_>, b: &Value<'_>, function: &str) -> Result<Ordering, EvalError> {
    compare(a, b, function)?
        .ok_or_else(|| EvalError::new(format!("{function}: NaN cannot be ordered")))
}

impl Duration {
    /// Whole seconds.
    pub fn seconds(self) -> i64 {
        self.0 / 1_000_000_000
    }
}

impl Timestamp {
    /// Nanoseconds since the epoch, as i128 (no overflow within the valid range).
    pub fn nanos_since_epoch(self) -> i128 {
        self.seconds as i128 * 1_000_000_000 + self.nanos as i128
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_across_types() {
        let cases: &[(Value, Value, Option<Ordering>)] = &[
            (Value::Int(1), Value::Double(1.0), Some(Ordering::Equal)),
            (Value::Int(1), Value::Uint(1), Some(Ordering::Equal)),
            (Value::Int(-1), Value::Uint(0), Some(Ordering::Less)),
            (Value::Uint(2), Value::Double(1.5), Some(Ordering::Greater)),
            (Value::Int(1), Value::Double(1.5), Some(Ordering::Less)),
            (
                Value::Int(i64::MAX),
                Value::Double(9.3e18),
                Some(Ordering::Less),
            ),
            (Value::Int(0), Value::Double(f64::NAN), None),
            (Value::Double(-0.5), Value::Int(0), Some(Ordering::Less)),
            (Value::Double(-0.5), Value::Int(-1), Some(Ordering::Greater)),
            (
                Value::Uint(u64::MAX),
                Value::Double(1.9e19),
                Some(Ordering::Less),
            ),
        ];
        for (a, b, expected) in cases {
            assert_eq!(compare_numbers(a, b), *expected, "{a:?} {b:?}");
        }
    }

    #[test]
    fn equality_is_heterogeneous_and_structural() {
        let list = |v: Vec<Value<'static>>| Value::List(List::from_values(v));
        assert!(equals(
            &list(vec![Value::Int(1)]),
            &list(vec![Value::Double(1.0)])
        ));
        assert!(!equals(&Value::Int(1), &Value::string("1")));
        assert!(!equals(&Value::Null, &Value::Bool(false)));
        let map = |k: Value<'static>| Value::Map(Map::Owned(vec![(k, Value::Int(1))].into()));
        assert!(equals(&map(Value::Int(1)), &map(Value::Uint(1))));
        assert!(!equals(&map(Value::Int(1)), &map(Value::string("1"))));
    }

    #[test]
    fn ordering_refuses_mixed_types() {
        let err = compare(&Value::string("a"), &Value::Int(1), "_<_").unwrap_err();
        assert_eq!(
            err.to_string(),
            "no matching overload for '_<_' applied to '(string, int)'"
        );
    }
}
