//! The runtime cost meter: evaluating one expression stops with an error once it has spent its
//! budget.
//!
//! The `cel` crate's evaluator has no hook of its own, so the metered tree (built by
//! [`super::cost`]) calls functions of ours where the work and the memory of an evaluation can
//! grow beyond the expression's size: `@cost.iterate` before each comprehension runs (1 plus
//! its range's entries), `@cost.sized` after a value is built that can be large (its size), and
//! `@cost.replace` / `@cost.join` in place of `replace` and `join`, which charge the size of
//! their result before building it. They charge a budget kept per thread for the duration of one
//! [`with_budget`] call: an evaluation runs on one thread, start to end. Once the budget is spent
//! every further charge fails, so the evaluation ends quickly, and [`with_budget`] reports it
//! even if an `||` or an `exists()` swallowed the error.

use super::convert::{SharedList, SharedMap};
use super::size_bound::SizeBound;
use cel::common::types::{CelBytes, CelInt, CelList, CelMap, CelString, DYN_TYPE};
use cel::common::value::{CowVal, Val};
use cel::{DeclarationError, Env, ExecutionError};
use std::cell::Cell;

pub(super) const ITERATE: &str = "@cost.iterate";
pub(super) const SIZED: &str = "@cost.sized";
pub(super) const REPLACE: &str = "@cost.replace";
pub(super) const JOIN: &str = "@cost.join";

thread_local! {
    /// Units left to the evaluation running on this thread (unlimited outside one).
    static REMAINING: Cell<u64> = const { Cell::new(u64::MAX) };
    /// Whether a charge failed during it.
    static EXCEEDED: Cell<bool> = const { Cell::new(false) };
}

/// Runs `evaluate` with a budget of `limit` units; returns its result and the units spent, or
/// `Err(spent)` when the budget ran out.
pub(super) fn with_budget<T>(limit: u64, evaluate: impl FnOnce() -> T) -> Result<(T, u64), u64> {
    struct Restore(u64, bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            REMAINING.with(|r| r.set(self.0));
            EXCEEDED.with(|e| e.set(self.1));
        }
    }
    let _restore = Restore(REMAINING.with(Cell::get), EXCEEDED.with(Cell::get));
    REMAINING.with(|r| r.set(limit));
    EXCEEDED.with(|e| e.set(false));
    let result = evaluate();
    let spent = limit - REMAINING.with(Cell::get);
    if EXCEEDED.with(Cell::get) {
        Err(limit)
    } else {
        Ok((result, spent))
    }
}

/// Takes `units` from the budget, or fails (and keeps failing) when it has not that many left.
fn charge(units: u64) -> Result<(), ExecutionError> {
    let remaining = REMAINING.with(Cell::get);
    if units > remaining || EXCEEDED.with(Cell::get) {
        REMAINING.with(|r| r.set(0));
        EXCEEDED.with(|e| e.set(true));
        return Err(ExecutionError::function_error(
            "cost",
            "the expression exceeded its cost budget",
        ));
    }
    REMAINING.with(|r| r.set(remaining - units));
    Ok(())
}

pub(super) fn register(env: &mut Env) -> Result<(), DeclarationError> {
    env.add_overload(ITERATE, "@cost.iterate(dyn)", vec![DYN_TYPE], iterate)?;
    env.add_overload(SIZED, "@cost.sized(dyn)", vec![DYN_TYPE], sized)?;
    env.add_overload(
        REPLACE,
        "@cost.replace(dyn, dyn, dyn)",
        vec![DYN_TYPE, DYN_TYPE, DYN_TYPE],
        replace,
    )?;
    env.add_overload(
        REPLACE,
        "@cost.replace(dyn, dyn, dyn, dyn)",
        vec![DYN_TYPE, DYN_TYPE, DYN_TYPE, DYN_TYPE],
        replace,
    )?;
    env.add_overload(JOIN, "@cost.join(dyn)", vec![DYN_TYPE], join)?;
    env.add_overload(JOIN, "@cost.join(dyn, dyn)", vec![DYN_TYPE, DYN_TYPE], join)?;
    Ok(())
}

fn first<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    args.into_iter()
        .next()
        .ok_or_else(|| ExecutionError::invalid_argument_count(1, 0))
}

/// A comprehension's range: 1, and 1 per entry it will iterate over.
fn iterate<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let range = first(args)?;
    let entries = range
        .as_sizer()
        .map_or(0, |s| (*s.size().inner()).max(0) as u64);
    charge(entries.saturating_add(1))?;
    Ok(range)
}

/// A value just built, or about to be copied: its size.
fn sized<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let value = first(args)?;
    let cap = REMAINING.with(Cell::get).saturating_add(1);
    charge(units(value.as_ref(), cap))?;
    Ok(value)
}

/// The cost units of a value, counted up to `cap`: a string 1 per 10 bytes, a list or map built
/// by an expression its entries, one read from the request or parameters 1 (it is shared).
pub(super) fn units(value: &dyn Val, cap: u64) -> u64 {
    if let Some(s) = value.downcast_ref::<CelString>() {
        return SizeBound::string_units(s.inner().len() as u64);
    }
    if let Some(b) = value.downcast_ref::<CelBytes>() {
        return SizeBound::string_units(b.inner().len() as u64);
    }
    if value.downcast_ref::<SharedList>().is_some() || value.downcast_ref::<SharedMap>().is_some() {
        return 1;
    }
    let mut total: u64 = 1;
    if let Some(list) = value.downcast_ref::<CelList>() {
        for item in list.inner() {
            total = total.saturating_add(units(item.as_ref(), cap - total.min(cap)));
            if total > cap {
                break;
            }
        }
    } else if let Some(map) = value.downcast_ref::<CelMap>() {
        for (key, item) in map.inner() {
            let key = units(key.inner(), cap);
            total = total
                .saturating_add(key)
                .saturating_add(units(item.as_ref(), cap - total.min(cap)));
            if total > cap {
                break;
            }
        }
    }
    total
}

fn string_arg<'a>(function: &str, value: &'a dyn Val) -> Result<&'a str, ExecutionError> {
    value
        .downcast_ref::<CelString>()
        .map(|s| s.inner())
        .ok_or_else(|| {
            ExecutionError::no_such_overload(function, vec![value.get_type().name().to_owned()])
        })
}

/// `string.replace(from, to[, n])`, charging the result's size before building it.
fn replace<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let text = string_arg("replace", args[0].as_ref())?;
    let from = string_arg("replace", args[1].as_ref())?;
    let to = string_arg("replace", args[2].as_ref())?;
    let limit = match args.get(3) {
        Some(n) => {
            let n = n.downcast_ref::<CelInt>().ok_or_else(|| {
                ExecutionError::no_such_overload("replace", vec![n.get_type().name().to_owned()])
            })?;
            usize::try_from(*n.inner()).ok()
        }
        None => None,
    };
    let found = if from.is_empty() {
        text.chars().count() + 1
    } else {
        text.matches(from).count()
    };
    let count = limit.map_or(found, |n| n.min(found)) as u64;
    let bytes = (text.len() as u64)
        .saturating_sub(count.saturating_mul(from.len() as u64))
        .saturating_add(count.saturating_mul(to.len() as u64));
    charge(SizeBound::string_units(bytes))?;
    let replaced = match limit {
        Some(n) => text.replacen(from, to, n),
        None => text.replace(from, to),
    };
    Ok(CowVal::owned(CelString::from(replaced)))
}

/// `list.join([separator])`, charging the result's size before building it.
fn join<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let separator = match args.get(1) {
        Some(s) => string_arg("join", s.as_ref())?,
        None => "",
    };
    let list = args[0].as_iterable().ok_or_else(|| {
        ExecutionError::no_such_overload("join", vec![args[0].get_type().name().to_owned()])
    })?;
    let mut parts = Vec::new();
    let mut items = list.iter();
    while let Some(item) = items.next() {
        parts.push(string_arg("join", item)?);
    }
    let bytes = parts
        .iter()
        .fold(0u64, |acc, p| acc.saturating_add(p.len() as u64))
        .saturating_add(
            (parts.len().saturating_sub(1) as u64).saturating_mul(separator.len() as u64),
        );
    charge(SizeBound::string_units(bytes))?;
    Ok(CowVal::owned(CelString::from(parts.join(separator))))
}

#[cfg(test)]
mod tests {
    use crate::cel::{to_val, Activation, Environment, SizeBound, SizeBounds};
    use crate::manifest::Node;
    use serde_json::json;

    fn activation() -> Activation {
        let mut activation = Activation::default();
        let object = json!({
            "big": "a".repeat(1_000_000),
            "names": ["a", "bb", "ccc"],
            "labels": {"team": "x", "owner": "y"},
        });
        activation.set("object", to_val(&Node::from_json(&object)));
        activation
    }

    /// Evaluates with a budget: the result as JSON, or the error.
    fn run(source: &str, budget: u64) -> Result<serde_json::Value, String> {
        let env = Environment::new().with_budget(budget);
        let program = env.compile(source, &[]).map_err(|e| e.to_string())?;
        let scope = env.scope(&activation());
        let value = env.run(&scope, &program, Vec::new()).map_err(|e| e.0)?;
        crate::cel::to_json(&*value).map_err(|e| e.0)
    }

    /// Hostile expressions: each ends with a clear error (at compile time, or when it has spent
    /// its budget), never a crash, a stack overflow or a hang. Bounded by the budget, not time.
    #[test]
    fn hostile_expressions_stop_with_a_clear_error() {
        let budget = 100_000;
        let list: String = format!("[{}]", vec!["1"; 1000].join(","));
        let doubling = (0..30).fold("'aaaaaaaaaaaaaaaa'".to_owned(), |inner, i| {
            format!("cel.bind(v{i}, {inner}, v{i} + v{i})")
        });
        let quote = |n| {
            (0..n).fold("'\"'".to_owned(), |inner, _| {
                format!("strings.quote({inner})")
            })
        };
        let (quoting, deep_quoting) = (quote(20), quote(30));
        let cases: Vec<(&str, String, &str)> = vec![
            (
                "nested comprehensions over big ranges",
                "lists.range(100000).all(x, lists.range(100000).all(y, x != y || true))".into(),
                "exceeded its cost budget",
            ),
            (
                "three nested comprehensions over a 1000-element literal",
                format!("{list}.all(x, {list}.all(y, {list}.all(z, true)))"),
                "exceeded its cost budget",
            ),
            (
                "a big range sorted",
                "lists.range(1000000).sort().size() > 0".into(),
                "exceeded its cost budget",
            ),
            (
                "a map piling up small strings",
                // 30,601 iterations, well within the budget: what piles up is not.
                "lists.range(300).map(i, lists.range(100).map(j, 'abcdefghijklmnopqrstuvwxyz0123456789')).size()".into(),
                "exceeded its cost budget",
            ),
            (
                "a filter over a big range",
                "lists.range(1000000).filter(x, true).size()".into(),
                "exceeded its cost budget",
            ),
            (
                "two-variable comprehension over a big range",
                "lists.range(200000).transformMap(i, v, v).size()".into(),
                "exceeded its cost budget",
            ),
            (
                "string doubling 30 times",
                format!("size({doubling})"),
                "exceeded its cost budget",
            ),
            (
                "quoting 20 times",
                format!("size({quoting})"),
                "exceeded its cost budget",
            ),
            (
                "quoting 30 times: too deep once metered",
                format!("size({deep_quoting})"),
                "nests calls and comprehensions deeper than",
            ),
            (
                "replace that multiplies a string",
                format!("size(object.big.replace('a', '{}'))", "b".repeat(100)),
                "exceeded its cost budget",
            ),
            (
                "join with a big separator",
                "size(lists.range(5000).map(x, '').join(object.big))".into(),
                "exceeded its cost budget",
            ),
            (
                "a list of copies of a big string",
                format!("size([{}])", vec!["object.big"; 50].join(", ")),
                "exceeded its cost budget",
            ),
            (
                "a big string concatenated with itself in a loop",
                "lists.range(100).map(i, object.big + object.big).size()".into(),
                "exceeded its cost budget",
            ),
            (
                "exists, which would swallow an error, still fails",
                "lists.range(2).exists(i, i == 1 || lists.range(1000000).size() > 0)".into(),
                "exceeded its cost budget",
            ),
            (
                "deeply nested brackets",
                format!("{}1{}", "(".repeat(200), ")".repeat(200)),
                "nests brackets deeper than",
            ),
            (
                "a huge expression",
                vec!["1"; 10_000].join(" + "),
                "longer than",
            ),
            (
                "a long chain",
                format!("object{}", ".a".repeat(500)),
                "nested deeper than",
            ),
        ];
        let mut failed = Vec::new();
        for (name, source, expected) in &cases {
            match run(source, budget) {
                Err(e) if e.contains(expected) => {}
                other => failed.push(format!("{name}: {other:?}, expected {expected:?}")),
            }
        }
        assert!(failed.is_empty(), "{failed:#?}");
    }

    /// The deepest metered trees accepted evaluate on a 2 MiB (test thread) stack.
    #[test]
    fn the_deepest_metered_trees_evaluate() {
        let nest = |n: usize, open: &str, close: &str| {
            format!("{}'\"'{}", open.repeat(n), close.repeat(n))
        };
        let sources = [
            nest(23, "strings.quote(", ")"),
            format!("size({})", nest(23, "strings.quote(", ")")),
            format!("{}true{}", "[1].all(x, ".repeat(23), ")".repeat(23)),
            (0..31).fold("object".to_owned(), |inner, i| {
                format!("cel.bind(v{i}, {inner}, v{i})")
            }),
        ];
        let env = Environment::new();
        for source in sources {
            let program = env
                .compile(&source, &[])
                .unwrap_or_else(|e| panic!("{source:.40}: {e}"));
            let _ = env.evaluate(&program, &activation());
        }
    }

    /// What the meter counts at run time never exceeds the static estimate, on an input within
    /// the shapes the estimate assumed.
    #[test]
    fn runtime_cost_stays_within_the_estimate() {
        let env = Environment::new();
        let object = json!({
            "names": ["a", "bb", "ccc"],
            "labels": {"team": "x", "owner": "y"},
            "text": "hello world",
        });
        let mut activation = Activation::default();
        activation.set("object", to_val(&Node::from_json(&object)));
        let mut shapes = SizeBounds::unknown();
        shapes.object = SizeBound::of_node(&Node::from_json(&object));
        let scope = env.scope(&activation);
        let sources = [
            "object.names.all(n, n.size() < 5)",
            "object.names.map(n, n + '!').join(',')",
            "object.names.exists(a, object.names.exists(b, a + b == 'abb'))",
            "object.labels.all(k, object.labels[k] != '')",
            "object.text.replace('o', '0').split(' ')",
            "[object.text, object.text + object.text].filter(t, t.size() > 3)",
            "lists.range(50).map(i, [i, i * 2]).size()",
            "cel.bind(t, object.text + object.text, t + t)",
        ];
        for source in sources {
            let mut program = env.compile(source, &[]).unwrap();
            let estimate = program.meter(&shapes).cost;
            let (result, spent) = env.run_metered(&scope, &program, Vec::new());
            assert!(result.is_ok(), "{source}: {:?}", result.err());
            assert!(
                spent <= estimate,
                "{source}: spent {spent}, estimated {estimate}"
            );
        }
    }

    /// The metered `replace` and `join` give what the crate's give.
    #[test]
    fn metered_functions_give_the_same_results() {
        // (the crate's, on literals; ours, on a value read from the object ('x'); the result)
        let cases = [
            (
                "'xbanana'.replace('a', 'o')",
                "(object.labels.team + 'banana').replace('a', 'o')",
                "xbonono",
            ),
            (
                "'xbanana'.replace('a', 'o', 2)",
                "(object.labels.team + 'banana').replace('a', 'o', 2)",
                "xbonona",
            ),
            (
                "'xbanana'.replace('a', 'o', -1)",
                "(object.labels.team + 'banana').replace('a', 'o', -1)",
                "xbonono",
            ),
            (
                "'xb'.replace('', '-')",
                "(object.labels.team + 'b').replace('', '-')",
                "-x-b-",
            ),
            (
                "['x', 'b', 'c'].join()",
                "[object.labels.team, 'b', 'c'].join()",
                "xbc",
            ),
            (
                "['x', 'b', 'c'].join('; ')",
                "['x', 'b', 'c'].join(object.labels.team)",
                "xxbxc",
            ),
            (
                "[].join(',')",
                "object.names.filter(n, false).join(',')",
                "",
            ),
        ];
        for (plain, metered, expected) in cases {
            let program = Environment::new().compile(metered, &[]).unwrap();
            let text = format!("{:?}", program.metered);
            assert!(
                text.contains("@cost.replace") || text.contains("@cost.join"),
                "{metered}"
            );
            if plain.contains("'; '") {
                assert_eq!(run(plain, 1000), Ok(json!("x; b; c")), "{plain}");
            } else {
                assert_eq!(run(plain, 1000), Ok(json!(expected)), "{plain}");
            }
            assert_eq!(run(metered, 1000), Ok(json!(expected)), "{metered}");
        }
        let program = Environment::new()
            .compile("object.labels.team.replace('x', 'y')", &[])
            .unwrap();
        assert!(format!("{:?}", program.metered).contains("@cost.replace"));
        assert!(run("object.labels.team.replace(1, 'y')", 1000)
            .unwrap_err()
            .contains("replace"));
        let error = run("[1, 2].join(object.labels.team)", 1000).unwrap_err();
        assert!(error.contains("join"), "{error}");
    }
}
