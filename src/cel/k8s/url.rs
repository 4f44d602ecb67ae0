//! Kubernetes' URL library: `url`, `isURL` and the getters, with Go's `net/url` rules
//! (k8s.io/apiserver/pkg/cel/library/urls.go): a URL is accepted by `ParseRequestURI` (an
//! absolute URI or an absolute path), and its parts are those `Parse` finds.

use super::{add_type, fail, string_list, value_type};
use cel::common::types::{CelBool, CelMap, CelMapKey, CelString, Type};
use cel::common::value::Val;
use cel::{DeclarationError, Env, ExecutionError};
use std::collections::HashMap;

pub(super) static URL_TYPE: Type = Type::new_unspecified_type("kubernetes.URL");

/// A parsed URL: the parts Kubernetes hands out.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Url {
    scheme: String,
    opaque: String,
    user: Option<String>,
    host: String,
    path: String,
    raw_path: String,
    raw_query: String,
    force_query: bool,
    fragment: String,
}

value_type!(Url, URL_TYPE);

pub(super) fn register(env: &mut Env) -> Result<(), DeclarationError> {
    add_type(env, &URL_TYPE)?;
    cel::add_overload!(env, fn to_url: (CelString) -> Result<Url>, name = "url")?;
    cel::add_overload!(env, fn is_url: (CelString) -> CelBool, name = "isURL")?;
    cel::add_member_overload!(env, fn get_scheme: (Url) -> CelString)?;
    cel::add_member_overload!(env, fn get_host: (Url) -> CelString)?;
    cel::add_member_overload!(env, fn get_hostname: (Url) -> CelString)?;
    cel::add_member_overload!(env, fn get_port: (Url) -> CelString)?;
    cel::add_member_overload!(env, fn get_escaped_path: (Url) -> CelString)?;
    cel::add_member_overload!(env, fn get_query: (Url) -> CelMap)?;
    Ok(())
}

fn to_url(s: &CelString<'_>) -> Result<Url, ExecutionError> {
    let s = s.inner();
    parse(s, true).map_err(|e| fail("url", format!("URL parse error: {e}")))?;
    // As Kubernetes does: validated as a request URI, then parsed with the fragment split off.
    let (rest, fragment) = s.split_once('#').unwrap_or((s, ""));
    let mut url = parse(rest, false).map_err(|e| fail("url", format!("URL parse error: {e}")))?;
    url.fragment = unescape(fragment, Mode::Fragment)
        .map_err(|e| fail("url", format!("URL parse error: {e}")))?;
    Ok(url)
}

/// Go's `url.ParseRequestURI` accepting `s`, or why not.
pub(super) fn parse_request_uri(s: &str) -> Result<(), String> {
    parse(s, true).map(drop)
}

fn is_url(s: &CelString<'_>) -> CelBool {
    CelBool::from(parse(s.inner(), true).is_ok())
}

fn get_scheme(u: &Url) -> CelString<'static> {
    u.scheme.clone().into()
}

fn get_host(u: &Url) -> CelString<'static> {
    u.host.clone().into()
}

fn get_hostname(u: &Url) -> CelString<'static> {
    split_host_port(&u.host).0.to_owned().into()
}

fn get_port(u: &Url) -> CelString<'static> {
    split_host_port(&u.host).1.to_owned().into()
}

fn get_escaped_path(u: &Url) -> CelString<'static> {
    escaped_path(u).into()
}

fn get_query(u: &Url) -> CelMap<'static> {
    let mut order: Vec<String> = Vec::new();
    let mut values: HashMap<String, Vec<String>> = HashMap::new();
    for pair in u.raw_query.split('&') {
        if pair.is_empty() || pair.contains(';') {
            continue;
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (Ok(k), Ok(v)) = (
            unescape(k, Mode::QueryComponent),
            unescape(v, Mode::QueryComponent),
        ) else {
            continue;
        };
        if !values.contains_key(&k) {
            order.push(k.clone());
        }
        values.entry(k).or_default().push(v);
    }
    let map: HashMap<CelMapKey<'static>, Box<dyn Val>> = values
        .into_iter()
        .map(|(k, v)| (CelMapKey::from(k), Box::new(string_list(v)) as Box<dyn Val>))
        .collect();
    CelMap::from(map)
}

/// Go's `URL.EscapedPath`.
fn escaped_path(u: &Url) -> String {
    if !u.raw_path.is_empty()
        && valid_encoded(&u.raw_path)
        && unescape(&u.raw_path, Mode::Path).as_deref() == Ok(u.path.as_str())
    {
        return u.raw_path.clone();
    }
    if u.path == "*" {
        return "*".into();
    }
    escape(&u.path, Mode::Path)
}

/// Go's `splitHostPort`: the host without brackets, and the port.
fn split_host_port(host_port: &str) -> (&str, &str) {
    let (mut host, mut port) = (host_port, "");
    if let Some(colon) = host.rfind(':') {
        if valid_optional_port(&host[colon..]) {
            (host, port) = (&host[..colon], &host[colon + 1..]);
        }
    }
    if host.starts_with('[') && host.ends_with(']') && host.len() >= 2 {
        host = &host[1..host.len() - 1];
    }
    (host, port)
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Path,
    Host,
    Zone,
    UserPassword,
    QueryComponent,
    Fragment,
}

/// Go's `parse(rawURL, viaRequest)`.
fn parse(raw: &str, via_request: bool) -> Result<Url, String> {
    if raw.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err("invalid control character in URL".into());
    }
    if raw.is_empty() && via_request {
        return Err("empty url".into());
    }
    let mut url = Url {
        scheme: String::new(),
        opaque: String::new(),
        user: None,
        host: String::new(),
        path: String::new(),
        raw_path: String::new(),
        raw_query: String::new(),
        force_query: false,
        fragment: String::new(),
    };
    if raw == "*" {
        url.path = "*".into();
        return Ok(url);
    }
    let (scheme, rest) = scheme(raw)?;
    url.scheme = scheme.to_ascii_lowercase();
    let mut rest = rest;
    if rest.ends_with('?') && rest.matches('?').count() == 1 {
        url.force_query = true;
        rest = &rest[..rest.len() - 1];
    } else if let Some((r, q)) = rest.split_once('?') {
        rest = r;
        url.raw_query = q.to_owned();
    }
    if !rest.starts_with('/') {
        if !url.scheme.is_empty() {
            url.opaque = rest.to_owned();
            return Ok(url);
        }
        if via_request {
            return Err("invalid URI for request".into());
        }
        if rest.split('/').next().is_some_and(|s| s.contains(':')) {
            return Err("first path segment in URL cannot contain colon".into());
        }
    }
    if (!url.scheme.is_empty() || !via_request && !rest.starts_with("///"))
        && rest.starts_with("//")
    {
        let authority = &rest[2..];
        let (authority, path) = match authority.find('/') {
            Some(i) => (&authority[..i], &authority[i..]),
            None => (authority, ""),
        };
        let (user, host) = parse_authority(authority)?;
        url.user = user;
        url.host = host;
        rest = path;
    }
    url.path = unescape(rest, Mode::Path)?;
    if escape(&url.path, Mode::Path) != rest {
        url.raw_path = rest.to_owned();
    }
    Ok(url)
}

/// Go's `getScheme`.
fn scheme(raw: &str) -> Result<(&str, &str), String> {
    for (i, c) in raw.bytes().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i == 0 => return Ok(("", raw)),
            b'0'..=b'9' | b'+' | b'-' | b'.' => {}
            b':' if i == 0 => return Err("missing protocol scheme".into()),
            b':' => return Ok((&raw[..i], &raw[i + 1..])),
            _ => return Ok(("", raw)),
        }
    }
    Ok(("", raw))
}

fn parse_authority(authority: &str) -> Result<(Option<String>, String), String> {
    let at = authority.rfind('@');
    let host = parse_host(at.map_or(authority, |i| &authority[i + 1..]))?;
    let Some(i) = at else {
        return Ok((None, host));
    };
    let userinfo = &authority[..i];
    let valid = userinfo
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || b"-._:~!$&'()*+,;=%@".contains(&c));
    if !valid {
        return Err("invalid userinfo".into());
    }
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    unescape(user, Mode::UserPassword)?;
    unescape(password, Mode::UserPassword)?;
    Ok((Some(userinfo.to_owned()), host))
}

fn valid_optional_port(port: &str) -> bool {
    port.is_empty() || port.starts_with(':') && port[1..].bytes().all(|b| b.is_ascii_digit())
}

/// Go's `parseHost`.
fn parse_host(host: &str) -> Result<String, String> {
    if host.starts_with('[') {
        let i = host.rfind(']').ok_or("missing ']' in host")?;
        if !valid_optional_port(&host[i + 1..]) {
            return Err("invalid port after host".into());
        }
        if let Some(zone) = host[..i].find("%25") {
            let h1 = unescape(&host[..zone], Mode::Host)?;
            let h2 = unescape(&host[zone..i], Mode::Zone)?;
            let h3 = unescape(&host[i..], Mode::Host)?;
            return Ok(h1 + &h2 + &h3);
        }
    } else if let Some(i) = host.rfind(':') {
        if !valid_optional_port(&host[i..]) {
            return Err("invalid port after host".into());
        }
    }
    unescape(host, Mode::Host)
}

/// Go's `shouldEscape`.
fn should_escape(c: u8, mode: Mode) -> bool {
    if c.is_ascii_alphanumeric() {
        return false;
    }
    if matches!(mode, Mode::Host | Mode::Zone) && b"!$&'()*+,;=:[]<>\"".contains(&c) {
        return false;
    }
    match c {
        b'-' | b'_' | b'.' | b'~' => return false,
        b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'?' | b'@' => {
            return match mode {
                Mode::Path => c == b'?',
                Mode::UserPassword => matches!(c, b'@' | b'/' | b'?' | b':'),
                Mode::QueryComponent => true,
                Mode::Fragment => false,
                Mode::Host | Mode::Zone => true,
            };
        }
        _ => {}
    }
    if mode == Mode::Fragment && matches!(c, b'!' | b'(' | b')' | b'*') {
        return false;
    }
    true
}

/// Go's `validEncoded` for paths.
fn valid_encoded(s: &str) -> bool {
    s.bytes()
        .all(|c| b"!$&'()*+,;=:@[]%".contains(&c) || !should_escape(c, Mode::Path))
}

fn unhex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Go's `unescape`.
fn unescape(s: &str, mode: Mode) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let (Some(hi), Some(lo)) = (
                    b.get(i + 1).copied().and_then(unhex),
                    b.get(i + 2).copied().and_then(unhex),
                ) else {
                    return Err("invalid URL escape".into());
                };
                if mode == Mode::Host && hi < 8 && &b[i..i + 3] != b"%25" {
                    return Err("invalid URL escape".into());
                }
                if mode == Mode::Zone {
                    let v = hi << 4 | lo;
                    if &b[i..i + 3] != b"%25" && v != b' ' && should_escape(v, Mode::Host) {
                        return Err("invalid URL escape".into());
                    }
                }
                out.push(hi << 4 | lo);
                i += 3;
            }
            b'+' => {
                out.push(if mode == Mode::QueryComponent {
                    b' '
                } else {
                    b'+'
                });
                i += 1;
            }
            c => {
                if matches!(mode, Mode::Host | Mode::Zone) && c < 0x80 && should_escape(c, mode) {
                    return Err("invalid character in host name".into());
                }
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Go's `escape` (no query-component mode needed here).
fn escape(s: &str, mode: Mode) -> String {
    let mut out = String::with_capacity(s.len());
    for &c in s.as_bytes() {
        if should_escape(c, mode) {
            out.push_str(&format!("%{c:02X}"));
        } else {
            out.push(c as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_parse_request_uri_cases() {
        let accepted = [
            "https://user:pass@example.com:80/path?query=val#fragment",
            "/absolute-path",
            "http://[::1]:80/",
            "mailto:someone@example.com",
            "*",
            "https://example.com/a%20b",
        ];
        for s in accepted {
            assert!(parse(s, true).is_ok(), "{s}");
        }
        let refused = [
            "",
            "https://a:b:c/",
            "../relative-path",
            "relative",
            ":foo",
            "http://a b/",
            "/bad%zz",
            "http://[::1/",
            "http://x/\u{7f}",
        ];
        for s in refused {
            assert!(parse(s, true).is_err(), "{s}");
        }
    }

    #[test]
    fn escaped_path_keeps_a_valid_encoding() {
        let u = parse("/a%2Fb c", false).unwrap();
        assert_eq!(u.path, "/a/b c");
        assert_eq!(escaped_path(&u), "/a/b%20c");
        let u = parse("/a%2fb", false).unwrap();
        assert_eq!(escaped_path(&u), "/a%2fb");
    }
}
