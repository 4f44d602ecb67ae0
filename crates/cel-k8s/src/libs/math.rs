//! cel-go's math extension: `math.greatest`/`math.least` (macros expanding to `math.@max` and
//! `math.@min`, registered here, plus the names themselves for any argument count up to
//! [`MAX_VARARGS`]), `math.abs`, `math.sign`, `math.ceil`, `math.floor`, `math.round`,
//! `math.trunc`, `math.isInf`, `math.isNaN`, `math.isFinite`, `math.sqrt` and the bitwise
//! functions.

use super::support::{compare, fail, is_number, list_items, no_overload};
use crate::error::EvalError;
use crate::library::{Function, Library, Style};
use crate::value::Value;
use std::cmp::Ordering;

/// Most arguments `math.greatest(...)` and `math.least(...)` are registered for when called
/// without the macro expansion.
pub const MAX_VARARGS: usize = 16;

pub fn register(library: &mut Library) {
    use Style::Global;
    for (name, f) in [("math.@max", max as Function), ("math.@min", min)] {
        library.add(name, Global, 1, f);
        library.add(name, Global, 2, f);
    }
    for n in 1..=MAX_VARARGS {
        library.add("math.greatest", Global, n, greatest);
        library.add("math.least", Global, n, least);
    }
    let unary: [(&'static str, Function); 10] = [
        ("math.ceil", ceil),
        ("math.floor", floor),
        ("math.round", round),
        ("math.trunc", trunc),
        ("math.isInf", is_inf),
        ("math.isNaN", is_nan),
        ("math.isFinite", is_finite),
        ("math.abs", abs),
        ("math.sign", sign),
        ("math.sqrt", sqrt),
    ];
    for (name, f) in unary {
        library.add(name, Global, 1, f);
    }
    library.add("math.bitAnd", Global, 2, bit_and);
    library.add("math.bitOr", Global, 2, bit_or);
    library.add("math.bitXor", Global, 2, bit_xor);
    library.add("math.bitNot", Global, 1, bit_not);
    library.add("math.bitShiftLeft", Global, 2, bit_shift_left);
    library.add("math.bitShiftRight", Global, 2, bit_shift_right);
}

/// cel-go's `maxPair`/`minPair`: `first` when it is strictly greater (less), else `second`;
/// values that do not compare (NaN, non-numbers) are an error.
fn pair<'a>(
    function: &str,
    first: Value<'a>,
    second: Value<'a>,
    wanted: Ordering,
) -> Result<Value<'a>, EvalError> {
    if !is_number(&first) || !is_number(&second) {
        return Err(no_overload(function, &[first, second]));
    }
    match compare(&first, &second) {
        Some(o) if o == wanted => Ok(first),
        Some(_) => Ok(second),
        None => Err(fail(function, "NaN values cannot be ordered")),
    }
}

fn extreme<'a>(
    function: &str,
    args: &[Value<'a>],
    wanted: Ordering,
) -> Result<Value<'a>, EvalError> {
    let items = match args {
        [Value::List(list)] => {
            let items = list_items(list);
            if items.is_empty() {
                return Err(fail(function, "the list argument must not be empty"));
            }
            items
        }
        [] => return Err(no_overload(function, args)),
        _ => args.to_vec(),
    };
    let mut items = items.into_iter();
    let mut best = items.next().unwrap_or(Value::Null);
    if !is_number(&best) {
        return Err(no_overload(function, &[best]));
    }
    for item in items {
        best = pair(function, best, item, wanted)?;
    }
    Ok(best)
}

fn max<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    extreme("math.@max", args, Ordering::Greater)
}

fn min<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    extreme("math.@min", args, Ordering::Less)
}

fn greatest<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    extreme("math.greatest", args, Ordering::Greater)
}

fn least<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    extreme("math.least", args, Ordering::Less)
}

fn double_op<'a>(
    name: &str,
    args: &[Value<'a>],
    f: fn(f64) -> Value<'a>,
) -> Result<Value<'a>, EvalError> {
    match args {
        [Value::Double(x)] => Ok(f(*x)),
        _ => Err(no_overload(name, args)),
    }
}

fn ceil<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    double_op("math.ceil", args, |x| Value::Double(x.ceil()))
}

fn floor<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    double_op("math.floor", args, |x| Value::Double(x.floor()))
}

/// Half away from zero, as Go's `math.Round`.
fn round<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    double_op("math.round", args, |x| Value::Double(x.round()))
}

fn trunc<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    double_op("math.trunc", args, |x| Value::Double(x.trunc()))
}

fn is_inf<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    double_op("math.isInf", args, |x| Value::Bool(x.is_infinite()))
}

fn is_nan<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    double_op("math.isNaN", args, |x| Value::Bool(x.is_nan()))
}

fn is_finite<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    double_op("math.isFinite", args, |x| Value::Bool(x.is_finite()))
}

fn abs<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    match args {
        [Value::Double(x)] => Ok(Value::Double(x.abs())),
        [Value::Int(x)] => x
            .checked_abs()
            .map(Value::Int)
            .ok_or_else(|| fail("math.abs", "integer overflow")),
        [Value::Uint(x)] => Ok(Value::Uint(*x)),
        _ => Err(no_overload("math.abs", args)),
    }
}

/// -1, 0 or 1 in the argument's type (NaN for NaN, both zeros 0.0).
fn sign<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    match args {
        [Value::Double(x)] => Ok(Value::Double(if *x > 0.0 {
            1.0
        } else if *x < 0.0 {
            -1.0
        } else if *x == 0.0 {
            0.0
        } else {
            *x
        })),
        [Value::Int(x)] => Ok(Value::Int(x.signum())),
        [Value::Uint(x)] => Ok(Value::Uint(u64::from(*x != 0))),
        _ => Err(no_overload("math.sign", args)),
    }
}

fn sqrt<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    match args {
        [Value::Double(x)] => Ok(Value::Double(x.sqrt())),
        [Value::Int(x)] => Ok(Value::Double((*x as f64).sqrt())),
        [Value::Uint(x)] => Ok(Value::Double((*x as f64).sqrt())),
        _ => Err(no_overload("math.sqrt", args)),
    }
}

fn bitwise<'a>(
    name: &str,
    args: &[Value<'a>],
    f: fn(u64, u64) -> u64,
) -> Result<Value<'a>, EvalError> {
    match args {
        [Value::Int(a), Value::Int(b)] => Ok(Value::Int(f(*a as u64, *b as u64) as i64)),
        [Value::Uint(a), Value::Uint(b)] => Ok(Value::Uint(f(*a, *b))),
        _ => Err(no_overload(name, args)),
    }
}

fn bit_and<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    bitwise("math.bitAnd", args, |a, b| a & b)
}

fn bit_or<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    bitwise("math.bitOr", args, |a, b| a | b)
}

fn bit_xor<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    bitwise("math.bitXor", args, |a, b| a ^ b)
}

fn bit_not<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    match args {
        [Value::Int(a)] => Ok(Value::Int(!a)),
        [Value::Uint(a)] => Ok(Value::Uint(!a)),
        _ => Err(no_overload("math.bitNot", args)),
    }
}

/// The shift, `None` when it shifts every bit out; a negative one is an error.
fn shift(name: &str, bits: i64) -> Result<Option<u32>, EvalError> {
    if bits < 0 {
        return Err(fail(name, "negative offset"));
    }
    Ok(u32::try_from(bits).ok().filter(|b| *b < 64))
}

fn bit_shift_left<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    const NAME: &str = "math.bitShiftLeft";
    match args {
        [Value::Int(x), Value::Int(bits)] => {
            Ok(Value::Int(shift(NAME, *bits)?.map_or(0, |b| x << b)))
        }
        [Value::Uint(x), Value::Int(bits)] => {
            Ok(Value::Uint(shift(NAME, *bits)?.map_or(0, |b| x << b)))
        }
        _ => Err(no_overload(NAME, args)),
    }
}

/// A logical shift: the sign is not extended.
fn bit_shift_right<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    const NAME: &str = "math.bitShiftRight";
    match args {
        [Value::Int(x), Value::Int(bits)] => Ok(Value::Int(
            shift(NAME, *bits)?.map_or(0, |b| ((*x as u64) >> b) as i64),
        )),
        [Value::Uint(x), Value::Int(bits)] => {
            Ok(Value::Uint(shift(NAME, *bits)?.map_or(0, |b| x >> b)))
        }
        _ => Err(no_overload(NAME, args)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::libs::support::testing::*;

    #[test]
    fn documented_examples() {
        check("greatest", greatest(&[i(1), i(5), i(3)]), i(5));
        check("least", least(&[l(vec![d(3.0), d(2.0)])]), d(2.0));
        check("abs", abs(&[i(-2)]), i(2));
        check("ceil", ceil(&[d(1.2)]), d(2.0));
        check("floor", floor(&[d(1.8)]), d(1.0));
        check("round", round(&[d(2.5)]), d(3.0));
        check("trunc", trunc(&[d(-1.5)]), d(-1.0));
        check("sign", sign(&[i(-5)]), i(-1));
        check("sqrt", sqrt(&[i(16)]), d(4.0));
        check("isFinite", is_finite(&[d(1.0)]), b(true));
        check("isInf", is_inf(&[d(1.0 / 0.0)]), b(true));
        check("isNaN", is_nan(&[d(f64::NAN)]), b(true));
        check("bitAnd", bit_and(&[i(6), i(3)]), i(2));
        check("bitOr", bit_or(&[i(1), i(2)]), i(3));
        check("bitXor", bit_xor(&[i(3), i(1)]), i(2));
        check("bitNot", bit_not(&[i(0)]), i(-1));
        check("bitShiftLeft", bit_shift_left(&[i(1), i(3)]), i(8));
        check("bitShiftRight", bit_shift_right(&[i(8), i(3)]), i(1));
    }

    #[test]
    fn extremes_as_cel_go() {
        check("@max one", max(&[i(1)]), i(1));
        check("@max pair mixed", max(&[i(1), d(1.5)]), d(1.5));
        check("@max equal keeps second", max(&[i(1), u(1)]), u(1));
        check(
            "@min list mixed",
            min(&[l(vec![u(3), i(-1), d(2.0)])]),
            i(-1),
        );
        check_err("@max empty", max(&[l(vec![])]), "must not be empty");
        check_err(
            "@max strings",
            max(&[s("a"), s("b")]),
            "no matching overload",
        );
        check_err(
            "@max list of strings",
            max(&[strs(&["a"])]),
            "no matching overload",
        );
        check_err("@max NaN", max(&[d(f64::NAN), i(1)]), "NaN");
        let doc = Doc::List(vec![Doc::int(4), Doc::int(9)]);
        check("@max tree", max(&[doc.value()]), i(9));
    }

    #[test]
    fn edges() {
        check_err("abs min", abs(&[i(i64::MIN)]), "overflow");
        check("abs uint", abs(&[u(3)]), u(3));
        check("abs -0", abs(&[d(-0.0)]), d(0.0));
        check("sign -0", sign(&[d(-0.0)]), d(0.0));
        check("sign NaN", sign(&[d(f64::NAN)]), d(f64::NAN));
        check("sign uint", sign(&[u(7)]), u(1));
        check("round -2.5", round(&[d(-2.5)]), d(-3.0));
        check("sqrt negative", sqrt(&[d(-1.0)]), d(f64::NAN));
        check("shift all out", bit_shift_left(&[i(1), i(64)]), i(0));
        check(
            "shift huge",
            bit_shift_right(&[u(u64::MAX), i(i64::MAX)]),
            u(0),
        );
        check(
            "shift right logical",
            bit_shift_right(&[i(-1), i(60)]),
            i(15),
        );
        check_err(
            "shift negative",
            bit_shift_left(&[i(1), i(-1)]),
            "negative offset",
        );
        check("bitAnd uint", bit_and(&[u(6), u(3)]), u(2));
        check_err(
            "bitAnd mixed",
            bit_and(&[i(6), u(3)]),
            "no matching overload",
        );
        check_err(
            "ceil int",
            ceil(&[i(1)]),
            "no matching overload for 'math.ceil' applied to '(int)'",
        );
    }
}
