//! Kubernetes' semver library (k8s.io/apiserver/pkg/cel/library/semverlib.go), with the rules
//! of github.com/blang/semver/v4 that it uses: `MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]`, no
//! leading zeros, build metadata ignored by comparisons and equality.
//!
//! `compareTo`, `isLessThan` and `isGreaterThan` are registered by [`super::quantity`], which
//! hands the calls with a semver receiver to the functions here.

use super::support::{fail, no_overload, opaque, opaque_type, opaque_value};
use crate::error::EvalError;
use crate::library::{Library, Style};
use crate::value::Value;
use std::cmp::Ordering;

/// The type name Kubernetes gives semantic versions.
pub const SEMVER_TYPE: &str = "kubernetes.Semver";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pre {
    Num(u64),
    Str(String),
}

/// A semantic version.
#[derive(Debug, Clone)]
pub struct Semver {
    major: u64,
    minor: u64,
    patch: u64,
    pre: Vec<Pre>,
    build: Vec<String>,
}

impl PartialEq for Semver {
    fn eq(&self, other: &Self) -> bool {
        self.compare(other) == Ordering::Equal
    }
}

opaque_type!(Semver, SEMVER_TYPE);

pub fn register(library: &mut Library) {
    use Style::{Global, Receiver};
    library.add("semver", Global, 1, to_semver);
    library.add("semver", Global, 2, to_semver);
    library.add("isSemver", Global, 1, is_semver);
    library.add("isSemver", Global, 2, is_semver);
    library.add("major", Receiver, 1, major);
    library.add("minor", Receiver, 1, minor);
    library.add("patch", Receiver, 1, patch);
}

/// The string and whether to normalize it.
fn text_args<'v>(function: &str, args: &'v [Value<'_>]) -> Result<(&'v str, bool), EvalError> {
    match args {
        [Value::String(s)] => Ok((s, false)),
        [Value::String(s), Value::Bool(normalize)] => Ok((s, *normalize)),
        _ => Err(no_overload(function, args)),
    }
}

fn parse_with(s: &str, normalize: bool) -> Result<Semver, &'static str> {
    if normalize {
        normalize_and_parse(s)
    } else {
        parse(s)
    }
}

fn to_semver<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let (s, normalize) = text_args("semver", args)?;
    parse_with(s, normalize)
        .map(opaque_value)
        .map_err(|e| fail("semver", e))
}

fn is_semver<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let (s, normalize) = text_args("isSemver", args)?;
    Ok(Value::Bool(parse_with(s, normalize).is_ok()))
}

fn one<'v>(function: &str, args: &'v [Value<'_>]) -> Result<&'v Semver, EvalError> {
    match args {
        [v] => opaque::<Semver>(v).ok_or_else(|| no_overload(function, args)),
        _ => Err(no_overload(function, args)),
    }
}

fn two<'v>(function: &str, args: &'v [Value<'_>]) -> Result<(&'v Semver, &'v Semver), EvalError> {
    match args {
        [a, b] => match (opaque::<Semver>(a), opaque::<Semver>(b)) {
            (Some(a), Some(b)) => Ok((a, b)),
            _ => Err(no_overload(function, args)),
        },
        _ => Err(no_overload(function, args)),
    }
}

// Go converts the uint64 parts to int64 as they are.
fn major<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    Ok(Value::Int(one("major", args)?.major as i64))
}

fn minor<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    Ok(Value::Int(one("minor", args)?.minor as i64))
}

fn patch<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    Ok(Value::Int(one("patch", args)?.patch as i64))
}

pub(crate) fn is_greater_than<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let (a, b) = two("isGreaterThan", args)?;
    Ok(Value::Bool(a.compare(b) == Ordering::Greater))
}

pub(crate) fn is_less_than<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let (a, b) = two("isLessThan", args)?;
    Ok(Value::Bool(a.compare(b) == Ordering::Less))
}

pub(crate) fn compare_to<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let (a, b) = two("compareTo", args)?;
    Ok(Value::Int(match a.compare(b) {
        Ordering::Less => -1,
        Ordering::Equal => 0,
        Ordering::Greater => 1,
    }))
}

fn digits_only(s: &str) -> bool {
    s.bytes().all(|c| c.is_ascii_digit())
}

fn alphanumeric_only(s: &str) -> bool {
    s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
}

fn has_leading_zero(s: &str) -> bool {
    s.len() > 1 && s.starts_with('0')
}

fn number(s: &str, what: &'static str) -> Result<u64, &'static str> {
    if !digits_only(s) {
        return Err(what);
    }
    if has_leading_zero(s) {
        return Err("version numbers must not contain leading zeroes");
    }
    s.parse().map_err(|_| what)
}

/// blang/semver's `Parse`.
fn parse(s: &str) -> Result<Semver, &'static str> {
    if s.is_empty() {
        return Err("version string empty");
    }
    let parts: Vec<&str> = s.splitn(3, '.').collect();
    let [major, minor, rest] = parts.as_slice() else {
        return Err("no Major.Minor.Patch elements found");
    };
    let major = number(major, "invalid major number")?;
    let minor = number(minor, "invalid minor number")?;
    let (rest, build) = match rest.split_once('+') {
        Some((r, b)) => (r, Some(b)),
        None => (*rest, None),
    };
    let (patch, pre) = match rest.split_once('-') {
        Some((p, pre)) => (p, Some(pre)),
        None => (rest, None),
    };
    let patch = number(patch, "invalid patch number")?;
    let mut v = Semver {
        major,
        minor,
        patch,
        pre: Vec::new(),
        build: Vec::new(),
    };
    for part in pre.into_iter().flat_map(|p| p.split('.')) {
        if part.is_empty() {
            return Err("prerelease is empty");
        }
        if digits_only(part) {
            if has_leading_zero(part) {
                return Err("numeric prerelease must not contain leading zeroes");
            }
            v.pre
                .push(Pre::Num(part.parse().map_err(|_| "invalid prerelease")?));
        } else if alphanumeric_only(part) {
            v.pre.push(Pre::Str(part.to_owned()));
        } else {
            return Err("invalid character(s) in prerelease");
        }
    }
    for part in build.into_iter().flat_map(|b| b.split('.')) {
        if part.is_empty() {
            return Err("build metadata is empty");
        }
        if !alphanumeric_only(part) {
            return Err("invalid character(s) in build metadata");
        }
        v.build.push(part.to_owned());
    }
    Ok(v)
}

/// Kubernetes' `normalizeAndParse`: no `v` prefix, missing minor and patch filled with `0`,
/// leading zeros dropped.
fn normalize_and_parse(s: &str) -> Result<Semver, &'static str> {
    let s = s.strip_prefix('v').unwrap_or(s);
    let mut parts: Vec<String> = s
        .splitn(3, '.')
        .map(|p| {
            if p.len() > 1 {
                let trimmed = p.trim_start_matches('0');
                if trimmed.is_empty() || !trimmed.starts_with(|c: char| c.is_ascii_digit()) {
                    format!("0{trimmed}")
                } else {
                    trimmed.to_owned()
                }
            } else {
                p.to_owned()
            }
        })
        .collect();
    if parts.len() < 3 {
        if parts.last().is_some_and(|p| p.contains(['+', '-'])) {
            return Err("short version cannot contain PreRelease/Build meta data");
        }
        while parts.len() < 3 {
            parts.push("0".into());
        }
    }
    parse(&parts.join("."))
}

impl Semver {
    /// blang/semver's `Compare`.
    fn compare(&self, o: &Semver) -> Ordering {
        let core = (self.major, self.minor, self.patch).cmp(&(o.major, o.minor, o.patch));
        if core != Ordering::Equal {
            return core;
        }
        match (self.pre.is_empty(), o.pre.is_empty()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Greater,
            (false, true) => return Ordering::Less,
            _ => {}
        }
        for (a, b) in self.pre.iter().zip(&o.pre) {
            let c = match (a, b) {
                (Pre::Num(x), Pre::Num(y)) => x.cmp(y),
                (Pre::Num(_), Pre::Str(_)) => Ordering::Less,
                (Pre::Str(_), Pre::Num(_)) => Ordering::Greater,
                (Pre::Str(x), Pre::Str(y)) => x.cmp(y),
            };
            if c != Ordering::Equal {
                return c;
            }
        }
        self.pre.len().cmp(&o.pre.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_as_blang_semver() {
        for s in [
            "1.0.0",
            "0.1.0-alpha.1",
            "1.2.3+build.5",
            "1.2.3-rc.1+b",
            "1.2.3-0a",
        ] {
            assert!(parse(s).is_ok(), "{s}");
        }
        for s in [
            "",
            "1.0",
            "v1.0.0",
            "01.0.0",
            "1.0.0-01",
            "1.0.0-",
            "1.0.0+",
            "1.0.0-a..b",
            "1.a.0",
            "1.0.0-a_b",
        ] {
            assert!(parse(s).is_err(), "{s}");
        }
        assert!(normalize_and_parse("v1.0").is_ok());
        assert!(normalize_and_parse("1.0-rc").is_err());
        assert_eq!(
            normalize_and_parse("01.01.01").unwrap(),
            parse("1.1.1").unwrap()
        );
    }

    #[test]
    fn orders_prereleases() {
        let order = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
        ];
        for pair in order.windows(2) {
            assert_eq!(
                parse(pair[0]).unwrap().compare(&parse(pair[1]).unwrap()),
                Ordering::Less,
                "{pair:?}"
            );
        }
        assert_eq!(parse("1.0.0+a").unwrap(), parse("1.0.0+b").unwrap());
    }

    use crate::libs::support::equals;
    use crate::libs::support::testing::*;

    fn sv(s: &str) -> Value<'static> {
        to_semver(&[Value::string(s)]).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn documented_examples() {
        let normalized = to_semver(&[s("v1.0"), b(true)]).unwrap();
        assert!(equals(&normalized, &sv("1.0.0")));
        check("isSemver", is_semver(&[s("v1.0")]), b(false));
        check(
            "isSemver normalized",
            is_semver(&[s("v1.0"), b(true)]),
            b(true),
        );
        check("major", major(&[sv("1.2.3")]), i(1));
        check("minor", minor(&[sv("1.2.3")]), i(2));
        check("patch", patch(&[sv("1.2.3")]), i(3));
        check("compareTo", compare_to(&[sv("1.2.3"), sv("1.2.4")]), i(-1));
        check(
            "isLessThan",
            is_less_than(&[sv("1.0.0-rc.1"), sv("1.0.0")]),
            b(true),
        );
        check(
            "isGreaterThan",
            is_greater_than(&[sv("2.0.0"), sv("1.9.9")]),
            b(true),
        );
        // Through quantity's registration, as the library resolves them.
        let mut library = Library::default();
        crate::libs::register_all(&mut library);
        let compare = library.lookup("compareTo", Style::Receiver, 2).unwrap();
        check(
            "shared compareTo",
            compare(&[sv("1.0.0"), sv("1.0.0+build")]),
            i(0),
        );
    }

    #[test]
    fn errors_and_kinds() {
        check_err("parse", to_semver(&[s("1.0")]), "semver:");
        check_err(
            "kind",
            to_semver(&[i(1)]),
            "no matching overload for 'semver'",
        );
        check_err(
            "huge",
            to_semver(&[s("99999999999999999999.0.0")]),
            "invalid major",
        );
        check_err(
            "mixed",
            compare_to(&[sv("1.0.0"), s("1.0.0")]),
            "no matching overload",
        );
        assert_eq!(
            crate::libs::support::type_name(&sv("1.0.0")),
            "kubernetes.Semver"
        );
    }
}
