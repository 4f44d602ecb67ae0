//! The validators Kubernetes' environment runs after type checking (cel-go `cel/validator.go`,
//! enabled by k8s.io/apiserver/pkg/cel/environment/base.go): list and map literals must be
//! homogeneous (except inside a `format` call's arguments), and constant arguments of
//! `duration`, `timestamp` and `matches` must be valid.

use super::position;
use crate::error::CompileError;
use crate::types::Type;
use cel::common::ast::{EntryExpr, Expr, IdedExpr, LiteralValue, SourceInfo};
use std::collections::HashMap;

/// Reports what the literal validators find, in the order cel-go does: every list, then every
/// map, then the constant arguments.
pub(crate) fn literals(
    root: &IdedExpr,
    types: &HashMap<u64, Type>,
    source: &SourceInfo,
    errors: &mut Vec<CompileError>,
) {
    let mut report = |id: u64, message: String| {
        errors.push(CompileError::new(position(source, id), message));
    };
    let type_of = |e: &IdedExpr| types.get(&e.id).cloned().unwrap_or(Type::Dyn);
    let mut lists = Vec::new();
    let mut maps = Vec::new();
    let mut calls = Vec::new();
    collect(root, false, &mut lists, &mut maps, &mut calls);
    for list in lists {
        let Expr::List(l) = &list.expr else { continue };
        let mut first: Option<Type> = None;
        for (i, element) in l.elements.iter().enumerate() {
            let mut t = type_of(element);
            if l.optional_indices.contains(&i) {
                t = unwrap_optional(t);
            }
            match &first {
                None => first = Some(t),
                Some(expected) if !equivalent(expected, &t) => {
                    report(element.id, mismatch(expected, &t));
                    break;
                }
                Some(_) => {}
            }
        }
    }
    for map in maps {
        let Expr::Map(m) = &map.expr else { continue };
        let mut first: Option<(Type, Type)> = None;
        for entry in &m.entries {
            let EntryExpr::MapEntry(entry) = &entry.expr else {
                continue;
            };
            let k = type_of(&entry.key);
            let mut v = type_of(&entry.value);
            if entry.optional {
                v = unwrap_optional(v);
            }
            match &first {
                None => first = Some((k, v)),
                Some((key_type, value_type)) => {
                    if !equivalent(key_type, &k) {
                        report(entry.key.id, mismatch(key_type, &k));
                    }
                    if !equivalent(value_type, &v) {
                        report(entry.value.id, mismatch(value_type, &v));
                    }
                }
            }
        }
    }
    for (name, literal_id, text) in calls {
        let valid = match name {
            "duration" => valid_duration(&text),
            "timestamp" => valid_timestamp(&text),
            _ => regex::Regex::new(&text).is_ok(),
        };
        if !valid {
            report(literal_id, format!("invalid {name} argument"));
        }
    }
}

fn mismatch(expected: &Type, found: &Type) -> String {
    let show = |t: &Type| super::ty::Ty::from_type(t).to_string();
    format!(
        "expected type '{}' but found '{}'",
        show(expected),
        show(found)
    )
}

fn unwrap_optional(t: Type) -> Type {
    match t {
        Type::Optional(inner) => (*inner).clone(),
        other => other,
    }
}

/// cel-go's `Type.IsEquivalentType`.
fn equivalent(a: &Type, b: &Type) -> bool {
    match (a, b) {
        (Type::List(x), Type::List(y)) | (Type::Optional(x), Type::Optional(y)) => equivalent(x, y),
        (Type::Map(k1, v1), Type::Map(k2, v2)) => equivalent(k1, k2) && equivalent(v1, v2),
        (Type::Type(x), Type::Type(y)) => match (x, y) {
            (Some(x), Some(y)) => equivalent(x, y),
            (None, None) => true,
            _ => false,
        },
        (Type::Object(x), Type::Object(y)) => x.name == y.name,
        (Type::Opaque(x), Type::Opaque(y)) => x == y,
        _ => std::mem::discriminant(a) == std::mem::discriminant(b),
    }
}

type ConstantArgument = (&'static str, u64, String);

/// The list and map literals outside `format` arguments, and calls with a constant argument
/// to validate.
fn collect<'e>(
    e: &'e IdedExpr,
    in_format: bool,
    lists: &mut Vec<&'e IdedExpr>,
    maps: &mut Vec<&'e IdedExpr>,
    calls: &mut Vec<ConstantArgument>,
) {
    match &e.expr {
        Expr::List(l) => {
            if !in_format {
                lists.push(e);
            }
            for element in &l.elements {
                collect(element, in_format, lists, maps, calls);
            }
        }
        Expr::Map(m) => {
            if !in_format {
                maps.push(e);
            }
            for entry in &m.entries {
                if let EntryExpr::MapEntry(entry) = &entry.expr {
                    collect(&entry.key, in_format, lists, maps, calls);
                    collect(&entry.value, in_format, lists, maps, calls);
                }
            }
        }
        Expr::Call(call) => {
            let name = match call.func_name.as_str() {
                "duration" => Some("duration"),
                "timestamp" => Some("timestamp"),
                "matches" => Some("matches"),
                _ => None,
            };
            if let (Some(name), Some(first)) = (name, call.args.first()) {
                if let Expr::Literal(LiteralValue::String(s)) = &first.expr {
                    calls.push((name, first.id, s.inner().to_string()));
                }
            }
            let format = call.func_name == "format";
            if let Some(target) = &call.target {
                collect(target, false, lists, maps, calls);
            }
            for arg in &call.args {
                collect(arg, format, lists, maps, calls);
            }
        }
        Expr::Select(select) => collect(&select.operand, false, lists, maps, calls),
        Expr::Struct(object) => {
            for entry in &object.entries {
                if let EntryExpr::StructField(field) = &entry.expr {
                    collect(&field.value, false, lists, maps, calls);
                }
            }
        }
        Expr::Comprehension(c) => {
            for part in [
                &c.iter_range,
                &c.accu_init,
                &c.loop_cond,
                &c.loop_step,
                &c.result,
            ] {
                collect(part, false, lists, maps, calls);
            }
        }
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
    }
}

/// Go's `time.ParseDuration` grammar: `[-+]` then one or more `NUMBER UNIT`, or `0`.
fn valid_duration(text: &str) -> bool {
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    if body == "0" {
        return true;
    }
    let pattern = regex::Regex::new(r"^(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+$")
        .expect("the duration pattern compiles");
    pattern.is_match(body)
}

/// RFC 3339, as cel-go's `timestamp()` reads it (Go's `time.RFC3339`), within years 1-9999.
fn valid_timestamp(text: &str) -> bool {
    let pattern = regex::Regex::new(
        r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$",
    )
    .expect("the timestamp pattern compiles");
    pattern.is_match(text) && !text.starts_with("0000")
}
