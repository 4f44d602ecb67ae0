//! Functions we add to the `cel` crate's environment, and the list of every function name a
//! policy may call (checked at compile time).
//!
//! `matches` is ours rather than the crate's: the crate compiles the regex on every call
//! (~260 µs), while this one compiles each pattern once (constant patterns at load time) and
//! bounds the compiled size of each.

#[path = "k8s/mod.rs"]
mod k8s;

use cel::common::types::{CelBool, CelString};
use cel::{Env, ExecutionError};
use regex::Regex;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

/// Most patterns kept; the cache is cleared when full (constant patterns come back on use).
const CACHE_CAPACITY: usize = 1024;

/// The names the parser gives operators and macro expansions, and the helpers expansions
/// call: known at compile time, but not functions a policy author calls by name. Those are
/// documented, one by one, in [`k8s::LIBRARY`] (and `docs/cel-functions.md`), which the
/// compile-time check reads too.
const KNOWN: &[&str] = &[
    "_?_:_",
    "_&&_",
    "_||_",
    "!_",
    "_-_",
    "_+_",
    "_*_",
    "_/_",
    "_%_",
    "_==_",
    "_!=_",
    "_>=_",
    "_<=_",
    "_>_",
    "_<_",
    "-_",
    "_[_]",
    "_[?_]",
    "_?._",
    "@in",
    "@not_strictly_false",
    "math.@max",
    "math.@min",
    "@sortByAssociatedKeys",
    "@pairs",
    "@mapFromPairs",
    "@mergeMapEntries",
];

/// Whether a policy may call `name` (an operator or a documented function).
pub(super) fn is_known(name: &str) -> bool {
    KNOWN.contains(&name) || k8s::LIBRARY.iter().any(|doc| doc.name == name)
}

pub(super) fn register(env: &mut Env) -> Result<(), cel::DeclarationError> {
    cel::add_member_overload!(env, fn matches: (CelString, CelString) -> Result<CelBool>)?;
    cel::add_overload!(env, fn matches: (CelString, CelString) -> Result<CelBool>, id = "matches")?;
    k8s::register(env)
}

fn cache() -> &'static RwLock<HashMap<String, Arc<Regex>>> {
    static CACHE: OnceLock<RwLock<HashMap<String, Arc<Regex>>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The compiled regex for a pattern, from the cache or compiled now.
pub(crate) fn precompile(pattern: &str) -> Result<Arc<Regex>, regex::Error> {
    if let Some(found) = cache().read().ok().and_then(|c| c.get(pattern).cloned()) {
        return Ok(found);
    }
    // Go's RE2 syntax, as the engine reads it.
    let compiled = Arc::new(cel_k8s::libs::regex::compile(pattern)?);
    if let Ok(mut c) = cache().write() {
        if c.len() >= CACHE_CAPACITY {
            c.clear();
        }
        c.insert(pattern.to_owned(), Arc::clone(&compiled));
    }
    Ok(compiled)
}

fn matches(this: &CelString<'_>, pattern: &CelString<'_>) -> Result<CelBool, ExecutionError> {
    let regex = precompile(pattern.inner()).map_err(|e| ExecutionError::FunctionError {
        function: "matches".into(),
        message: format!("invalid regular expression: {e}"),
    })?;
    Ok(CelBool::from(regex.is_match(this.inner())))
}
