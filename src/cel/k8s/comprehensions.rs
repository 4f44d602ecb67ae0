//! cel-go's two-variable comprehensions (`ext.TwoVarComprehensions`, in Kubernetes since 1.33)
//! and `cel.bind` (`ext.Bindings`), as macros over what the crate evaluates.
//!
//! The crate's parser reads `x.all(k, v, p)` as a call; its evaluator binds one iteration
//! variable. So `x.all(k, v, p)` expands to a one-variable comprehension over `@pairs(x)`, the
//! `[key, value]` pairs of `x` (index and element for a list, key and value for a map), with
//! `k` and `v` bound to each pair's halves the way `cel.bind` binds: a comprehension over no
//! elements whose accumulator is the variable. `transformMap` and `transformMapEntry` collect
//! pairs and maps that two helper functions turn into the result map.

use super::{elements, fail, owned, take};
use cel::common::ast::{
    operators, CallExpr, ComprehensionExpr, Expr, IdedExpr, ListExpr, LiteralValue,
};
use cel::common::types::{CelList, CelMap, CelMapKey, DYN_TYPE, LIST_TYPE};
use cel::common::value::{CowVal, Val};
use cel::parser::{Macro, MacroExprHelper};
use cel::{DeclarationError, Env, ExecutionError, ParseError};
use std::collections::HashMap;

/// The helpers the expansions call: their names are not CEL identifiers, so only the macros can.
pub(crate) const PAIRS: &str = "@pairs";
pub(crate) const MAP_FROM_PAIRS: &str = "@mapFromPairs";
pub(crate) const MERGE_ENTRIES: &str = "@mergeMapEntries";
const PAIR: &str = "@pair";
const RESULT: &str = "@result";

#[derive(Clone, Copy)]
enum Kind {
    All,
    Exists,
    ExistsOne,
    TransformList,
    TransformMap,
    TransformMapEntry,
}

pub(super) fn register(env: &mut Env) -> Result<(), DeclarationError> {
    let macros = [
        ("all", 3, Kind::All),
        ("exists", 3, Kind::Exists),
        ("existsOne", 3, Kind::ExistsOne),
        ("exists_one", 3, Kind::ExistsOne),
        ("transformList", 3, Kind::TransformList),
        ("transformList", 4, Kind::TransformList),
        ("transformMap", 3, Kind::TransformMap),
        ("transformMap", 4, Kind::TransformMap),
        ("transformMapEntry", 3, Kind::TransformMapEntry),
        ("transformMapEntry", 4, Kind::TransformMapEntry),
    ];
    for (name, count, kind) in macros {
        env.add_macro(Macro::receiver(name, count, move |helper, target, args| {
            two_variable(helper, target, args, name, kind).map(Some)
        }))?;
    }
    env.add_macro(Macro::receiver("bind", 3, bind_macro))?;
    env.add_overload(PAIRS, "@pairs(dyn)", vec![DYN_TYPE], pairs)?;
    env.add_overload(
        MAP_FROM_PAIRS,
        "@mapFromPairs(list)",
        vec![LIST_TYPE],
        map_from_pairs,
    )?;
    env.add_overload(
        MERGE_ENTRIES,
        "@mergeMapEntries(list)",
        vec![LIST_TYPE],
        merge_entries,
    )?;
    Ok(())
}

fn ident(helper: &mut MacroExprHelper<'_>, name: &str) -> IdedExpr {
    helper.next_expr(Expr::Ident(name.to_owned()))
}

fn call(helper: &mut MacroExprHelper<'_>, name: &str, args: Vec<IdedExpr>) -> IdedExpr {
    helper.next_expr(Expr::Call(CallExpr {
        func_name: name.to_owned(),
        target: None,
        args,
    }))
}

fn literal(helper: &mut MacroExprHelper<'_>, value: LiteralValue) -> IdedExpr {
    helper.next_expr(Expr::Literal(value))
}

fn empty_list(helper: &mut MacroExprHelper<'_>) -> IdedExpr {
    helper.next_expr(Expr::List(ListExpr::new(Vec::new())))
}

fn comprehension(
    helper: &mut MacroExprHelper<'_>,
    (iter_range, iter_var): (IdedExpr, &str),
    (accu_var, accu_init): (&str, IdedExpr),
    loop_cond: IdedExpr,
    loop_step: IdedExpr,
    result: IdedExpr,
) -> IdedExpr {
    helper.next_expr(Expr::Comprehension(Box::new(ComprehensionExpr {
        iter_range,
        iter_var: iter_var.to_owned(),
        iter_var2: None,
        accu_var: accu_var.to_owned(),
        accu_init,
        loop_cond,
        loop_step,
        result,
    })))
}

/// `body` with `name` bound to `value`: `cel.bind`'s expansion.
fn bind(helper: &mut MacroExprHelper<'_>, name: &str, value: IdedExpr, body: IdedExpr) -> IdedExpr {
    let range = empty_list(helper);
    let cond = literal(helper, LiteralValue::Boolean(false.into()));
    let step = ident(helper, name);
    comprehension(helper, (range, "#unused"), (name, value), cond, step, body)
}

fn variable(
    helper: &mut MacroExprHelper<'_>,
    expr: &IdedExpr,
    what: &str,
) -> Result<String, ParseError> {
    match &expr.expr {
        Expr::Ident(name) => Ok(name.clone()),
        _ => Err(helper.new_error(expr.id, format!("{what} must be a simple name"))),
    }
}

/// `cel.bind(name, value, body)`; any other `x.bind(..)` is left as the call it is.
fn bind_macro(
    helper: &mut MacroExprHelper<'_>,
    target: &mut Option<IdedExpr>,
    args: &mut Vec<IdedExpr>,
) -> Result<Option<IdedExpr>, ParseError> {
    if !matches!(target, Some(IdedExpr { expr: Expr::Ident(ns), .. }) if ns == "cel") {
        return Ok(None);
    }
    let name = variable(helper, &args[0], "cel.bind's first argument")?;
    let body = args.pop().expect("three arguments");
    let value = args.pop().expect("three arguments");
    args.clear();
    target.take();
    Ok(Some(bind(helper, &name, value, body)))
}

/// `@pair[i]`.
fn half(helper: &mut MacroExprHelper<'_>, i: i64) -> IdedExpr {
    let pair = ident(helper, PAIR);
    let index = literal(helper, LiteralValue::Int(i.into()));
    call(helper, operators::INDEX, vec![pair, index])
}

fn two_variable(
    helper: &mut MacroExprHelper<'_>,
    target: &mut Option<IdedExpr>,
    args: &mut Vec<IdedExpr>,
    name: &str,
    kind: Kind,
) -> Result<IdedExpr, ParseError> {
    let first = variable(helper, &args[0], &format!("{name}'s first variable"))?;
    let second = variable(helper, &args[1], &format!("{name}'s second variable"))?;
    if first == second {
        return Err(helper.new_error(
            args[1].id,
            format!("{name}: the two variables must have different names"),
        ));
    }
    let target = target.take().expect("a receiver macro has a target");
    let mut rest: Vec<IdedExpr> = args.drain(..).skip(2).collect();
    let expr = rest.pop().expect("three or four arguments");
    let filter = rest.pop();
    // Each expression sees the pair's halves as the user's two variables.
    let bound = |helper: &mut MacroExprHelper<'_>, body: IdedExpr| {
        let inner_value = half(helper, 1);
        let inner = bind(helper, &second, inner_value, body);
        let outer_value = half(helper, 0);
        bind(helper, &first, outer_value, inner)
    };
    let range = call(helper, PAIRS, vec![target]);
    let accu = |helper: &mut MacroExprHelper<'_>| ident(helper, RESULT);
    let expanded = match kind {
        Kind::All | Kind::Exists => {
            let all = matches!(kind, Kind::All);
            let init = literal(helper, LiteralValue::Boolean(all.into()));
            let cond_arg = if all {
                accu(helper)
            } else {
                let a = accu(helper);
                call(helper, operators::LOGICAL_NOT, vec![a])
            };
            let cond = call(helper, operators::NOT_STRICTLY_FALSE, vec![cond_arg]);
            let body = bound(helper, expr);
            let a = accu(helper);
            let op = if all {
                operators::LOGICAL_AND
            } else {
                operators::LOGICAL_OR
            };
            let step = call(helper, op, vec![a, body]);
            let result = accu(helper);
            comprehension(helper, (range, PAIR), (RESULT, init), cond, step, result)
        }
        Kind::ExistsOne => {
            let init = literal(helper, LiteralValue::Int(0.into()));
            let cond = literal(helper, LiteralValue::Boolean(true.into()));
            let body = bound(helper, expr);
            let a = accu(helper);
            let one = literal(helper, LiteralValue::Int(1.into()));
            let plus = call(helper, operators::ADD, vec![a, one]);
            let a = accu(helper);
            let step = call(helper, operators::CONDITIONAL, vec![body, plus, a]);
            let a = accu(helper);
            let one = literal(helper, LiteralValue::Int(1.into()));
            let result = call(helper, operators::EQUALS, vec![a, one]);
            comprehension(helper, (range, PAIR), (RESULT, init), cond, step, result)
        }
        Kind::TransformList | Kind::TransformMap | Kind::TransformMapEntry => {
            // The element each kept pair contributes: the value, a [key, value] pair, or a map.
            let element = match kind {
                Kind::TransformMap => {
                    let value = bound(helper, expr);
                    let key = half(helper, 0);
                    helper.next_expr(Expr::List(ListExpr::new(vec![key, value])))
                }
                _ => bound(helper, expr),
            };
            let init = empty_list(helper);
            let cond = literal(helper, LiteralValue::Boolean(true.into()));
            let a = accu(helper);
            let single = helper.next_expr(Expr::List(ListExpr::new(vec![element])));
            let append = call(helper, operators::ADD, vec![a, single]);
            let step = match filter {
                Some(filter) => {
                    let keep = bound(helper, filter);
                    let a = accu(helper);
                    call(helper, operators::CONDITIONAL, vec![keep, append, a])
                }
                None => append,
            };
            let result = accu(helper);
            let list = comprehension(helper, (range, PAIR), (RESULT, init), cond, step, result);
            match kind {
                Kind::TransformMap => call(helper, MAP_FROM_PAIRS, vec![list]),
                Kind::TransformMapEntry => call(helper, MERGE_ENTRIES, vec![list]),
                _ => list,
            }
        }
    };
    Ok(expanded)
}

fn pair<'v>(key: Box<dyn Val + 'v>, value: Box<dyn Val + 'v>) -> Box<dyn Val + 'v> {
    Box::new(CelList::from(vec![key, value]))
}

/// The `[key, value]` pairs of a list (index, element) or a map (key, value).
fn pairs<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let [target] = take(args)?;
    let target = target.as_ref();
    let mut out = Vec::new();
    match target.get_type().kind() {
        cel::common::types::Kind::List => {
            for (i, item) in elements("comprehension", target)?.into_iter().enumerate() {
                let index: Box<dyn Val + 'v> = Box::new(cel::common::types::CelInt::from(i as i64));
                out.push(pair(index, item.clone_as_boxed()));
            }
        }
        cel::common::types::Kind::Map => {
            let indexer = target
                .as_indexer()
                .ok_or_else(|| fail("comprehension", "the map cannot be indexed"))?;
            for key in elements("comprehension", target)? {
                let value = indexer.get(key)?.into_owned();
                out.push(pair(key.clone_as_boxed(), value));
            }
        }
        _ => {
            return Err(fail(
                "comprehension",
                format!(
                    "two-variable comprehensions range over a list or a map, not a {}",
                    target.get_type().name()
                ),
            ))
        }
    }
    Ok(owned(CelList::from(out)))
}

fn insert<'v>(
    map: &mut HashMap<CelMapKey<'v>, Box<dyn Val + 'v>>,
    key: &(dyn Val + 'v),
    value: Box<dyn Val + 'v>,
    function: &str,
) -> Result<(), ExecutionError> {
    let key = CelMapKey::try_from(key.clone_as_boxed()).map_err(|_| {
        fail(
            function,
            format!("a {} cannot be a map key", key.get_type().name()),
        )
    })?;
    if map.insert(key, value).is_some() {
        return Err(fail(function, "insert failed: key already exists"));
    }
    Ok(())
}

/// The map of `[key, value]` pairs: `transformMap`'s result.
fn map_from_pairs<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let [list] = take(args)?;
    let mut map = HashMap::new();
    for item in elements("transformMap", list.as_ref())? {
        if let [key, value] = elements("transformMap", item)?.as_slice() {
            insert(&mut map, *key, value.clone_as_boxed(), "transformMap")?;
        }
    }
    Ok(owned(CelMap::from(map)))
}

/// The union of maps whose keys must not repeat: `transformMapEntry`'s result.
fn merge_entries<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let [list] = take(args)?;
    let mut map = HashMap::new();
    for entry in elements("transformMapEntry", list.as_ref())? {
        if entry.get_type().kind() != cel::common::types::Kind::Map {
            return Err(fail(
                "transformMapEntry",
                "the expression must produce a map",
            ));
        }
        let indexer = entry
            .as_indexer()
            .ok_or_else(|| fail("transformMapEntry", "the map cannot be indexed"))?;
        for key in elements("transformMapEntry", entry)? {
            let value = indexer.get(key)?.into_owned();
            insert(&mut map, key, value, "transformMapEntry")?;
        }
    }
    Ok(owned(CelMap::from(map)))
}
