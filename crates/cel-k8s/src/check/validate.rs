//! The validators Kubernetes' environment runs after type checking (cel-go `cel/validator.go`,
//! enabled by k8s.io/apiserver/pkg/cel/environment/base.go): list and map literals must be
//! homogeneous (except inside a `format` call's arguments), constant arguments of
//! `duration`, `timestamp` and `matches` must be valid, and a `format` call with a literal
//! template and a literal argument list must type-check clause by clause (cel-go's
//! `stringFormatValidator`, which the strings extension adds).

use super::position;
use crate::error::CompileError;
use crate::libs::strfmt::{check_template, StaticArg, PRINTABLE_KINDS};
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
            _ => crate::libs::regex::compile(&text).is_ok(),
        };
        if !valid {
            report(literal_id, format!("invalid {name} argument"));
        }
    }
}

/// Reports what cel-go's `stringFormatValidator` finds: each `'template'.format([args])` whose
/// template does not parse, or whose clauses do not take their arguments' types.
pub(crate) fn format_calls(
    e: &IdedExpr,
    types: &HashMap<u64, Type>,
    source: &SourceInfo,
    errors: &mut Vec<CompileError>,
) {
    let mut calls = Vec::new();
    each_call(e, &mut |call_expr| {
        let Expr::Call(call) = &call_expr.expr else {
            return;
        };
        let template = match call.target.as_deref().map(|t| &t.expr) {
            Some(Expr::Literal(LiteralValue::String(t))) => t.inner().to_string(),
            _ => return,
        };
        if call.func_name != "format" || call.args.len() != 1 {
            return;
        }
        let Expr::List(list) = &call.args[0].expr else {
            return;
        };
        let args: Vec<StaticArg> = list.elements.iter().map(|a| static_arg(a, types)).collect();
        if let Err(message) = check_template(&template, &args) {
            calls.push((call_expr.id, message));
        }
    });
    for (id, message) in calls {
        errors.push(CompileError::new(position(source, id), message));
    }
}

/// An argument as the format check sees it: its kind, and whether `%s` prints it.
fn static_arg(e: &IdedExpr, types: &HashMap<u64, Type>) -> StaticArg {
    StaticArg {
        kind: types.get(&e.id).and_then(kind_name),
        not_printable: not_printable(e, types),
    }
}

/// The kind of the first part of `e` (itself, then the members of a list or map literal) that
/// `%s` cannot print.
fn not_printable(e: &IdedExpr, types: &HashMap<u64, Type>) -> Option<String> {
    if let Some(kind) = types.get(&e.id).and_then(kind_name) {
        if !PRINTABLE_KINDS.contains(&kind.as_str()) {
            return Some(kind);
        }
    }
    match &e.expr {
        Expr::List(l) => l.elements.iter().find_map(|m| not_printable(m, types)),
        Expr::Map(m) => m.entries.iter().find_map(|entry| match &entry.expr {
            EntryExpr::MapEntry(entry) => {
                not_printable(&entry.key, types).or_else(|| not_printable(&entry.value, types))
            }
            EntryExpr::StructField(_) => None,
        }),
        _ => None,
    }
}

/// A type's kind as cel-go names it in these messages; `None` for `dyn` (and what is not yet
/// known), which every clause takes.
fn kind_name(t: &Type) -> Option<String> {
    Some(match t {
        Type::Dyn | Type::Param(_) | Type::Error => return None,
        Type::List(_) => "list".into(),
        Type::Map(..) => "map".into(),
        Type::Optional(_) => "optional_type".into(),
        Type::Type(_) => "type".into(),
        other => other.to_string(),
    })
}

/// Calls `visit` on every call of the tree, outermost first.
fn each_call<'e>(e: &'e IdedExpr, visit: &mut dyn FnMut(&'e IdedExpr)) {
    match &e.expr {
        Expr::Call(call) => {
            visit(e);
            if let Some(target) = &call.target {
                each_call(target, visit);
            }
            for arg in &call.args {
                each_call(arg, visit);
            }
        }
        Expr::List(l) => l.elements.iter().for_each(|m| each_call(m, visit)),
        Expr::Map(m) => {
            for entry in &m.entries {
                if let EntryExpr::MapEntry(entry) = &entry.expr {
                    each_call(&entry.key, visit);
                    each_call(&entry.value, visit);
                }
            }
        }
        Expr::Select(select) => each_call(&select.operand, visit),
        Expr::Struct(object) => {
            for entry in &object.entries {
                if let EntryExpr::StructField(field) = &entry.expr {
                    each_call(&field.value, visit);
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
                each_call(part, visit);
            }
        }
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
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

/// RFC 3339, as cel-go's `timestamp()` reads it (Go's `time.Parse(time.RFC3339, ...)`), within
/// years 1-9999: what the evaluator's `timestamp()` accepts.
fn valid_timestamp(text: &str) -> bool {
    crate::stdlib::parse_timestamp(text).is_ok()
}
