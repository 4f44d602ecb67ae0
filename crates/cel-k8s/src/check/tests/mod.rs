//! Table tests of the checker: inferred types, refusals with their messages and positions,
//! the documented examples, and the shipped policies.

mod kubernetes;
mod parse;
mod policies;
mod versions;
mod yaml;

use super::schema::{declared_type, Rules};
use super::{check, Checked, Declarations};
use crate::error::CompileError;
use crate::types::Type;
use serde_json::json;

pub(super) fn check_source(
    source: &str,
    declarations: &Declarations,
) -> Result<Checked, Vec<CompileError>> {
    let (expr, info) = parse::parse(source).unwrap_or_else(|e| panic!("{source}: {e}"));
    check(&expr, &info, declarations)
}

/// `object`, `oldObject` and `params` typed dyn, with cmek-gate's extensions.
fn dyn_admission() -> Declarations {
    Declarations::admission(Type::Dyn, Some(Type::Dyn)).extended()
}

/// A resource whose spec has one property of each kind a schema gives.
fn schema() -> serde_json::Value {
    json!({
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": {
                "type": "object",
                "properties": {
                    "replicas": {"type": "integer"},
                    "ratio": {"type": "number"},
                    "name": {"type": "string"},
                    "enabled": {"type": "boolean"},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "hosts": {"type": "array", "items": {"type": "string"}},
                    "port": {"x-kubernetes-int-or-string": true},
                    "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    "timeout": {"type": "string", "format": "duration"},
                    "since": {"type": "string", "format": "date-time"},
                    "data": {"type": "string", "format": "byte"},
                    "x-y": {"type": "string"},
                    "in": {"type": "string"},
                    "untyped": {"description": "no type: not exposed"}
                }
            }
        }
    })
}

fn typed_admission(rules: Rules) -> Declarations {
    Declarations::admission(declared_type(&schema(), "Widget", rules), None)
}

#[test]
fn types_are_inferred_as_cel_go_infers_them() {
    let cases: &[(&str, &str)] = &[
        ("1 + 2", "int"),
        ("1u * 2u", "uint"),
        ("'a' + 'b'", "string"),
        ("[1, 2]", "list(int)"),
        ("[]", "list(dyn)"),
        ("{'a': 1}", "map(string, int)"),
        ("{}", "map(dyn, dyn)"),
        ("true ? 1 : 2", "int"),
        ("true ? [] : [1]", "list(int)"),
        ("object.spec", "dyn"),
        ("object.spec.x + 1", "int"),
        ("[1, 2].map(x, x * 2)", "list(int)"),
        ("[1, 2].filter(x, x > 1)", "list(int)"),
        ("[1, 2].exists(x, x > 1)", "bool"),
        ("{'a': 1}.?a", "optional_type(int)"),
        ("{'a': 1}.?a.orValue(0)", "int"),
        ("{'a': {'b': 1}}.?a.?b", "optional_type(int)"),
        ("[1][?0]", "optional_type(int)"),
        ("[?optional.of(1), 2]", "list(int)"),
        ("optional.none()", "optional_type(dyn)"),
        (
            "optional.of('a').optMap(x, x + 'b')",
            "optional_type(string)",
        ),
        ("type(1) == int", "bool"),
        ("type(1)", "type(int)"),
        (
            "duration('1h') + duration('1m')",
            "google.protobuf.Duration",
        ),
        (
            "timestamp('2024-01-01T00:00:00Z') - duration('1h')",
            "google.protobuf.Timestamp",
        ),
        ("[1, 2].sum()", "int"),
        ("[duration('1s')].sum()", "google.protobuf.Duration"),
        // The first overload that matches binds the element type (cel-go commits the
        // substitutions of each match).
        ("[].max()", "int"),
        ("'a,b'.split(',')", "list(string)"),
        ("'%s'.format([1])", "string"),
        ("request.userInfo.groups", "list(string)"),
        ("request.operation == 'CREATE'", "bool"),
        ("namespaceObject.metadata.labels", "map(string, string)"),
        ("[1, 2, 3].transformList(i, v, v * 2)", "list(int)"),
        ("{'a': 1}.transformMap(k, v, v > 0)", "map(string, bool)"),
        ("[1, 2].all(i, v, i < v)", "bool"),
        ("cel.bind(x, 2, x * x)", "int"),
        ("math.greatest(1, 5, 3)", "int"),
        ("math.least(1.0, 2.0)", "double"),
        ("quantity('1').add(1)", "kubernetes.Quantity"),
        ("url('https://x/').getQuery()", "map(string, list(string))"),
        ("cidr('10.0.0.0/8').ip()", "net.IP"),
        ("ip.isCanonical('::1')", "bool"),
        (
            "format.named('uuid')",
            "optional_type(kubernetes.NamedFormat)",
        ),
        ("[{'n': 2}].sortBy(e, e.n)", "list(map(string, int))"),
        ("['b', 'a'].sort()", "list(string)"),
        ("'a' in {'a': 1}", "bool"),
        ("params.spec.x", "dyn"),
        ("dyn(1) == 1.0", "bool"),
        ("1 < 2.0", "bool"),
        ("null", "null_type"),
        ("duration('1s') == null", "bool"),
        ("optional.none() == null", "bool"),
    ];
    for (source, expected) in cases {
        let checked = check_source(source, &dyn_admission())
            .unwrap_or_else(|e| panic!("{source}: refused: {e:?}"));
        assert_eq!(checked.result.to_string(), *expected, "{source}");
    }
}

#[test]
fn calls_resolve_to_the_overloads_their_argument_types_match() {
    let checked = check_source("size('ab') + size([1])", &dyn_admission()).expect("checks");
    let (expr, _) = parse::parse("size('ab') + size([1])").expect("parses");
    let cel::common::ast::Expr::Call(call) = &expr.expr else {
        panic!("a call")
    };
    assert_eq!(checked.overloads_of(expr.id), ["_+_(int, int) -> int"]);
    assert_eq!(
        checked.overloads_of(call.args[0].id),
        ["size(string) -> int"]
    );
    assert_eq!(
        checked.overloads_of(call.args[1].id),
        ["size(list(A)) -> int"]
    );
    let dynamic = check_source("object.x + object.y", &dyn_admission()).expect("checks");
    let (expr, _) = parse::parse("object.x + object.y").expect("parses");
    assert_eq!(
        dynamic.overloads_of(expr.id).len(),
        9,
        "every _+_ overload may apply"
    );
}

/// What Kubernetes refuses, with cel-go's message and the position (1-based line and column
/// in characters) cel-go reports.
#[test]
fn mistakes_are_refused_with_cel_go_messages_and_positions() {
    let cases: &[(&str, &str, (u32, u32))] = &[
        ("'a' + 1", "found no matching overload for '_+_' applied to '(string, int)'", (1, 5)),
        ("1 == 'a'", "found no matching overload for '_==_' applied to '(int, string)'", (1, 3)),
        (
            "['a', 'b'].sum()",
            "found no matching overload for 'sum' applied to 'list(string).()'",
            (1, 15),
        ),
        ("[1, 'a']", "expected type 'int' but found 'string'", (1, 5)),
        ("[dyn(1), 'a']", "expected type 'dyn' but found 'string'", (1, 10)),
        ("{'a': 1, 'b': 'c'}", "expected type 'int' but found 'string'", (1, 15)),
        ("{1: 'a', 'b': 'c'}", "expected type 'int' but found 'string'", (1, 10)),
        (
            "'abc'.startsWith(1)",
            "found no matching overload for 'startsWith' applied to 'string.(int)'",
            (1, 17),
        ),
        ("size(1)", "found no matching overload for 'size' applied to '(int)'", (1, 5)),
        ("url(1)", "found no matching overload for 'url' applied to '(int)'", (1, 4)),
        (
            "[[1]].sort()",
            "found no matching overload for 'sort' applied to 'list(list(int)).()'",
            (1, 11),
        ),
        (
            "quantity('1').add('a')",
            "found no matching overload for 'add' applied to 'kubernetes.Quantity.(string)'",
            (1, 18),
        ),
        (
            "'a'.indexOf(1)",
            "found no matching overload for 'indexOf' applied to 'string.(int)'",
            (1, 12),
        ),
        (
            "'%d'.format(1)",
            "found no matching overload for 'format' applied to 'string.(int)'",
            (1, 12),
        ),
        (
            "true ? 1 : 'a'",
            "found no matching overload for '_?_:_' applied to '(bool, int, string)'",
            (1, 6),
        ),
        ("foo + 1", "undeclared reference to 'foo' (in container '')", (1, 1)),
        ("nope(1)", "undeclared reference to 'nope' (in container '')", (1, 5)),
        ("'a'.nope()", "undeclared reference to 'nope' (in container '')", (1, 9)),
        ("authorizer.group('x')", super::AUTHORIZER_MESSAGE, (1, 1)),
        ("variables.nope", "undeclared reference to 'variables' (in container '')", (1, 1)),
        ("{'a': 1}.a.b", "type 'int' does not support field selection", (1, 11)),
        (
            "1.exists(x, true)",
            "expression of type 'int' cannot be range of a comprehension (must be list, map, or dynamic)",
            (1, 1),
        ),
        ("[1].all(x, x)", "expected type 'bool' but found 'int'", (1, 12)),
        ("1 && true", "expected type 'bool' but found 'int'", (1, 1)),
        ("true || 'a'", "expected type 'bool' but found 'string'", (1, 9)),
        ("[1, 2][1 > 0]", "found no matching overload for '_[_]' applied to '(list(int), bool)'", (1, 7)),
        ("'a' in [1]", "found no matching overload for '@in' applied to '(string, list(int))'", (1, 5)),
        ("has(1.a)", "type 'int' does not support field selection", (1, 4)),
        (
            "[1].map(x, x).filter(y, y)",
            "found no matching overload for '_?_:_' applied to '(int, list(int), list(int))'",
            (1, 21),
        ),
        ("duration('1x')", "invalid duration argument", (1, 10)),
        ("timestamp('2024-13-01T00:00:00Z')", "invalid timestamp argument", (1, 11)),
        ("'a'.matches('[')", "invalid matches argument", (1, 13)),
        ("Object{spec: 1}", "undeclared reference to 'Object' (in container '')", (1, 7)),
        (
            "true &&\n  'é' + 1 == 2",
            "found no matching overload for '_+_' applied to '(string, int)'",
            (2, 7),
        ),
    ];
    for (source, message, position) in cases {
        let errors = check_source(source, &dyn_admission())
            .err()
            .unwrap_or_else(|| panic!("{source}: accepted"));
        assert_eq!(
            (errors[0].message.as_str(), errors[0].position),
            (*message, Some(*position)),
            "{source}: {errors:?}"
        );
    }
}

#[test]
fn a_result_must_have_the_type_its_field_requires() {
    let cases: &[(&str, &[Type], Option<&str>)] = &[
        ("object.spec.enabled == true", &[Type::Bool], None),
        (
            "object.spec.enabled",
            &[Type::Bool],
            Some("must evaluate to bool but got dyn"),
        ),
        ("'a' + string(object.x)", &[Type::String], None),
        (
            "1",
            &[Type::String],
            Some("must evaluate to string but got int"),
        ),
        ("null", &[Type::String, Type::Null], None),
        (
            "1",
            &[Type::String, Type::Null],
            Some("must evaluate to one of [string null_type] but got int"),
        ),
    ];
    for (source, expected, error) in cases {
        let checked = check_source(source, &dyn_admission()).expect("checks");
        let result = super::expect_result(&checked, expected).map_err(|e| e.message);
        assert_eq!(result.err().as_deref(), *error, "{source}");
    }
}

/// A tree deeper than the checker recurses is an error, not a stack overflow, on a test
/// thread's 2 MiB stack.
#[test]
fn a_tree_too_deep_is_refused() {
    use cel::common::ast::{CallExpr, Expr, IdedExpr, LiteralValue, SourceInfo};
    let mut expr = IdedExpr {
        id: 1,
        expr: Expr::Literal(LiteralValue::Int(1.into())),
    };
    for id in 2..2000 {
        let one = IdedExpr {
            id: 100_000 + id,
            expr: Expr::Literal(LiteralValue::Int(1.into())),
        };
        expr = IdedExpr {
            id,
            expr: Expr::Call(CallExpr {
                func_name: "_+_".to_owned(),
                target: None,
                args: vec![expr, one],
            }),
        };
    }
    let errors = check(&expr, &SourceInfo::default(), &dyn_admission()).expect_err("too deep");
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors[0].message,
        format!(
            "expression is nested deeper than {} levels",
            super::MAX_CHECK_DEPTH
        )
    );
}

#[test]
fn params_is_undeclared_without_a_param_kind() {
    let errors = check_source("params.x", &Declarations::admission(Type::Dyn, None))
        .expect_err("params is undeclared");
    assert_eq!(
        errors[0].message,
        "undeclared reference to 'params' (in container '')"
    );
}

#[test]
fn a_mutation_builds_object_and_json_patch_literals() {
    let mutation = dyn_admission().mutation();
    for source in [
        "Object{spec: Object.spec{template: {'a': 1}}}",
        "[JSONPatch{op: 'add', path: '/a', value: 1}]",
    ] {
        check_source(source, &mutation).unwrap_or_else(|e| panic!("{source}: {e:?}"));
    }
    let errors = check_source("JSONPatch{op: 1}", &mutation).expect_err("op is a string");
    assert_eq!(
        errors[0].message,
        "expected type of field 'op' is 'string' but provided type is 'int'"
    );
}

#[test]
fn variables_have_the_types_inferred_in_order() {
    let mut declarations = dyn_admission();
    for (name, source) in [("n", "1 + 1"), ("names", "['a'].map(x, x + 'b')")] {
        let checked = check_source(source, &declarations).expect("checks");
        declarations.add_variable(name, checked.result);
    }
    let checked = check_source(
        "variables.names.all(x, x.size() > variables.n)",
        &declarations,
    )
    .expect("checks");
    assert_eq!(checked.result, Type::Bool);
    let errors = check_source("variables.n + 'a'", &declarations).expect_err("n is an int");
    assert_eq!(
        errors[0].message,
        "found no matching overload for '_+_' applied to '(int, string)'"
    );
}

#[test]
fn schema_typed_objects_have_their_fields_types() {
    let typed = typed_admission(Rules::default());
    let cases: &[(&str, &str)] = &[
        ("object.spec.replicas + 1", "int"),
        ("object.spec.ratio", "double"),
        ("object.spec.labels['a']", "string"),
        ("object.spec.hosts", "list(string)"),
        ("object.spec.port", "dyn"),
        ("object.spec.timeout", "google.protobuf.Duration"),
        ("object.spec.since", "google.protobuf.Timestamp"),
        ("object.spec.data", "bytes"),
        ("object.spec.x__dash__y", "string"),
        ("object.spec.__in__", "string"),
        ("object.metadata.labels", "map(string, string)"),
        (
            "object.metadata.creationTimestamp",
            "google.protobuf.Timestamp",
        ),
        ("object.kind", "string"),
        ("oldObject.spec.name", "string"),
        ("object.?spec.?replicas", "optional_type(int)"),
        ("has(object.spec.replicas)", "bool"),
        ("object.spec == null", "bool"),
        ("object.spec.hosts.all(h, h.endsWith('.com'))", "bool"),
    ];
    for (source, expected) in cases {
        let checked =
            check_source(source, &typed).unwrap_or_else(|e| panic!("{source}: refused: {e:?}"));
        assert_eq!(checked.result.to_string(), *expected, "{source}");
    }
    let refused: &[(&str, &str)] = &[
        ("object.spec.nope", "undefined field 'nope'"),
        ("has(object.spec.nope)", "undefined field 'nope'"),
        ("object.?spec.?nope", "undefined field 'nope'"),
        ("object.spec.untyped", "undefined field 'untyped'"),
        (
            "object.spec.replicas + 'a'",
            "found no matching overload for '_+_' applied to '(int, string)'",
        ),
        (
            "object.spec.labels == null",
            "found no matching overload for '_==_' applied to '(map(string, string), null)'",
        ),
        (
            "object.spec.name.startsWith(object.spec.replicas)",
            "found no matching overload for 'startsWith' applied to 'string.(int)'",
        ),
    ];
    for (source, message) in refused {
        let errors = check_source(source, &typed).expect_err(source);
        assert_eq!(errors[0].message, *message, "{source}");
    }
}

/// Verified against kube-apiserver 1.37's type checking (see `testdata/kubernetes`).
#[test]
fn kubernetes_rules_leave_unknown_fields_undeclared() {
    let exact = typed_admission(Rules::default());
    let errors = check_source("object.spec.free.anything", &exact).expect_err("undeclared");
    assert_eq!(errors[0].message, "undefined field 'anything'");
    check_source("object.spec.free", &exact).expect("the object itself is declared");
    let lenient = typed_admission(Rules::preserve_unknown_fields_as_dyn());
    let checked = check_source("object.spec.free.anything.at.all", &lenient).expect("dyn");
    assert_eq!(checked.result, Type::Dyn);
}

/// Every example of docs/cel-functions.md type-checks, except those Kubernetes refuses: list
/// literals mixing element types (`HomogeneousAggregateLiterals`), which the table documents
/// with the value our evaluator gives.
#[test]
fn documented_examples_type_check() {
    let kubernetes_refuses: &[(&str, &str)] = &[
        (
            "sets.contains([1, 2, 3], [2, 3.0])",
            "expected type 'int' but found 'double'",
        ),
        (
            "[1, [2, [3]]].flatten(2)",
            "expected type 'int' but found 'list(dyn)'",
        ),
    ];
    let table = include_str!("../../../../../docs/cel-functions.md");
    let mut count = 0;
    for example in documented_examples(table) {
        count += 1;
        // JSON Patch's functions are a mutation's.
        let declarations = match example.starts_with("jsonpatch.") {
            true => dyn_admission().mutation(),
            false => dyn_admission(),
        };
        let result = check_source(&example, &declarations);
        match kubernetes_refuses.iter().find(|(e, _)| *e == example) {
            Some((_, message)) => {
                let errors = result.expect_err(&example);
                assert_eq!(errors[0].message, *message, "{example}");
            }
            None => {
                result.unwrap_or_else(|e| panic!("{example}: refused: {e:?}"));
            }
        }
    }
    assert!(count > 150, "only {count} examples found");
}

/// The Example column of every function table.
fn documented_examples(table: &str) -> Vec<String> {
    let mut examples = Vec::new();
    for line in table.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<String> = split_row(line);
        if cells.len() == 5 {
            let example = cells[3].trim();
            if let Some(code) = example.strip_prefix('`').and_then(|e| e.strip_suffix('`')) {
                examples.push(code.to_owned());
            }
        }
    }
    examples
}

/// The cells of a Markdown table row, `\|` read as `|`.
fn split_row(line: &str) -> Vec<String> {
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut chars = line.trim().trim_start_matches('|').chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cell.push('|');
                chars.next();
            }
            '|' => cells.push(std::mem::take(&mut cell)),
            c => cell.push(c),
        }
    }
    cells
}

/// The main crate's expansion of `x.all(k, v, p)` (src/cel/k8s/comprehensions.rs): a
/// one-variable comprehension over `@pairs(x)`, `k` and `v` bound from each pair the way
/// `cel.bind` binds. It checks, with `k` and `v` typed dyn.
#[test]
fn the_main_crates_two_variable_expansion_checks() {
    use cel::common::ast::{CallExpr, ComprehensionExpr, Expr, IdedExpr, ListExpr, LiteralValue};
    let (range, _) = parse::parse("{'a': 1}").expect("parses");
    let (predicate, info) = parse::parse("k == 'a' && v == 1").expect("parses");
    let mut next = 10_000;
    let mut node = |expr: Expr| {
        next += 1;
        IdedExpr { id: next, expr }
    };
    let ident = |node: &mut dyn FnMut(Expr) -> IdedExpr, name: &str| node(Expr::Ident(name.into()));
    let call = |node: &mut dyn FnMut(Expr) -> IdedExpr, name: &str, args: Vec<IdedExpr>| {
        node(Expr::Call(CallExpr {
            func_name: name.into(),
            target: None,
            args,
        }))
    };
    let bind = |node: &mut dyn FnMut(Expr) -> IdedExpr, name: &str, value, body| {
        let comprehension = ComprehensionExpr {
            iter_range: node(Expr::List(ListExpr::new(Vec::new()))),
            iter_var: "#unused".into(),
            iter_var2: None,
            accu_var: name.into(),
            accu_init: value,
            loop_cond: node(Expr::Literal(LiteralValue::Boolean(false.into()))),
            loop_step: ident(node, name),
            result: body,
        };
        node(Expr::Comprehension(Box::new(comprehension)))
    };
    let pair = |node: &mut dyn FnMut(Expr) -> IdedExpr, i: i64| {
        let p = ident(node, "@pair");
        let index = node(Expr::Literal(LiteralValue::Int(i.into())));
        call(node, "_[_]", vec![p, index])
    };
    let value = pair(&mut node, 1);
    let inner = bind(&mut node, "v", value, predicate);
    let key = pair(&mut node, 0);
    let bound = bind(&mut node, "k", key, inner);
    let pairs = call(&mut node, "@pairs", vec![range]);
    let result = ident(&mut node, "@result");
    let not_false = call(&mut node, "@not_strictly_false", vec![result]);
    let result = ident(&mut node, "@result");
    let step = call(&mut node, "_&&_", vec![result, bound]);
    let comprehension = ComprehensionExpr {
        iter_range: pairs,
        iter_var: "@pair".into(),
        iter_var2: None,
        accu_var: "@result".into(),
        accu_init: node(Expr::Literal(LiteralValue::Boolean(true.into()))),
        loop_cond: not_false,
        loop_step: step,
        result: ident(&mut node, "@result"),
    };
    let expr = node(Expr::Comprehension(Box::new(comprehension)));
    let checked = check(&expr, &info, &dyn_admission()).expect("checks");
    assert_eq!(checked.result, Type::Bool);
}

/// `Environment::compile_checked` and `check_source` check from the production parser's tree:
/// the checker's errors (all of them, by position) refuse, a checked expression compiles.
#[test]
fn compile_checked_refuses_what_does_not_check_and_compiles_the_rest() {
    let env = crate::Environment::new();
    let declarations = dyn_admission();
    let options = crate::CompileOptions::default();
    let (program, checked) = env
        .compile_checked("object.spec.x + 1 > 2", &options, &declarations)
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(checked.result, Type::Bool);
    assert_eq!(program.source(), "object.spec.x + 1 > 2");
    let errors = env
        .compile_checked("'a' + 1 == 2 || request.nope", &options, &declarations)
        .expect_err("refused");
    let found: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        found,
        [
            "line 1, column 5: found no matching overload for '_+_' applied to '(string, int)'",
            "line 1, column 24: undefined field 'nope'",
        ]
    );
    // A parse error is the parser's, as `compile` gives it.
    let parse = env
        .compile_checked("1 +", &options, &declarations)
        .expect_err("refused");
    assert_eq!(parse.len(), 1);
    assert_eq!(
        Err(parse[0].clone()),
        env.compile("1 +", &options).map(|_| ())
    );
    assert_eq!(
        super::check_source("[1, 'a']", &declarations).expect_err("refused")[0].message,
        "expected type 'int' but found 'string'"
    );
}

#[test]
fn the_kms_extension_is_declared_only_where_enabled() {
    let source = "kms.key('projects/p/locations/l/keyRings/r/cryptoKeys/k')";
    let plain = Declarations::admission(Type::Dyn, Some(Type::Dyn));
    let errors = check_source(source, &plain).unwrap_err();
    assert!(
        errors[0]
            .message
            .contains("cmek-gate.dev/cel-extensions: \"kms\""),
        "{errors:?}"
    );
    let kms = plain.profile(crate::Profile::new(
        crate::KubernetesVersion::NEWEST,
        crate::Extensions::NONE.with(crate::Extension::Kms),
    ));
    let cases = [
        ("kms.available()", "bool"),
        (source, "kms.Key"),
        (&format!("{source}.state"), "string"),
        (&format!("{source}.exists"), "bool"),
        (&format!("{source}.rotationPeriod"), "dyn"),
        ("kms.serviceAgentCanUse('k', 'p')", "bool"),
        ("kms.projectNumber('p')", "string"),
        ("kms.imageRepository('i').cmek", "bool"),
        ("kms.imageRepository('i').kmsKeyName", "string"),
    ];
    for (source, expected) in cases {
        let checked = check_source(source, &kms).unwrap_or_else(|e| panic!("{source}: {e:?}"));
        assert_eq!(checked.result.to_string(), expected, "{source}");
    }
    for (source, expected) in [
        (format!("{source}.stat"), "undefined field 'stat'"),
        (
            "kms.key(1)".to_owned(),
            "found no matching overload for 'kms.key'",
        ),
        (
            "kms.serviceAgentCanUse('k')".to_owned(),
            "found no matching overload",
        ),
    ] {
        let errors = check_source(&source, &kms).unwrap_err();
        assert!(errors[0].message.contains(expected), "{source}: {errors:?}");
    }
}
