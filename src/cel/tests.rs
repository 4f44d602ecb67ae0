//! Compiling through the adapter and evaluating with `cel-k8s`: expressions, compile errors,
//! runtime errors, and the hostile expressions (refused at load, or stopped by the runtime
//! budget; never a stack overflow).

use super::*;
use crate::manifest::cel_tree::ObjectTree;
use crate::manifest::Node;
use serde_json::{json, Value};

/// Evaluates `source` with `object` bound, on `env`'s budget: the result as JSON (or the
/// error), and the units spent.
fn run_on(env: &Environment, source: &str, object: &Value) -> (Result<Value, String>, u64) {
    let program = match env.compile(source, &["x"]) {
        Ok(program) => program,
        Err(e) => return (Err(e.to_string()), 0),
    };
    let node = Node::from_json(object);
    let mut activation = cel_k8s::Activation::new();
    activation.bind_tree(cel_k8s::Root::Object, ObjectTree::of(&node));
    let mut meter = env.runtime().meter();
    let result = program
        .executable
        .evaluate(&activation, &mut meter)
        .and_then(|v| v.to_json())
        .map_err(|e| e.0);
    (result, meter.spent())
}

fn eval(source: &str) -> Result<Value, String> {
    let object = json!({"metadata": {"name": "s", "labels": {"a": "b"}}, "n": [1, 2]});
    run_on(&Environment::new(), source, &object).0
}

#[test]
fn kubernetes_style_expressions() {
    let cases: &[(&str, Value)] = &[
        ("object.metadata.name == 's'", json!(true)),
        ("object.metadata.labels.a.lowerAscii()", json!("b")),
        ("'a/b'.split('/').size()", json!(2)),
        ("object.metadata.?labels.?zz.orValue('none')", json!("none")),
        ("has(object.metadata.annotations)", json!(false)),
        ("'projects/p'.matches('^projects/[a-z]+$')", json!(true)),
        ("matches('abc', 'b')", json!(true)),
        ("object.n.all(i, i > 0)", json!(true)),
        ("oldObject == null", json!(true)),
        ("math.greatest(1, 5)", json!(5)),
        ("['x', 'y'].join('-')", json!("x-y")),
    ];
    for (source, expected) in cases {
        assert_eq!(eval(source).as_ref(), Ok(expected), "{source}");
    }
}

#[test]
fn compile_errors_say_what_and_where() {
    let deep = format!("{}1{}", "(".repeat(200), ")".repeat(200));
    let long_chain = format!("object{}", ".a".repeat(400));
    let cases: &[(&str, &str)] = &[
        ("object.metadata.", "line 1, column"),
        ("objet.metadata.name", "unknown variable \"objet\""),
        ("variables.nope", "unknown variable \"variables.nope\""),
        ("object.name.lowerAsci()", "unknown function \"lowerAsci\""),
        ("'a'.matches('(')", "invalid regular expression"),
        (&deep, "nests brackets deeper than 32"),
        (&long_chain, "nested deeper than"),
        ("authorizer.path('x')", "not supported"),
    ];
    let env = Environment::new();
    for (source, expected) in cases {
        let err = env.compile(source, &["x"]).unwrap_err().to_string();
        assert!(
            err.contains(expected),
            "{source:.40}: {err:?} lacks {expected:?}"
        );
    }
}

#[test]
fn runtime_errors_name_types_not_values() {
    let cases = [
        ("object.metadata.name < 1", "no matching overload for '_<_'"),
        ("1 / 0", "division by zero"),
        ("object.n[5]", "index out of"),
    ];
    for (source, expected) in cases {
        let err = eval(source).unwrap_err();
        assert!(err.contains(expected), "{source}: {err:?}");
        assert!(!err.contains("\"s\""), "{source}: {err:?} echoes a value");
    }
}

#[test]
fn runtime_errors_are_errors_not_panics() {
    for source in [
        "object.metadata.missing",
        "1 / 0",
        "object.n[5]",
        "int('x')",
    ] {
        assert!(eval(source).is_err(), "{source}");
    }
}

#[test]
fn documents_behave_as_lists_and_maps() {
    let object = json!({"spec": {"list": ["a", "b"], "empty": [], "m": {"k": "v"}}});
    let cases = [
        "object.?spec.?list.orValue([]) == ['a', 'b']",
        "size(object.spec.list) == 2",
        "size(object.?spec.?list.orValue([])) == 2",
        "size(object.?spec.?nope.orValue([])) == 0",
        "'a' in object.spec.list",
        "object.spec.list.exists(p, string(p) == 'b')",
        "object.spec.list.map(p, p + '!').join(',') == 'a!,b!'",
        "'k' in object.spec.m && object.spec.m.k == 'v'",
        "object.spec.m == {'k': 'v'}",
        "object.spec.list + ['c'] == ['a', 'b', 'c']",
        "type(object.spec.m) == map && type(object.spec.list) == list",
        "object.spec.m[?'k'].orValue('') == 'v'",
        "object.spec.empty.all(x, false)",
    ];
    let env = Environment::new();
    let failed: Vec<String> = cases
        .iter()
        .filter_map(|source| {
            let got = run_on(&env, source, &object).0;
            (got != Ok(json!(true))).then(|| format!("{source}: {got:?}"))
        })
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
}

/// Long operator chains and member chains are refused or evaluated, never a stack overflow
/// (tests run on 2 MiB thread stacks).
#[test]
fn long_chains_do_not_overflow() {
    let env = Environment::new();
    let longest = MAX_EXPRESSION_BYTES;
    let deep = [
        vec!["1"; longest / 2].join("+"),
        format!("object{}", ".a".repeat((longest - 6) / 2)),
        format!("object{}", "[0]".repeat((longest - 6) / 3)),
    ];
    for source in &deep {
        assert!(source.len() <= longest);
        let err = env.compile(source, &[]).unwrap_err().to_string();
        assert!(err.contains("nested deeper than"), "{:.20}: {err}", source);
    }
    // Long flat chains: the analyses walk them on the parser's stack.
    let repeated = [
        ("true", 3000, " && "),
        ("false", 2500, " || "),
        ("1 ? 2 : 3", 1500, " ? 4 : "),
    ];
    let mut others: Vec<String> = repeated
        .iter()
        .map(|(item, count, separator)| vec![*item; *count].join(separator))
        .collect();
    others.push(format!("{}1", "-".repeat(longest - 1)));
    others.push(format!("{}true", "!".repeat(longest - 4)));
    others.push(format!("[{}]", vec!["1"; 5000].join(",")));
    // The deepest trees accepted evaluate on a 2 MiB test-thread stack.
    let accepted = [
        format!("object{}", ".a".repeat(MAX_TREE_DEPTH - 2)),
        format!(
            "{}true{}",
            "[".repeat(MAX_BRACKET_DEPTH),
            "]".repeat(MAX_BRACKET_DEPTH)
        ),
        format!(
            "{}1{}",
            "(1 + ".repeat(MAX_BRACKET_DEPTH),
            ")".repeat(MAX_BRACKET_DEPTH)
        ),
    ];
    for source in accepted {
        env.compile(&source, &[])
            .unwrap_or_else(|e| panic!("{source:.30}: {e}"));
        let _ = run_on(&env, &source, &json!({}));
    }
    for source in others {
        let source = &source[..source.len().min(longest)];
        let _ = run_on(&env, source, &json!({}));
    }
}

fn hostile_object() -> Value {
    json!({
        "big": "a".repeat(1_000_000),
        "names": ["a", "bb", "ccc"],
        "labels": {"team": "x", "owner": "y"},
    })
}

/// Hostile expressions: each ends with a clear error (at compile time, or when it has spent
/// its budget), never a crash, a stack overflow or a hang. Bounded by the budget, not time.
#[test]
fn hostile_expressions_stop_with_a_clear_error() {
    let env = Environment::new().with_budget(100_000);
    let object = hostile_object();
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
    let exceeded = "exceeded its cost budget";
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "nested comprehensions over big ranges",
            "lists.range(100000).all(x, lists.range(100000).all(y, x != y || true))".into(),
            exceeded,
        ),
        (
            "three nested comprehensions over a 1000-element literal",
            format!("{list}.all(x, {list}.all(y, {list}.all(z, true)))"),
            exceeded,
        ),
        (
            "a big range sorted",
            "lists.range(1000000).sort().size() > 0".into(),
            exceeded,
        ),
        (
            "a map piling up small strings",
            // 30,601 iterations, well within the budget: what piles up is not.
            "lists.range(300).map(i, lists.range(100).map(j, 'abcdefghijklmnopqrstuvwxyz0123456789')).size()".into(),
            exceeded,
        ),
        (
            "a filter over a big range",
            "lists.range(1000000).filter(x, true).size()".into(),
            exceeded,
        ),
        (
            "two-variable comprehension over a big range",
            "lists.range(200000).transformMap(i, v, v).size()".into(),
            exceeded,
        ),
        ("string doubling 30 times", format!("size({doubling})"), exceeded),
        ("quoting 20 times", format!("size({quoting})"), exceeded),
        (
            "quoting 30 times: too deep once metered",
            format!("size({deep_quoting})"),
            "nests calls and comprehensions deeper than",
        ),
        (
            "replace that multiplies a string",
            format!("size(object.big.replace('a', '{}'))", "b".repeat(100)),
            exceeded,
        ),
        (
            "join with a big separator",
            "size(lists.range(5000).map(x, '').join(object.big))".into(),
            exceeded,
        ),
        (
            "a list of copies of a big string",
            format!("size([{}])", vec!["object.big"; 50].join(", ")),
            exceeded,
        ),
        (
            "a big string concatenated with itself in a loop",
            "lists.range(100).map(i, object.big + object.big).size()".into(),
            exceeded,
        ),
        (
            "exists, which would swallow an error, still fails",
            "lists.range(2).exists(i, i == 1 || lists.range(1000000).size() > 0)".into(),
            exceeded,
        ),
        (
            "deeply nested brackets",
            format!("{}1{}", "(".repeat(200), ")".repeat(200)),
            "nests brackets deeper than",
        ),
        ("a huge expression", vec!["1"; 10_000].join(" + "), "longer than"),
        (
            "a long chain",
            format!("object{}", ".a".repeat(500)),
            "nested deeper than",
        ),
    ];
    let mut failed = Vec::new();
    for (name, source, expected) in &cases {
        match run_on(&env, source, &object).0 {
            Err(e) if e.contains(expected) => {}
            other => failed.push(format!("{name}: {other:?}, expected {expected:?}")),
        }
    }
    assert!(failed.is_empty(), "{failed:#?}");
}

/// The deepest metered trees accepted evaluate on a 2 MiB (test thread) stack.
#[test]
fn the_deepest_metered_trees_evaluate() {
    let nest =
        |n: usize, open: &str, close: &str| format!("{}'\"'{}", open.repeat(n), close.repeat(n));
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
        env.compile(&source, &[])
            .unwrap_or_else(|e| panic!("{source:.40}: {e}"));
        let _ = run_on(&env, &source, &hostile_object());
    }
}

/// The shape of one value exactly, as the policy loader gives a parameter object's.
fn shape_of(value: &Value) -> SizeBound {
    crate::policy::shape_of_node(&Node::from_json(value))
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
    let mut shapes = SizeBounds::unknown();
    shapes.object = shape_of(&object);
    let sources = [
        "object.names.all(n, n.size() < 5)",
        "object.names.map(n, n + '!').join(',')",
        "object.names.exists(a, object.names.exists(b, a + b == 'abb'))",
        "object.labels.all(k, object.labels[k] != '')",
        "object.text.replace('o', '0').split(' ')",
        "[object.text, object.text + object.text].filter(t, t.size() > 3)",
        "lists.range(50).map(i, [i, i * 2]).size()",
        "cel.bind(t, object.text + object.text, t + t)",
        "object.labels.transformMap(k, v, v + v).size()",
        "object.names.all(i, n, n.size() > i)",
    ];
    for source in sources {
        let estimate = env.compile(source, &[]).unwrap().estimate(&shapes).cost;
        let (result, spent) = run_on(&env, source, &object);
        assert!(result.is_ok(), "{source}: {:?}", result.err());
        assert!(
            spent <= estimate,
            "{source}: spent {spent}, estimated {estimate}"
        );
    }
}

#[test]
fn parameter_objects_have_their_exact_shape() {
    let shape = shape_of(&json!({"spec": {"values": ["a", "bcd"], "n": 1}}));
    let values = shape.select("spec").select("values");
    assert_eq!(values.entries(), 2);
    assert_eq!(values.element(None), SizeBound::String(3));
    assert_eq!(shape.select("spec").select("n"), SizeBound::Scalar);
    assert_eq!(shape.select("nope"), SizeBound::Null);
}
