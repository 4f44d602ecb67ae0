//! List functions: cel-go's lists extension (`slice`, `flatten`, `distinct`, `sort`,
//! `reverse`, `lists.range`, and `@sortByAssociatedKeys`, which the `sortBy` macro expands
//! to) and Kubernetes' lists library (`isSorted`, `sum`, `min`, `max`, `indexOf`,
//! `lastIndexOf`; k8s.io/apiserver/pkg/cel/library/lists.go).
//!
//! Every function takes a document's list (read in place) as well as a built one.

use super::support::{
    compare, equals, fail, is_number, list_get, list_iter, list_len, list_of, no_overload,
    type_name,
};
use crate::error::EvalError;
use crate::library::{Library, Style};
use crate::value::{Duration, List, Value};
use std::cmp::Ordering;

/// The most elements `lists.range` makes (cel-go's default limit for list sizes it builds).
pub(crate) const MAX_RANGE: i64 = 1_000_000;
/// The name the `sortBy` macro's expansion calls.
pub const SORT_BY_KEYS: &str = "@sortByAssociatedKeys";

pub fn register(library: &mut Library) {
    use Style::{Global, Receiver};
    library.add("slice", Receiver, 3, slice);
    library.add("flatten", Receiver, 1, flatten);
    library.add("flatten", Receiver, 2, flatten);
    library.add("distinct", Receiver, 1, distinct);
    library.add("sort", Receiver, 1, sort);
    library.add(SORT_BY_KEYS, Receiver, 2, sort_by_associated_keys);
    library.add("lists.range", Global, 1, range);
    library.add("isSorted", Receiver, 1, is_sorted);
    library.add("sum", Receiver, 1, sum);
    library.add("min", Receiver, 1, min);
    library.add("max", Receiver, 1, max);
    library.add("includes", Receiver, 2, includes);
    // `indexOf`, `lastIndexOf` and `reverse` are shared with strings: registered there.
}

/// Kubernetes' `includes` (lists library version 1): whether a list has the element, or any
/// other value equals it.
fn includes<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let [target, element] = args else {
        return Err(no_overload("includes", args));
    };
    if let Value::List(list) = target {
        return Ok(Value::Bool(
            list_iter(list).any(|item| equals(&item, element)),
        ));
    }
    Ok(Value::Bool(equals(target, element)))
}

fn slice<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let [Value::List(list), Value::Int(start), Value::Int(end)] = args else {
        return Err(no_overload("slice", args));
    };
    if *start < 0 || *end < 0 {
        return Err(fail("slice", "negative indexes not supported"));
    }
    if start > end {
        return Err(fail(
            "slice",
            "start index must be less than or equal to end index",
        ));
    }
    let len = list_len(list);
    if *end as u64 > len as u64 {
        return Err(fail("slice", "end index past the length of the list"));
    }
    Ok(list_of(
        (*start as usize..*end as usize)
            .filter_map(|i| list_get(list, i))
            .collect(),
    ))
}

fn flatten<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let (list, depth) = match args {
        [Value::List(list)] => (list, 1),
        [Value::List(list), Value::Int(depth)] => (list, *depth),
        _ => return Err(no_overload("flatten", args)),
    };
    let depth = u64::try_from(depth).map_err(|_| fail("flatten", "level must be non-negative"))?;
    let mut flat = Vec::new();
    flatten_into(list, depth, &mut flat);
    Ok(list_of(flat))
}

fn flatten_into<'a>(list: &List<'a>, depth: u64, flat: &mut Vec<Value<'a>>) {
    for item in list_iter(list) {
        match item {
            Value::List(inner) if depth > 0 => flatten_into(&inner, depth - 1, flat),
            other => flat.push(other),
        }
    }
}

/// The first of each set of equal elements (`1`, `1u` and `1.0` are one).
fn distinct<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let [Value::List(list)] = args else {
        return Err(no_overload("distinct", args));
    };
    let mut unique: Vec<Value<'a>> = Vec::new();
    for item in list_iter(list) {
        if !unique.iter().any(|seen| equals(seen, &item)) {
            unique.push(item);
        }
    }
    Ok(list_of(unique))
}

pub(crate) fn reverse<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let [Value::List(list)] = args else {
        return Err(no_overload("reverse", args));
    };
    Ok(list_of(list_iter(list).rev().collect()))
}

/// Whether a value has an ordering (cel-go's `traits.Comparer`).
fn orderable(v: &Value<'_>) -> bool {
    is_number(v)
        || matches!(
            v,
            Value::String(_)
                | Value::Bool(_)
                | Value::Bytes(_)
                | Value::Duration(_)
                | Value::Timestamp(_)
        )
}

/// cel-go's `less` for sorting keys of one orderable type: `Compare` says -1 (a NaN orders
/// with nothing: false either way).
fn sorts_before(a: &Value<'_>, b: &Value<'_>) -> bool {
    match (a, b) {
        (Value::Double(x), Value::Double(y)) => x < y,
        _ => compare(a, b) == Some(Ordering::Less),
    }
}

/// `list` ordered by `keys` (the key of each element at its index), as cel-go's
/// `sortListByAssociatedKeys`: keys of one orderable type, sorted by Go's `sort.Slice`, so that
/// equal keys and NaN end where Kubernetes leaves them ([`super::gosort`]).
pub(crate) fn sort_by_keys<'a>(
    function: &str,
    list: &List<'a>,
    keys: &List<'_>,
) -> Result<Value<'a>, EvalError> {
    let items: Vec<Value<'a>> = list_iter(list).collect();
    let keys: Vec<Value<'_>> = list_iter(keys).collect();
    if items.len() != keys.len() {
        return Err(fail(
            function,
            "expected a list of the same size as the associated keys list",
        ));
    }
    let Some(first) = keys.first() else {
        return Ok(list_of(items));
    };
    if !orderable(first) {
        return Err(fail(function, "list elements must be comparable"));
    }
    if keys.iter().any(|k| type_name(k) != type_name(first)) {
        return Err(fail(function, "list elements must have the same type"));
    }
    let mut order: Vec<usize> = (0..items.len()).collect();
    super::gosort::slice(&mut order, |&x, &y| sorts_before(&keys[x], &keys[y]));
    Ok(list_of(
        order.into_iter().map(|i| items[i].clone()).collect(),
    ))
}

fn sort<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let [Value::List(list)] = args else {
        return Err(no_overload("sort", args));
    };
    sort_by_keys("sort", list, list)
}

fn sort_by_associated_keys<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let [Value::List(list), Value::List(keys)] = args else {
        return Err(no_overload(SORT_BY_KEYS, args));
    };
    sort_by_keys("sortBy", list, keys)
}

/// `lists.range(n)`: 0 to n-1; an error for n < 0, as cel-go.
fn range<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let [Value::Int(n)] = args else {
        return Err(no_overload("lists.range", args));
    };
    if *n < 0 {
        return Err(fail("lists.range", "size must be non-negative"));
    }
    if *n > MAX_RANGE {
        return Err(fail("lists.range", "size exceeds the maximum of 1000000"));
    }
    Ok(list_of((0..(*n).max(0)).map(Value::Int).collect()))
}

/// Each element, checked to be orderable (a lone one too), as Kubernetes' `isSorted`, `min`
/// and `max` require of every element.
fn comparable_items<'a>(function: &str, list: &List<'a>) -> Result<Vec<Value<'a>>, EvalError> {
    let items: Vec<Value<'a>> = list_iter(list).collect();
    if let Some(bad) = items.iter().find(|v| !orderable(v)) {
        return Err(no_overload(function, std::slice::from_ref(bad)));
    }
    Ok(items)
}

fn is_sorted<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let [Value::List(list)] = args else {
        return Err(no_overload("isSorted", args));
    };
    // In order, as Kubernetes: the first pair out of order answers, before later elements
    // are looked at.
    let mut previous: Option<Value<'a>> = None;
    for item in list_iter(list) {
        if !orderable(&item) {
            return Err(no_overload("isSorted", &[item]));
        }
        if let Some(p) = &previous {
            if compare(p, &item) == Some(Ordering::Greater) {
                return Ok(Value::Bool(false));
            }
        }
        previous = Some(item);
    }
    Ok(Value::Bool(true))
}

/// The least (`wanted` Less) or greatest element: the first of equal ones; elements that do
/// not compare (a NaN, another type) leave the current one in place, as in Kubernetes.
fn extreme<'a>(
    function: &str,
    args: &[Value<'a>],
    wanted: Ordering,
) -> Result<Value<'a>, EvalError> {
    let [Value::List(list)] = args else {
        return Err(no_overload(function, args));
    };
    let items = comparable_items(function, list)?;
    let mut items = items.into_iter();
    let mut best = items
        .next()
        .ok_or_else(|| fail(function, format!("{function} called on empty list")))?;
    for item in items {
        if compare(&best, &item) == Some(wanted.reverse()) {
            best = item;
        }
    }
    Ok(best)
}

fn min<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    extreme("min", args, Ordering::Less)
}

fn max<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    extreme("max", args, Ordering::Greater)
}

/// The sum of numbers of one type, or of durations; `0` for an empty list. Overflow is an
/// error.
fn sum<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let [Value::List(list)] = args else {
        return Err(no_overload("sum", args));
    };
    let mut items = list_iter(list);
    let Some(mut total) = items.next() else {
        return Ok(Value::Int(0));
    };
    if !matches!(
        total,
        Value::Int(_) | Value::Uint(_) | Value::Double(_) | Value::Duration(_)
    ) {
        return Err(no_overload("sum", &[total]));
    }
    let overflow = || fail("sum", "integer overflow");
    for item in items {
        total = match (&total, &item) {
            (Value::Int(a), Value::Int(b)) => Value::Int(a.checked_add(*b).ok_or_else(overflow)?),
            (Value::Uint(a), Value::Uint(b)) => {
                Value::Uint(a.checked_add(*b).ok_or_else(overflow)?)
            }
            (Value::Double(a), Value::Double(b)) => Value::Double(a + b),
            (Value::Duration(a), Value::Duration(b)) => {
                Value::Duration(Duration(a.0.checked_add(b.0).ok_or_else(overflow)?))
            }
            _ => return Err(no_overload("_+_", &[total, item])),
        };
    }
    Ok(total)
}

pub(crate) fn index_of<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let [Value::List(list), item] = args else {
        return Err(no_overload("indexOf", args));
    };
    let found = list_iter(list).position(|e| equals(&e, item));
    Ok(Value::Int(found.map_or(-1, |i| i as i64)))
}

pub(crate) fn last_index_of<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let [Value::List(list), item] = args else {
        return Err(no_overload("lastIndexOf", args));
    };
    let found = list_iter(list).rposition(|e| equals(&e, item));
    Ok(Value::Int(found.map_or(-1, |i| i as i64)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::libs::support::testing::*;

    fn ints<'a>(xs: &[i64]) -> Value<'a> {
        l(xs.iter().map(|x| i(*x)).collect())
    }

    #[test]
    fn documented_examples() {
        check(
            "slice",
            slice(&[ints(&[1, 2, 3, 4]), i(1), i(3)]),
            ints(&[2, 3]),
        );
        check(
            "flatten",
            flatten(&[l(vec![i(1), l(vec![i(2), ints(&[3])])]), i(2)]),
            ints(&[1, 2, 3]),
        );
        check("distinct", distinct(&[ints(&[1, 2, 2, 1])]), ints(&[1, 2]));
        check("sort", sort(&[ints(&[3, 1, 2])]), ints(&[1, 2, 3]));
        check("lists.range", range(&[i(3)]), ints(&[0, 1, 2]));
        check(
            "isSorted",
            is_sorted(&[strs(&["a", "b", "b", "c"])]),
            b(true),
        );
        check("sum", sum(&[ints(&[1, 3])]), i(4));
        check("min", min(&[ints(&[3, 1, 2])]), i(1));
        check_err("max", max(&[l(vec![])]), "max called on empty list");
        check("indexOf", index_of(&[ints(&[1, 2, 2, 3]), i(2)]), i(1));
        check(
            "lastIndexOf",
            last_index_of(&[strs(&["a", "b", "b", "c"]), s("b")]),
            i(2),
        );
        // sortBy's expansion: [{'n': 2}, {'n': 1}].sortBy(e, e.n)[0].n == 1
        let (a, z) = (m(vec![(s("n"), i(2))]), m(vec![(s("n"), i(1))]));
        check(
            "sortBy",
            sort_by_associated_keys(&[l(vec![a.clone(), z.clone()]), ints(&[2, 1])]),
            l(vec![z, a]),
        );
    }

    #[test]
    fn kubernetes_probes() {
        check("isSorted ints", is_sorted(&[ints(&[1, 2, 3])]), b(true));
        check(
            "isSorted doubles",
            is_sorted(&[l(vec![d(2.0), d(1.0)])]),
            b(false),
        );
        check("isSorted empty", is_sorted(&[l(vec![])]), b(true));
        check(
            "isSorted mixed numbers",
            is_sorted(&[l(vec![i(1), d(1.5), u(2)])]),
            b(true),
        );
        check_err(
            "isSorted maps",
            is_sorted(&[l(vec![m(vec![])])]),
            "no matching overload",
        );
        check("sum doubles", sum(&[l(vec![d(1.0), d(3.0)])]), d(4.0));
        check(
            "sum durations",
            sum(&[l(vec![
                Value::Duration(Duration(60_000_000_000)),
                Value::Duration(Duration(1_000_000_000)),
            ])]),
            Value::Duration(Duration(61_000_000_000)),
        );
        check("sum empty", sum(&[l(vec![])]), i(0));
        check_err(
            "sum overflow",
            sum(&[ints(&[i64::MAX, 1])]),
            "integer overflow",
        );
        check_err(
            "sum mixed",
            sum(&[l(vec![i(1), s("a")])]),
            "no matching overload",
        );
        check_err("sum strings", sum(&[strs(&["a"])]), "no matching overload");
        check("min max", max(&[ints(&[1, 3])]), i(3));
        check("min single", min(&[ints(&[0])]), i(0));
        check("min mixed", min(&[l(vec![d(2.5), i(1), u(3)])]), i(1));
        check("max first of equals", max(&[l(vec![i(1), d(1.0)])]), i(1));
        check(
            "indexOf absent",
            index_of(&[l(vec![d(1.0)]), d(1.1)]),
            i(-1),
        );
        check("indexOf empty", index_of(&[l(vec![]), s("string")]), i(-1));
        check("indexOf cross", index_of(&[l(vec![u(1)]), i(1)]), i(0));
    }

    #[test]
    fn ext_list_edges() {
        check_err(
            "slice negative",
            slice(&[ints(&[1]), i(-1), i(0)]),
            "negative",
        );
        check_err(
            "slice reversed",
            slice(&[ints(&[1, 2]), i(2), i(1)]),
            "start index",
        );
        check_err("slice past", slice(&[ints(&[1, 2]), i(0), i(3)]), "length");
        check(
            "slice empty",
            slice(&[ints(&[1, 2]), i(2), i(2)]),
            ints(&[]),
        );
        check(
            "flatten one level",
            flatten(&[l(vec![ints(&[1]), l(vec![ints(&[2])])])]),
            l(vec![i(1), ints(&[2])]),
        );
        check(
            "flatten keeps maps",
            flatten(&[l(vec![m(vec![]), ints(&[1])])]),
            l(vec![m(vec![]), i(1)]),
        );
        check_err(
            "flatten negative",
            flatten(&[ints(&[1]), i(-1)]),
            "non-negative",
        );
        check(
            "distinct cross",
            distinct(&[l(vec![i(1), u(1), d(1.0), s("1")])]),
            l(vec![i(1), s("1")]),
        );
        check(
            "sort strings",
            sort(&[strs(&["b", "é", "a"])]),
            strs(&["a", "b", "é"]),
        );
        // Go's sort.Slice leaves a NaN where its algorithm does: nothing orders before it.
        check(
            "sort NaN",
            sort(&[l(vec![d(f64::NAN), d(1.0)])]),
            l(vec![d(f64::NAN), d(1.0)]),
        );
        check(
            "sort NaN second",
            sort(&[l(vec![d(2.0), d(f64::NAN), d(1.0)])]),
            l(vec![d(2.0), d(f64::NAN), d(1.0)]),
        );
        check_err("sort mixed", sort(&[l(vec![i(1), u(1)])]), "same type");
        check_err("sort maps", sort(&[l(vec![m(vec![])])]), "comparable");
        check_err(
            "sortBy sizes",
            sort_by_associated_keys(&[ints(&[1]), ints(&[])]),
            "same size",
        );
        check("range zero", range(&[i(0)]), ints(&[]));
        check_err("range negative", range(&[i(-5)]), "non-negative");
        check_err("range huge", range(&[i(i64::MAX)]), "maximum");
        check("reverse", reverse(&[ints(&[1, 2, 3])]), ints(&[3, 2, 1]));
    }

    #[test]
    fn tree_lists_read_in_place() {
        let doc = Doc::List(vec![Doc::int(3), Doc::int(1), Doc::int(2)]);
        check("sort tree", sort(&[doc.value()]), ints(&[1, 2, 3]));
        check("max tree", max(&[doc.value()]), i(3));
        check("indexOf tree", index_of(&[doc.value(), u(1)]), i(1));
        check("slice tree", slice(&[doc.value(), i(0), i(1)]), ints(&[3]));
        let nested = Doc::List(vec![Doc::List(vec![Doc::str("a")]), Doc::str("b")]);
        check(
            "flatten tree",
            flatten(&[nested.value()]),
            strs(&["a", "b"]),
        );
        let doubles = Doc::List(vec![Doc::double(0.5), Doc::double(0.5)]);
        check("sum tree", sum(&[doubles.value()]), d(1.0));
    }
}
