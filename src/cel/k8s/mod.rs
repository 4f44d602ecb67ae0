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
