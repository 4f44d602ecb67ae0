//! Kubernetes' quantity library (k8s.io/apiserver/pkg/cel/library/quantity.go) over a port of
//! `resource.ParseQuantity` and the arithmetic of `resource.Quantity`.
//!
//! A quantity is kept as Kubernetes keeps it: a scaled `int64` while it fits (`value *
//! 10^scale`), else an arbitrary-precision decimal (`unscaled * 10^-scale`), because which one
//! it is decides `isInteger`/`asInteger` (Kubernetes answers `false` for the decimal form, and
//! for a scaled `int64` with a negative scale such as `1500m`). Equality and comparisons are on
//! the exact value, whatever the form. A value whose decimal form would need more than
//! [`MAX_DIGITS`] digits (`1e1000000000` added to `1m`) is an error rather than a huge number.
//!
//! `compareTo`, `isLessThan` and `isGreaterThan` are shared with semver: the calls with a
//! semver receiver go to [`super::semver`].

use super::semver;
use super::support::{fail, no_overload, opaque, opaque_type, opaque_value};
use crate::error::EvalError;
use crate::library::{Library, Style};
use crate::value::Value;
use num_bigint::{BigInt, Sign};
use std::cmp::Ordering;

/// The type name Kubernetes gives quantities.
pub const QUANTITY_TYPE: &str = "kubernetes.Quantity";

/// Most decimal digits a quantity's decimal form may be scaled to.
const MAX_DIGITS: i64 = 1024;
/// The finest scale Kubernetes keeps (nano), as an `inf.Dec` scale.
const NANO_SCALE: i64 = 9;

#[derive(Debug, Clone)]
enum Amount {
    /// `value * 10^scale`.
    Int { value: i64, scale: i32 },
    /// `unscaled * 10^-scale`.
    Dec { unscaled: BigInt, scale: i64 },
}

/// A resource quantity.
#[derive(Debug, Clone)]
pub struct Quantity(Amount);

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.cmp_value(other) == Ordering::Equal
    }
}

opaque_type!(Quantity, QUANTITY_TYPE);

pub fn register(library: &mut Library) {
    use Style::{Global, Receiver};
    library.add("quantity", Global, 1, to_quantity);
    library.add("isQuantity", Global, 1, is_quantity);
    library.add("sign", Global, 1, sign);
    library.add("sign", Receiver, 1, sign);
    library.add("isGreaterThan", Receiver, 2, is_greater_than);
    library.add("isLessThan", Receiver, 2, is_less_than);
    library.add("compareTo", Receiver, 2, compare_to);
    library.add("asApproximateFloat", Receiver, 1, as_approximate_float);
    library.add("asInteger", Receiver, 1, as_integer);
    library.add("isInteger", Receiver, 1, is_integer);
    library.add("add", Receiver, 2, add);
    library.add("sub", Receiver, 2, sub);
}

fn to_quantity<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    match args {
        [Value::String(s)] => Quantity::parse(s)
            .map(opaque_value)
            .map_err(|e| fail("quantity", e)),
        _ => Err(no_overload("quantity", args)),
    }
}

fn is_quantity<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    match args {
        [Value::String(s)] => Ok(Value::Bool(Quantity::parse(s).is_ok())),
        _ => Err(no_overload("isQuantity", args)),
    }
}

/// The one quantity argument.
fn one<'v>(function: &str, args: &'v [Value<'_>]) -> Result<&'v Quantity, EvalError> {
    match args {
        [q] => opaque::<Quantity>(q).ok_or_else(|| no_overload(function, args)),
        _ => Err(no_overload(function, args)),
    }
}

/// Two quantities, or `None` when the receiver is not a quantity (the semver overloads).
fn two<'v>(args: &'v [Value<'_>]) -> Option<(&'v Quantity, &'v Quantity)> {
    match args {
        [a, b] => Some((opaque::<Quantity>(a)?, opaque::<Quantity>(b)?)),
        _ => None,
    }
}

fn ordering(o: Ordering) -> i64 {
    match o {
        Ordering::Less => -1,
        Ordering::Equal => 0,
        Ordering::Greater => 1,
    }
}

fn sign<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let q = one("sign", args)?;
    Ok(Value::Int(match q.sign() {
        Sign::Minus => -1,
        Sign::NoSign => 0,
        Sign::Plus => 1,
    }))
}

fn is_greater_than<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    match two(args) {
        Some((a, b)) => Ok(Value::Bool(a.cmp_value(b) == Ordering::Greater)),
        None => semver::is_greater_than(args),
    }
}

fn is_less_than<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    match two(args) {
        Some((a, b)) => Ok(Value::Bool(a.cmp_value(b) == Ordering::Less)),
        None => semver::is_less_than(args),
    }
}

fn compare_to<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    match two(args) {
        Some((a, b)) => Ok(Value::Int(ordering(a.cmp_value(b)))),
        None => semver::compare_to(args),
    }
}

fn as_approximate_float<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    Ok(Value::Double(
        one("asApproximateFloat", args)?.approximate_float(),
    ))
}

fn as_integer<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    one("asInteger", args)?
        .as_int64()
        .map(Value::Int)
        .ok_or_else(|| fail("asInteger", "cannot convert value to integer"))
}

fn is_integer<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    Ok(Value::Bool(one("isInteger", args)?.as_int64().is_some()))
}

/// The receiver and the other operand (a quantity or an int).
fn operands(function: &str, args: &[Value<'_>]) -> Result<(Quantity, Quantity), EvalError> {
    let (Some(a), Some(b)) = (
        args.first().and_then(opaque::<Quantity>),
        match args.get(1) {
            Some(Value::Int(n)) => Some(Quantity::from_int(*n)),
            Some(other) => opaque::<Quantity>(other).cloned(),
            None => None,
        },
    ) else {
        return Err(no_overload(function, args));
    };
    if args.len() != 2 {
        return Err(no_overload(function, args));
    }
    Ok((a.clone(), b))
}

fn add<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let (a, b) = operands("add", args)?;
    a.plus(&b).map(opaque_value).map_err(|e| fail("add", e))
}

fn sub<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let (a, b) = operands("sub", args)?;
    a.minus(&b).map(opaque_value).map_err(|e| fail("sub", e))
}

const FORMAT_WRONG: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
const NUMERIC: &str = "unable to parse numeric part of quantity";
const SUFFIX: &str = "unable to parse quantity's suffix";
const TOO_LARGE: &str = "quantity is out of the supported range";

/// The parts `parseQuantityString` finds.
struct Parts<'a> {
    positive: bool,
    /// The number as written, sign included.
    value: &'a str,
    num: &'a str,
    denom: &'a str,
    suffix: &'a str,
}

/// Go's `parseQuantityString`, plus the rule of its documented regular expression that the
/// number has a digit or a dot.
fn split(s: &str) -> Result<Parts<'_>, &'static str> {
    let b = s.as_bytes();
    let end = b.len();
    let mut pos = 0;
    let mut positive = true;
    match b.first() {
        Some(b'-') => {
            positive = false;
            pos = 1;
        }
        Some(b'+') => pos = 1,
        _ => {}
    }
    if !b.get(pos).is_some_and(|c| c.is_ascii_digit() || *c == b'.') {
        return Err(FORMAT_WRONG);
    }
    while pos < end && b[pos] == b'0' {
        pos += 1;
    }
    if pos >= end {
        return Ok(Parts {
            positive,
            value: "0",
            num: "0",
            denom: "",
            suffix: "",
        });
    }
    let start = pos;
    while pos < end && b[pos].is_ascii_digit() {
        pos += 1;
    }
    let mut num = &s[start..pos];
    if pos >= end {
        return Ok(Parts {
            positive,
            value: s,
            num,
            denom: "",
            suffix: "",
        });
    }
    if num.is_empty() {
        num = "0";
    }
    let mut denom = "";
    if b[pos] == b'.' {
        pos += 1;
        let start = pos;
        while pos < end && b[pos].is_ascii_digit() {
            pos += 1;
        }
        denom = &s[start..pos];
        if pos >= end {
            return Ok(Parts {
                positive,
                value: s,
                num,
                denom,
                suffix: "",
            });
        }
    }
    let value = &s[..pos];
    let suffix_start = pos;
    while pos < end && b"eEinumkKMGTP".contains(&b[pos]) {
        pos += 1;
    }
    if pos < end && (b[pos] == b'-' || b[pos] == b'+') {
        pos += 1;
    }
    while pos < end && b[pos].is_ascii_digit() {
        pos += 1;
    }
    if pos < end {
        return Err(FORMAT_WRONG);
    }
    Ok(Parts {
        positive,
        value,
        num,
        denom,
        suffix: &s[suffix_start..],
    })
}

#[derive(Clone, Copy, PartialEq)]
enum Format {
    DecimalSi,
    BinarySi,
    DecimalExponent,
}

/// Go's `suffixHandler.interpret`: base, exponent, format.
fn interpret(suffix: &str) -> Option<(u32, i32, Format)> {
    let decimal = match suffix {
        "n" => Some(-9),
        "u" => Some(-6),
        "m" => Some(-3),
        "" => Some(0),
        "k" => Some(3),
        "M" => Some(6),
        "G" => Some(9),
        "T" => Some(12),
        "P" => Some(15),
        "E" => Some(18),
        _ => None,
    };
    if let Some(e) = decimal {
        return Some((10, e, Format::DecimalSi));
    }
    let binary = match suffix {
        "Ki" => Some(10),
        "Mi" => Some(20),
        "Gi" => Some(30),
        "Ti" => Some(40),
        "Pi" => Some(50),
        "Ei" => Some(60),
        _ => None,
    };
    if let Some(e) = binary {
        return Some((2, e, Format::BinarySi));
    }
    if suffix.len() > 1 && (suffix.starts_with('e') || suffix.starts_with('E')) {
        // Go parses a 64-bit exponent and keeps its low 32 bits.
        let parsed: i64 = suffix[1..].parse().ok()?;
        return Some((10, parsed as i32, Format::DecimalExponent));
    }
    None
}

fn pow10(n: i64) -> Result<BigInt, &'static str> {
    if !(0..=MAX_DIGITS).contains(&n) {
        return Err(TOO_LARGE);
    }
    Ok(BigInt::from(10u8).pow(n as u32))
}

/// Go's `positiveScaleInt64`: `base * 10^scale`, if it fits.
fn positive_scale(base: i64, scale: i64) -> Option<i64> {
    if base == 0 {
        return Some(0);
    }
    let mut value = base;
    for _ in 0..scale {
        value = value.checked_mul(10)?;
    }
    Some(value)
}

fn digits(n: &BigInt) -> i64 {
    if n.sign() == Sign::NoSign {
        0
    } else {
        n.magnitude().to_str_radix(10).len() as i64
    }
}

impl Quantity {
    fn from_int(value: i64) -> Quantity {
        Quantity(Amount::Int { value, scale: 0 })
    }

    /// Go's `resource.ParseQuantity`.
    pub fn parse(s: &str) -> Result<Quantity, &'static str> {
        if s.is_empty() {
            return Err(FORMAT_WRONG);
        }
        if s == "0" {
            return Ok(Quantity::from_int(0));
        }
        let parts = split(s)?;
        let (base, exponent, format) = interpret(parts.suffix).ok_or(SUFFIX)?;
        let (num, denom) = (parts.num, parts.denom);
        let (precision, mut scale, mantissa): (i64, i64, i64) = match format {
            Format::DecimalExponent | Format::DecimalSi => {
                (18 - (num.len() + denom.len()) as i64, exponent as i64, 1)
            }
            Format::BinarySi if exponent >= 0 && denom.is_empty() => (
                15 - num.len() as i64 - (exponent as f32 * 3.0 / 10.0) as i64 - 1,
                0,
                1i64 << exponent,
            ),
            Format::BinarySi => (-1, 0, 1),
        };
        if precision >= 0 {
            scale -= denom.len() as i64;
            if scale >= -NANO_SCALE {
                let shifted: i64 = format!("{num}{denom}").parse().map_err(|_| NUMERIC)?;
                if let Some(result) = shifted.checked_mul(mantissa) {
                    let value = if parts.positive { result } else { -result };
                    if let Ok(scale) = i32::try_from(scale) {
                        return Ok(Quantity(Amount::Int { value, scale }));
                    }
                }
            }
        }
        // The decimal form: the number as written, the suffix folded in, rounded up to nano.
        let (int_part, frac_part) = parts
            .value
            .trim_start_matches(['+', '-'])
            .split_once('.')
            .unwrap_or((parts.value.trim_start_matches(['+', '-']), ""));
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(NUMERIC);
        }
        let mut unscaled: BigInt = format!("0{int_part}{frac_part}")
            .parse()
            .map_err(|_| NUMERIC)?;
        let mut dec_scale = frac_part.len() as i64;
        if base == 10 {
            dec_scale -= exponent as i64;
        } else {
            unscaled <<= exponent as usize;
        }
        if unscaled.sign() != Sign::NoSign && dec_scale != NANO_SCALE {
            if dec_scale > NANO_SCALE {
                let drop = dec_scale - NANO_SCALE;
                if drop > digits(&unscaled) {
                    unscaled = BigInt::from(1);
                } else {
                    let divisor = pow10(drop)?;
                    let (q, r) = (&unscaled / &divisor, &unscaled % &divisor);
                    unscaled = if r.sign() == Sign::NoSign { q } else { q + 1 };
                }
            } else {
                let shift = NANO_SCALE - dec_scale;
                if digits(&unscaled) + shift > MAX_DIGITS {
                    return Err(TOO_LARGE);
                }
                unscaled *= pow10(shift)?;
            }
            dec_scale = NANO_SCALE;
        }
        if format == Format::BinarySi && dec_scale >= 0 {
            // Capped at the largest int64, as Kubernetes caps binary quantities.
            let max = BigInt::from(i64::MAX);
            if unscaled > &max * pow10(dec_scale)? {
                unscaled = max;
                dec_scale = 0;
            }
        }
        if !parts.positive {
            unscaled = -unscaled;
        }
        Ok(Quantity(Amount::Dec {
            unscaled,
            scale: dec_scale,
        }))
    }

    /// The value as `mantissa * 10^exponent`.
    fn decimal(&self) -> (BigInt, i64) {
        match &self.0 {
            Amount::Int { value, scale } => (BigInt::from(*value), *scale as i64),
            Amount::Dec { unscaled, scale } => (unscaled.clone(), -*scale),
        }
    }

    fn sign(&self) -> Sign {
        match &self.0 {
            Amount::Int { value, .. } => match value.cmp(&0) {
                Ordering::Less => Sign::Minus,
                Ordering::Equal => Sign::NoSign,
                Ordering::Greater => Sign::Plus,
            },
            Amount::Dec { unscaled, .. } => unscaled.sign(),
        }
    }

    /// Exact comparison, without scaling either value by more than their digits differ.
    fn cmp_value(&self, other: &Quantity) -> Ordering {
        let (s1, s2) = (self.sign(), other.sign());
        if s1 != s2 {
            return s1.cmp(&s2);
        }
        if s1 == Sign::NoSign {
            return Ordering::Equal;
        }
        let ((m1, e1), (m2, e2)) = (self.decimal(), other.decimal());
        let (d1, d2) = (digits(&m1) + e1, digits(&m2) + e2);
        let magnitude = if d1 != d2 {
            d1.cmp(&d2)
        } else {
            // Same order of magnitude: the exponents differ by at most the digit counts.
            let (a, b) = (m1.magnitude().clone(), m2.magnitude().clone());
            let ten = num_bigint::BigUint::from(10u8);
            match e1.cmp(&e2) {
                Ordering::Greater => (a * ten.pow((e1 - e2) as u32)).cmp(&b),
                Ordering::Less => a.cmp(&(b * ten.pow((e2 - e1) as u32))),
                Ordering::Equal => a.cmp(&b),
            }
        };
        if s1 == Sign::Minus {
            magnitude.reverse()
        } else {
            magnitude
        }
    }

    /// Go's `AsInt64`: only a scaled `int64` whose scale is not negative converts.
    fn as_int64(&self) -> Option<i64> {
        match &self.0 {
            Amount::Int { value, scale } if *scale >= 0 => positive_scale(*value, *scale as i64),
            _ => None,
        }
    }

    /// Go's `AsApproximateFloat64`.
    fn approximate_float(&self) -> f64 {
        let (base, exponent) = match &self.0 {
            Amount::Int { value, scale } => (*value as f64, *scale as i64),
            Amount::Dec { unscaled, scale } => (
                unscaled.to_string().parse::<f64>().unwrap_or(f64::NAN),
                -*scale,
            ),
        };
        if exponent == 0 {
            return base;
        }
        // Go's math.Pow10: exact powers, 0 below 1e-323 and +Inf above 1e308.
        let power = if exponent < -323 {
            0.0
        } else if exponent > 308 {
            f64::INFINITY
        } else {
            format!("1e{exponent}").parse::<f64>().unwrap_or(f64::NAN)
        };
        base * power
    }

    fn as_dec(&self) -> (BigInt, i64) {
        match &self.0 {
            Amount::Int { value, scale } => (BigInt::from(*value), -(*scale as i64)),
            Amount::Dec { unscaled, scale } => (unscaled.clone(), *scale),
        }
    }

    /// Go's `Quantity.Add`: `int64` arithmetic while it fits, else decimal.
    fn plus(&self, other: &Quantity) -> Result<Quantity, &'static str> {
        if let (
            Amount::Int {
                value: a,
                scale: sa,
            },
            Amount::Int {
                value: b,
                scale: sb,
            },
        ) = (&self.0, &other.0)
        {
            if let Some(sum) = int_add((*a, *sa), (*b, *sb)) {
                return Ok(Quantity(Amount::Int {
                    value: sum.0,
                    scale: sum.1,
                }));
            }
        }
        let ((ua, sa), (ub, sb)) = (self.as_dec(), other.as_dec());
        let scale = sa.max(sb);
        let align = |u: BigInt, s: i64| -> Result<BigInt, &'static str> {
            if s == scale {
                return Ok(u);
            }
            if digits(&u) + (scale - s) > MAX_DIGITS {
                return Err(TOO_LARGE);
            }
            Ok(u * pow10(scale - s)?)
        };
        let unscaled = align(ua, sa)? + align(ub, sb)?;
        Ok(Quantity(Amount::Dec { unscaled, scale }))
    }

    fn minus(&self, other: &Quantity) -> Result<Quantity, &'static str> {
        let negated = match &other.0 {
            Amount::Int { value, scale } => match value.checked_neg() {
                Some(value) => Amount::Int {
                    value,
                    scale: *scale,
                },
                None => Amount::Dec {
                    unscaled: -BigInt::from(*value),
                    scale: -(*scale as i64),
                },
            },
            Amount::Dec { unscaled, scale } => Amount::Dec {
                unscaled: -unscaled,
                scale: *scale,
            },
        };
        self.plus(&Quantity(negated))
    }
}

/// Go's `int64Amount.Add`.
fn int_add(a: (i64, i32), b: (i64, i32)) -> Option<(i64, i32)> {
    if b.0 == 0 {
        return Some(a);
    }
    if a.0 == 0 {
        return Some(b);
    }
    match a.1.cmp(&b.1) {
        Ordering::Equal => Some((a.0.checked_add(b.0)?, a.1)),
        Ordering::Greater => {
            let c = positive_scale(a.0, (a.1 as i64) - (b.1 as i64))?;
            Some((c.checked_add(b.0)?, b.1))
        }
        Ordering::Less => {
            let c = positive_scale(b.0, (b.1 as i64) - (a.1 as i64))?;
            Some((a.0.checked_add(c)?, a.1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn parses_as_kubernetes_does() {
        for s in [
            "0", "1", "1.5", "100m", "1Gi", "1.5Gi", "1e3", "1E3", "-1", "+1", ".5", "1.", "5n",
            "0.1n", "1e-10",
        ] {
            q(s);
        }
        for s in [
            "", "Mi", "1,3G", "200K", "Three", "10Mo", "10Mm", "1e", "-", "1.1.1", " 1",
        ] {
            assert!(Quantity::parse(s).is_err(), "{s}");
        }
        assert_eq!(q("0.1n"), q("1n"), "rounded up to nano");
        assert_eq!(q("1e-10"), q("1n"));
        assert_eq!(q("-0.1n"), q("-1n"), "away from zero");
    }

    #[test]
    fn integer_conversion_follows_the_representation() {
        assert_eq!(q("50k").as_int64(), Some(50000));
        assert_eq!(q("1Gi").as_int64(), Some(1 << 30));
        assert_eq!(
            q("1500m").as_int64(),
            None,
            "a negative scale never converts"
        );
        assert_eq!(
            q("1.5Gi").as_int64(),
            None,
            "the decimal form never converts"
        );
        assert_eq!(
            q("999999999999999999").as_int64(),
            Some(999_999_999_999_999_999)
        );
        assert_eq!(
            q("9223372036854775807").as_int64(),
            None,
            "19 digits take the decimal form"
        );
        assert_eq!(q("1e30").as_int64(), None);
        assert_eq!(q("0e2000000000").as_int64(), Some(0));
    }

    #[test]
    fn compares_exact_values_across_forms() {
        assert_eq!(q("1.5Gi").cmp_value(&q("1536Mi")), Ordering::Equal);
        assert_eq!(
            q("1e2000000000").cmp_value(&q("1e1999999999")),
            Ordering::Greater
        );
        assert_eq!(q("-1e2000000000").cmp_value(&q("1")), Ordering::Less);
        assert_eq!(q("100m").cmp_value(&q("0.1")), Ordering::Equal);
        assert!(
            q("1e2000000000").plus(&q("1m")).is_err(),
            "bounded, not materialised"
        );
        assert_eq!(q("50k").plus(&q("20")).unwrap(), q("50.02k"));
        assert_eq!(
            q("9223372036854775807").plus(&q("1")).unwrap(),
            q("9223372036854775808")
        );
    }

    use crate::libs::support::testing::*;

    fn qv(s: &str) -> Value<'static> {
        to_quantity(&[Value::string(s)]).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn documented_examples() {
        check(
            "==",
            Ok(b(crate::libs::support::equals(&qv("200M"), &qv("0.2G")))),
            b(true),
        );
        check("isQuantity", is_quantity(&[s("200K")]), b(false));
        check("compareTo", compare_to(&[qv("50M"), qv("50Mi")]), i(-1));
        check(
            "isLessThan",
            is_less_than(&[qv("50M"), qv("100M")]),
            b(true),
        );
        check(
            "isGreaterThan",
            is_greater_than(&[qv("150Mi"), qv("100Mi")]),
            b(true),
        );
        check("add int", add(&[qv("50k"), i(20)]), qv("50020"));
        check("sub", sub(&[qv("50k"), qv("20")]), qv("49.98k"));
        check("asInteger", as_integer(&[qv("50k")]), i(50000));
        check(
            "isInteger",
            is_integer(&[qv("9999999999999999999999999999999999999G")]),
            b(false),
        );
        check(
            "asApproximateFloat",
            as_approximate_float(&[qv("50.703k")]),
            d(50703.0),
        );
        check("sign", sign(&[qv("-1")]), i(-1));
    }

    #[test]
    fn functions_check_their_arguments() {
        check_err("parse", to_quantity(&[s("Mi")]), "quantities must match");
        check_err(
            "kind",
            to_quantity(&[i(1)]),
            "no matching overload for 'quantity'",
        );
        check_err("asInteger", as_integer(&[qv("1500m")]), "cannot convert");
        check_err(
            "add string",
            add(&[qv("1"), s("1")]),
            "no matching overload for 'add'",
        );
        check_err(
            "sign string",
            sign(&[s("1")]),
            "no matching overload for 'sign'",
        );
        check_err(
            "compareTo mixed",
            compare_to(&[qv("1"), i(1)]),
            "no matching overload",
        );
        check("sign zero", sign(&[qv("0")]), i(0));
        check("add quantities", add(&[qv("1Gi"), qv("1Gi")]), qv("2Gi"));
        check_err(
            "bounded",
            add(&[qv("1e2147483647"), qv("1m")]),
            "out of the supported range",
        );
        let err = to_quantity(&[s("secret-value")]).unwrap_err();
        assert!(!err.0.contains("secret"), "{err}");
    }

    #[test]
    fn quantities_are_opaque_values() {
        let v = qv("1Gi");
        assert_eq!(crate::libs::support::type_name(&v), "kubernetes.Quantity");
        assert!(crate::libs::support::equals(&v, &qv("1024Mi")));
        assert!(!crate::libs::support::equals(&v, &i(1073741824)));
    }
}
