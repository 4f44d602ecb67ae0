//! Parsing: the `cel` crate's parser, with optional syntax on and Kubernetes' macros, behind the
//! hostile-input guards (size, bracket depth, tree depth) and on a thread with a stack large
//! enough for the longest expression accepted.
//!
//! Macros expand as cel-go expands them: `has`, `all`, `exists`, `exists_one`/`existsOne`,
//! `map`, `filter` (standard), `optMap`/`optFlatMap` (optional values), `sortBy` (ext lists),
//! `math.greatest`/`math.least` (ext math), `cel.bind` (ext bindings) and the two-variable
//! comprehensions of ext `TwoVarComprehensions` (`all`, `exists`, `existsOne`/`exists_one`,
//! `transformList`, `transformMap`, `transformMapEntry` with two variables), which build
//! comprehensions with a second iteration variable and, for the maps, `cel.@mapInsert`.

use crate::error::CompileError;
use cel::common::ast::{
    operators, CallExpr, ComprehensionExpr, Expr, IdedExpr, ListExpr, LiteralValue, MapExpr,
    SourceInfo,
};
use cel::parser::{Macro, MacroExprHelper};
use cel::{ParseError, ParseErrors};
use std::cell::Cell;
use std::sync::LazyLock;

/// Longest expression accepted, in bytes.
pub const MAX_EXPRESSION_BYTES: usize = 16 * 1024;
/// Deepest bracket nesting accepted before parsing (the parser recurses on it).
pub const MAX_BRACKET_DEPTH: usize = 32;
/// Deepest syntax tree accepted after parsing (the compiler and evaluator recurse on it).
pub const MAX_TREE_DEPTH: usize = 96;
/// Stack for the parser: enough for the deepest chain MAX_EXPRESSION_BYTES can spell. It is
/// reserved address space; only what the parser touches is memory.
const PARSE_STACK_BYTES: usize = 128 * 1024 * 1024;

/// The internal function the two-variable map macros insert with: `cel.@mapInsert(map, k, v)`
/// adds an entry, `cel.@mapInsert(map, other)` adds another map's entries; a repeated key is
/// an error. Its name is no CEL identifier: only the macros can call it.
pub const MAP_INSERT: &str = "cel.@mapInsert";
/// The iteration variable of `cel.bind`'s comprehension (over no elements): how the checker
/// tells a binding from the other comprehensions over none (`optMap`, `sortBy`).
pub const BIND_VARIABLE: &str = "#bind";
/// The accumulator of the macros' comprehensions.
pub const RESULT: &str = "@result";

/// A parsed expression: the tree (macros expanded) and the offsets of its nodes.
#[derive(Debug)]
pub struct Parsed {
    pub expr: IdedExpr,
    pub info: SourceInfo,
}

impl Parsed {
    /// The 1-based line and column (in characters) where the node `id` starts.
    pub fn position(&self, source: &str, id: u64) -> Option<(u32, u32)> {
        self.info
            .offset_for(id)
            .map(|(start, _)| line_column(source, start as usize))
    }

    /// The position of a call's function name: the parser places a call at its `(`.
    pub fn call_position(&self, source: &str, id: u64, function: &str) -> Option<(u32, u32)> {
        self.info.offset_for(id).map(|(start, _)| {
            let start = start as usize;
            let at_paren = source.as_bytes().get(start) == Some(&b'(');
            let name_start = start.checked_sub(function.len()).filter(|_| at_paren);
            line_column(source, name_start.unwrap_or(start))
        })
    }
}

/// The parser's environment: only its macros are used.
static MACROS: LazyLock<cel::Env> = LazyLock::new(|| {
    let mut env = cel::Env::stdlib();
    env.add_extension(cel::extensions::lists)
        .and_then(|_| env.add_extension(cel::extensions::math))
        .and_then(|_| register_kubernetes_macros(&mut env))
        .expect("the macros register without conflict");
    env
});

thread_local! {
    /// Whether this thread was started by [`spawn_parse_thread`]: its stack is the parser's.
    static ON_PARSE_STACK: Cell<bool> = const { Cell::new(false) };
}

/// Runs `work` on a thread with a stack large enough for the parser's recursion on the longest
/// expression accepted; a panic there is an error. On a thread of [`spawn_parse_thread`] it
/// runs in place (one thread for many expressions, not one each).
pub fn on_parse_stack<T: Send>(
    work: impl FnOnce() -> Result<T, CompileError> + Send,
) -> Result<T, CompileError> {
    let failed = || CompileError::new(None, "the CEL parser failed on this expression");
    if ON_PARSE_STACK.with(Cell::get) {
        return std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
            .unwrap_or_else(|_| Err(failed()));
    }
    std::thread::scope(|scope| {
        spawn_parse_thread(scope, work)
            .map_err(|e| CompileError::new(None, format!("cannot start the compiler thread: {e}")))?
            .join()
            .unwrap_or_else(|_| Err(failed()))
    })
}

/// Starts a scoped thread with the parser's stack, on which [`on_parse_stack`] runs its work in
/// place: for compiling many expressions on one thread.
pub fn spawn_parse_thread<'scope, T: Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    work: impl FnOnce() -> T + Send + 'scope,
) -> std::io::Result<std::thread::ScopedJoinHandle<'scope, T>> {
    std::thread::Builder::new()
        .name("cel-compile".into())
        .stack_size(PARSE_STACK_BYTES)
        .spawn_scoped(scope, move || {
            ON_PARSE_STACK.with(|on| on.set(true));
            work()
        })
}

/// Parses an expression, refusing what is too long, too deeply bracketed or too deep. Call it
/// inside [`on_parse_stack`] (the parser recurses once per operator of a chain).
pub fn parse(source: &str) -> Result<Parsed, CompileError> {
    check_size(source)?;
    let (expr, info) = MACROS
        .parser()
        .parse_with_source_info(source)
        .map_err(|errors| parse_error(source, &errors))?;
    let parsed = Parsed { expr, info };
    if let Some(id) = deeper_than(&parsed.expr, MAX_TREE_DEPTH) {
        return Err(CompileError::new(
            parsed.position(source, id),
            format!("expression is nested deeper than {MAX_TREE_DEPTH} levels"),
        ));
    }
    Ok(parsed)
}

/// The first error of a failed parse, as cel-go reports it: a syntax error first, at its line
/// and column.
pub fn parse_error(source: &str, errors: &ParseErrors) -> CompileError {
    // A syntax error first, as cel-go reports it before what the parser made of it.
    let first = errors
        .errors
        .iter()
        .find(|e| e.msg.starts_with("Syntax error"))
        .or(errors.errors.first());
    if let Some(e) = first.filter(|e| e.msg == "unsupported ident kind") {
        // What the parser says of a selection without a field name (`m.?1`): cel-go
        // reports it after the syntax error the grammar found there.
        let position = (e.pos.0 >= 0 && e.pos.1 >= 0)
            .then(|| char_position(source, e.pos.0 as u32, e.pos.1 as usize + 1));
        return CompileError::new(
            position,
            "Syntax error: a field name must follow '.' or '.?'",
        );
    }
    CompileError::new(
        first.and_then(|e| {
            (e.pos.0 >= 0 && e.pos.1 >= 0)
                .then(|| char_position(source, e.pos.0 as u32, e.pos.1 as usize))
        }),
        first.map_or_else(|| errors.to_string(), |e| e.msg.clone()),
    )
}

/// The id of a node deeper than `limit`, if any. Recurses at most `limit + 1` levels.
fn deeper_than(expr: &IdedExpr, limit: usize) -> Option<u64> {
    fn walk(expr: &IdedExpr, depth: usize, limit: usize) -> Result<(), u64> {
        if depth > limit {
            return Err(expr.id);
        }
        crate::analysis::visit::try_children(expr, |child| walk(child, depth + 1, limit))
    }
    walk(expr, 0, limit).err()
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_column(source: &str, offset: usize) -> (u32, u32) {
    let (mut line, mut column) = (1u32, 1u32);
    for (_, c) in source.char_indices().take_while(|(i, _)| *i < offset) {
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    (line, column)
}

/// The 1-based line and column in characters of a parser position: a line and a 0-based byte
/// column in it.
fn char_position(source: &str, line: u32, byte_column: usize) -> (u32, u32) {
    let text = source
        .split('\n')
        .nth(line.saturating_sub(1) as usize)
        .unwrap_or("");
    let column = text
        .char_indices()
        .take_while(|(i, _)| *i < byte_column)
        .count()
        + byte_column.saturating_sub(text.len());
    (line, column as u32 + 1)
}

/// Refuses what would make the parser recurse too deeply, before it runs.
fn check_size(source: &str) -> Result<(), CompileError> {
    if source.len() > MAX_EXPRESSION_BYTES {
        return Err(CompileError::new(
            None,
            format!("expression is longer than {MAX_EXPRESSION_BYTES} bytes"),
        ));
    }
    let (mut depth, mut line, mut column) = (0usize, 1u32, 0u32);
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in source.chars() {
        column += 1;
        if c == '\n' {
            line += 1;
            column = 0;
        }
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => quote = Some(c),
            '(' | '[' | '{' => {
                depth += 1;
                if depth > MAX_BRACKET_DEPTH {
                    return Err(CompileError::new(
                        Some((line, column)),
                        format!("expression nests brackets deeper than {MAX_BRACKET_DEPTH}"),
                    ));
                }
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum TwoVar {
    All,
    Exists,
    ExistsOne,
    TransformList,
    TransformMap,
    TransformMapEntry,
}

fn register_kubernetes_macros(env: &mut cel::Env) -> Result<(), cel::DeclarationError> {
    let macros = [
        ("all", 3, TwoVar::All),
        ("exists", 3, TwoVar::Exists),
        ("existsOne", 3, TwoVar::ExistsOne),
        ("exists_one", 3, TwoVar::ExistsOne),
        ("transformList", 3, TwoVar::TransformList),
        ("transformList", 4, TwoVar::TransformList),
        ("transformMap", 3, TwoVar::TransformMap),
        ("transformMap", 4, TwoVar::TransformMap),
        ("transformMapEntry", 3, TwoVar::TransformMapEntry),
        ("transformMapEntry", 4, TwoVar::TransformMapEntry),
    ];
    for (name, count, kind) in macros {
        env.add_macro(Macro::receiver(name, count, move |helper, target, args| {
            two_variable(helper, target, args, name, kind).map(Some)
        }))?;
    }
    env.add_macro(Macro::receiver("bind", 3, bind_macro))
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

/// `cel.bind(name, value, body)`: a comprehension over no elements whose accumulator is the
/// variable; any other `x.bind(..)` is left as the call it is.
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
    let range = helper.next_expr(Expr::List(ListExpr::new(Vec::new())));
    let cond = literal(helper, LiteralValue::Boolean(false.into()));
    let step = ident(helper, &name);
    Ok(Some(helper.next_expr(Expr::Comprehension(Box::new(
        ComprehensionExpr {
            iter_range: range,
            iter_var: BIND_VARIABLE.to_owned(),
            iter_var2: None,
            accu_var: name,
            accu_init: value,
            loop_cond: cond,
            loop_step: step,
            result: body,
        },
    )))))
}

/// cel-go's two-variable comprehensions: the comprehension binds both variables (index and
/// element of a list, key and value of a map).
fn two_variable(
    helper: &mut MacroExprHelper<'_>,
    target: &mut Option<IdedExpr>,
    args: &mut Vec<IdedExpr>,
    name: &str,
    kind: TwoVar,
) -> Result<IdedExpr, ParseError> {
    let first = variable(helper, &args[0], &format!("{name}'s first variable"))?;
    let second = variable(helper, &args[1], &format!("{name}'s second variable"))?;
    if first == second {
        return Err(helper.new_error(
            args[1].id,
            format!("{name}: the two variables must have different names"),
        ));
    }
    if first == RESULT || second == RESULT {
        return Err(helper.new_error(args[0].id, format!("{name}: {RESULT} is reserved")));
    }
    let range = target.take().expect("a receiver macro has a target");
    let mut rest: Vec<IdedExpr> = args.drain(..).skip(2).collect();
    let expr = rest.pop().expect("three or four arguments");
    let filter = rest.pop();
    let accu = |helper: &mut MacroExprHelper<'_>| ident(helper, RESULT);
    let (init, cond, step, result) = match kind {
        TwoVar::All | TwoVar::Exists => {
            let all = matches!(kind, TwoVar::All);
            let init = literal(helper, LiteralValue::Boolean(all.into()));
            let cond_arg = if all {
                accu(helper)
            } else {
                let a = accu(helper);
                call(helper, operators::LOGICAL_NOT, vec![a])
            };
            let cond = call(helper, operators::NOT_STRICTLY_FALSE, vec![cond_arg]);
            let a = accu(helper);
            let op = if all {
                operators::LOGICAL_AND
            } else {
                operators::LOGICAL_OR
            };
            let step = call(helper, op, vec![a, expr]);
            (init, cond, step, accu(helper))
        }
        TwoVar::ExistsOne => {
            let init = literal(helper, LiteralValue::Int(0.into()));
            let cond = literal(helper, LiteralValue::Boolean(true.into()));
            let a = accu(helper);
            let one = literal(helper, LiteralValue::Int(1.into()));
            let plus = call(helper, operators::ADD, vec![a, one]);
            let a = accu(helper);
            let step = call(helper, operators::CONDITIONAL, vec![expr, plus, a]);
            let a = accu(helper);
            let one = literal(helper, LiteralValue::Int(1.into()));
            let result = call(helper, operators::EQUALS, vec![a, one]);
            (init, cond, step, result)
        }
        TwoVar::TransformList | TwoVar::TransformMap | TwoVar::TransformMapEntry => {
            let cond = literal(helper, LiteralValue::Boolean(true.into()));
            let (init, add) = match kind {
                TwoVar::TransformList => {
                    let init = helper.next_expr(Expr::List(ListExpr::new(Vec::new())));
                    let a = accu(helper);
                    let single = helper.next_expr(Expr::List(ListExpr::new(vec![expr])));
                    (init, call(helper, operators::ADD, vec![a, single]))
                }
                TwoVar::TransformMap => {
                    let init = helper.next_expr(Expr::Map(MapExpr {
                        entries: Vec::new(),
                    }));
                    let a = accu(helper);
                    let key = ident(helper, &first);
                    (init, call(helper, MAP_INSERT, vec![a, key, expr]))
                }
                _ => {
                    let init = helper.next_expr(Expr::Map(MapExpr {
                        entries: Vec::new(),
                    }));
                    let a = accu(helper);
                    (init, call(helper, MAP_INSERT, vec![a, expr]))
                }
            };
            let step = match filter {
                Some(filter) => {
                    let a = accu(helper);
                    call(helper, operators::CONDITIONAL, vec![filter, add, a])
                }
                None => add,
            };
            (init, cond, step, accu(helper))
        }
    };
    Ok(
        helper.next_expr(Expr::Comprehension(Box::new(ComprehensionExpr {
            iter_range: range,
            iter_var: first,
            iter_var2: Some(second),
            accu_var: RESULT.to_owned(),
            accu_init: init,
            loop_cond: cond,
            loop_step: step,
            result,
        }))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_here(source: &str) -> Result<Parsed, CompileError> {
        on_parse_stack(|| parse(source))
    }

    #[test]
    fn a_parse_thread_runs_work_in_place_and_a_panic_there_is_an_error() {
        let thread_of = || Ok(std::thread::current().id());
        let caller = std::thread::current().id();
        assert_ne!(on_parse_stack(thread_of).unwrap(), caller);
        std::thread::scope(|scope| {
            spawn_parse_thread(scope, || {
                let worker = std::thread::current().id();
                assert_eq!(on_parse_stack(thread_of).unwrap(), worker);
                let failed =
                    on_parse_stack(|| -> Result<(), CompileError> { panic!("in the parser") });
                assert_eq!(
                    failed.unwrap_err().message,
                    "the CEL parser failed on this expression"
                );
                assert!(on_parse_stack(|| parse("[1, 2].all(x, x > 0)")).is_ok());
            })
            .unwrap()
            .join()
            .unwrap();
        });
    }

    #[test]
    fn macros_expand_to_comprehensions() {
        for source in [
            "[1].all(x, x > 0)",
            "[1].exists(x, x > 0)",
            "[1].exists_one(x, x > 0)",
            "[1].existsOne(x, x > 0)",
            "[1].map(x, x + 1)",
            "[1].map(x, x > 0, x + 1)",
            "[1].filter(x, x > 0)",
            "[1].all(i, v, v > i)",
            "{'a': 1}.transformMap(k, v, v + 1)",
            "{'a': 1}.transformMapEntry(k, v, {v: k})",
            "[1].transformList(i, v, i > 0, v)",
            "cel.bind(x, 1, x + 1)",
            "optional.of(1).optMap(x, x + 1)",
            "[1].sortBy(x, -x)",
        ] {
            let parsed = parse_here(source).unwrap_or_else(|e| panic!("{source}: {e}"));
            assert!(
                matches!(parsed.expr.expr, Expr::Comprehension(_) | Expr::Call(_)),
                "{source}: {:?}",
                parsed.expr.expr
            );
        }
        let has = parse_here("has(a.b)").unwrap();
        assert!(matches!(has.expr.expr, Expr::Select(ref s) if s.test));
    }

    #[test]
    fn errors_have_positions_and_today_s_wording() {
        let deep = format!("{}1{}", "(".repeat(200), ")".repeat(200));
        let long_chain = format!("object{}", ".a".repeat(400));
        let too_long = "1".repeat(MAX_EXPRESSION_BYTES + 1);
        let cases: &[(&str, &str)] = &[
            ("object.metadata.", "line 1, column"),
            ("a +\n é ++", "line 2, column"),
            (
                &deep,
                "line 1, column 33: expression nests brackets deeper than 32",
            ),
            (&long_chain, "nested deeper than 96 levels"),
            (&too_long, "expression is longer than 16384 bytes"),
            ("[1].all(x.y, true)", "argument must be a simple name"),
            (
                "[1].all(i, i, true)",
                "the two variables must have different names",
            ),
        ];
        for (source, expected) in cases {
            let err = parse_here(source).unwrap_err().to_string();
            assert!(
                err.contains(expected),
                "{source:.40}: {err:?} lacks {expected:?}"
            );
        }
    }

    #[test]
    fn positions_are_characters() {
        let source = "'é' +\n  foo";
        let parsed = parse_here(source).unwrap();
        let Expr::Call(call) = &parsed.expr.expr else {
            panic!("a call")
        };
        assert_eq!(parsed.position(source, call.args[0].id), Some((1, 1)));
        assert_eq!(parsed.position(source, call.args[1].id), Some((2, 3)));
    }
}
