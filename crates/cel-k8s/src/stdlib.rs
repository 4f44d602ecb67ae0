//! The standard functions of CEL (cel-go's `stdlib`): `size`, the conversions, the string
//! predicates, `matches`, durations and timestamps with their getters (time zones included),
//! and the optional-value library. The macros are the parser's ([`crate::syntax`]).

use crate::error::EvalError;
use crate::library::{Library, Style};
use crate::value::{Duration, Str, Timestamp, Value};
use chrono::{Datelike, TimeZone, Timelike};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

type Result<T> = std::result::Result<T, EvalError>;

/// Patterns kept per thread for `matches` with a pattern computed at run time.
const REGEX_CACHE_CAPACITY: usize = 64;

/// Seconds of 0001-01-01T00:00:00Z and of 9999-12-31T23:59:59Z, the timestamps CEL allows.
const MIN_SECONDS: i64 = -62_135_596_800;
const MAX_SECONDS: i64 = 253_402_300_799;

pub fn register(library: &mut Library) {
    use Style::{Global, Receiver};
    library.add("size", Global, 1, size);
    library.add("size", Receiver, 1, size);
    library.add("int", Global, 1, to_int);
    library.add("uint", Global, 1, to_uint);
    library.add("double", Global, 1, to_double);
    library.add("string", Global, 1, to_string);
    library.add("bytes", Global, 1, to_bytes);
    library.add("bool", Global, 1, to_bool);
    library.add("dyn", Global, 1, dyn_);
    library.add("type", Global, 1, type_);
    library.add("contains", Receiver, 2, contains);
    library.add("startsWith", Receiver, 2, starts_with);
    library.add("endsWith", Receiver, 2, ends_with);
    library.add("matches", Receiver, 2, matches);
    library.add("matches", Global, 2, matches);
    library.add("duration", Global, 1, duration);
    library.add("timestamp", Global, 1, timestamp);
    for (name, getter) in GETTERS {
        library.add(name, Receiver, 1, *getter);
        library.add(name, Receiver, 2, *getter);
    }
    library.add("optional.of", Global, 1, optional_of);
    library.add("optional.none", Global, 0, optional_none);
    library.add("optional.ofNonZeroValue", Global, 1, optional_of_non_zero);
    library.add("hasValue", Receiver, 1, has_value);
    library.add("value", Receiver, 1, optional_value);
    library.add("orValue", Receiver, 2, or_value);
    library.add("or", Receiver, 2, or);
    library.add("first", Receiver, 1, list_first);
    library.add("last", Receiver, 1, list_last);
    library.add("optional.unwrap", Global, 1, optional_unwrap);
    library.add("unwrapOpt", Receiver, 1, optional_unwrap);
}

#[cold]
#[inline(never)]
fn no_overload(function: &str, args: &[Value<'_>]) -> EvalError {
    let types: Vec<&str> = args.iter().map(|v| v.type_name()).collect();
    EvalError::no_overload(function, &types)
}

#[cold]
#[inline(never)]
fn fail(function: &str, message: impl std::fmt::Display) -> EvalError {
    EvalError::new(format!("{function}: {message}"))
}

fn size<'a>(args: &[Value<'a>]) -> Result<Value<'a>> {
    let n = match args {
        [Value::String(s)] => s.chars().count(),
        [Value::Bytes(b)] => b.len(),
        [Value::List(l)] => l.len(),
        [Value::Map(m)] => m.len(),
        _ => return Err(no_overload("size", args)),
    };
    Ok(Value::Int(n as i64))
}

fn range_error(function: &str) -> EvalError {
    fail(function, "the value is out of range")
}

fn to_int<'a>(args: &[Value<'a>]) -> Result<Value<'a>> {
    Ok(Value::Int(match args {
        [Value::Int(i)] => *i,
        [Value::Uint(u)] => i64::try_from(*u).map_err(|_| range_error("int"))?,
        [Value::Double(d)] => {
            if !d.is_finite() || *d <= -9.223_372_036_854_776e18 || *d >= 9.223_372_036_854_776e18 {
                return Err(range_error("int"));
            }
            d.trunc() as i64
        }
        [Value::String(s)] => s
            .parse::<i64>()
            .map_err(|_| fail("int", "the string is not an integer"))?,
        [Value::Timestamp(t)] => t.seconds,
        [Value::Duration(d)] => d.0,
        _ => return Err(no_overload("int", args)),
    }))
}

fn to_uint<'a>(args: &[Value<'a>]) -> Result<Value<'a>> {
    Ok(Value::Uint(match args {
        [Value::Uint(u)] => *u,
        [Value::Int(i)] => u64::try_from(*i).map_err(|_| range_error("uint"))?,
        [Value::Double(d)] => {
            if !d.is_finite() || *d < 0.0 || *d >= 1.844_674_407_370_955_2e19 {
                return Err(range_error("uint"));
            }
            d.trunc() as u64
        }
        // Go's ParseUint takes no sign.
        [Value::String(s)] => Some(&**s)
            .filter(|s| !s.starts_with('+'))
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| fail("uint", "the string is not an unsigned integer"))?,
        _ => return Err(no_overload("uint", args)),
    }))
}

fn to_double<'a>(args: &[Value<'a>]) -> Result<Value<'a>> {
    Ok(Value::Double(match args {
        [Value::Double(d)] => *d,
        [Value::Int(i)] => *i as f64,
        [Value::Uint(u)] => *u as f64,
        [Value::String(s)] => {
            parse_double(s).ok_or_else(|| fail("double", "the string is not a number"))?
        }
        _ => return Err(no_overload("double", args)),
    }))
}

/// A double as Go's `strconv.ParseFloat` reads it (`inf`, `NaN` and exponents included, and
/// underscores between digits: `1_000`).
fn parse_double(text: &str) -> Option<f64> {
    match text.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => Some(f64::INFINITY),
        "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
        "nan" => Some(f64::NAN),
        _ if text.contains('_') => {
            let bytes = text.as_bytes();
            let between_digits = bytes.iter().enumerate().all(|(i, b)| {
                *b != b'_'
                    || (i > 0
                        && bytes[i - 1].is_ascii_digit()
                        && bytes.get(i + 1).is_some_and(u8::is_ascii_digit))
            });
            if !between_digits {
                return None;
            }
            text.replace('_', "")
                .parse::<f64>()
                .ok()
                .filter(|d| d.is_finite())
        }
        _ => text.parse::<f64>().ok().filter(|d| d.is_finite()),
    }
}

/// A double as cel-go prints it (Go's `%g` with the shortest digits: exponent form below 1e-4
/// and from 1e6), as `%s` of `format` prints it too.
pub fn format_double(d: f64) -> String {
    crate::libs::strfmt::double_to_string(d)
}

fn to_string<'a>(args: &[Value<'a>]) -> Result<Value<'a>> {
    Ok(match args {
        [Value::String(s)] => Value::String(s.clone()),
        [Value::Int(i)] => Value::string(i.to_string()),
        [Value::Uint(u)] => Value::string(u.to_string()),
        [Value::Double(d)] => Value::string(format_double(*d)),
        [Value::Bool(b)] => Value::String(Str::Borrowed(if *b { "true" } else { "false" })),
        [Value::Bytes(b)] => Value::string(
            std::str::from_utf8(b)
                .map_err(|_| fail("string", "the bytes are not valid UTF-8"))?
                .to_owned(),
        ),
        [Value::Duration(d)] => Value::string(crate::libs::strfmt::duration_to_string(*d)),
        [Value::Timestamp(t)] => Value::string(format_timestamp_in_offset(*t)),
        [Value::Opaque(o)] => match o
            .to_cel_string()
            .or_else(|| crate::libs::opaque_to_string(o.as_ref()))
        {
            Some(s) => Value::string(s),
            None => return Err(no_overload("string", args)),
        },
        _ => return Err(no_overload("string", args)),
    })
}

fn to_bytes<'a>(args: &[Value<'a>]) -> Result<Value<'a>> {
    match args {
        [Value::Bytes(b)] => Ok(Value::Bytes(b.clone())),
        [Value::String(s)] => Ok(Value::Bytes(Arc::from(s.as_bytes()))),
        _ => Err(no_overload("bytes", args)),
    }
}

fn to_bool<'a>(args: &[Value<'a>]) -> Result<Value<'a>> {
    match args {
        [Value::Bool(b)] => Ok(Value::Bool(*b)),
        [Value::String(s)] => match &**s {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(Value::Bool(true)),
            "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(Value::Bool(false)),
            _ => Err(fail("bool", "the string is not a bool")),
        },
        _ => Err(no_overload("bool", args)),
    }
}

fn dyn_<'a>(args: &[Value<'a>]) -> Result<Value<'a>> {
    Ok(args[0].clone())
}

fn type_<'a>(args: &[Value<'a>]) -> Result<Value<'a>> {
    Ok(Value::Type(args[0].type_of()))
}

fn string_pair<'s>(function: &str, args: &'s [Value<'_>]) -> Result<(&'s str, &'s str)> {
    match args {
        [Value::String(a), Value::String(b)] => Ok((a, b)),
        _ => Err(no_overload(function, args)),
    }
}

fn contains<'a>(args: &[Value<'a>]) -> Result<Value<'a>> {
    let (a, b) = string_pair("contains", args)?;
    Ok(Value::Bool(a.contains(b)))
}

fn starts_with<'a>(args: &[Value<'a>]) -> Result<Value<'a>> {
    let (a, b) = string_pair("startsWith", args)?;
    Ok(Value::Bool(a.starts_with(b)))
}

fn ends_with<'a>(args: &[Value<'a>]) -> Result<Value<'a>> {
    let (a, b) = string_pair("endsWith", args)?;
    Ok(Value::Bool(a.ends_with(b)))
}

thread_local! {
    static REGEXES: RefCell<HashMap<String, Arc<regex::Regex>>> = RefCell::new(HashMap::new());
}

/// The compiled regex for a pattern computed at run time, from a small per-thread cache.
pub fn cached_regex(function: &str, pattern: &str) -> Result<Arc<regex::Regex>> {
    if let Some(found) = REGEXES.with(|c| c.borrow().get(pattern).cloned()) {
        return Ok(found);
    }
    let regex = Arc::new(
        crate::libs::regex::compile(pattern)
            .map_err(|e| fail(function, format!("invalid regular expression: {e}")))?,
    );
    REGEXES.with(|c| {
        let mut cache = c.borrow_mut();
        if cache.len() >= REGEX_CACHE_CAPACITY {
            cache.clear();
        }
        cache.insert(pattern.to_owned(), Arc::clone(&regex));
    });
    Ok(regex)
}

fn matches<'a>(args: &[Value<'a>]) -> Result<Value<'a>> {
    let (text, pattern) = string_pair("matches", args)?;
    Ok(Value::Bool(
        cached_regex("matches", pattern)?.is_match(text),
    ))
}

fn duration<'a>(args: &[Value<'a>]) -> Result<Value<'a>> {
    match args {
        [Value::Duration(d)] => Ok(Value::Duration(*d)),
        [Value::String(s)] => parse_duration(s).map(Value::Duration),
        _ => Err(no_overload("duration", args)),
    }
}

fn timestamp<'a>(args: &[Value<'a>]) -> Result<Value<'a>> {
    match args {
        [Value::Timestamp(t)] => Ok(Value::Timestamp(*t)),
        [Value::String(s)] => parse_timestamp(s).map(Value::Timestamp),
        [Value::Int(seconds)] => {
            timestamp_from_nanos(*seconds as i128 * 1_000_000_000).map(Value::Timestamp)
        }
        _ => Err(no_overload("timestamp", args)),
    }
}

/// A duration in Go's syntax: a sign, then numbers with units (`1h30m`, `-1.5s`, `300ms`).
pub fn parse_duration(text: &str) -> Result<Duration> {
    let invalid = || {
        fail(
            "duration",
            "invalid duration: expected Go syntax such as 1h30m or 10s",
        )
    };
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(Duration(0));
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(invalid)?;
        let (number, after) = rest.split_at(digits);
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let scale: i128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(invalid()),
        };
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() && fraction.is_empty() {
            return Err(invalid());
        }
        let whole: i128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| invalid())?
        };
        let mut part = whole.checked_mul(scale).ok_or_else(invalid)?;
        let mut divisor: i128 = 1;
        let mut fraction_value: i128 = 0;
        for c in fraction.chars().take(18) {
            fraction_value = fraction_value * 10 + c.to_digit(10).ok_or_else(invalid)? as i128;
            divisor *= 10;
        }
        part += fraction_value * scale / divisor;
        total = total.checked_add(part).ok_or_else(invalid)?;
        if total > i64::MAX as i128 {
            return Err(fail("duration", "the duration is out of range"));
        }
        rest = next;
    }
    let total = if negative { -total } else { total };
    Ok(Duration(i64::try_from(total).map_err(|_| invalid())?))
}

/// A duration as cel-go prints it: seconds, `s` suffixed (`3600s`, `1.5s`).
pub fn format_duration(d: Duration) -> String {
    let seconds = d.0 / 1_000_000_000;
    let nanos = (d.0 % 1_000_000_000).abs();
    let sign = if d.0 < 0 && seconds == 0 { "-" } else { "" };
    if nanos == 0 {
        format!("{sign}{seconds}s")
    } else {
        let fraction = format!("{nanos:09}");
        format!("{sign}{seconds}.{}s", fraction.trim_end_matches('0'))
    }
}

/// A timestamp from its nanoseconds since the epoch, within years 1 to 9999.
pub fn timestamp_from_nanos(nanos: i128) -> Result<Timestamp> {
    let seconds = nanos.div_euclid(1_000_000_000);
    if seconds < MIN_SECONDS as i128 || seconds > MAX_SECONDS as i128 {
        return Err(EvalError::new("timestamp out of range"));
    }
    Ok(Timestamp {
        seconds: seconds as i64,
        nanos: nanos.rem_euclid(1_000_000_000) as u32,
        offset: 0,
    })
}

/// A timestamp from RFC 3339 text, read as Go's `time.Parse(time.RFC3339, text)` reads it (what
/// cel-go calls): `T` and `Z` in upper case only, no leap second, a fraction after `.` or `,`,
/// an offset of at most 24 hours and 60 minutes.
pub fn parse_timestamp(text: &str) -> Result<Timestamp> {
    let invalid = || fail("timestamp", "invalid timestamp: expected RFC 3339 text");
    let (nanos, offset) = go_rfc3339_nanos(text.as_bytes()).ok_or_else(invalid)?;
    Ok(Timestamp {
        offset,
        ..timestamp_from_nanos(nanos)?
    })
}

/// Nanoseconds since the epoch of Go-flavoured RFC 3339 text, and its offset in seconds east of
/// UTC; `None` where Go refuses it.
fn go_rfc3339_nanos(b: &[u8]) -> Option<(i128, i32)> {
    fn number(b: &[u8], at: usize, len: usize) -> Option<u32> {
        let digits = b.get(at..at + len)?;
        digits.iter().try_fold(0u32, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    }
    let literal = |at: usize, c: u8| b.get(at) == Some(&c);
    let year = number(b, 0, 4)?;
    let month = number(b, 5, 2)?;
    let day = number(b, 8, 2)?;
    let hour = number(b, 11, 2)?;
    let minute = number(b, 14, 2)?;
    let second = number(b, 17, 2)?;
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if !separators.iter().all(|(at, c)| literal(*at, *c)) || hour > 23 || minute > 59 || second > 59
    {
        return None;
    }
    let date = chrono::NaiveDate::from_ymd_opt(year as i32, month, day)?;
    let mut at = 19;
    let mut fraction: i128 = 0;
    if matches!(b.get(at), Some(b'.' | b',')) && b.get(at + 1).is_some_and(u8::is_ascii_digit) {
        at += 1;
        let mut scale = 100_000_000i128;
        while let Some(d) = b.get(at).filter(|d| d.is_ascii_digit()) {
            fraction += i128::from(d - b'0') * scale;
            scale /= 10;
            at += 1;
        }
    }
    let offset_seconds: i32 = match b.get(at..)? {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (h, m) = (number(b, at + 1, 2)?, number(b, at + 4, 2)?);
            if h > 24 || m > 60 {
                return None;
            }
            let seconds = (h * 3600 + m * 60) as i32;
            if *sign == b'-' {
                -seconds
            } else {
                seconds
            }
        }
        _ => return None,
    };
    let local = date
        .and_hms_opt(hour, minute, second)?
        .and_utc()
        .timestamp();
    Some((
        i128::from(local - i64::from(offset_seconds)) * 1_000_000_000 + fraction,
        offset_seconds,
    ))
}

fn utc(t: Timestamp) -> chrono::DateTime<chrono::Utc> {
    chrono::Utc
        .timestamp_opt(t.seconds, t.nanos)
        .single()
        .unwrap_or_default()
}

/// A timestamp as cel-go prints it: RFC 3339 in UTC, the fraction without trailing zeros.
pub fn format_timestamp(t: Timestamp) -> String {
    let time = utc(t);
    let base = time.format("%Y-%m-%dT%H:%M:%S").to_string();
    if t.nanos == 0 {
        format!("{base}Z")
    } else {
        let fraction = format!("{:09}", t.nanos);
        format!("{base}.{}Z", fraction.trim_end_matches('0'))
    }
}

/// A timestamp as cel-go's `string(timestamp)` prints it (Go's `time.RFC3339Nano`): in the
/// offset it was written with (`2024-01-02T03:04:05+01:00`), `Z` for UTC.
pub fn format_timestamp_in_offset(t: Timestamp) -> String {
    if t.offset == 0 {
        return format_timestamp(t);
    }
    let local = utc(t) + chrono::TimeDelta::seconds(i64::from(t.offset));
    let mut text = local.format("%Y-%m-%dT%H:%M:%S").to_string();
    if t.nanos != 0 {
        let fraction = format!("{:09}", t.nanos);
        text.push('.');
        text.push_str(fraction.trim_end_matches('0'));
    }
    let sign = if t.offset < 0 { '-' } else { '+' };
    let minutes = t.offset.unsigned_abs() / 60;
    text.push_str(&format!("{sign}{:02}:{:02}", minutes / 60, minutes % 60));
    text
}

/// The fields of a timestamp in a time zone: an IANA name (`America/New_York`), `UTC`, or a
/// fixed offset (`+05:30`, `-08:00`). As Go's `time.LoadLocation`, `""` is UTC, and so is
/// `Local` (the API server's own zone, UTC where it runs in a container).
fn fields(t: Timestamp, zone: Option<&str>) -> Result<chrono::NaiveDateTime> {
    let time = utc(t);
    let Some(zone) = zone.filter(|z| !z.is_empty() && *z != "Local") else {
        return Ok(time.naive_utc());
    };
    if zone.contains(':') {
        let (sign, rest) = match zone.as_bytes().first() {
            Some(b'-') => (-1, &zone[1..]),
            Some(b'+') => (1, &zone[1..]),
            _ => (1, zone),
        };
        let (h, m) = rest
            .split_once(':')
            .and_then(|(h, m)| Some((h.parse::<i32>().ok()?, m.parse::<i32>().ok()?)))
            .ok_or_else(|| fail("time zone", "invalid time zone offset"))?;
        let offset = chrono::FixedOffset::east_opt(sign * (h * 3600 + m * 60))
            .ok_or_else(|| fail("time zone", "invalid time zone offset"))?;
        return Ok(time.with_timezone(&offset).naive_local());
    }
    let tz: chrono_tz::Tz = zone
        .parse()
        .map_err(|_| fail("time zone", "unknown time zone"))?;
    Ok(time.with_timezone(&tz).naive_local())
}

type Getter = for<'a> fn(&[Value<'a>]) -> Result<Value<'a>>;

const GETTERS: &[(&str, Getter)] = &[
    ("getFullYear", get_full_year),
    ("getMonth", get_month),
    ("getDate", get_date),
    ("getDayOfMonth", get_day_of_month),
    ("getDayOfWeek", get_day_of_week),
    ("getDayOfYear", get_day_of_year),
    ("getHours", get_hours),
    ("getMinutes", get_minutes),
    ("getSeconds", get_seconds),
    ("getMilliseconds", get_milliseconds),
];

/// The calendar fields of a getter's receiver, in its optional time zone.
fn calendar(function: &str, args: &[Value<'_>]) -> Result<chrono::NaiveDateTime> {
    match args {
        [Value::Timestamp(t)] => fields(*t, None),
        [Value::Timestamp(t), Value::String(zone)] => fields(*t, Some(zone)),
        _ => Err(no_overload(function, args)),
    }
}

fn get_full_year<'a>(args: &[Value<'a>]) -> Result<Value<'a>> {
    Ok(Value::Int(calendar("getFullYear", args)?.year() as i64))
}

fn get_month<'a>(args: &[Value<'a>]) -> Result<Value<'a>> {
    Ok(Value::Int(calendar("getMonth", args)?.month0() as i64))
}

fn get_date<'a>(args: &[Value<'a>]) -> Result<Value<'a>> {
    Ok(Value::Int(calendar("getDate", args)?.day() as i64))
}

fn get_day_of_month<'a>(args: &[Value<'a>]) -> Result<Value<'a>> {
    Ok(Value::Int(calendar("getDayOfMonth", args)?.day0() as i64))
}

fn get_day_of_week<'a>(args: &[Value<'a>]) -> Result<Value<'a>> {
    Ok(Value::Int(
        calendar("getDayOfWeek", args)?
            .weekday()
            .num_days_from_sunday() as i64,
    ))
}

fn get_day_of_year<'a>(args: &[Value<'a>]) -> Result<Value<'a>> {
    Ok(Value::Int(calendar("getDayOfYear", args)?.ordinal0() as i64))
}

/// A duration getter: the whole duration in `unit` nanoseconds.
fn duration_in(args: &[Value<'_>], unit: i64) -> Option<i64> {
    match args {
        [Value::Duration(d)] => Some(d.0 / unit),
        _ => None,
    }
}

fn get_hours<'a>(args: &[Value<'a>]) -> Result<Value<'a>> {
    if let Some(n) = duration_in(args, 3_600_000_000_000) {
        return Ok(Value::Int(n));
    }
    Ok(Value::Int(calendar("getHours", args)?.hour() as i64))
}

fn get_minutes<'a>(args: &[Value<'a>]) -> Result<Value<'a>> {
    if let Some(n) = duration_in(args, 60_000_000_000) {
        return Ok(Value::Int(n));
    }
    Ok(Value::Int(calendar("getMinutes", args)?.minute() as i64))
}

fn get_seconds<'a>(args: &[Value<'a>]) -> Result<Value<'a>> {
    if let Some(n) = duration_in(args, 1_000_000_000) {
        return Ok(Value::Int(n));
    }
    Ok(Value::Int(calendar("getSeconds", args)?.second() as i64))
}

fn get_milliseconds<'a>(args: &[Value<'a>]) -> Result<Value<'a>> {
    if let Some(n) = duration_in(args, 1_000_000) {
        return Ok(Value::Int(n));
    }
    Ok(Value::Int(
        (calendar("getMilliseconds", args)?.nanosecond() / 1_000_000) as i64,
    ))
}

fn optional_of<'a>(args: &[Value<'a>]) -> Result<Value<'a>> {
    Ok(Value::Optional(Some(Arc::new(args[0].clone()))))
}

fn optional_none<'a>(_: &[Value<'a>]) -> Result<Value<'a>> {
    Ok(Value::Optional(None))
}

fn optional_of_non_zero<'a>(args: &[Value<'a>]) -> Result<Value<'a>> {
    Ok(Value::Optional(
        (!args[0].is_zero()).then(|| Arc::new(args[0].clone())),
    ))
}

/// `list.first()`: an optional of the first element, `optional.none()` for an empty list.
fn list_first<'a>(args: &[Value<'a>]) -> Result<Value<'a>> {
    match args {
        [Value::List(list)] => Ok(Value::Optional(list.get(0).map(Arc::new))),
        _ => Err(no_overload("first", args)),
    }
}

/// `list.last()`: an optional of the last element, `optional.none()` for an empty list.
fn list_last<'a>(args: &[Value<'a>]) -> Result<Value<'a>> {
    match args {
        [Value::List(list)] => Ok(Value::Optional(
            list.len()
                .checked_sub(1)
                .and_then(|i| list.get(i))
                .map(Arc::new),
        )),
        _ => Err(no_overload("last", args)),
    }
}

/// `optional.unwrap(list)` and `list.unwrapOpt()`: the values of the optionals that hold one,
/// in order; an element that is not an optional is an error (cel-go's `optUnwrap`).
fn optional_unwrap<'a>(args: &[Value<'a>]) -> Result<Value<'a>> {
    let [Value::List(list)] = args else {
        return Err(no_overload("optional.unwrap", args));
    };
    let mut values = Vec::with_capacity(list.len());
    for item in list.iter() {
        match item {
            Value::Optional(Some(v)) => values.push((*v).clone()),
            Value::Optional(None) => {}
            other => {
                return Err(EvalError::new(format!(
                    "optional.unwrap: a {} is not an optional",
                    other.type_name()
                )))
            }
        }
    }
    Ok(Value::List(crate::value::List::from_values(values)))
}

fn has_value<'a>(args: &[Value<'a>]) -> Result<Value<'a>> {
    match args {
        [Value::Optional(o)] => Ok(Value::Bool(o.is_some())),
        _ => Err(no_overload("hasValue", args)),
    }
}

fn optional_value<'a>(args: &[Value<'a>]) -> Result<Value<'a>> {
    match args {
        [Value::Optional(Some(v))] => Ok((**v).clone()),
        [Value::Optional(None)] => Err(EvalError::new("optional.none() dereference")),
        _ => Err(no_overload("value", args)),
    }
}

fn or_value<'a>(args: &[Value<'a>]) -> Result<Value<'a>> {
    match args {
        [Value::Optional(Some(v)), _] => Ok((**v).clone()),
        [Value::Optional(None), other] => Ok(other.clone()),
        _ => Err(no_overload("orValue", args)),
    }
}

fn or<'a>(args: &[Value<'a>]) -> Result<Value<'a>> {
    match args {
        [Value::Optional(Some(_)), Value::Optional(_)] => Ok(args[0].clone()),
        [Value::Optional(None), Value::Optional(_)] => Ok(args[1].clone()),
        _ => Err(no_overload("or", args)),
    }
}

/// Standard base64 with padding (for bytes in JSON).
pub fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        let cases: &[(&str, Option<i64>)] = &[
            ("1h30m", Some(5_400_000_000_000)),
            ("-1.5s", Some(-1_500_000_000)),
            ("300ms", Some(300_000_000)),
            ("1us", Some(1_000)),
            ("0", Some(0)),
            ("1.5", None),
            ("", None),
            ("h", None),
            ("3000000h", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_duration(text).ok().map(|d| d.0), *expected, "{text}");
        }
        assert_eq!(format_duration(Duration(5_400_000_000_000)), "5400s");
        assert_eq!(format_duration(Duration(-1_500_000_000)), "-1.5s");
        assert_eq!(format_duration(Duration(-500_000_000)), "-0.5s");
    }

    #[test]
    fn doubles_print_as_go_does() {
        let cases = [
            (1.5, "1.5"),
            (1e21, "1e+21"),
            (1e20, "1e+20"),
            (123456789.0, "1.23456789e+08"),
            (100000.0, "100000"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.0, "-2"),
        ];
        for (d, text) in cases {
            assert_eq!(format_double(d), text);
        }
    }

    #[test]
    fn durations_print_as_seconds_in_a_double() {
        let cases = [
            (Duration(3_600_000_000_000), "3600s"),
            (Duration(-500_000_000), "-0.5s"),
            (Duration(1_000_000_001), "1.000000001s"),
            (Duration(i64::MAX), "9223372036.854776s"),
        ];
        for (d, text) in cases {
            assert_eq!(crate::libs::strfmt::duration_to_string(d), text);
        }
    }

    #[test]
    fn timestamps_round_trip_and_zones() {
        let t = parse_timestamp("2024-01-02T03:04:05.120Z").unwrap();
        assert_eq!(format_timestamp(t), "2024-01-02T03:04:05.12Z");
        let args = [Value::Timestamp(t), Value::string("America/New_York")];
        assert_eq!(get_hours(&args).unwrap().as_int(), Some(22));
        let args = [Value::Timestamp(t), Value::string("+05:30")];
        assert_eq!(get_minutes(&args).unwrap().as_int(), Some(34));
        let args = [Value::Timestamp(t), Value::string("Mars/Olympus")];
        assert!(get_hours(&args).is_err());
        assert!(parse_timestamp("10000-01-01T00:00:00Z").is_err());
    }

    #[test]
    fn timestamps_parse_as_go_parses_rfc_3339() {
        let seconds = |text: &str| parse_timestamp(text).map(|t| (t.seconds, t.nanos)).ok();
        let written = |text: &str| format_timestamp_in_offset(parse_timestamp(text).unwrap());
        assert_eq!(
            written("2024-01-02T03:04:05.5+01:00"),
            "2024-01-02T03:04:05.5+01:00"
        );
        assert_eq!(
            written("2024-01-01T00:00:00+00:60"),
            "2024-01-01T00:00:00+01:00"
        );
        assert_eq!(written("2024-01-01T00:00:00-00:00"), "2024-01-01T00:00:00Z");
        assert_eq!(
            parse_timestamp("2024-01-01T01:00:00+01:00"),
            parse_timestamp("2024-01-01T00:00:00Z")
        );
        let cases = [
            ("2024-01-01T00:00:00Z", Some((1_704_067_200, 0))),
            ("2024-01-01T00:00:00,5Z", Some((1_704_067_200, 500_000_000))),
            ("2024-01-01T01:00:00+01:00", Some((1_704_067_200, 0))),
            ("2024-01-01T00:00:00+24:00", Some((1_703_980_800, 0))),
            ("2024-01-01T00:00:00+00:60", Some((1_704_063_600, 0))),
            (
                "2024-01-01T00:00:00.123456789123Z",
                Some((1_704_067_200, 123_456_789)),
            ),
            ("2024-01-01t00:00:00z", None),
            ("2024-01-01 00:00:00Z", None),
            ("2016-12-31T23:59:60Z", None),
            ("2024-02-30T00:00:00Z", None),
            ("2024-01-01T24:00:00Z", None),
            ("2024-01-01T00:00:00+25:00", None),
            ("2024-01-01T00:00:00", None),
            ("2024-01-01T00:00:00.Z", None),
            ("0000-01-01T00:00:00Z", None),
        ];
        for (text, want) in cases {
            assert_eq!(seconds(text), want, "{text}");
        }
    }

    #[test]
    fn base64_pads() {
        assert_eq!(base64_encode(b"ab"), "YWI=");
        assert_eq!(base64_encode(b"abc"), "YWJj");
        assert_eq!(base64_encode(b"a"), "YQ==");
    }
}
