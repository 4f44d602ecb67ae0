//! Kubernetes' CEL libraries, with Kubernetes semantics (k8s.io/apiserver/pkg/cel/library and
//! the cel-go `ext` libraries Kubernetes enables), over the `cel` crate's environment.
//!
//! One file per library. Each value type of its own (`Quantity`, `URL`, `net.IP`, `net.CIDR`,
//! `Semver`) is a Rust type implementing the crate's `Val`, with the type name Kubernetes gives
//! it, so `type(x)` and `==` behave as there. Errors are clean `ExecutionError`s that never
//! quote the input (it may be a secret); sizes an input controls are bounded.

mod comprehensions;
pub(crate) mod docs;
mod format;
mod jsonpatch;
mod kms;
mod lists;
mod net;
#[cfg(test)]
mod probes;
mod quantity;
mod regex;
mod semver;
mod sets;
mod url;

use cel::common::types::{CelList, CelString, Type};
use cel::common::value::{CowVal, Val};
use cel::{DeclarationError, Env, ExecutionError};

pub(super) use docs::LIBRARY;

/// Registers every library on `env`, after the crate's own extensions.
pub(super) fn register(env: &mut Env) -> Result<(), DeclarationError> {
    lists::register(env)?;
    sets::register(env)?;
    regex::register(env)?;
    url::register(env)?;
    quantity::register(env)?;
    net::register(env)?;
    semver::register(env)?;
    comprehensions::register(env)?;
    jsonpatch::register(env)?;
    format::register(env)?;
    kms::register(env)?;
    Ok(())
}

/// The `N` arguments of an overload registered by hand.
fn take<'b, 'v, const N: usize>(
    args: Vec<CowVal<'b, 'v>>,
) -> Result<[CowVal<'b, 'v>; N], ExecutionError> {
    args.try_into()
        .map_err(|args: Vec<_>| ExecutionError::invalid_argument_count(N, args.len()))
}

/// A function's error, naming the function, never the input.
fn fail(function: &str, message: impl ToString) -> ExecutionError {
    ExecutionError::function_error(function, message)
}

/// The elements of any `list` value (ours are not all `CelList`s).
fn elements<'b, 'v>(
    function: &str,
    list: &'b (dyn Val + 'v),
) -> Result<Vec<&'b (dyn Val + 'v)>, ExecutionError> {
    let iterable = list.as_iterable().ok_or_else(|| {
        fail(
            function,
            format!("expected a list, got {}", list.get_type().name()),
        )
    })?;
    let mut items = iterable.iter();
    let mut out = Vec::new();
    while let Some(item) = items.next() {
        out.push(item);
    }
    Ok(out)
}

fn owned<'b, 'v, T: Val + 'v>(value: T) -> CowVal<'b, 'v> {
    CowVal::owned(value)
}

fn string_list<'v>(items: impl IntoIterator<Item = String>) -> CelList<'v> {
    CelList::from(
        items
            .into_iter()
            .map(|s| Box::new(CelString::from(s)) as Box<dyn Val + 'v>)
            .collect::<Vec<_>>(),
    )
}

/// Registers a value type under its Kubernetes name, so expressions can name it.
fn add_type(env: &mut Env, t: &'static Type) -> Result<(), DeclarationError> {
    env.add_type(t.to_owned())
}

/// Implements `Val` for a `'static` value type: its CEL type, equality by `PartialEq`, and
/// downcasting.
macro_rules! value_type {
    ($rust:ty, $cel:expr) => {
        impl cel::common::value::Val for $rust {
            fn get_type(&self) -> &cel::common::types::Type {
                &$cel
            }
            fn cel_type() -> &'static cel::common::types::Type {
                &$cel
            }
            fn equals(&self, other: &dyn cel::common::value::Val) -> bool {
                other.downcast_ref::<$rust>().is_some_and(|o| o == self)
            }
            fn clone_as_boxed<'v>(&self) -> Box<dyn cel::common::value::Val + 'v> {
                Box::new(self.clone())
            }
            fn as_any(&self) -> Option<&dyn std::any::Any> {
                Some(self)
            }
        }
        impl cel::common::value::StaticVal for $rust {}
    };
}
use value_type;

#[cfg(test)]
mod tests {
    use crate::cel::{Activation, Environment};
    use std::time::{Duration, Instant};

    fn run(source: &str) -> Result<cel::Value, String> {
        let env = Environment::new();
        let program = env
            .compile(source, &[])
            .map_err(|e| format!("compile: {e}"))?;
        env.evaluate(&program, &Activation::default())
            .map_err(|e| e.to_string())
    }

    /// Inputs an attacker controls end quickly, in an error or a bounded result, never a panic.
    #[test]
    fn hostile_inputs_are_bounded() {
        let cases = [
            "'abc'.split('', 9223372036854775807).size()",
            "'abc'.findAll('', 9223372036854775807).size()",
            "'abc'.findAll('(', 2)",
            "'%9999999999d'.format([1]).size()",
            "'%.999999999f'.format([1.0]).size()",
            "quantity('1e2147483647').add(quantity('1m'))",
            "quantity('1e2147483647').compareTo(quantity('1e-9'))",
            "quantity('-1e2147483647').sub(quantity('1e2147483647'))",
            "quantity('1e-2147483647').isInteger()",
            "quantity('0e2147483647').asInteger()",
            "quantity('99999999999999999999999999999999999999999Ei').asApproximateFloat()",
            "semver('99999999999999999999.0.0')",
            "url('http://[::1').getHost()",
            "cidr('1.2.3.4/0').containsCIDR('::/0')",
            "[1, 2].transformMapEntry(i, v, {'k': v})",
            "1.transformList(i, v, v)",
            "[].min()",
            "['a', 1].isSorted()",
            "[1, 'a'].sum()",
            "[9223372036854775807, 1].sum()",
        ];
        for source in cases {
            let start = Instant::now();
            let _ = run(source);
            assert!(
                start.elapsed() < Duration::from_secs(2),
                "{source} took {:?}",
                start.elapsed()
            );
        }
    }

    #[test]
    fn unsupported_and_misused_calls_say_so_at_compile_time() {
        let cases = [
            ("[1].all(i, i, true)", "different names"),
            ("[1].all(i, v + 1, true)", "must be a simple name"),
            ("cel.bind(1, 2, 3)", "must be a simple name"),
            ("quantity('1').mul(2)", "unknown function \"mul\""),
            ("authorizer.group('g')", "no API server"),
        ];
        for (source, expected) in cases {
            let err = run(source).unwrap_err();
            assert!(err.contains(expected), "{source}: {err}");
        }
    }

    #[test]
    fn values_of_library_types_compare_and_name_their_type() {
        let cases = [
            "quantity('1Gi') == quantity('1024Mi')",
            "quantity('1') != ip('1.2.3.4')",
            "[quantity('1'), quantity('2')].exists(q, q == quantity('2000m'))",
            "semver('1.0.0+a') == semver('1.0.0+b')",
            "url('https://a/b') == url('https://a/b') && url('https://a/b') != url('https://a/c')",
            "type(format.uuid()) == kubernetes.NamedFormat",
            "cidr('10.0.0.0/8').containsCIDR('10.1.0.0/16')",
            "[[1, 2], [2, 3]].exists(p, v, sets.contains(v, [2]))",
            "{'a': [1]}.all(k, v, v.all(i, e, i == 0 && e == 1))",
        ];
        for source in cases {
            assert_eq!(run(source), Ok(cel::Value::Bool(true)), "{source}");
        }
    }
}
