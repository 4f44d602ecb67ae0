//! Functions we add to the `cel` crate's environment, and the list of every function name a
//! policy may call (checked at compile time).
//!
//! `matches` is ours rather than the crate's: the crate compiles the regex on every call
//! (~260 µs), while this one compiles each pattern once (constant patterns at load time) and
//! bounds the compiled size of each.

use cel::common::types::{CelBool, CelString};
use cel::{Env, ExecutionError};
use regex::Regex;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

/// Largest compiled regex, in bytes.
const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// Most patterns kept; the cache is cleared when full (constant patterns come back on use).
const CACHE_CAPACITY: usize = 1024;

/// Every function a policy may call, by the name written in CEL (operators included).
const KNOWN: &[&str] = &[
    // operators and macros as the parser names them
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
    "exists_one",
    "has",
    "all",
    "exists",
    "map",
    "filter",
    // standard library
    "size",
    "int",
    "uint",
    "double",
    "string",
    "bytes",
    "bool",
    "dyn",
    "type",
    "duration",
    "timestamp",
    "matches",
    "contains",
    "startsWith",
    "endsWith",
    "getDate",
    "getDayOfMonth",
    "getDayOfWeek",
    "getDayOfYear",
    "getFullYear",
    "getHours",
    "getMilliseconds",
    "getMinutes",
    "getMonth",
    "getSeconds",
    "optional.of",
    "optional.none",
    "optional.ofNonZeroValue",
    "hasValue",
    "value",
    "orValue",
    "or",
    // strings extension
    "charAt",
    "indexOf",
    "lastIndexOf",
    "join",
    "lowerAscii",
    "upperAscii",
    "trim",
    "replace",
    "split",
    "substring",
    "format",
    "strings.quote",
    "reverse",
    // lists extension
    "distinct",
    "flatten",
    "lists.range",
    "sort",
    "sortBy",
    "slice",
    // math extension
    "math.greatest",
    "math.least",
    "math.abs",
    "math.ceil",
    "math.floor",
    "math.round",
    "math.sign",
    "math.sqrt",
    "math.trunc",
    "math.isFinite",
    "math.isInf",
    "math.isNaN",
    "math.bitAnd",
    "math.bitOr",
    "math.bitXor",
    "math.bitNot",
    "math.bitShiftLeft",
    "math.bitShiftRight",
    // encoders extension
    "base64.encode",
    "base64.decode",
];

pub(super) fn is_known(name: &str) -> bool {
    KNOWN.contains(&name)
}

pub(super) fn register(env: &mut Env) -> Result<(), cel::DeclarationError> {
    cel::add_member_overload!(env, fn matches: (CelString, CelString) -> Result<CelBool>)?;
    cel::add_overload!(env, fn matches: (CelString, CelString) -> Result<CelBool>, id = "matches")?;
    Ok(())
}

fn cache() -> &'static RwLock<HashMap<String, Arc<Regex>>> {
    static CACHE: OnceLock<RwLock<HashMap<String, Arc<Regex>>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The compiled regex for a pattern, from the cache or compiled now.
pub(super) fn precompile(pattern: &str) -> Result<Arc<Regex>, regex::Error> {
    if let Some(found) = cache().read().ok().and_then(|c| c.get(pattern).cloned()) {
        return Ok(found);
    }
    let compiled = Arc::new(
        regex::RegexBuilder::new(pattern)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()?,
    );
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
