//! Kubernetes' lists library: `isSorted`, `sum`, `min`, `max`, `indexOf`, `lastIndexOf` and
//! (version 1, Kubernetes 1.37) `includes` on any list (k8s.io/apiserver/pkg/cel/library/lists.go).

use super::{elements, fail, owned, take};
use cel::common::types::{CelBool, CelInt, DYN_TYPE, LIST_TYPE};
use cel::common::value::{CowVal, Val};
use cel::{DeclarationError, Env, ExecutionError};
use std::cmp::Ordering;

pub(super) fn register(env: &mut Env) -> Result<(), DeclarationError> {
    env.add_member_overload("isSorted", "list.isSorted()", LIST_TYPE, vec![], is_sorted)?;
    env.add_member_overload("sum", "list.sum()", LIST_TYPE, vec![], sum)?;
    env.add_member_overload("min", "list.min()", LIST_TYPE, vec![], min)?;
    env.add_member_overload("max", "list.max()", LIST_TYPE, vec![], max)?;
    env.add_member_overload(
        "indexOf",
        "list.indexOf(dyn)",
        LIST_TYPE,
        vec![DYN_TYPE],
        index_of,
    )?;
    env.add_member_overload(
        "lastIndexOf",
        "list.lastIndexOf(dyn)",
        LIST_TYPE,
        vec![DYN_TYPE],
        last_index_of,
    )?;
    env.add_member_overload(
        "includes",
        "list.includes(dyn)",
        LIST_TYPE,
        vec![DYN_TYPE],
        includes,
    )?;
    Ok(())
}

/// `a` compared to `b`, for elements that can be ordered (numbers of any kind together).
fn compare(function: &str, a: &dyn Val, b: &dyn Val) -> Result<Ordering, ExecutionError> {
    let comparer = a.as_comparer().ok_or_else(|| {
        fail(
            function,
            format!("elements of type {} cannot be ordered", a.get_type().name()),
        )
    })?;
    comparer.compare(b).map_err(|_| {
        fail(
            function,
            format!(
                "a {} cannot be compared to a {}",
                a.get_type().name(),
                b.get_type().name()
            ),
        )
    })
}

fn is_sorted<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let [list] = take(args)?;
    let items = elements("isSorted", list.as_ref())?;
    for pair in items.windows(2) {
        if compare("isSorted", pair[0], pair[1])? == Ordering::Greater {
            return Ok(owned(CelBool::from(false)));
        }
    }
    if let [only] = items.as_slice() {
        // A lone element must still be of an ordered type.
        compare("isSorted", *only, *only)?;
    }
    Ok(owned(CelBool::from(true)))
}

/// The sum of the elements (numbers of one type, or durations); `0` for an empty list.
fn sum<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let [list] = take(args)?;
    let items = elements("sum", list.as_ref())?;
    let Some((first, rest)) = items.split_first() else {
        return Ok(owned(CelInt::from(0)));
    };
    let mut total: Box<dyn Val + 'v> = first.clone_as_boxed();
    for item in rest {
        let adder = total.as_adder().ok_or_else(|| {
            fail(
                "sum",
                format!(
                    "elements of type {} cannot be added",
                    total.get_type().name()
                ),
            )
        })?;
        let next = adder.add(*item).map_err(|e| match e {
            ExecutionError::Overflow(..) => fail("sum", "integer overflow"),
            _ => fail(
                "sum",
                format!(
                    "a {} cannot be added to a {}",
                    item.get_type().name(),
                    total.get_type().name()
                ),
            ),
        })?;
        total = next.into_owned();
    }
    Ok(CowVal::Owned(total))
}

fn extreme<'b, 'v>(
    function: &str,
    args: Vec<CowVal<'b, 'v>>,
    replace_when: Ordering,
) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let [list] = take(args)?;
    let items = elements(function, list.as_ref())?;
    let Some((first, rest)) = items.split_first() else {
        return Err(fail(function, format!("{function} called on empty list")));
    };
    let mut best = *first;
    for item in rest {
        if compare(function, best, *item)? == replace_when {
            best = *item;
        }
    }
    if rest.is_empty() {
        compare(function, best, best)?;
    }
    Ok(CowVal::Owned(best.clone_as_boxed()))
}

fn min<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    extreme("min", args, Ordering::Greater)
}

fn max<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    extreme("max", args, Ordering::Less)
}

fn index_of<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let [list, item] = take(args)?;
    let items = elements("indexOf", list.as_ref())?;
    let found = items.iter().position(|e| e.equals(item.as_ref()));
    Ok(owned(CelInt::from(found.map_or(-1, |i| i as i64))))
}

fn last_index_of<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let [list, item] = take(args)?;
    let items = elements("lastIndexOf", list.as_ref())?;
    let found = items.iter().rposition(|e| e.equals(item.as_ref()));
    Ok(owned(CelInt::from(found.map_or(-1, |i| i as i64))))
}

fn includes<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let [list, item] = take(args)?;
    let items = elements("includes", list.as_ref())?;
    let found = items.iter().any(|e| e.equals(item.as_ref()));
    Ok(owned(CelBool::from(found)))
}
