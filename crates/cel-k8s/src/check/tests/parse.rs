//! Parsers for the tests: the `cel` crate's, with the macros Kubernetes' environment has (the
//! standard ones, optMap/optFlatMap, sortBy and the two-variable comprehensions, expanded as
//! cel-go expands them), and for the extended environment also cel.bind and
//! math.greatest/least. (The `cel` crate's standard macros include the one-variable
//! `existsOne`, which Kubernetes' parser does not expand.)

use cel::common::ast::{
    operators, CallExpr, ComprehensionExpr, Expr, IdedExpr, ListExpr, LiteralValue, MapExpr,
    SourceInfo,
};
use cel::parser::{Macro, MacroExprHelper};
use cel::{Env, ParseError};

const RESULT: &str = "@result";

/// Parses with every macro cmek-gate offers.
pub(crate) fn parse(source: &str) -> Result<(IdedExpr, SourceInfo), String> {
    thread_local! {
        static ENV: Env = env(true);
    }
    ENV.with(|env| {
        env.parser()
            .parse_with_source_info(source)
            .map_err(|e| e.to_string())
    })
}

/// Parses with the macros of Kubernetes' environment only.
pub(crate) fn parse_kubernetes(source: &str) -> Result<(IdedExpr, SourceInfo), String> {
    thread_local! {
        static ENV: Env = env(false);
    }
    ENV.with(|env| {
        env.parser()
            .parse_with_source_info(source)
            .map_err(|e| e.to_string())
    })
}

fn env(extended: bool) -> Env {
    let mut env = Env::stdlib();
    for extension in [
        cel::extensions::strings as fn(&mut Env) -> _,
        cel::extensions::lists,
    ] {
        env.add_extension(extension).expect("extensions register");
    }
    if extended {
        env.add_extension(cel::extensions::math)
            .expect("math registers");
        env.add_macro(Macro::receiver("bind", 3, bind))
            .expect("bind registers");
    }
    for (name, kind) in [
        ("all", Kind::All),
        ("exists", Kind::Exists),
        ("existsOne", Kind::ExistsOne),
        ("exists_one", Kind::ExistsOne),
        ("transformList", Kind::TransformList),
        ("transformMap", Kind::TransformMap),
        ("transformMapEntry", Kind::TransformMapEntry),
    ] {
        let counts: &[usize] = match kind {
            Kind::All | Kind::Exists | Kind::ExistsOne => &[3],
            _ => &[3, 4],
        };
        for &count in counts {
            env.add_macro(Macro::receiver(name, count, move |h, t, a| {
                two_variable(h, t, a, kind)
            }))
            .expect("two-variable macros register");
        }
    }
    env
}

#[derive(Clone, Copy)]
enum Kind {
    All,
    Exists,
    ExistsOne,
    TransformList,
    TransformMap,
    TransformMapEntry,
}

fn ident(h: &mut MacroExprHelper<'_>, name: &str) -> IdedExpr {
    h.next_expr(Expr::Ident(name.to_owned()))
}

fn call(h: &mut MacroExprHelper<'_>, name: &str, args: Vec<IdedExpr>) -> IdedExpr {
    h.next_expr(Expr::Call(CallExpr {
        func_name: name.to_owned(),
        target: None,
        args,
    }))
}

fn literal(h: &mut MacroExprHelper<'_>, value: LiteralValue) -> IdedExpr {
    h.next_expr(Expr::Literal(value))
}

fn name_of(h: &MacroExprHelper<'_>, e: &IdedExpr) -> Result<String, ParseError> {
    match &e.expr {
        Expr::Ident(name) => Ok(name.clone()),
        _ => Err(h.new_error(e.id, "argument must be a simple name")),
    }
}

/// `cel.bind(x, init, body)`.
fn bind(
    h: &mut MacroExprHelper<'_>,
    target: &mut Option<IdedExpr>,
    args: &mut Vec<IdedExpr>,
) -> Result<Option<IdedExpr>, ParseError> {
    if !matches!(target.as_ref().map(|t| &t.expr), Some(Expr::Ident(n)) if n == "cel") {
        return Ok(None);
    }
    let name = name_of(h, &args[0])?;
    let [_, init, body]: [IdedExpr; 3] = std::mem::take(args).try_into().expect("3 arguments");
    let range = h.next_expr(Expr::List(ListExpr::new(Vec::new())));
    let cond = literal(h, LiteralValue::Boolean(false.into()));
    let step = ident(h, &name);
    Ok(Some(h.next_expr(Expr::Comprehension(Box::new(
        ComprehensionExpr {
            iter_range: range,
            iter_var: "#unused".to_owned(),
            iter_var2: None,
            accu_var: name,
            accu_init: init,
            loop_cond: cond,
            loop_step: step,
            result: body,
        },
    )))))
}

fn two_variable(
    h: &mut MacroExprHelper<'_>,
    target: &mut Option<IdedExpr>,
    args: &mut Vec<IdedExpr>,
    kind: Kind,
) -> Result<Option<IdedExpr>, ParseError> {
    let range = target.take().expect("a receiver macro");
    let var1 = name_of(h, &args[0])?;
    let var2 = name_of(h, &args[1])?;
    let mut rest: Vec<IdedExpr> = args.drain(2..).collect();
    let body = rest.pop().expect("a body");
    let filter = rest.pop();
    let accu = || RESULT.to_owned();
    let (init, cond, step, result) = match kind {
        Kind::All | Kind::Exists => {
            let all = matches!(kind, Kind::All);
            let init = literal(h, LiteralValue::Boolean(all.into()));
            let r = ident(h, RESULT);
            let r = if all {
                r
            } else {
                call(h, operators::LOGICAL_NOT, vec![r])
            };
            let cond = call(h, operators::NOT_STRICTLY_FALSE, vec![r]);
            let r = ident(h, RESULT);
            let op = if all {
                operators::LOGICAL_AND
            } else {
                operators::LOGICAL_OR
            };
            let step = call(h, op, vec![r, body]);
            (init, cond, step, ident(h, RESULT))
        }
        Kind::ExistsOne => {
            let init = literal(h, LiteralValue::Int(0.into()));
            let cond = literal(h, LiteralValue::Boolean(true.into()));
            let r = ident(h, RESULT);
            let one = literal(h, LiteralValue::Int(1.into()));
            let plus = call(h, operators::ADD, vec![r, one]);
            let r = ident(h, RESULT);
            let step = call(h, operators::CONDITIONAL, vec![body, plus, r]);
            let r = ident(h, RESULT);
            let one = literal(h, LiteralValue::Int(1.into()));
            (init, cond, step, call(h, operators::EQUALS, vec![r, one]))
        }
        Kind::TransformList | Kind::TransformMap | Kind::TransformMapEntry => {
            let init = match kind {
                Kind::TransformList => h.next_expr(Expr::List(ListExpr::new(Vec::new()))),
                _ => h.next_expr(Expr::Map(MapExpr {
                    entries: Vec::new(),
                })),
            };
            let r = ident(h, RESULT);
            let mut step = match kind {
                Kind::TransformList => {
                    let single = h.next_expr(Expr::List(ListExpr::new(vec![body])));
                    call(h, operators::ADD, vec![r, single])
                }
                Kind::TransformMap => {
                    let k = ident(h, &var1);
                    call(h, "cel.@mapInsert", vec![r, k, body])
                }
                _ => call(h, "cel.@mapInsert", vec![r, body]),
            };
            if let Some(filter) = filter {
                let r = ident(h, RESULT);
                step = call(h, operators::CONDITIONAL, vec![filter, step, r]);
            }
            let cond = literal(h, LiteralValue::Boolean(true.into()));
            (init, cond, step, ident(h, RESULT))
        }
    };
    Ok(Some(h.next_expr(Expr::Comprehension(Box::new(
        ComprehensionExpr {
            iter_range: range,
            iter_var: var1,
            iter_var2: Some(var2),
            accu_var: accu(),
            accu_init: init,
            loop_cond: cond,
            loop_step: step,
            result,
        },
    )))))
}
