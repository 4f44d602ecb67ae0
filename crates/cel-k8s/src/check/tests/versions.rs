//! The target as a setting: each gated function and macro compiles from the first release
//! that has it (and evaluates there), and before it is refused naming that release; each
//! extension compiles only where asked for, and is refused saying how to ask.

use crate::check::Declarations;
use crate::profile::{Extension, Extensions, KubernetesVersion, Profile};
use crate::types::Type;
use crate::value::Value;
use crate::{Activation, CompileOptions, Environment};

/// What an expression needs.
#[derive(Debug, Clone, Copy)]
enum Needs {
    Always,
    Since(u8),
    Extension(Extension),
}

/// Each case evaluates to `true` wherever it compiles.
const CASES: &[(&str, Needs)] = &[
    ("sets.contains([1, 2], [1])", Needs::Always),
    ("ip('10.0.0.1').family() == 4", Needs::Always),
    ("cidr('10.0.0.0/8').containsIP('10.1.2.3')", Needs::Always),
    ("quantity('1Gi').isInteger()", Needs::Always),
    ("sign(quantity('-1')) == -1", Needs::Always),
    ("optional.of(1).hasValue()", Needs::Always),
    ("'%s'.format(['a']) == 'a'", Needs::Always),
    ("strings.quote('a') == '\"a\"'", Needs::Always),
    ("'abc'.find('b') == 'b'", Needs::Always),
    ("url('https://x.io').getHost() == 'x.io'", Needs::Always),
    ("[1, 2].indexOf(2) == 1", Needs::Always),
    ("[1, 2].exists_one(x, x > 1)", Needs::Always),
    (
        "format.dns1123Label().validate('a').hasValue() == false",
        Needs::Since(31),
    ),
    ("format.named('uuid').hasValue()", Needs::Since(31)),
    ("[1, 2].all(i, v, v > i)", Needs::Since(32)),
    ("{'a': 1}.exists(k, v, v == 1)", Needs::Since(32)),
    (
        "{'a': 1}.transformMap(k, v, v + 1) == {'a': 2}",
        Needs::Since(32),
    ),
    ("[1].transformList(i, v, v * 2) == [2]", Needs::Since(32)),
    ("semver('1.2.3').major() == 1", Needs::Since(33)),
    ("isSemver('1.2.3')", Needs::Since(33)),
    ("[2, 1].sort() == [1, 2]", Needs::Since(34)),
    ("[1, 2].sortBy(x, -x) == [2, 1]", Needs::Since(34)),
    ("[1, 2, 3].slice(0, 1) == [1]", Needs::Since(34)),
    ("[[1], [2]].flatten() == [1, 2]", Needs::Since(34)),
    ("[1, 1].distinct() == [1]", Needs::Since(34)),
    ("[1, 2].reverse() == [2, 1]", Needs::Since(34)),
    ("lists.range(3) == [0, 1, 2]", Needs::Since(34)),
    ("[1, 2, 3].includes(2)", Needs::Since(37)),
    ("math.abs(-1) == 1", Needs::Extension(Extension::Math)),
    (
        "math.greatest(1, 2) == 2",
        Needs::Extension(Extension::Math),
    ),
    ("math.least([3, 1]) == 1", Needs::Extension(Extension::Math)),
    (
        "base64.encode(b'a') == 'YQ=='",
        Needs::Extension(Extension::Encoders),
    ),
    (
        "cel.bind(x, 2, x * x) == 4",
        Needs::Extension(Extension::Bind),
    ),
    (
        "'ab'.reverse() == 'ba'",
        Needs::Extension(Extension::Strings),
    ),
];

fn profile(minor: u8, extensions: Extensions) -> Profile {
    Profile::new(KubernetesVersion::new(minor).unwrap(), extensions)
}

/// Compiles for `profile` and evaluates: `Ok(true)` when it compiles and gives `true`.
fn run(source: &str, profile: Profile) -> Result<bool, String> {
    let declarations = Declarations::admission(Type::Dyn, None).profile(profile);
    let (program, _) = Environment::new()
        .compile_checked(source, &CompileOptions::default(), &declarations)
        .map_err(|errors| errors[0].message.clone())?;
    let value = program
        .evaluate(&Activation::new(), &mut crate::Meter::new(1_000_000))
        .map_err(|e| format!("evaluation: {e}"))?;
    Ok(matches!(value, Value::Bool(true)))
}

#[test]
fn each_release_compiles_what_it_has_and_names_the_release_for_what_it_lacks() {
    let mut checked = 0;
    for (source, needs) in CASES {
        for version in KubernetesVersion::all() {
            let minor = version.minor();
            let outcome = run(source, profile(minor, Extensions::NONE));
            match needs {
                Needs::Always => assert_eq!(outcome, Ok(true), "{source} at {version}"),
                Needs::Since(since) if minor >= *since => {
                    assert_eq!(outcome, Ok(true), "{source} at {version}")
                }
                Needs::Since(since) => {
                    let message = outcome.expect_err(source);
                    let expected = format!(
                        "needs Kubernetes 1.{since} or newer; --kubernetes-version is {version}"
                    );
                    assert!(
                        message.contains(&expected),
                        "{source} at {version}: {message}"
                    );
                }
                Needs::Extension(extension) => {
                    let message = outcome.expect_err(source);
                    let ask = format!("cmek-gate.dev/cel-extensions: \"{}\"", extension.name());
                    assert!(message.contains(&ask), "{source} at {version}: {message}");
                    let with = profile(minor, Extensions::NONE.with(*extension));
                    assert_eq!(run(source, with), Ok(true), "{source} at {version} with it");
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, CASES.len() * 8);
}

#[test]
fn refusals_name_the_function_as_written() {
    let at = |minor| profile(minor, Extensions::NONE);
    let cases = [
        ("[1].includes(1)", at(36), "`list.includes()` needs Kubernetes 1.37 or newer; --kubernetes-version is 1.36"),
        ("[2, 1].sortBy(x, x) == [1, 2]", at(33), "`sortBy` needs Kubernetes 1.34 or newer; --kubernetes-version is 1.33"),
        ("[1].reverse() == [1]", at(33), "`list.reverse()` needs Kubernetes 1.34 or newer; --kubernetes-version is 1.33"),
        ("semver('1.0.0').major() == 1", at(32), "`semver()` needs Kubernetes 1.33 or newer; --kubernetes-version is 1.32"),
        ("format.uuid().validate('x').hasValue()", at(30), "`format.uuid()` needs Kubernetes 1.31 or newer; --kubernetes-version is 1.30"),
        ("[1].all(i, v, i < v)", at(31), "a two-variable comprehension (all, exists, existsOne, transformList, transformMap or transformMapEntry with two variables) needs Kubernetes 1.32 or newer; --kubernetes-version is 1.31"),
        ("math.greatest(1, 2) == 2", at(37), "`math.greatest()` is not in Kubernetes' CEL"),
        ("cel.bind(x, 1, x) == 1", at(37), "`cel.bind` is not in Kubernetes' CEL: it is cmek-gate's \"bind\" extension"),
        ("'ab'.reverse() == 'ba'", at(37), "found no matching overload for 'reverse' applied to 'string.()': `string.reverse()` is not in Kubernetes' CEL: it is cmek-gate's \"strings\" extension"),
        ("[1, 2].existsOne(x, x > 1)", Profile::everything(), "undeclared reference to 'existsOne' (in container '')"),
        ("quantity('1').sign() == 1", Profile::everything(), "found no matching overload for 'sign' applied to 'kubernetes.Quantity.()': `Quantity.sign()` is not offered here: Kubernetes' quantities take sign(q), not q.sign()"),
    ];
    for (source, target, expected) in cases {
        let message = run(source, target).expect_err(source);
        assert!(message.starts_with(expected), "{source}: {message}");
    }
}

/// A call the checker cannot type (a `dyn` receiver) resolves at run time to what the target
/// offers: without the strings extension, `reverse` reverses lists only.
#[test]
fn the_runtime_library_is_the_targets_too() {
    let source = "dyn(dyn('ab').reverse()) == 'ba'";
    let without = run(source, profile(37, Extensions::NONE));
    assert!(
        without
            .as_ref()
            .is_err_and(|e| e.contains("no matching overload for 'reverse'")),
        "{without:?}"
    );
    let with = profile(37, Extensions::NONE.with(Extension::Strings));
    assert_eq!(run(source, with), Ok(true));
    let before_lists = profile(33, Extensions::NONE.with(Extension::Strings));
    assert_eq!(run(source, before_lists), Ok(true));
    let list = "dyn(dyn([1, 2]).reverse()) == [2, 1]";
    assert!(run(list, before_lists).is_err_and(|e| e.contains("no matching overload")));
    assert_eq!(run(list, profile(34, Extensions::NONE)), Ok(true));
    let math = Environment::for_profile(profile(37, Extensions::NONE));
    assert!(!math.library().has("math.abs") && math.library().has("includes"));
    let old = Environment::for_profile(profile(30, Extensions::NONE));
    assert!(!old.library().has("includes") && !old.library().has("semver"));
}
