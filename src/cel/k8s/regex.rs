//! Kubernetes' regex library: `find` and `findAll`, with the compiled-regex cache `matches`
//! uses (k8s.io/apiserver/pkg/cel/library/regex.go).

use super::{fail, string_list};
use cel::common::types::{CelInt, CelList, CelString};
use cel::{DeclarationError, Env, ExecutionError};
use regex::Regex;
use std::sync::Arc;

pub(super) fn register(env: &mut Env) -> Result<(), DeclarationError> {
    cel::add_member_overload!(env, fn find: (CelString, CelString) -> Result<CelString>)?;
    cel::add_member_overload!(env, fn find_all: (CelString, CelString) -> Result<CelList>)?;
    cel::add_member_overload!(env, fn find_all_n: (CelString, CelString, CelInt) -> Result<CelList>,
        name = "findAll")?;
    Ok(())
}

fn compiled(function: &str, pattern: &str) -> Result<Arc<Regex>, ExecutionError> {
    crate::cel::functions::precompile(pattern)
        .map_err(|e| fail(function, format!("invalid regular expression: {e}")))
}

/// The first match, or `''`.
fn find(
    this: &CelString<'_>,
    pattern: &CelString<'_>,
) -> Result<CelString<'static>, ExecutionError> {
    let regex = compiled("find", pattern.inner())?;
    Ok(regex
        .find(this.inner())
        .map(|m| m.as_str().to_owned())
        .unwrap_or_default()
        .into())
}

fn find_all(
    this: &CelString<'_>,
    pattern: &CelString<'_>,
) -> Result<CelList<'static>, ExecutionError> {
    find_all_n(this, pattern, &CelInt::from(-1))
}

/// The first `n` matches, all of them when `n` is negative (Go's `FindAllString`).
fn find_all_n(
    this: &CelString<'_>,
    pattern: &CelString<'_>,
    n: &CelInt,
) -> Result<CelList<'static>, ExecutionError> {
    let regex = compiled("findAll", pattern.inner())?;
    let limit = usize::try_from(*n.inner()).unwrap_or(usize::MAX);
    // As Go does, an empty match right where the previous match ended is skipped.
    let mut previous_end = None;
    let matches = regex.find_iter(this.inner()).filter(|m| {
        let abutting = m.is_empty() && previous_end == Some(m.start());
        previous_end = Some(m.end());
        !abutting
    });
    Ok(string_list(
        matches.take(limit).map(|m| m.as_str().to_owned()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_all_skips_empty_matches_as_go_does() {
        let all = find_all(&"abc 123".into(), &"[0-9]*".into()).unwrap();
        let found: Vec<&str> = all
            .inner()
            .iter()
            .map(|v| v.downcast_ref::<CelString>().unwrap().inner())
            .collect();
        assert_eq!(found, ["", "", "", "", "123"]);
    }
}
