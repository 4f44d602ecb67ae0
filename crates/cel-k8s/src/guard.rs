//! The type checker's overload choice, kept at run time as cel-go keeps it.
//!
//! When cel-go's checker resolves a call to exactly one overload, its planner binds the call to
//! that overload's own implementation, which a type guard protects: arguments whose runtime types
//! are not those of the overload's parameters fail with `no such overload`, even where another
//! overload of the function would take them (`string(x)` with `x` inferred a string fails on a
//! bool). A call the checker left with several overloads dispatches on the runtime types, as
//! cmek-gate's functions always do. Functions cel-go implements once for all their overloads (the
//! operators, `size`, `matches`, `type`, `dyn`, `sort`) or without guards (`contains`,
//! `startsWith`, `endsWith`, `flatten`) have no guard either.

use crate::error::EvalError;
use crate::types::Type;
use crate::value::{List, Value};

/// Functions whose single checked overload cel-go does not guard: one implementation for all
/// overloads (`decls.Singleton*Binding`), no binding of their own (`or`, `orValue`, the
/// operators the planner evaluates itself), or guards disabled (`decls.DisableTypeGuards`); and
/// the gate's own macro helpers.
const UNGUARDED: &[&str] = &[
    "size",
    "matches",
    "type",
    "dyn",
    "sort",
    "@sortByAssociatedKeys",
    "flatten",
    "contains",
    "startsWith",
    "endsWith",
    "or",
    "orValue",
    "@not_strictly_false",
    "@in",
    "cel.@mapInsert",
    "@pairs",
    "@mapFromPairs",
    "@mergeMapEntries",
];

/// What a call's arguments are guarded by: the index and type of each parameter of the checker's
/// one overload (`signatures`, see [`crate::check::Checked::overloads_of`]) of `name` that says
/// more than `dyn`, when cel-go guards the overload and there is one. `None` otherwise.
pub(crate) type Guard = Box<[(usize, Type)]>;

pub(crate) fn for_call(name: &str, signatures: &[&'static str]) -> Option<Guard> {
    let [signature] = signatures else {
        return None;
    };
    if UNGUARDED.contains(&name) || name.starts_with('_') || name.starts_with('!') {
        return None;
    }
    let overload = crate::check::functions()
        .get(name)?
        .iter()
        .find(|o| o.signature == *signature)?;
    let checks: Vec<(usize, Type)> = overload
        .params
        .iter()
        .enumerate()
        .filter(|(_, p)| !is_any(p))
        .map(|(i, p)| (i, p.clone()))
        .collect();
    (!checks.is_empty()).then(|| checks.into_boxed_slice())
}

/// Refuses arguments the guard does not take, as cel-go's guard does (`no such overload`).
#[inline]
pub(crate) fn check(
    name: &str,
    guard: &[(usize, Type)],
    args: &[Value<'_>],
) -> Result<(), EvalError> {
    if guard
        .iter()
        .all(|(i, t)| args.get(*i).is_some_and(|a| assignable(t, a)))
    {
        return Ok(());
    }
    let types: Vec<&str> = args.iter().map(Value::type_name).collect();
    Err(EvalError::no_overload(name, &types))
}

/// A parameter any value is assignable to.
fn is_any(t: &Type) -> bool {
    matches!(
        t,
        Type::Dyn | Type::Param(_) | Type::Error | Type::Object(_)
    )
}

/// cel-go's `Type.IsAssignableRuntimeType`: the value's type has the parameter's name (`dyn` and
/// type parameters take anything); for a list, its first element is assignable to the element
/// type, and for a map its first entry to the key and value types.
fn assignable(t: &Type, value: &Value<'_>) -> bool {
    match (t, value) {
        (t, _) if is_any(t) => true,
        (Type::List(element), Value::List(list)) => {
            is_any(element)
                || match list {
                    List::Owned(items) => items.first().is_none_or(|i| assignable(element, i)),
                    List::Tree(_) => list.get(0).is_none_or(|i| assignable(element, &i)),
                }
        }
        (Type::Map(key, element), Value::Map(map)) => {
            (is_any(key) && is_any(element))
                || match map.entry(0) {
                    None => true,
                    Some((k, v)) => assignable(key, &k) && assignable(element, &v),
                }
        }
        (Type::Optional(_), Value::Optional(_)) => true,
        (Type::Type(_), Value::Type(_)) => true,
        (Type::List(_) | Type::Map(..) | Type::Optional(_) | Type::Type(_), _) => false,
        (t, value) => crate::value_ops::has_type(value, t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::{Map, Str};
    use std::sync::Arc;

    fn list(items: Vec<Value<'static>>) -> Value<'static> {
        Value::List(List::Owned(Arc::from(items)))
    }

    #[test]
    fn arguments_are_checked_against_the_one_overload() {
        let s = || Value::String(Str::Borrowed("a"));
        let cases: &[(&str, Value<'static>, bool)] = &[
            ("string", s(), true),
            ("string", Value::Bool(true), false),
            ("string", Value::Null, false),
            ("int", Value::Int(1), true),
            ("int", Value::Uint(1), false),
            ("list(string)", list(vec![]), true),
            ("list(string)", list(vec![s()]), true),
            ("list(string)", list(vec![Value::Int(1), s()]), false),
            // Only the first element is looked at, as cel-go does.
            ("list(string)", list(vec![s(), Value::Int(1)]), true),
            ("list(A)", list(vec![Value::Int(1)]), true),
            ("list(A)", s(), false),
            ("A", Value::Null, true),
            ("dyn", Value::Bool(false), true),
            ("optional(V)", Value::Optional(None), true),
            ("optional(V)", Value::Int(1), false),
            ("timestamp", Value::Int(1), false),
            ("map(K, V)", Value::Map(Map::Owned(Arc::from(vec![]))), true),
            ("map(K, V)", list(vec![]), false),
        ];
        for (param, value, expected) in cases {
            let t = crate::check::parse_type(param);
            assert_eq!(assignable(&t, value), *expected, "{param} <- {value:?}");
        }
    }

    #[test]
    fn only_a_single_guarded_overload_is_kept() {
        let cases: &[(&str, &[&str], bool)] = &[
            ("string", &["string(string) -> string"], true),
            (
                "string",
                &["string(string) -> string", "string(bool) -> string"],
                false,
            ),
            ("size", &["size(string) -> int"], false),
            ("contains", &["string.contains(string) -> bool"], false),
            ("optional.of", &["optional.of(V) -> optional(V)"], false),
            ("value", &["optional(V).value() -> V"], true),
            ("isQuantity", &["isQuantity(string) -> bool"], true),
            ("_+_", &["_+_(int, int) -> int"], false),
        ];
        for (name, signatures, guarded) in cases {
            assert_eq!(
                for_call(name, signatures).is_some(),
                *guarded,
                "{name} {signatures:?}"
            );
        }
    }
}
