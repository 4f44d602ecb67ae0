//! cel-go's sets extension: `sets.contains`, `sets.equivalent`, `sets.intersects` on lists,
//! with CEL equality (`1`, `1u` and `1.0` are one element).

use super::support::{equals, list_items, no_overload};
use crate::error::EvalError;
use crate::library::{Library, Style};
use crate::value::Value;

pub fn register(library: &mut Library) {
    library.add("sets.contains", Style::Global, 2, contains);
    library.add("sets.equivalent", Style::Global, 2, equivalent);
    library.add("sets.intersects", Style::Global, 2, intersects);
}

/// The two lists' elements, or the overload error.
fn two_lists<'a>(
    function: &str,
    args: &[Value<'a>],
) -> Result<(Vec<Value<'a>>, Vec<Value<'a>>), EvalError> {
    match args {
        [Value::List(a), Value::List(b)] => Ok((list_items(a), list_items(b))),
        _ => Err(no_overload(function, args)),
    }
}

/// Whether every element of `b` is in `a`.
fn includes_all(a: &[Value<'_>], b: &[Value<'_>]) -> bool {
    b.iter().all(|x| a.iter().any(|y| equals(x, y)))
}

fn contains<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let (a, b) = two_lists("sets.contains", args)?;
    Ok(Value::Bool(includes_all(&a, &b)))
}

fn equivalent<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let (a, b) = two_lists("sets.equivalent", args)?;
    Ok(Value::Bool(includes_all(&a, &b) && includes_all(&b, &a)))
}

fn intersects<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let (a, b) = two_lists("sets.intersects", args)?;
    Ok(Value::Bool(
        a.iter().any(|x| b.iter().any(|y| equals(x, y))),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::libs::support::testing::*;

    #[test]
    fn documented_examples_and_probes() {
        type SetFn = fn(&[Value<'static>]) -> Result<Value<'static>, EvalError>;
        let cases: Vec<(SetFn, Value, Value, bool)> = vec![
            (
                contains,
                l(vec![i(1), i(2), i(3)]),
                l(vec![i(2), d(3.0)]),
                true,
            ),
            (
                equivalent,
                l(vec![i(1), i(2)]),
                l(vec![i(2), i(1), i(1)]),
                true,
            ),
            (intersects, l(vec![i(1), i(2)]), l(vec![i(3)]), false),
            (contains, l(vec![]), l(vec![]), true),
            (contains, l(vec![i(1), i(2), i(3)]), l(vec![i(4)]), false),
            (
                contains,
                l(vec![i(1), d(2.0), u(3)]),
                l(vec![d(1.0), u(2), i(3)]),
                true,
            ),
            (equivalent, l(vec![]), l(vec![]), true),
            (
                equivalent,
                l(vec![i(1), i(2), i(3)]),
                l(vec![u(3), d(2.0), i(1)]),
                true,
            ),
            (
                equivalent,
                l(vec![i(1), i(2)]),
                l(vec![i(2), i(2), i(2)]),
                false,
            ),
            (intersects, l(vec![i(1)]), l(vec![i(1), i(2)]), true),
            (
                intersects,
                l(vec![l(vec![i(1)]), l(vec![i(2), i(3)])]),
                l(vec![l(vec![i(1), i(2)]), l(vec![i(2), d(3.0)])]),
                true,
            ),
            (intersects, l(vec![i(1)]), l(vec![]), false),
        ];
        for (f, a, b2, want) in cases {
            check(
                &format!("{a:?} {b2:?}"),
                f(&[a.clone(), b2.clone()]),
                b(want),
            );
        }
        let doc = Doc::List(vec![Doc::str("a"), Doc::str("b")]);
        check("tree", contains(&[doc.value(), strs(&["b"])]), b(true));
        check_err(
            "kinds",
            contains(&[s("a"), l(vec![])]),
            "no matching overload for 'sets.contains'",
        );
    }
}
