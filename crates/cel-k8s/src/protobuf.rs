//! The protocol buffer message literals Kubernetes' environment builds: `google.protobuf.Duration`
//! and `Timestamp` (`{seconds: 1, nanos: 5}`) and the wrapper types (`Int64Value{value: 1}`,
//! which are their primitive value), with cel-go's field types and conversions. A field not
//! written is the zero value.

use crate::error::EvalError;
use crate::types::Type;
use crate::value::{Duration, Str, Timestamp, Value};
use std::sync::Arc;

/// A message type: its fields, in the order [`build`] takes them, and the type of its value.
pub(crate) struct Message {
    pub name: &'static str,
    pub fields: &'static [(&'static str, Type)],
    pub result: Type,
}

const WRAPPERS: [(&str, Type); 9] = [
    ("google.protobuf.BoolValue", Type::Bool),
    ("google.protobuf.BytesValue", Type::Bytes),
    ("google.protobuf.DoubleValue", Type::Double),
    ("google.protobuf.FloatValue", Type::Double),
    ("google.protobuf.Int32Value", Type::Int),
    ("google.protobuf.Int64Value", Type::Int),
    ("google.protobuf.StringValue", Type::String),
    ("google.protobuf.UInt32Value", Type::Uint),
    ("google.protobuf.UInt64Value", Type::Uint),
];

const SECONDS_NANOS: &[(&str, Type)] = &[("seconds", Type::Int), ("nanos", Type::Int)];

/// Whether a struct literal of this type name is a message literal built here (in any
/// expression, not only a mutation's).
pub fn is_message_type(name: &str) -> bool {
    message(name).is_some()
}

/// The message type of this name, if it is one of those built here.
pub(crate) fn message(name: &str) -> Option<Message> {
    match name {
        "google.protobuf.Duration" => Some(Message {
            name: "google.protobuf.Duration",
            fields: SECONDS_NANOS,
            result: Type::Duration,
        }),
        "google.protobuf.Timestamp" => Some(Message {
            name: "google.protobuf.Timestamp",
            fields: SECONDS_NANOS,
            result: Type::Timestamp,
        }),
        _ => {
            let (name, t) = WRAPPERS.iter().find(|(n, _)| *n == name)?;
            let fields: &'static [(&str, Type)] = match t {
                Type::Bool => &[("value", Type::Bool)],
                Type::Bytes => &[("value", Type::Bytes)],
                Type::Double => &[("value", Type::Double)],
                Type::Int => &[("value", Type::Int)],
                Type::String => &[("value", Type::String)],
                _ => &[("value", Type::Uint)],
            };
            Some(Message {
                name,
                fields,
                result: t.clone(),
            })
        }
    }
}

/// The implementation that builds a message's value from its fields in [`Message::fields`]
/// order (`null` for a field not written).
pub(crate) fn builder(name: &str) -> Option<crate::library::Function> {
    Some(match name {
        "google.protobuf.Duration" => duration,
        "google.protobuf.Timestamp" => timestamp,
        "google.protobuf.BoolValue" => bool_value,
        "google.protobuf.BytesValue" => bytes_value,
        "google.protobuf.DoubleValue" => double_value,
        "google.protobuf.FloatValue" => float_value,
        "google.protobuf.Int32Value" => int32_value,
        "google.protobuf.Int64Value" => int64_value,
        "google.protobuf.StringValue" => string_value,
        "google.protobuf.UInt32Value" => uint32_value,
        "google.protobuf.UInt64Value" => uint64_value,
        _ => return None,
    })
}

fn conversion_error(message: &str, field: &str, why: &str) -> EvalError {
    EvalError::new(format!(
        "field type conversion error for {message}.{field} value type: {why}"
    ))
}

/// An `int64` field (0 when not written).
fn int64(message: &str, field: &str, value: &Value<'_>) -> Result<i64, EvalError> {
    match value {
        Value::Null => Ok(0),
        Value::Int(i) => Ok(*i),
        other => Err(conversion_error(
            message,
            field,
            &format!(
                "unsupported native conversion from {} to 'int64'",
                other.type_name()
            ),
        )),
    }
}

/// An `int32` field.
fn int32(message: &str, field: &str, value: &Value<'_>) -> Result<i32, EvalError> {
    let i = int64(message, field, value)?;
    i32::try_from(i).map_err(|_| conversion_error(message, field, "integer overflow"))
}

fn duration<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    const NAME: &str = "google.protobuf.Duration";
    let seconds = int64(NAME, "seconds", &args[0])?;
    let nanos = i64::from(int32(NAME, "nanos", &args[1])?);
    // durationpb's AsDuration: saturated on overflow, towards the sign of the seconds.
    let total = seconds
        .checked_mul(1_000_000_000)
        .and_then(|ns| ns.checked_add(nanos));
    let ns = match total {
        Some(ns) => ns,
        None if seconds < 0 => i64::MIN,
        None => i64::MAX,
    };
    Ok(Value::Duration(Duration(ns)))
}

fn timestamp<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    const NAME: &str = "google.protobuf.Timestamp";
    let seconds = int64(NAME, "seconds", &args[0])?;
    let nanos = i64::from(int32(NAME, "nanos", &args[1])?);
    // Go's time.Unix: nanoseconds outside [0, 1e9) carry into the seconds.
    let seconds = seconds.checked_add(nanos.div_euclid(1_000_000_000));
    let nanos = nanos.rem_euclid(1_000_000_000) as u32;
    // The gate's timestamps are those of CEL's range, years 1 to 9999.
    const MIN_SECONDS: i64 = -62_135_596_800;
    const MAX_SECONDS: i64 = 253_402_300_799;
    match seconds {
        Some(s) if (MIN_SECONDS..=MAX_SECONDS).contains(&s) => Ok(Value::Timestamp(Timestamp {
            seconds: s,
            nanos,
            offset: 0,
        })),
        _ => Err(EvalError::new(format!(
            "{NAME}: the timestamp is outside years 1 to 9999"
        ))),
    }
}

fn wrapped<'a>(
    name: &str,
    arg: &Value<'a>,
    zero: Value<'a>,
    take: impl FnOnce(&Value<'a>) -> Option<Result<Value<'a>, &'static str>>,
    go_type: &str,
) -> Result<Value<'a>, EvalError> {
    if arg.is_null() {
        return Ok(zero);
    }
    match take(arg) {
        Some(Ok(v)) => Ok(v),
        Some(Err(why)) => Err(conversion_error(name, "value", why)),
        None => Err(conversion_error(
            name,
            "value",
            &format!(
                "unsupported native conversion from {} to '{go_type}'",
                arg.type_name()
            ),
        )),
    }
}

fn bool_value<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let take = |v: &Value<'a>| matches!(v, Value::Bool(_)).then(|| Ok(v.clone()));
    wrapped(
        "google.protobuf.BoolValue",
        &args[0],
        Value::Bool(false),
        take,
        "bool",
    )
}

fn bytes_value<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let take = |v: &Value<'a>| matches!(v, Value::Bytes(_)).then(|| Ok(v.clone()));
    let zero = Value::Bytes(Arc::from(&[][..]));
    wrapped(
        "google.protobuf.BytesValue",
        &args[0],
        zero,
        take,
        "[]uint8",
    )
}

fn double_value<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let take = |v: &Value<'a>| matches!(v, Value::Double(_)).then(|| Ok(v.clone()));
    wrapped(
        "google.protobuf.DoubleValue",
        &args[0],
        Value::Double(0.0),
        take,
        "float64",
    )
}

fn float_value<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    // Held as a float32: rounded to its precision, infinite beyond its range.
    let take = |v: &Value<'a>| match v {
        Value::Double(d) => Some(Ok(Value::Double(f64::from(*d as f32)))),
        _ => None,
    };
    wrapped(
        "google.protobuf.FloatValue",
        &args[0],
        Value::Double(0.0),
        take,
        "float32",
    )
}

fn int32_value<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let take = |v: &Value<'a>| match v {
        Value::Int(i) if i32::try_from(*i).is_ok() => Some(Ok(Value::Int(*i))),
        Value::Int(_) => Some(Err("integer overflow")),
        _ => None,
    };
    wrapped(
        "google.protobuf.Int32Value",
        &args[0],
        Value::Int(0),
        take,
        "int32",
    )
}

fn int64_value<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let take = |v: &Value<'a>| matches!(v, Value::Int(_)).then(|| Ok(v.clone()));
    wrapped(
        "google.protobuf.Int64Value",
        &args[0],
        Value::Int(0),
        take,
        "int64",
    )
}

fn string_value<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let take = |v: &Value<'a>| matches!(v, Value::String(_)).then(|| Ok(v.clone()));
    let zero = Value::String(Str::Borrowed(""));
    wrapped(
        "google.protobuf.StringValue",
        &args[0],
        zero,
        take,
        "string",
    )
}

fn uint32_value<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let take = |v: &Value<'a>| match v {
        Value::Uint(u) if u32::try_from(*u).is_ok() => Some(Ok(Value::Uint(*u))),
        Value::Uint(_) => Some(Err("unsigned integer overflow")),
        _ => None,
    };
    wrapped(
        "google.protobuf.UInt32Value",
        &args[0],
        Value::Uint(0),
        take,
        "uint32",
    )
}

fn uint64_value<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let take = |v: &Value<'a>| matches!(v, Value::Uint(_)).then(|| Ok(v.clone()));
    wrapped(
        "google.protobuf.UInt64Value",
        &args[0],
        Value::Uint(0),
        take,
        "uint64",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(name: &str, fields: &[Value<'static>]) -> Result<Value<'static>, String> {
        builder(name).expect(name)(fields).map_err(|e| e.to_string())
    }

    #[test]
    fn messages_build_what_kubernetes_builds() {
        let (null, int) = (|| Value::Null, Value::Int);
        let ts = |seconds, nanos| {
            Ok(Value::Timestamp(Timestamp {
                seconds,
                nanos,
                offset: 0,
            }))
        };
        let cases: Vec<(&str, Vec<Value<'static>>, Result<Value<'static>, String>)> = vec![
            ("google.protobuf.Duration", vec![int(1), int(5)], Ok(Value::Duration(Duration(1_000_000_005)))),
            ("google.protobuf.Duration", vec![null(), null()], Ok(Value::Duration(Duration(0)))),
            ("google.protobuf.Duration", vec![int(315_576_000_001), null()], Ok(Value::Duration(Duration(i64::MAX)))),
            ("google.protobuf.Duration", vec![int(-315_576_000_001), null()], Ok(Value::Duration(Duration(i64::MIN)))),
            ("google.protobuf.Duration", vec![int(1), int(-2_000_000_000)], Ok(Value::Duration(Duration(-1_000_000_000)))),
            ("google.protobuf.Duration", vec![null(), int(3_000_000_000)], Err("field type conversion error for google.protobuf.Duration.nanos value type: integer overflow".into())),
            ("google.protobuf.Timestamp", vec![int(1), int(1_000_000_000)], ts(2, 0)),
            ("google.protobuf.Timestamp", vec![int(1), int(-1)], ts(0, 999_999_999)),
            ("google.protobuf.Timestamp", vec![int(253_402_300_800), null()], Err("google.protobuf.Timestamp: the timestamp is outside years 1 to 9999".into())),
            ("google.protobuf.Int32Value", vec![int(3_000_000_000)], Err("field type conversion error for google.protobuf.Int32Value.value value type: integer overflow".into())),
            ("google.protobuf.Int64Value", vec![Value::string("a")], Err("field type conversion error for google.protobuf.Int64Value.value value type: unsupported native conversion from string to 'int64'".into())),
            ("google.protobuf.UInt32Value", vec![Value::Uint(1 << 32)], Err("field type conversion error for google.protobuf.UInt32Value.value value type: unsigned integer overflow".into())),
            ("google.protobuf.FloatValue", vec![Value::Double(1.1)], Ok(Value::Double(f64::from(1.1f32)))),
            ("google.protobuf.FloatValue", vec![Value::Double(1e300)], Ok(Value::Double(f64::INFINITY))),
            ("google.protobuf.BoolValue", vec![null()], Ok(Value::Bool(false))),
            ("google.protobuf.StringValue", vec![Value::string("a")], Ok(Value::string("a"))),
        ];
        for (name, fields, expected) in cases {
            let got = build(name, &fields);
            let same = match (&got, &expected) {
                (Ok(a), Ok(b)) => crate::value_ops::equals(a, b) && a.type_name() == b.type_name(),
                (a, b) => a.as_ref().err() == b.as_ref().err(),
            };
            assert!(same, "{name}{fields:?}: {got:?}, expected {expected:?}");
            assert_eq!(
                message(name).map(|m| m.fields.len()),
                Some(fields.len()),
                "{name}"
            );
        }
    }
}
