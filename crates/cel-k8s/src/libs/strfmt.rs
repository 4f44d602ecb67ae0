//! `string.format(list)` as Kubernetes prints it: cel-go's strings extension at the version
//! Kubernetes enables (`ext.StringsVersion(2)`), whose formatter is cel-go's original one
//! (`ext/formatting.go`), with the `en_US` locale:
//!
//! - `%s`: a value as `string()` gives it (a double as Go's `%g`: `1e+06`, a duration as
//!   `6347.25s`, a timestamp as RFC 3339); a list or map in CEL literal syntax, with strings
//!   quoted, doubles as `%.6f`, `duration("…")` and `timestamp("…")`, map keys sorted
//!   (`{"a":1, "b":2}`).
//! - `%d`: ints and uints only; `%b`, `%o`, `%x`, `%X` as Go prints them (a negative int as
//!   `-ff`; `%x` of a string or bytes is their hex).
//! - `%f` (doubles only): locale digits, grouped (`1,234.500000`), `∞` and `NaN`; `%.Nf` sets
//!   the precision.
//! - `%e` (doubles only): `1.052033×10⁰³` (superscript exponent), always six digits: cel-go
//!   passes the precision as a width there (`∞` and `NaN` are padded to it).
//! - Negative zero prints without its sign in `%f` and `%e`; `%s` of bytes that are not UTF-8 is
//!   an error.
//!
//! A call whose template is a literal and whose arguments are a list literal is checked when the
//! expression is compiled, from the arguments' types ([`check_template`]), as cel-go's
//! `stringFormatValidator` does: a clause given the wrong type, a template that does not parse,
//! too few or too many arguments refuse the expression.
//!
//! Precision is bounded by [`MAX_PRECISION`] (cel-go has no bound; the cost limit stops it).

use super::support::{fail, list_items, map_entries, no_overload, type_name, type_value_name};
use crate::error::EvalError;
use crate::library::{Library, Style};
use crate::value::{Duration, Timestamp, Value};

/// The default precision of `%f` and `%e`.
const DEFAULT_PRECISION: usize = 6;
/// The largest precision a clause may ask for (the result is written out in full).
pub const MAX_PRECISION: usize = 1000;

pub fn register(library: &mut Library) {
    library.add("format", Style::Receiver, 2, format);
}

fn format<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let [Value::String(template), Value::List(list)] = args else {
        return Err(no_overload("format", args));
    };
    let items = list_items(list);
    format_with(template, &items)
        .map(Value::string)
        .map_err(|e| fail("format", e))
}

/// The template with each clause replaced by its argument, in order.
fn format_with(template: &str, args: &[Value<'_>]) -> Result<String, String> {
    let bytes = template.as_bytes();
    let mut out = String::with_capacity(template.len());
    let mut i = 0;
    let mut next = 0;
    let mut literal_start = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            i += 1;
            continue;
        }
        out.push_str(&template[literal_start..i]);
        if bytes.get(i + 1) == Some(&b'%') {
            out.push('%');
            i += 2;
            literal_start = i;
            continue;
        }
        let arg = args
            .get(next)
            .ok_or_else(|| format!("index {next} out of range"))?;
        if i + 1 >= bytes.len() {
            return Err("unexpected end of string".into());
        }
        let (clause, read) = Clause::parse(&template[i + 1..])
            .map_err(|e| format!("could not parse formatting clause: {e}"))?;
        out.push_str(
            &clause
                .format(arg)
                .map_err(|e| format!("error during formatting: {e}"))?,
        );
        i += 1 + read;
        literal_start = i;
        next += 1;
    }
    out.push_str(&template[literal_start..]);
    Ok(out)
}

/// What the compiler knows of one argument of a literal argument list: its type's kind, as
/// cel-go names it (`int`, `list`, `google.protobuf.Duration`; `None` for `dyn`, which every
/// clause takes), and for `%s` the kind of the first member of a list or map literal (itself
/// included) that `%s` cannot print, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct StaticArg {
    pub kind: Option<String>,
    pub not_printable: Option<String>,
}

/// The kinds `%s` prints (cel-go's `verifyString`).
pub const PRINTABLE_KINDS: &[&str] = &[
    "list",
    "map",
    "int",
    "uint",
    "double",
    "bool",
    "string",
    "google.protobuf.Timestamp",
    "bytes",
    "google.protobuf.Duration",
    "type",
    "null_type",
];

/// Checks a literal template against its literal arguments' types, as cel-go's
/// `stringFormatValidator` does when the expression is compiled: the error it reports.
pub fn check_template(template: &str, args: &[StaticArg]) -> Result<(), String> {
    let bytes = template.as_bytes();
    let mut i = 0;
    let mut next = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            i += 1;
            continue;
        }
        if bytes.get(i + 1) == Some(&b'%') {
            i += 2;
            continue;
        }
        if i + 1 >= bytes.len() {
            return Err("unexpected end of string".into());
        }
        let arg = args
            .get(next)
            .ok_or_else(|| format!("index {next} out of range"))?;
        let (clause, read) = Clause::parse(&template[i + 1..])
            .map_err(|e| format!("could not parse formatting clause: {e}"))?;
        clause
            .check(arg)
            .map_err(|e| format!("error during formatting: {e}"))?;
        i += 1 + read;
        next += 1;
    }
    if args.len() > next {
        return Err(format!(
            "too many arguments supplied to string.format (expected {next}, got {})",
            args.len()
        ));
    }
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Clause {
    String,
    Decimal,
    Fixed(usize),
    Scientific(usize),
    Binary,
    Hex { upper: bool },
    Octal,
}

impl Clause {
    /// The clause at the start of `text` (after its `%`), and the bytes it takes.
    fn parse(text: &str) -> Result<(Clause, usize), String> {
        let (precision, read) =
            precision(text).map_err(|e| format!("error while parsing precision: {e}"))?;
        let c = text[read..]
            .chars()
            .next()
            .ok_or("unexpected end of string")?;
        let clause = match c {
            's' => Clause::String,
            'd' => Clause::Decimal,
            'f' => Clause::Fixed(precision.unwrap_or(DEFAULT_PRECISION)),
            'e' => Clause::Scientific(precision.unwrap_or(DEFAULT_PRECISION)),
            'b' => Clause::Binary,
            'x' => Clause::Hex { upper: false },
            'X' => Clause::Hex { upper: true },
            'o' => Clause::Octal,
            c => return Err(format!("unrecognized formatting clause \"{c}\"")),
        };
        Ok((clause, read + c.len_utf8()))
    }

    /// Whether the clause takes an argument of this static kind (cel-go's
    /// `stringFormatChecker`), and its error if not.
    fn check(self, arg: &StaticArg) -> Result<(), String> {
        let Some(kind) = arg.kind.as_deref() else {
            return Ok(());
        };
        let (kinds, what): (&[&str], &str) = match self {
            Clause::String => {
                return match &arg.not_printable {
                    None => Ok(()),
                    Some(bad) => Err(format!(
                        "string clause can only be used on strings, bools, bytes, ints, doubles, \
                         maps, lists, types, durations, and timestamps, was given {bad}"
                    )),
                };
            }
            Clause::Decimal => (
                &["int", "uint"],
                "decimal clause can only be used on integers",
            ),
            Clause::Fixed(_) => (
                &["double", "string"],
                "fixed-point clause can only be used on doubles",
            ),
            Clause::Scientific(_) => (
                &["double", "string"],
                "scientific clause can only be used on doubles",
            ),
            Clause::Binary => (
                &["int", "uint", "bool"],
                "only integers and bools can be formatted as binary",
            ),
            Clause::Hex { .. } => (
                &["int", "uint", "string", "bytes"],
                "only integers, byte buffers, and strings can be formatted as hex",
            ),
            Clause::Octal => (
                &["int", "uint"],
                "octal clause can only be used on integers",
            ),
        };
        if kinds.contains(&kind) {
            Ok(())
        } else {
            Err(format!("{what}, was given {kind}"))
        }
    }

    fn format(self, v: &Value<'_>) -> Result<String, String> {
        let given = type_name(v);
        match self {
            Clause::String => format_string(v),
            Clause::Decimal => match v {
                Value::Int(i) => Ok(i.to_string()),
                Value::Uint(u) => Ok(u.to_string()),
                _ => Err(format!(
                    "decimal clause can only be used on integers, was given {given}"
                )),
            },
            Clause::Fixed(precision) => {
                double_arg(v).map(|d| fixed(d, precision)).ok_or_else(|| {
                    format!("fixed-point clause can only be used on doubles, was given {given}")
                })
            }
            Clause::Scientific(width) => {
                double_arg(v).map(|d| scientific(d, width)).ok_or_else(|| {
                    format!("scientific clause can only be used on doubles, was given {given}")
                })
            }
            Clause::Binary => match v {
                Value::Int(i) => Ok(format!("{}{:b}", sign(*i), i.unsigned_abs())),
                Value::Uint(u) => Ok(format!("{u:b}")),
                Value::Bool(b) => Ok(if *b { "1" } else { "0" }.into()),
                _ => Err(format!(
                    "only integers and bools can be formatted as binary, was given {given}"
                )),
            },
            Clause::Hex { upper } => {
                let hex = match v {
                    Value::Int(i) => format!("{}{:x}", sign(*i), i.unsigned_abs()),
                    Value::Uint(u) => format!("{u:x}"),
                    Value::String(s) => hex_bytes(s.as_bytes()),
                    Value::Bytes(b) => hex_bytes(b),
                    _ => {
                        return Err(format!(
                        "only integers, byte buffers, and strings can be formatted as hex, was given {given}"
                    ))
                    }
                };
                Ok(if upper { hex.to_ascii_uppercase() } else { hex })
            }
            Clause::Octal => match v {
                Value::Int(i) => Ok(format!("{}{:o}", sign(*i), i.unsigned_abs())),
                Value::Uint(u) => Ok(format!("{u:o}")),
                _ => Err(format!(
                    "octal clause can only be used on integers, was given {given}"
                )),
            },
        }
    }
}

/// The precision after a `.`, if there is one, and the bytes read.
fn precision(text: &str) -> Result<(Option<usize>, usize), String> {
    let Some(rest) = text.strip_prefix('.') else {
        return Ok((None, 0));
    };
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .ok_or("could not find end of precision specifier")?;
    let digits = &rest[..end];
    if digits.is_empty() {
        return Err(
            "error while converting precision to integer: invalid syntax (no digits)".into(),
        );
    }
    let precision: usize = digits
        .parse()
        .ok()
        .filter(|p| *p <= MAX_PRECISION)
        .ok_or_else(|| format!("precision exceeds the maximum of {MAX_PRECISION}"))?;
    Ok((Some(precision), 1 + end))
}

/// The double `%f` and `%e` take: a double, or the strings cel-go converts (`NaN`,
/// `Infinity`, `-Infinity`).
fn double_arg(v: &Value<'_>) -> Option<f64> {
    match v {
        Value::Double(d) => Some(*d),
        Value::String(s) => match &**s {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

/// The sign Go writes before the digits of a negative int (Rust would write two's complement).
fn sign(i: i64) -> &'static str {
    if i < 0 {
        "-"
    } else {
        ""
    }
}

fn hex_bytes(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// How the `en_US` printer writes a double without digits.
fn locale_non_finite(d: f64) -> Option<&'static str> {
    if d.is_nan() {
        Some("NaN")
    } else if d.is_infinite() {
        Some(if d > 0.0 { "∞" } else { "-∞" })
    } else {
        None
    }
}

/// The integer digits of `digits` grouped by three with `,`.
fn group(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `%.Nf` as the `en_US` message printer writes it.
fn fixed(d: f64, precision: usize) -> String {
    if let Some(text) = locale_non_finite(d) {
        return text.into();
    }
    let text = format!("{:.precision$}", d.abs());
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let sign = if d < 0.0 { "-" } else { "" };
    if frac.is_empty() {
        format!("{sign}{}", group(int))
    } else {
        format!("{sign}{}.{frac}", group(int))
    }
}

const SUPERSCRIPT: [char; 10] = ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'];

/// `%e` as the `en_US` message printer writes it: `1.052033×10⁰³`; `∞` and `NaN` right-aligned
/// to `width` characters.
fn scientific(d: f64, width: usize) -> String {
    if let Some(text) = locale_non_finite(d) {
        return format!("{text:>width$}");
    }
    let d = if d == 0.0 { 0.0 } else { d };
    let text = format!("{:.prec$e}", d, prec = DEFAULT_PRECISION);
    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits = format!("{:02}", exponent.unsigned_abs());
    let mut out = format!("{mantissa}×10");
    if exponent < 0 {
        out.push('⁻');
    }
    out.extend(digits.bytes().map(|b| SUPERSCRIPT[usize::from(b - b'0')]));
    out
}

/// A double as Go's `%g` writes it, which is `string(double)` in cel-go: the shortest digits
/// that read back, with an exponent below 1e-4 and from 1e6 on (`1e+06`, `1e-05`); `+Inf`,
/// `-Inf`, `NaN`.
pub fn double_to_string(d: f64) -> String {
    if d.is_nan() {
        return "NaN".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let shortest = format!("{d:e}");
    let (mantissa, exponent) = shortest.split_once('e').unwrap_or((&shortest, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if d != 0.0 && !(-4..6).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.unsigned_abs())
    } else {
        format!("{d}")
    }
}

/// A duration as cel-go's `string(duration)`: seconds, the fewest digits, then `s`.
pub fn duration_to_string(d: Duration) -> String {
    let seconds = (d.0 / 1_000_000_000) as f64 + (d.0 % 1_000_000_000) as f64 / 1e9;
    format!("{seconds}s")
}

/// A timestamp as cel-go's `string(timestamp)`: RFC 3339 in the offset it was written with
/// (`Z` for UTC), the fraction without trailing zeros.
pub fn timestamp_to_string(t: Timestamp) -> String {
    crate::stdlib::format_timestamp_in_offset(t)
}

/// Go's `%q` of a string: escapes for quotes, backslashes, control and other non-printing
/// characters, printable ones as they are.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control()
                || (c.is_whitespace() && c != ' ')
                || matches!(c, '\u{200b}'..='\u{200f}' | '\u{2060}'..='\u{2064}' | '\u{feff}' | '\u{ad}') =>
            {
                if (c as u32) <= 0xffff {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `%q` of bytes read as a string: invalid UTF-8 as `\xNN`.
fn go_quote_bytes(bytes: &[u8]) -> String {
    let mut out = String::from("\"");
    for chunk in bytes.utf8_chunks() {
        let quoted = go_quote(chunk.valid());
        out.push_str(&quoted[1..quoted.len() - 1]);
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out.push('"');
    out
}

fn string_clause_error(v: &Value<'_>) -> String {
    format!(
        "string clause can only be used on strings, bools, bytes, ints, doubles, maps, lists, \
         types, durations, and timestamps, was given {}",
        type_name(v)
    )
}

/// `%s` of a value (cel-go's `FormatString`).
fn format_string(v: &Value<'_>) -> Result<String, String> {
    Ok(match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Uint(u) => u.to_string(),
        Value::Double(d) => double_to_string(*d),
        Value::String(s) => s.to_string(),
        Value::Bytes(b) => String::from_utf8(b.to_vec()).map_err(|_| {
            "could not convert argument to string: invalid UTF-8 in bytes".to_owned()
        })?,
        Value::Duration(d) => duration_to_string(*d),
        Value::Timestamp(t) => timestamp_to_string(*t),
        Value::Type(t) => type_value_name(t),
        Value::List(_) | Value::Map(_) => literal(v)?,
        Value::Optional(_) | Value::Opaque(_) => return Err(string_clause_error(v)),
    })
}

/// A list or map member as a CEL literal (cel-go's `clauseForType` and `quoteForCEL`).
fn literal(v: &Value<'_>) -> Result<String, String> {
    Ok(match v {
        Value::String(s) => go_quote(s),
        Value::Bytes(b) => format!("b{}", go_quote_bytes(b)),
        Value::Double(d) if d.is_finite() => format!("{d:.6}"),
        Value::Double(d) => go_quote(&double_to_string(*d)),
        Value::Duration(d) => format!("duration(\"{}\")", duration_to_string(*d)),
        Value::Timestamp(t) => format!("timestamp(\"{}\")", timestamp_to_string(*t)),
        Value::List(list) => {
            let items: Result<Vec<String>, String> = list_items(list).iter().map(literal).collect();
            format!("[{}]", items?.join(", "))
        }
        Value::Map(map) => {
            let mut entries = Vec::new();
            for (k, value) in map_entries(map) {
                let key = match &k {
                    Value::String(_) | Value::Bool(_) | Value::Int(_) | Value::Uint(_) => {
                        literal(&k)?
                    }
                    other => {
                        return Err(format!(
                            "no formatting function for map key of type {}",
                            type_name(other)
                        ))
                    }
                };
                entries.push((key, literal(&value)?));
            }
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            let entries: Vec<String> = entries
                .into_iter()
                .map(|(k, v)| format!("{k}:{v}"))
                .collect();
            format!("{{{}}}", entries.join(", "))
        }
        Value::Null | Value::Bool(_) | Value::Int(_) | Value::Uint(_) | Value::Type(_) => {
            format_string(v)?
        }
        Value::Optional(_) | Value::Opaque(_) => {
            return Err(format!("no formatting function for {}", type_name(v)))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::libs::support::testing::*;
    use crate::types::Type;

    fn fmt(template: &str, args: Vec<Value<'static>>) -> Result<Value<'static>, EvalError> {
        format(&[s(template), l(args)])
    }

    #[test]
    fn documented_example() {
        check(
            "doc",
            fmt("%s has %d items", vec![s("cart"), i(3)]),
            s("cart has 3 items"),
        );
    }

    /// cel-go's tests of its original formatter, as Kubernetes runs it (`en_US`).
    #[test]
    #[allow(clippy::approx_constant)] // cel-go's test values
    fn kubernetes_formatting() {
        let ts = Value::Timestamp(Timestamp {
            seconds: 1_675_467_080,
            nanos: 0,
            offset: 0,
        });
        let cases: Vec<(&str, Vec<Value<'static>>, &str)> = vec![
            ("no substitution", vec![], "no substitution"),
            ("%% and %%", vec![], "% and %"),
            ("%%%s%%", vec![s("text")], "%text%"),
            ("%s, %d", vec![s("a"), i(1), s("ignored")], "a, 1"),
            ("©%sα", vec![s("T")], "©Tα"),
            ("%x", vec![s("Hello world!")], "48656c6c6f20776f726c6421"),
            ("%X", vec![s("Hello world!")], "48656C6C6F20776F726C6421"),
            ("%x", vec![bytes(b"byte string")], "6279746520737472696e67"),
            ("%x %X", vec![i(-255), u(255)], "-ff FF"),
            ("%x", vec![i(22)], "16"),
            ("%X", vec![i(26)], "1A"),
            ("%x", vec![u(500)], "1f4"),
            // As Kubernetes 1.37.2 prints them (integration/cel_oracle.rs): no spaces around ×.
            ("%.6e", vec![d(1052.032911275)], "1.052033×10⁰³"),
            ("%e", vec![d(2.71828)], "2.718280×10⁰⁰"),
            ("%.2e", vec![d(-0.000314)], "-3.140000×10⁻⁰⁴"),
            ("%e", vec![d(f64::INFINITY)], "     ∞"),
            ("%.3e", vec![d(f64::NEG_INFINITY)], " -∞"),
            ("%e", vec![d(-0.0)], "0.000000×10⁰⁰"),
            ("%.2f", vec![d(-0.0)], "0.00"),
            ("%f", vec![d(2.71828)], "2.718280"),
            ("%.3f", vec![d(4.5)], "4.500"),
            ("%.2f", vec![d(1234567.891)], "1,234,567.89"),
            ("%.0f", vec![d(-1000.0)], "-1,000"),
            ("%f", vec![s("NaN")], "NaN"),
            ("%f", vec![s("Infinity")], "∞"),
            ("%f", vec![s("-Infinity")], "-∞"),
            ("NaN: %f, infinity: %f", vec![d(f64::NAN), d(f64::INFINITY)], "NaN: NaN, infinity: ∞"),
            ("%d", vec![u(64)], "64"),
            ("null: %s", vec![Value::Null], "null: null"),
            ("some bytes: %s", vec![bytes(b"xyz")], "some bytes: xyz"),
            ("type is %s", vec![Value::Type(Type::String)], "type is string"),
            ("%s", vec![Value::Type(Type::list(Type::Int))], "list"),
            ("%s", vec![ts.clone()], "2023-02-03T23:31:20Z"),
            ("%s", vec![Value::Duration(Duration(6_347_000_000_000))], "6347s"),
            ("%s", vec![Value::Duration(Duration(-1_500_000_000))], "-1.5s"),
            (
                "%s",
                vec![l(vec![s("abc"), d(3.14), Value::Null, l(vec![i(9), i(8)]), ts.clone()])],
                "[\"abc\", 3.140000, null, [9, 8], timestamp(\"2023-02-03T23:31:20Z\")]",
            ),
            (
                "%s",
                vec![m(vec![
                    (s("key1"), bytes(b"xyz")),
                    (s("key5"), Value::Null),
                    (s("key2"), Value::Duration(Duration(7_200_000_000_000))),
                    (s("key4"), b(true)),
                    (s("key3"), d(2.71828)),
                ])],
                "{\"key1\":b\"xyz\", \"key2\":duration(\"7200s\"), \"key3\":2.718280, \"key4\":true, \"key5\":null}",
            ),
            (
                "map with multiple key types: %s",
                vec![m(vec![(i(1), s("value1")), (u(2), s("value2")), (b(true), d(f64::NAN))])],
                "map with multiple key types: {1:\"value1\", 2:\"value2\", true:\"NaN\"}",
            ),
            ("true bool: %s, false bool: %s", vec![b(true), b(false)], "true bool: true, false bool: false"),
            ("dynIntStr: %s dynDoubleStr: %s", vec![i(32), d(56.8)], "dynIntStr: 32 dynDoubleStr: 56.8"),
            ("%s", vec![l(vec![i(6), d(4.2), s("a string")])], "[6, 4.200000, \"a string\"]"),
            ("%b %b %b", vec![i(-5), u(5), b(true)], "-101 101 1"),
            ("%o %o", vec![i(-8), u(8)], "-10 10"),
            ("%s", vec![d(1e21)], "1e+21"),
            ("%s", vec![d(1e6)], "1e+06"),
            ("%s", vec![d(123456.0)], "123456"),
            ("%s", vec![d(0.0001)], "0.0001"),
            ("%s", vec![d(0.00001)], "1e-05"),
            ("%s", vec![d(-2.5)], "-2.5"),
            ("%s", vec![d(f64::INFINITY)], "+Inf"),
            ("%s", vec![l(vec![s("a\"b\n"), bytes(b"\xff")])], "[\"a\\\"b\\n\", b\"\\xff\"]"),
        ];
        for (template, args, want) in cases {
            check(template, fmt(template, args), s(want));
        }
    }

    #[test]
    fn kubernetes_errors() {
        let cases: Vec<(&str, Vec<Value<'static>>, &str)> = vec![
            ("%a", vec![i(1)], "could not parse formatting clause: unrecognized formatting clause \"a\""),
            ("%d %d %d", vec![i(0), i(1)], "index 2 out of range"),
            ("%", vec![], "index 0 out of range"),
            ("%", vec![i(1)], "unexpected end of string"),
            ("string is %b", vec![s("abc")], "error during formatting: only integers and bools can be formatted as binary, was given string"),
            ("%d", vec![Value::Duration(Duration(1))], "error during formatting: decimal clause can only be used on integers, was given google.protobuf.Duration"),
            ("%d", vec![d(1.5)], "decimal clause can only be used on integers, was given double"),
            ("%f", vec![i(2)], "fixed-point clause can only be used on doubles, was given int"),
            ("octal: %o", vec![s("a string")], "octal clause can only be used on integers, was given string"),
            ("double is %x", vec![d(0.5)], "only integers, byte buffers, and strings can be formatted as hex, was given double"),
            ("double is %E", vec![d(0.5)], "unrecognized formatting clause \"E\""),
            ("null: %e", vec![Value::Null], "scientific clause can only be used on doubles, was given null_type"),
            ("%s", vec![Value::Optional(None)], "string clause can only be used on strings"),
            ("%s", vec![l(vec![Value::Optional(None)])], "no formatting function for optional_type"),
            ("%.3", vec![d(1.0)], "could not find end of precision specifier"),
            ("%.f", vec![d(1.0)], "error while converting precision to integer"),
            ("%.999999999f", vec![d(1.0)], "precision exceeds the maximum"),
            ("%.99999999999999999999999f", vec![d(1.0)], "precision exceeds the maximum"),
        ];
        for (template, args, want) in cases {
            check_err(template, fmt(template, args), want);
        }
        check_err(
            "kinds",
            format(&[s("%s"), s("x")]),
            "no matching overload for 'format'",
        );
    }

    #[test]
    fn bounded_and_tree_arguments() {
        let Ok(Value::String(big)) = fmt("%.1000f", vec![d(1.0)]) else {
            panic!("formats")
        };
        assert_eq!(big.len(), 1002);
        let doc = Doc::List(vec![Doc::str("x"), Doc::int(2)]);
        check("tree args", format(&[s("%s=%d"), doc.value()]), s("x=2"));
        let map = Doc::Map(vec![("b".into(), Doc::int(2)), ("a".into(), Doc::str("y"))]);
        check(
            "tree map",
            format(&[s("%s"), l(vec![map.value()])]),
            s("{\"a\":\"y\", \"b\":2}"),
        );
    }

    #[test]
    fn timestamps_print_as_rfc_3339() {
        let cases = [
            (0, 0, "1970-01-01T00:00:00Z"),
            (-1, 0, "1969-12-31T23:59:59Z"),
            (-62_135_596_800, 0, "0001-01-01T00:00:00Z"),
            (
                253_402_300_799,
                999_999_999,
                "9999-12-31T23:59:59.999999999Z",
            ),
            (951_782_400, 500_000_000, "2000-02-29T00:00:00.5Z"),
        ];
        for (seconds, nanos, want) in cases {
            let t = Timestamp {
                seconds,
                nanos,
                offset: 0,
            };
            assert_eq!(timestamp_to_string(t), want);
        }
        assert_eq!(duration_to_string(Duration(0)), "0s");
        assert_eq!(duration_to_string(Duration(1)), "0.000000001s");
    }
}
