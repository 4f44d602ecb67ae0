//! Kubernetes' semver library (k8s.io/apiserver/pkg/cel/library/semverlib.go), with the rules
//! of github.com/blang/semver/v4 that it uses: `MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]`, no
//! leading zeros, build metadata ignored by comparisons and equality.

use super::{add_type, fail, value_type};
use cel::common::types::{CelBool, CelInt, CelString, Type};
use cel::{DeclarationError, Env, ExecutionError};
use std::cmp::Ordering;

pub(super) static SEMVER_TYPE: Type = Type::new_unspecified_type("kubernetes.Semver");

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pre {
    Num(u64),
    Str(String),
}

#[derive(Debug, Clone)]
pub(crate) struct Semver {
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

value_type!(Semver, SEMVER_TYPE);

pub(super) fn register(env: &mut Env) -> Result<(), DeclarationError> {
    add_type(env, &SEMVER_TYPE)?;
    cel::add_overload!(env, fn to_semver: (CelString) -> Result<Semver>, name = "semver")?;
    cel::add_overload!(env, fn to_semver_normalized: (CelString, CelBool) -> Result<Semver>,
        name = "semver")?;
    cel::add_overload!(env, fn is_semver: (CelString) -> CelBool)?;
    cel::add_overload!(env, fn is_semver_normalized: (CelString, CelBool) -> CelBool,
        name = "isSemver")?;
    cel::add_member_overload!(env, fn major: (Semver) -> CelInt)?;
    cel::add_member_overload!(env, fn minor: (Semver) -> CelInt)?;
    cel::add_member_overload!(env, fn patch: (Semver) -> CelInt)?;
    cel::add_member_overload!(env, fn is_greater_than: (Semver, Semver) -> CelBool)?;
    cel::add_member_overload!(env, fn is_less_than: (Semver, Semver) -> CelBool)?;
    cel::add_member_overload!(env, fn compare_to: (Semver, Semver) -> CelInt)?;
    Ok(())
}

fn parse_with(s: &str, normalize: bool) -> Result<Semver, &'static str> {
    if normalize {
        normalize_and_parse(s)
    } else {
        parse(s)
    }
}

fn to_semver(s: &CelString<'_>) -> Result<Semver, ExecutionError> {
    parse(s.inner()).map_err(|e| fail("semver", e))
}

fn to_semver_normalized(s: &CelString<'_>, n: &CelBool) -> Result<Semver, ExecutionError> {
    parse_with(s.inner(), *n.inner()).map_err(|e| fail("semver", e))
}

fn is_semver(s: &CelString<'_>) -> CelBool {
    CelBool::from(parse(s.inner()).is_ok())
}

fn is_semver_normalized(s: &CelString<'_>, n: &CelBool) -> CelBool {
    CelBool::from(parse_with(s.inner(), *n.inner()).is_ok())
}

// Go converts the uint64 parts to int64 as they are.
fn major(v: &Semver) -> CelInt {
    CelInt::from(v.major as i64)
}

fn minor(v: &Semver) -> CelInt {
    CelInt::from(v.minor as i64)
}

fn patch(v: &Semver) -> CelInt {
    CelInt::from(v.patch as i64)
}

fn is_greater_than(a: &Semver, b: &Semver) -> CelBool {
    CelBool::from(a.compare(b) == Ordering::Greater)
}

fn is_less_than(a: &Semver, b: &Semver) -> CelBool {
    CelBool::from(a.compare(b) == Ordering::Less)
}

fn compare_to(a: &Semver, b: &Semver) -> CelInt {
    CelInt::from(match a.compare(b) {
        Ordering::Less => -1,
        Ordering::Equal => 0,
        Ordering::Greater => 1,
    })
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
}
