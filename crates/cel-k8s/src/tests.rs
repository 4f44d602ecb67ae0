//! The language end to end: compile, evaluate against documents, compare.

use crate::{Activation, CompileOptions, Environment, Purpose, Root, Value};
use serde_json::json;

fn document() -> serde_json::Value {
    json!({
        "metadata": {"name": "s", "labels": {"a": "b", "team": "x"}},
        "n": [1, 2, 3],
        "spec": {"list": ["a", "b"], "empty": [], "m": {"k": "v"}, "d": 1.5, "big": 9007199254740993u64}
    })
}

/// Evaluates against `object` = [`document`], `oldObject` unset; the result as JSON, or the
/// error's text.
fn eval_with(
    env: &Environment,
    source: &str,
    purpose: Purpose,
) -> Result<serde_json::Value, String> {
    let doc = document();
    let options = CompileOptions {
        variables: &[],
        purpose,
    };
    let program = env.compile(source, &options).map_err(|e| e.to_string())?;
    let mut activation = Activation::new();
    activation.bind_tree(Root::Object, &doc);
    let value = env
        .evaluate(&program, &activation)
        .map_err(|e| e.to_string())?;
    value.to_json().map_err(|e| e.to_string())
}

fn eval(source: &str) -> Result<serde_json::Value, String> {
    eval_with(&Environment::new(), source, Purpose::Check)
}

/// Each expression must evaluate to `true`.
fn all_true(cases: &[&str]) {
    let env = Environment::new();
    let failed: Vec<String> = cases
        .iter()
        .filter_map(|source| match eval_with(&env, source, Purpose::Check) {
            Ok(serde_json::Value::Bool(true)) => None,
            other => Some(format!("{source}: {other:?}")),
        })
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
}

/// Each expression must fail (at compile or run time) with a message containing the text.
fn all_fail(cases: &[(&str, &str)]) {
    let env = Environment::new();
    let failed: Vec<String> = cases
        .iter()
        .filter_map(
            |(source, expected)| match eval_with(&env, source, Purpose::Check) {
                Err(e) if e.contains(expected) => None,
                other => Some(format!("{source:.60}: {other:?}, expected {expected:?}")),
            },
        )
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
}

#[test]
fn documents_are_read_in_place() {
    all_true(&[
        "object.metadata.name == 's'",
        "object.metadata.labels.a == 'b'",
        "object.metadata['labels']['team'] == 'x'",
        "has(object.metadata.labels)",
        "!has(object.metadata.annotations)",
        "object.n[1] == 2",
        "object.n == [1, 2, 3]",
        "object.n == [1.0, 2u, 3]",
        "size(object.n) == 3 && object.n.size() == 3",
        "'a' in object.spec.list",
        "'k' in object.spec.m",
        "!('z' in object.spec.m)",
        "object.spec.m == {'k': 'v'}",
        "object.spec.list + ['c'] == ['a', 'b', 'c']",
        "type(object.spec.m) == map && type(object.spec.list) == list",
        "object.spec.d == 1.5",
        "oldObject == null",
        "params == null && request == null && namespaceObject == null",
        "object.spec.empty.all(x, false)",
        "object.metadata.labels.all(k, k in ['a', 'team'])",
        "object.metadata.labels.exists(k, object.metadata.labels[k] == 'x')",
    ]);
}

#[test]
fn optionals() {
    all_true(&[
        "object.metadata.?labels.?zz.orValue('none') == 'none'",
        "object.metadata.?labels.?a.orValue('none') == 'b'",
        "object.?spec.?list.orValue([]) == ['a', 'b']",
        "size(object.?spec.?nope.orValue([])) == 0",
        "object.spec.m[?'k'].orValue('') == 'v'",
        "object.spec.m[?'z'].hasValue() == false",
        "object.n[?7].orValue(0) == 0",
        "object.?metadata.name.orValue('') == 's'",
        "[1, ?optional.none(), ?optional.of(2)] == [1, 2]",
        "{'a': 1, ?'b': optional.none(), ?'c': optional.of(3)} == {'a': 1, 'c': 3}",
        "optional.of(1) == optional.of(1.0)",
        "optional.none() == optional.none()",
        "optional.ofNonZeroValue(0).hasValue() == false",
        "optional.ofNonZeroValue([1]).value() == [1]",
        "optional.of(1).optMap(x, x + 1).value() == 2",
        "optional.none().optMap(x, x + 1).hasValue() == false",
        "optional.of({'a': 1}).optFlatMap(m, m.?a).value() == 1",
        "optional.none().or(optional.of(2)).value() == 2",
        "optional.of(1).or(optional.of(2)).value() == 1",
    ]);
}

#[test]
fn numbers_compare_across_types_at_run_time() {
    all_true(&[
        "dyn(1) == 1.0",
        "dyn(1u) == 1",
        "1 < 1.5 && 2u > 1 && -1 < 0u",
        "[1, 2].exists(x, x == 2.0)",
        "{1: 'a'}[1u] == 'a'",
        "1.0 in [1]",
        "0.0 / 0.0 != 0.0 / 0.0",
        "9223372036854775807 < 9223372036854775808.0",
        "type(1) == int && type(1u) == uint && type(1.0) == double",
        "type(type(1)) == type && type(null) == null_type",
        "type(optional.none()) == optional_type",
    ]);
}

#[test]
fn nan_cannot_be_ordered() {
    all_fail(&[
        ("0.0 / 0.0 < 1.0", "NaN values cannot be ordered"),
        ("1u >= 0.0 / 0.0", "NaN values cannot be ordered"),
    ]);
}

#[test]
fn arithmetic_and_its_errors() {
    all_true(&[
        "1 + 2 * 3 - 4 / 2 == 5",
        "7 % 3 == 1 && -7 % 3 == -1 && -7 / 2 == -3",
        "2u * 3u == 6u",
        "1.5 * 2.0 == 3.0",
        "'ab' + 'cd' == 'abcd'",
        "b'ab' + b'c' == b'abc'",
        "[1] + [] == [1]",
        "1.0 / 0.0 > 1e308",
        "-(-9223372036854775807) == 9223372036854775807",
    ]);
    all_fail(&[
        ("9223372036854775807 + 1", "integer overflow in 'add'"),
        ("-9223372036854775807 - 2", "integer overflow in 'sub'"),
        ("4611686018427387904 * 2", "integer overflow in 'mul'"),
        (
            "-9223372036854775807 - 1 == 0 ? 0 : (-9223372036854775807 - 1) / -1",
            "overflow",
        ),
        ("-(-9223372036854775807 - 1) == 0", "integer overflow"),
        ("0u - 1u", "integer overflow in 'sub'"),
        ("1 / 0", "division by zero"),
        ("1 % 0", "remainder by zero"),
        (
            "1 + 1.0",
            "no matching overload for '_+_' applied to '(int, double)'",
        ),
        (
            "object.metadata.name < 1",
            "no matching overload for '_<_' applied to '(string, int)'",
        ),
        ("object.n[5]", "list index out of bounds"),
        ("object.metadata.missing", "no such key: missing"),
        ("object.spec.m['zz']", "no such key: zz"),
        ("{'a': 1, 'a': 2}", "duplicate key in a map literal"),
        ("int('x')", "int"),
        ("optional.none().value()", "optional.none() dereference"),
        ("[1, 'a'].all(x, x > 0)", "no matching overload"),
    ]);
}

#[test]
fn errors_are_absorbed_as_cel_go_absorbs_them() {
    all_true(&[
        "1 / 0 == 1 || true",
        "true || 1 / 0 == 1",
        "!(1 / 0 == 1 && false)",
        "!(false && 1 / 0 == 1)",
        "[1, 'a', -1].all(x, x > 0) == false",
        "['a', 1].exists(x, x == 1)",
        "object.metadata.missing == 'x' || object.metadata.name == 's'",
        "(object.n[9] == 1) || true",
    ]);
    all_fail(&[
        ("1 / 0 == 1 || false", "division by zero"),
        ("true && 1 / 0 == 1", "division by zero"),
        ("[1, 'a'].exists_one(x, x > 0)", "no matching overload"),
        ("'a' ? 1 : 2", "no matching overload"),
    ]);
}

#[test]
fn comprehensions_and_macros() {
    all_true(&[
        "[1, 2, 3].map(x, x * 2) == [2, 4, 6]",
        "[1, 2, 3].map(x, x > 1, x * 10) == [20, 30]",
        "[1, 2, 3].filter(x, x != 2) == [1, 3]",
        "[1, 2].exists_one(x, x > 1) && ![1, 2].existsOne(x, x > 0)",
        "{'a': 1, 'b': 2}.map(k, k) == ['a', 'b']",
        "{'a': 1}.filter(k, k == 'a') == ['a']",
        "[1, 2].all(i, v, i < v)",
        "{'a': 1}.exists(k, v, k == 'a' && v == 1)",
        "[1, 2, 3].existsOne(i, v, i == 1 && v == 2)",
        "[1, 2, 3].transformList(i, v, i > 0, v * 2) == [4, 6]",
        "[1, 2].transformList(i, v, i + v) == [1, 3]",
        "{'a': 1, 'b': 2}.transformMap(k, v, v * 10) == {'a': 10, 'b': 20}",
        "{'a': 1, 'b': 2}.transformMap(k, v, v > 1, v) == {'b': 2}",
        "['x', 'y'].transformMap(i, v, v) == {0: 'x', 1: 'y'}",
        "{'a': 'x'}.transformMapEntry(k, v, {v: k}) == {'x': 'a'}",
        "cel.bind(x, 2, x * x) == 4",
        "cel.bind(x, [1, 2], cel.bind(y, x.size(), y + x[0])) == 3",
        "[{'n': 2}, {'n': 1}].sortBy(e, e.n)[0].n == 1",
        "['b', 'c', 'a'].sortBy(s, s) == ['a', 'b', 'c']",
        "[[1, 2], [3]].map(l, l.map(x, x + 1)) == [[2, 3], [4]]",
        "[1, 2].map(x, [1, 2].map(y, x * y)) == [[1, 2], [2, 4]]",
        "object.n.map(x, x).filter(x, x > 1).size() == 2",
        "has({'a': 1}.a) && !has({'a': 1}.b)",
    ]);
    all_fail(&[
        (
            "{'a': 'x', 'b': 'x'}.transformMapEntry(k, v, {v: k})",
            "key already exists",
        ),
        ("[1, 'a'].sortBy(x, x)", "must have the same type"),
        ("1.all(x, true)", "ranges over a list or a map"),
    ]);
}

#[test]
fn strings_conversions_and_time() {
    all_true(&[
        "size('héllo') == 5",
        "'kms-key'.contains('key') && 'ab'.startsWith('a') && 'ab'.endsWith('b')",
        "'projects/p'.matches('^projects/[a-z]+$') && matches('abc', 'b')",
        "object.metadata.name.matches(object.metadata.name)",
        "int('42') == 42 && int(1.9) == 1 && int(-1.9) == -1 && int(42u) == 42",
        "uint(42) == 42u && uint('7') == 7u && double('1.5') == 1.5 && double(2) == 2.0",
        "string(42) == '42' && string(1.5) == '1.5' && string(true) == 'true'",
        "string(b'ab') == 'ab' && bytes('ab') == b'ab' && bool('true') && !bool('0')",
        "string(duration('1h')) == '3600s'",
        "string(timestamp('2024-01-02T03:04:05Z')) == '2024-01-02T03:04:05Z'",
        "duration('1h') > duration('59m') && duration('1h30m').getMinutes() == 90",
        "timestamp('2024-01-02T03:04:05Z') + duration('1h') == timestamp('2024-01-02T04:04:05Z')",
        "timestamp('2024-01-02T03:04:05Z') - timestamp('2024-01-02T03:04:00Z') == duration('5s')",
        "timestamp('2024-01-02T03:04:05Z').getHours('America/New_York') == 22",
        "timestamp('2024-01-02T03:04:05Z').getDayOfWeek('+10:00') == 2",
        "int(timestamp('1970-01-01T00:01:00Z')) == 60",
        "timestamp(60) == timestamp('1970-01-01T00:01:00Z')",
    ]);
    all_fail(&[
        ("uint(-1)", "out of range"),
        ("int(1e19)", "out of range"),
        ("duration('1x')", "invalid duration"),
        ("timestamp('yesterday')", "invalid timestamp"),
        (
            "timestamp('9999-12-31T23:59:59Z') + duration('1s')",
            "timestamp out of range",
        ),
        (
            "'a'.matches(object.metadata.name + '(')",
            "invalid regular expression",
        ),
    ]);
}

/// Every example of the "Standard functions and macros" and "Optional values" tables of
/// `docs/cel-functions.md` (`crates/cel-k8s/src/docs.rs`) gives its documented result.
#[test]
fn documented_examples() {
    let examples: &[(&str, &str)] = &[
        ("size('héllo')", "5"),
        ("'kms-key'.contains('key')", "true"),
        ("'projects/p'.startsWith('projects/')", "true"),
        ("'a.yaml'.endsWith('.yaml')", "true"),
        ("'projects/p'.matches('^projects/[a-z]+$')", "true"),
        ("int('42')", "42"),
        ("uint(42)", "42u"),
        ("double('1.5')", "1.5"),
        ("string(42)", "'42'"),
        ("bytes('ab')", "b'ab'"),
        ("bool('true')", "true"),
        ("dyn(1) == 1.0", "true"),
        ("type('a') == string", "true"),
        ("duration('1h') > duration('59m')", "true"),
        (
            "timestamp('2024-01-02T03:04:05Z') < timestamp('2025-01-01T00:00:00Z')",
            "true",
        ),
        ("timestamp('2024-01-02T03:04:05Z').getFullYear()", "2024"),
        ("timestamp('2024-01-02T03:04:05Z').getMonth()", "0"),
        ("timestamp('2024-01-02T03:04:05Z').getDate()", "2"),
        ("timestamp('2024-01-02T03:04:05Z').getDayOfMonth()", "1"),
        ("timestamp('2024-01-02T03:04:05Z').getDayOfWeek()", "2"),
        ("timestamp('2024-01-02T03:04:05Z').getDayOfYear()", "1"),
        ("timestamp('2024-01-02T03:04:05Z').getHours()", "3"),
        ("duration('1h30m').getMinutes()", "90"),
        ("timestamp('2024-01-02T03:04:05Z').getSeconds()", "5"),
        (
            "timestamp('2024-01-02T03:04:05.123Z').getMilliseconds()",
            "123",
        ),
        ("has({'a': 1}.a)", "true"),
        ("[1, 2].all(x, x > 0)", "true"),
        ("[1, 2].exists(x, x > 1)", "true"),
        ("[1, 2].exists_one(x, x > 1)", "true"),
        ("[1, 2].existsOne(x, x > 0)", "false"),
        ("[1, 2, 3].map(x, x > 1, x * 10)", "[20, 30]"),
        ("[1, 2, 3].filter(x, x != 2)", "[1, 3]"),
        ("optional.of(1).value()", "1"),
        ("optional.none().hasValue()", "false"),
        ("optional.ofNonZeroValue('').hasValue()", "false"),
        ("{'a': 1}.?a.hasValue()", "true"),
        ("optional.none().value()", "error"),
        ("{'a': 1}.?b.orValue(0)", "0"),
        ("optional.none().or(optional.of(2)).value()", "2"),
        ("optional.of(1).optMap(x, x + 1).value()", "2"),
        (
            "optional.of(1).optFlatMap(x, optional.none()).hasValue()",
            "false",
        ),
        ("cel.bind(x, 2, x * x)", "4"),
        ("[1, 2].all(i, v, i < v)", "true"),
        ("{'a': 1}.exists(k, v, k == 'a' && v == 1)", "true"),
        ("[1, 2, 3].existsOne(i, v, i == 1 && v == 2)", "true"),
        ("[1, 2, 3].transformList(i, v, i > 0, v * 2)", "[4, 6]"),
        (
            "{'a': 1, 'b': 2}.transformMap(k, v, v * 10)",
            "{'a': 10, 'b': 20}",
        ),
        ("{'a': 'x'}.transformMapEntry(k, v, {v: k})", "{'x': 'a'}"),
        ("[{'n': 2}, {'n': 1}].sortBy(e, e.n)[0].n", "1"),
    ];
    let env = Environment::new();
    let mut failed = Vec::new();
    for (example, result) in examples {
        let outcome = if *result == "error" {
            match eval_with(&env, example, Purpose::Check) {
                Err(_) => Ok(()),
                Ok(v) => Err(format!("expected an error, got {v}")),
            }
        } else {
            match eval_with(&env, &format!("({example}) == ({result})"), Purpose::Check) {
                Ok(serde_json::Value::Bool(true)) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        };
        if let Err(e) = outcome {
            failed.push(format!("{example}: {e}"));
        }
    }
    assert!(failed.is_empty(), "{failed:#?}");
}

#[test]
fn compile_errors_say_what_and_where() {
    let deep = format!("{}1{}", "(".repeat(200), ")".repeat(200));
    let long_chain = format!("object{}", ".a".repeat(400));
    let cases: &[(&str, &str)] = &[
        ("object.metadata.", "line 1, column"),
        (
            "objet.metadata.name",
            "line 1, column 1: unknown variable \"objet\"",
        ),
        ("variables.nope", "unknown variable \"variables.nope\""),
        (
            "variables",
            "\"variables\" is only usable as variables.NAME",
        ),
        (
            "object.name.lowerAsci()",
            "line 1, column 13: unknown function \"lowerAsci\"",
        ),
        ("nope(1)", "line 1, column 1: unknown function \"nope\""),
        ("'a'.size(1, 2)", "found no matching overload for 'size'"),
        ("'a'.matches('(')", "invalid regular expression"),
        ("matches('a', '(')", "invalid regular expression"),
        (&deep, "nests brackets deeper than 32"),
        (&long_chain, "nested deeper than"),
        ("authorizer.path('x')", "\"authorizer\" is not supported"),
        (
            "Object{spec: 1}",
            "object literals are only allowed in the expressions of a MutatingAdmissionPolicy",
        ),
    ];
    let env = Environment::new();
    for (source, expected) in cases {
        let err = env
            .compile(source, &CompileOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(expected),
            "{source:.40}: {err:?} lacks {expected:?}"
        );
    }
}

#[test]
fn mutation_literals_are_maps() {
    let env = Environment::new();
    let got = eval_with(
        &env,
        "Object{spec: Object.spec{replicas: 2, ?x: optional.none()}, metadata: {'labels': {'a': 'b'}}}",
        Purpose::Mutation,
    );
    assert_eq!(
        got,
        Ok(json!({"metadata": {"labels": {"a": "b"}}, "spec": {"replicas": 2}}))
    );
    let got = eval_with(
        &env,
        "[JSONPatch{op: 'add', path: '/a', value: 1}]",
        Purpose::Mutation,
    );
    assert_eq!(got, Ok(json!([{"op": "add", "path": "/a", "value": 1}])));
    let err = env
        .compile(
            "Other{a: 1}",
            &CompileOptions {
                variables: &[],
                purpose: Purpose::Mutation,
            },
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("constructs an unknown type"),
        "{err}"
    );
}

#[test]
fn variables_are_evaluated_lazily_once_and_in_order() {
    let env = Environment::new();
    let names = ["a", "b", "c", "bad"];
    let sources = [
        "object.n.size()",
        "variables.a * 10",
        "variables.b + variables.a",
        "1 / 0",
    ];
    let programs: Vec<_> = sources
        .iter()
        .enumerate()
        .map(|(i, s)| {
            env.compile(
                s,
                &CompileOptions {
                    variables: &names[..i],
                    purpose: Purpose::Check,
                },
            )
            .unwrap()
        })
        .collect();
    let all = CompileOptions {
        variables: &names,
        purpose: Purpose::Check,
    };
    let doc = document();
    let mut activation = Activation::new();
    activation.bind_tree(Root::Object, &doc);
    for (name, program) in names.iter().zip(&programs) {
        activation.define_variable(name, program);
    }
    let expression = env.compile("variables.c == 33", &all).unwrap();
    assert_eq!(expression.variables_used(), &[2]);
    assert!(activation.variable_if_evaluated(0).is_none());
    let value = env.evaluate(&expression, &activation).unwrap();
    assert_eq!(value.as_bool(), Some(true));
    assert!(activation.variable_if_evaluated(0).is_some());
    assert!(activation.variable_if_evaluated(3).is_none());
    let failing = env.compile("variables.bad == 1", &all).unwrap();
    let err = env.evaluate(&failing, &activation).unwrap_err();
    assert_eq!(
        err.to_string(),
        "composited variable \"bad\" fails to evaluate: division by zero"
    );
    let absorbed = env.compile("true || variables.bad == 1", &all).unwrap();
    assert_eq!(
        env.evaluate(&absorbed, &activation).unwrap().as_bool(),
        Some(true)
    );
}

#[test]
fn constants_fold_at_compile_time() {
    let env = Environment::new();
    for source in ["1 + 2 == 3", "'a' + 'b'", "[1, 2].size()", "duration('1h')"] {
        let program = env.compile(source, &CompileOptions::default()).unwrap();
        assert!(program.is_constant(), "{source}");
    }
    for source in ["object.n", "1 / 0", "lists.range(100000)"] {
        let program = env.compile(source, &CompileOptions::default());
        assert!(!program.is_ok_and(|p| p.is_constant()), "{source}");
    }
}

#[test]
fn the_runtime_budget_stops_evaluation() {
    let env = Environment::new().with_budget(1_000);
    let doubling = (0..30).fold("'aaaaaaaaaaaaaaaa'".to_owned(), |inner, i| {
        format!("cel.bind(v{i}, {inner}, v{i} + v{i})")
    });
    let nested = "[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, [1,2,3,4,5,6,7,8,9,10].all(c, true)))";
    for source in [doubling.as_str(), nested] {
        let err = eval_with(&env, source, Purpose::Check).expect_err(source);
        assert_eq!(
            err,
            "the expression exceeded its cost budget of 1000 units \
             (comprehension iterations and the size of the values it builds)"
        );
    }
    // Swallowed by `||` inside, the exhausted budget still fails the evaluation.
    let swallowed = format!("[1].exists(x, ({nested}) || true)");
    assert!(eval_with(&env, &swallowed, Purpose::Check)
        .unwrap_err()
        .contains("exceeded its cost budget"));
    let mut meter = crate::Meter::new(100);
    let program = env
        .compile("[1, 2, 3].map(x, x)", &CompileOptions::default())
        .unwrap();
    let activation = Activation::new();
    program.evaluate(&activation, &mut meter).unwrap();
    assert!(meter.spent() > 0 && meter.spent() < 20, "{}", meter.spent());
}

/// Long chains and deep trees are refused or evaluated, never a stack overflow (tests run on
/// 2 MiB thread stacks).
#[test]
fn hostile_expressions_do_not_overflow() {
    let env = Environment::new();
    let longest = crate::MAX_EXPRESSION_BYTES;
    let deep = [
        vec!["1"; longest / 2].join("+"),
        format!("object{}", ".a".repeat((longest - 6) / 2)),
        format!("object{}", "[0]".repeat((longest - 6) / 3)),
    ];
    for source in &deep {
        let err = env.compile(source, &CompileOptions::default()).unwrap_err();
        assert!(
            err.to_string().contains("nested deeper than"),
            "{:.20}: {err}",
            source
        );
    }
    let accepted = [
        format!("object{}", ".a".repeat(crate::MAX_TREE_DEPTH - 2)),
        format!(
            "{}true{}",
            "[".repeat(crate::MAX_BRACKET_DEPTH),
            "]".repeat(crate::MAX_BRACKET_DEPTH)
        ),
        format!(
            "{}1{}",
            "(object.n[0] + ".repeat(crate::MAX_BRACKET_DEPTH / 2),
            ")".repeat(crate::MAX_BRACKET_DEPTH / 2)
        ),
        format!(
            "{}true{}",
            "[1].all(x, ".repeat(crate::MAX_BRACKET_DEPTH - 1),
            ")".repeat(crate::MAX_BRACKET_DEPTH - 1)
        ),
        format!(
            "{}x0{}",
            (0..30)
                .map(|i| format!("cel.bind(x{i}, {i}, "))
                .collect::<String>(),
            ")".repeat(30)
        ),
    ];
    for source in &accepted {
        let doc = document();
        let program = env
            .compile(source, &CompileOptions::default())
            .unwrap_or_else(|e| panic!("{source:.30}: {e}"));
        let mut activation = Activation::new();
        activation.bind_tree(Root::Object, &doc);
        let _ = env.evaluate(&program, &activation);
    }
    let others = [
        vec!["true"; 3000].join(" && "),
        vec!["false"; 2500].join(" || "),
        format!("{}1", "-".repeat(longest - 1)),
        format!("{}true", "!".repeat(longest - 4)),
        format!("[{}]", vec!["1"; 5000].join(",")),
        vec!["1 ? 2 : 3"; 1500].join(" ? 4 : "),
    ];
    for source in others {
        let source = &source[..source.len().min(longest)];
        if let Ok(program) = env.compile(source, &CompileOptions::default()) {
            let _ = env.evaluate(&program, &Activation::new());
        }
    }
}

#[test]
fn values_out() {
    assert_eq!(
        eval("{'b': 1, 'a': [true, null, 1.5, 'x']}"),
        Ok(json!({"a": [true, null, 1.5, "x"], "b": 1}))
    );
    assert_eq!(
        eval("object.metadata.labels"),
        Ok(json!({"a": "b", "team": "x"}))
    );
    assert_eq!(eval("b'ab'"), Ok(json!("YWI=")));
    assert_eq!(eval("{1: 2}"), Ok(json!({"1": 2})));
    assert!(eval("optional.none()").is_err());
    let env = Environment::new();
    let program = env
        .compile("object.metadata.name", &CompileOptions::default())
        .unwrap();
    let doc = document();
    let mut activation = Activation::new();
    activation.bind_tree(Root::Object, &doc);
    let value = env.evaluate(&program, &activation).unwrap();
    assert_eq!(value.as_str(), Some("s"));
    assert_eq!(value.type_name(), "string");
    assert!(matches!(value, Value::String(crate::Str::Borrowed(_))));
}

/// Chains of selections ending in `orValue`, `hasValue` or `value` are walked without building
/// the optionals between: the same results as step by step.
#[test]
fn fused_optional_chains_keep_their_meaning() {
    all_true(&[
        "object.?spec.?m.?k.orValue('') == 'v'",
        "object.?spec.?m.?zz.orValue('none') == 'none'",
        "object.?nope.m.k.orValue('none') == 'none'",
        "object.?spec.m.k.orValue('') == 'v'",
        "object.spec.?list[?1].orValue('') == 'b'",
        "object.spec.?list[?9].orValue('') == ''",
        "object.?spec.list[1].orValue('') == 'b'",
        "object.?spec.?m.hasValue() && !object.?spec.?zz.hasValue()",
        "object.?spec.?m.?k.value() == 'v'",
        "{'a': optional.of(1)}.?a.orValue(0) == optional.of(1)",
        "optional.of({'a': 1}).?a.orValue(0) == 1",
        "optional.none().?a.orValue(0) == 0",
        "{'a': {'b': 1}}[?'a'].b.orValue(0) == 1",
        "object.metadata.name.?x.orValue('') == ''",
        "!has(object.metadata.name.x)",
    ]);
    all_fail(&[
        ("object.?spec.m.zz.orValue('')", "no such key: zz"),
        (
            "object.?spec.list[9].orValue('')",
            "list index out of bounds",
        ),
        ("object.?spec.?nope.orValue(1 / 0)", "division by zero"),
        ("object.?spec.?nope.value()", "optional.none() dereference"),
        ("object.metadata.name.x", "no such key: x"),
        ("has(object.spec.list.x)", "field selection"),
        ("object.spec.list.?x.orValue(1)", "field selection"),
    ]);
}

/// Options to compile an expression that reads no variables.
const NO_VARIABLES: CompileOptions<'static> = CompileOptions {
    variables: &[],
    purpose: Purpose::Check,
};

/// What `program` gives (its value as JSON, or its error's text) with `doc` as `object`, and
/// the cost it was charged.
fn on_object(
    env: &Environment,
    program: &crate::Program,
    doc: &serde_json::Value,
) -> (Result<serde_json::Value, String>, u64) {
    let mut activation = Activation::new();
    activation.bind_tree(Root::Object, doc);
    let mut meter = env.meter();
    let value = program
        .evaluate(&activation, &mut meter)
        .map_err(|e| e.to_string())
        .and_then(|v| v.to_json().map_err(|e| e.to_string()));
    (value, meter.spent())
}

/// The guard `!has(x.f) || x.f == null ? A : type(x.f) == T ? x.f : B` is compiled to one
/// lookup of `x.f` when `x` is a root; it gives what the same guard written `null == x.f` (which
/// is not recognized) gives, value or error, whatever `x` and `x.f` are.
#[test]
fn guarded_fields_read_as_written() {
    let env = Environment::new();
    let guards = [
        "!has(object.spec) || object.spec == null ? {} : type(object.spec) == map ? object.spec : {}['spec must be a mapping']",
        "!has(object.spec) || object.spec == null ? 'none' : type(object.spec) != string ? object.spec : 'a string'",
        "!has(object.spec) || object.spec == null ? 1 / 0 : type(object.spec) == list ? object.spec : [object.spec]",
    ];
    let documents = [
        json!({"spec": {"a": 1}}),
        json!({"spec": null}),
        json!({}),
        json!({"spec": "text"}),
        json!({"spec": [1, 2]}),
        json!({"spec": 3}),
        json!([1, 2]),
        json!("a string"),
        json!(null),
    ];
    let options = NO_VARIABLES;
    let run = |program: &crate::Program, doc: &serde_json::Value| on_object(&env, program, doc).0;
    for guard in guards {
        let fused = env.compile(guard, &options).unwrap();
        assert!(
            matches!(fused.root, crate::program::Node::GuardedField(_)),
            "not recognized: {guard}"
        );
        let written = guard.replace("object.spec == null", "null == object.spec");
        let unfused = env.compile(&written, &options).unwrap();
        assert!(!matches!(
            unfused.root,
            crate::program::Node::GuardedField(_)
        ));
        for doc in &documents {
            assert_eq!(run(&fused, doc), run(&unfused, doc), "{guard} on {doc}");
        }
    }
    // A base that is not a root or a variable is evaluated as written.
    let nested = "!has(object.spec.m) || object.spec.m == null ? {} : type(object.spec.m) == map ? object.spec.m : {}";
    let program = env.compile(nested, &options).unwrap();
    assert!(!matches!(
        program.root,
        crate::program::Node::GuardedField(_)
    ));
    assert_eq!(eval(nested), Ok(json!({"k": "v"})));
}

/// Comprehensions compiled and evaluated generic while it lives (see
/// [`crate::program::GENERIC_STEPS`]), even if the test fails.
struct GenericSteps;

impl GenericSteps {
    fn on() -> GenericSteps {
        crate::program::GENERIC_STEPS.store(true, std::sync::atomic::Ordering::SeqCst);
        GenericSteps
    }
}

impl Drop for GenericSteps {
    fn drop(&mut self) {
        crate::program::GENERIC_STEPS.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

/// `exists` and `all` (one and two variables) are evaluated without their generic step, and a
/// short list literal a comprehension ranges over is not built: each gives what the generic comprehension
/// gives (value or error, and the cost), on lists, maps, literals, errors and values that are
/// not bools, whichever comes first.
#[test]
fn quantifiers_give_what_the_generic_step_gives() {
    let env = Environment::new();
    let expressions = [
        "object.items.exists(x, x > 1)",
        "object.items.all(x, x > 1)",
        "object.items.exists(x, x / object.zero > 1)",
        "object.items.all(x, x == 3 || x / object.zero > 1)",
        "object.items.exists(x, x == 3 || x / object.zero > 1)",
        "object.items.exists(x, object.mixed[x] == 'a')",
        "object.items.all(x, object.mixed[x])",
        "object.items.exists(x, object.mixed[x])",
        "object.items.exists(x, x == 1 ? 'text' : true)",
        "object.items.all(x, x == 1 ? 'text' : false)",
        "object.items.exists(x, x == 1 ? 1 / object.zero > 0 : object.mixed[x + 10] == 1)",
        "object.items.all(x, x == 1 ? 1 / object.zero > 0 : object.mixed[x + 10] == 1)",
        "object.items.exists(x, x == 1 ? 'text' : 1 / object.zero > 0)",
        "object.items.all(x, x == 1 ? object.mixed[x + 10] : 'text')",
        "object.m.exists(k, k == 'b')",
        "object.m.all(k, object.m[k] > 0)",
        "object.m.exists(k, v, v == 2 && k == 'b')",
        "object.items.all(i, v, i < 5 && v > 0)",
        "object.items.exists(i, v, i == 2)",
        "[object.m, object.n].exists(ls, 'a' in ls)",
        "[object.m, object.n].all(ls, ls.a > 0)",
        "[object.m, object.nope].exists(ls, 'a' in ls)",
        "[object.items[0], 1 / object.zero].exists(x, x == 1)",
        "[1, 2, 3].exists(x, x == 2)",
        "[object.items[2], object.items[1]].exists(i, v, v == 2 && i == 1)",
        "[].exists(x, x)",
        "[].all(x, x)",
        "object.items.exists(x, [x, x + 1].all(y, y > 1))",
        "object.m.exists(k, [object.m, object.n].exists(ls, k in ls && ls[k] == 1))",
        "object.notalist.exists(x, x)",
        "object.items.exists_one(x, x > 2)",
        "[object.m, object.n].exists_one(ls, 'a' in ls)",
        "[object.m, object.n].filter(ls, 'a' in ls).map(ls, ls.a)",
        "[object.items, object.mixed].map(l, size(l))",
        "[object.m, object.n].transformList(i, ls, i + size(ls))",
        "[object.items[0], object.items[1]].transformMap(i, v, v * 2)",
    ];
    let documents = [
        json!({"items": [1, 2, 3], "zero": 0, "m": {"a": 1, "b": 2}, "n": {"c": 3},
               "mixed": ["a", true, false, 1], "notalist": 5}),
        json!({"items": [], "zero": 0, "m": {}, "n": {"a": 0}, "mixed": [], "notalist": "x"}),
        json!({"items": [0, 0], "zero": 1, "m": {"a": -1}, "n": {}, "mixed": [1, "a"], "notalist": null}),
    ];
    let options = NO_VARIABLES;
    let run = |program: &crate::Program, doc: &serde_json::Value| on_object(&env, program, doc);
    let mut recognized = 0;
    for expression in expressions {
        let fused = env.compile(expression, &options).unwrap();
        let fused_results: Vec<_> = documents.iter().map(|doc| run(&fused, doc)).collect();
        // Compiled and evaluated generic (the list-literal range is decided at run time).
        let (generic, generic_results) = {
            let _generic = GenericSteps::on();
            let generic = Environment::new().compile(expression, &options).unwrap();
            let results: Vec<_> = documents.iter().map(|doc| run(&generic, doc)).collect();
            (generic, results)
        };
        for ((doc, fused), generic) in documents.iter().zip(fused_results).zip(generic_results) {
            assert_eq!(fused, generic, "{expression} on {doc}");
        }
        let quantifier = |p: &crate::Program| match &p.root {
            crate::program::Node::Comprehension(c) => {
                matches!(c.step, crate::program::Step::Quantifier { .. })
            }
            _ => false,
        };
        assert!(!quantifier(&generic), "{expression}");
        recognized += usize::from(quantifier(&fused));
    }
    // All but the last six (`exists_one`, and the list and map builders).
    assert_eq!(recognized, expressions.len() - 6);
}

#[test]
fn type_tests() {
    all_true(&[
        "type(object.spec.m) == map && type(object.spec.m) != list",
        "map == type(object.spec.m) && list == type(object.n)",
        "type(object.metadata.name) == string && type(object.spec.d) == double",
        "type(null) == null_type && type(int) == type",
        "type(optional.none()) == optional_type && type(1) != uint",
        "type(dyn(1)) == int",
    ]);
}

/// A chain of variables longer than a word of bits: each first read evaluates what it needs,
/// in order (the walk past 64 variables keeps a list rather than a bit set).
#[test]
fn a_long_chain_of_variables_is_evaluated_in_order() {
    let env = Environment::new();
    let names: Vec<String> = (0..70).map(|i| format!("v{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let programs: Vec<crate::Program> = (0..names.len())
        .map(|i| {
            let source = match i {
                0 => "1".to_owned(),
                _ => format!("variables.v{} + 1", i - 1),
            };
            let options = CompileOptions {
                variables: &names[..i],
                purpose: Purpose::Check,
            };
            env.compile(&source, &options).unwrap()
        })
        .collect();
    let mut activation = Activation::new();
    for (name, program) in names.iter().zip(&programs) {
        activation.define_variable(name, program);
    }
    assert_eq!(activation.variable(69, 100).unwrap().as_int(), Some(70));
    assert!((0..70).all(|i| activation.variable_if_evaluated(i).is_some()));
    let mut fresh = Activation::new();
    for (name, program) in names.iter().zip(&programs) {
        fresh.define_variable(name, program);
    }
    assert_eq!(fresh.variable(63, 100).unwrap().as_int(), Some(64));
    assert!(fresh.variable_if_evaluated(64).is_none());
    assert_eq!(fresh.variable(66, 100).unwrap().as_int(), Some(67));
}

/// A policy's variable definitions for [`Activation::define_variables`]: names and programs.
struct Definitions<'t>(&'t [&'t str], Vec<crate::Program>);

impl crate::VariableDefinitions for Definitions<'_> {
    fn definition(&self, index: usize) -> Option<(&str, &crate::Program)> {
        Some((self.0.get(index)?, self.1.get(index)?))
    }
    fn len(&self) -> usize {
        self.1.len()
    }
}

#[test]
fn variables_shared_between_activations_are_evaluated_once() {
    let env = Environment::new();
    let variable = env
        .compile("object.n.map(x, x * 2)", &CompileOptions::default())
        .unwrap();
    let options = CompileOptions {
        variables: &["doubled"],
        purpose: Purpose::Check,
    };
    let first = env.compile("variables.doubled[0] == 2", &options).unwrap();
    let second = env.compile("variables.doubled.size()", &options).unwrap();
    let doc = document();
    let definitions = Definitions(&["doubled"], vec![variable]);
    let slots = [crate::VariableSlot {
        slot: 0,
        uses_params: false,
    }];
    let cells = [crate::VariableCell::new()];
    let shared = crate::SharedCells {
        request: &cells,
        params: None,
    };
    let mut one = Activation::new();
    one.bind_tree(Root::Object, &doc)
        .define_variables(&definitions, &slots, shared);
    let mut two = Activation::new();
    two.bind_tree(Root::Object, &doc)
        .define_variables(&definitions, &slots, shared);
    assert_eq!(env.evaluate(&first, &one).unwrap().as_bool(), Some(true));
    assert!(cells[0].get().is_some_and(|v| v.is_ok()));
    // The second activation reads the value the first computed: no comprehension runs.
    let mut meter = crate::Meter::new(100);
    let size = second.evaluate(&two, &mut meter).unwrap();
    assert_eq!(size.as_int(), Some(3));
    assert_eq!(meter.spent(), 0);
}

/// Variables defined at once: read from cells the caller keeps (here shared by two activations),
/// evaluated on first use with what they read before them; one that reads a later variable
/// (against the definitions' rule) fails rather than recursing; a value that reads `params`
/// without cells for it is kept by the activation.
#[test]
fn variables_defined_at_once_are_evaluated_on_first_use_in_shared_cells() {
    use crate::{SharedCells, VariableCell, VariableSlot};
    let env = Environment::new();
    let names = ["a", "b", "c"];
    let compile = |sources: &[&str]| {
        let programs = sources.iter().enumerate().map(|(i, s)| {
            let options = CompileOptions {
                variables: &names[..i],
                purpose: Purpose::Check,
            };
            env.compile(s, &options).unwrap()
        });
        Definitions(&names, programs.collect())
    };
    let definitions = compile(&[
        "object.n.size()",
        "variables.a * 10",
        "variables.b + variables.a",
    ]);
    let all = CompileOptions {
        variables: &names,
        purpose: Purpose::Check,
    };
    let (expression, b) = (
        env.compile("variables.c", &all).unwrap(),
        env.compile("variables.b", &all).unwrap(),
    );
    let doc = document();
    let cells: Vec<VariableCell> = (0..3).map(|_| VariableCell::new()).collect();
    let slots: Vec<VariableSlot> = (0..3)
        .map(|slot| VariableSlot {
            slot,
            uses_params: false,
        })
        .collect();
    let shared = SharedCells {
        request: &cells,
        params: None,
    };
    let mut one = Activation::new();
    one.bind_tree(Root::Object, &doc)
        .define_variables(&definitions, &slots, shared);
    assert_eq!(one.variable_count(), 3);
    assert_eq!(env.evaluate(&expression, &one).unwrap().as_int(), Some(33));
    assert!(cells.iter().all(|c| c.get().is_some()));
    let mut two = Activation::new();
    two.bind_tree(Root::Object, &doc)
        .define_variables(&definitions, &slots, shared);
    let mut meter = crate::Meter::new(100);
    assert_eq!(b.evaluate(&two, &mut meter).unwrap().as_int(), Some(30));
    assert_eq!(meter.spent(), 0, "read from the shared cell");
    assert!(two.variable(3, 100).is_err(), "no such variable");

    // Values that read `params`, without cells for them: kept by each activation.
    let by_params: Vec<VariableSlot> = (0..3)
        .map(|slot| VariableSlot {
            slot,
            uses_params: true,
        })
        .collect();
    let mut own = Activation::new();
    own.bind_tree(Root::Object, &doc).define_variables(
        &definitions,
        &by_params,
        SharedCells {
            request: &[],
            params: None,
        },
    );
    assert_eq!(env.evaluate(&expression, &own).unwrap().as_int(), Some(33));
    assert!(own.variable_if_evaluated(0).is_some());

    // `a` reads `b`, defined after it: an error, not an endless recursion.
    let backwards = Definitions(
        &names,
        vec![
            env.compile("variables.b", &all).unwrap(),
            env.compile("1", &all).unwrap(),
        ],
    );
    let cells: Vec<VariableCell> = (0..2).map(|_| VariableCell::new()).collect();
    let mut activation = Activation::new();
    activation.define_variables(
        &backwards,
        &slots[..2],
        SharedCells {
            request: &cells,
            params: None,
        },
    );
    let err = activation.variable(0, 100).unwrap_err();
    assert_eq!(
        err.to_string(),
        "composited variable \"a\" fails to evaluate: variables.b: read by a variable defined before it"
    );
}

/// The `kms` extension: offered only when asked, answered from the activation's live data,
/// never folded into a constant.
mod kms {
    use crate::live::{Answer, KeyFacts, LiveData, RepositoryFacts};
    use crate::{
        Activation, CompileOptions, Environment, Extension, Extensions, KubernetesVersion, Profile,
    };

    #[derive(Debug)]
    struct OneKey;

    impl LiveData for OneKey {
        fn key(&self, name: &str) -> Answer<KeyFacts> {
            Ok(name.ends_with("/k").then(|| KeyFacts {
                purpose: "ENCRYPT_DECRYPT".into(),
                state: "DISABLED".into(),
                ..KeyFacts::default()
            }))
        }
        fn project_number(&self, _: &str) -> Answer<String> {
            Ok(Some("42".into()))
        }
        fn service_agent_can_use(&self, _: &str, number: &str) -> Answer<bool> {
            Ok(Some(number == "42"))
        }
        fn repository(&self, _: &str) -> Answer<RepositoryFacts> {
            Ok(None)
        }
    }

    const KEY: &str = "'projects/p/locations/l/keyRings/r/cryptoKeys/k'";

    fn run(env: &Environment, source: &str, live: Option<&dyn LiveData>) -> Result<String, String> {
        let program = env
            .compile(source, &CompileOptions::default())
            .map_err(|e| e.to_string())?;
        let mut activation = Activation::new();
        if let Some(live) = live {
            activation.set_live(live);
        }
        let value = env
            .evaluate(&program, &activation)
            .map_err(|e| e.to_string())?;
        Ok(value.to_json().map_err(|e| e.to_string())?.to_string())
    }

    #[test]
    fn only_a_target_with_the_extension_offers_it() {
        let plain = Environment::for_profile(Profile::default());
        let error = run(&plain, "kms.available()", None).unwrap_err();
        assert!(error.contains("\"kms.available\""), "{error}");
        assert!(error.contains("--cel-extensions"), "{error}");
        let env = Environment::for_profile(kms_profile());
        assert_eq!(run(&env, "kms.available()", None).unwrap(), "false");
        assert_eq!(run(&env, "kms.available()", Some(&OneKey)).unwrap(), "true");
    }

    #[test]
    fn live_calls_read_the_snapshot_each_evaluation() {
        let env = Environment::for_profile(kms_profile());
        let cases = [
            (format!("kms.key({KEY}).state"), "\"DISABLED\""),
            (
                format!("kms.key({KEY}).exists && kms.key({KEY}).rotationPeriod == null"),
                "true",
            ),
            (
                format!("kms.key({KEY}.replace('cryptoKeys/k', 'cryptoKeys/x')).exists"),
                "false",
            ),
            (
                format!("kms.serviceAgentCanUse({KEY}, 'my-project')"),
                "true",
            ),
            ("kms.projectNumber('my-project')".into(), "\"42\""),
            (
                "kms.imageRepository('europe-west1-docker.pkg.dev/p-images/r/app').exists".into(),
                "false",
            ),
        ];
        for (source, expected) in cases {
            assert_eq!(
                run(&env, &source, Some(&OneKey)).unwrap(),
                expected,
                "{source}"
            );
            // The same program without live data: a constant argument was not folded into a
            // constant answer.
            let error = run(&env, &source, None).unwrap_err();
            assert!(
                error.contains("live data not available"),
                "{source}: {error}"
            );
        }
    }

    /// The newest release with only the `kms` extension.
    fn kms_profile() -> Profile {
        Profile::new(
            KubernetesVersion::NEWEST,
            Extensions::NONE.with(Extension::Kms),
        )
    }
}

/// A call the type checker resolved to one overload runs only that overload, as cel-go's type
/// guard does: where a variable was inferred a string, `string(variables.owner)` fails on a bool
/// at run time (Kubernetes refuses the request under failurePolicy Fail) rather than converting
/// it. Unchecked compilation dispatches on the runtime type.
#[test]
fn checked_calls_keep_the_overload_the_checker_chose() {
    use crate::check::Declarations;
    use crate::Type;
    // (the variable `owner`, the expression, the owner label, checked result, unchecked result)
    let cases: &[(&str, &str, serde_json::Value, &str, &str)] = &[
        (
            "object.metadata.labels[?'owner'].orValue('')",
            "string(variables.owner)",
            json!(true),
            "error: no matching overload for 'string' applied to '(bool)'",
            "\"true\"",
        ),
        (
            "object.metadata.labels[?'owner'].orValue('')",
            "string(variables.owner)",
            json!("team-a"),
            "\"team-a\"",
            "\"team-a\"",
        ),
        (
            "object.metadata.labels[?'owner'].orValue('1')",
            "int(variables.owner)",
            json!(2.0),
            "error: no matching overload for 'int' applied to '(double)'",
            "2",
        ),
        (
            "object.metadata.labels[?'owner'].orValue('')",
            "variables.owner.lowerAscii()",
            json!(null),
            "error: no matching overload for 'lowerAscii' applied to '(null_type)'",
            "error: no matching overload for 'lowerAscii' applied to '(null_type)'",
        ),
        // `size` is one implementation for all its overloads in cel-go: no guard.
        (
            "object.metadata.labels[?'owner'].orValue('')",
            "size(variables.owner)",
            json!([1, 2]),
            "2",
            "2",
        ),
        // A `dyn` variable leaves every overload of `string`: dispatched on the runtime type.
        (
            "object.metadata.labels.owner",
            "string(variables.owner)",
            json!(true),
            "\"true\"",
            "\"true\"",
        ),
        // Only a list's first element is looked at, as cel-go's guard does.
        (
            "object.metadata.labels[?'owner'].orValue(['a'])",
            "variables.owner.join('-')",
            json!(["a", "b"]),
            "\"a-b\"",
            "\"a-b\"",
        ),
        (
            "object.metadata.labels[?'owner'].orValue(['a'])",
            "variables.owner.join('-')",
            json!([1, "b"]),
            "error: no matching overload for 'join' applied to '(list, string)'",
            "error: join: the list must hold strings only",
        ),
    ];
    let env = Environment::new();
    let shown = |r: Result<Value<'_>, crate::EvalError>| match r {
        Ok(v) => v.to_json().unwrap().to_string(),
        Err(e) => format!("error: {e}"),
    };
    for (variable, source, owner, checked, unchecked) in cases {
        let doc = json!({"metadata": {"labels": {"owner": owner}}});
        let mut declarations = Declarations::admission(Type::Dyn, None);
        declarations.declare_variables();
        let first = CompileOptions::default();
        let (var_checked, var_type) = env
            .compile_checked(variable, &first, &declarations)
            .map(|(p, c)| (p, c.result))
            .unwrap();
        declarations.add_variable("owner", var_type);
        let var_unchecked = env.compile(variable, &first).unwrap();
        let options = CompileOptions {
            variables: &["owner"],
            purpose: Purpose::Check,
        };
        let (with_check, _) = env
            .compile_checked(source, &options, &declarations)
            .unwrap();
        let without = env.compile(source, &options).unwrap();
        for (program, var, expected, how) in [
            (&with_check, &var_checked, checked, "checked"),
            (&without, &var_unchecked, unchecked, "unchecked"),
        ] {
            let mut activation = Activation::new();
            activation.bind_tree(Root::Object, &doc);
            activation.define_variable("owner", var);
            let got = shown(env.evaluate(program, &activation));
            assert_eq!(&got, expected, "{how}: {source} with owner {owner}");
        }
    }
}
