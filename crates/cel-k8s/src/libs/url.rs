//! Kubernetes' URL library: `url`, `isURL` and the getters, with Go's `net/url` rules
//! (k8s.io/apiserver/pkg/cel/library/urls.go): a URL is accepted by `ParseRequestURI` (an
//! absolute URI or an absolute path), and its parts are those `Parse` finds.

use super::support::{fail, map_of, no_overload, opaque, opaque_type, opaque_value, string_list};
use crate::error::EvalError;
use crate::library::{Library, Style};
use crate::value::Value;

/// The type name Kubernetes gives URLs.
pub const URL_TYPE: &str = "kubernetes.URL";

/// A parsed URL: the parts Kubernetes hands out.
#[derive(Debug, Clone, PartialEq)]
pub struct Url {
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

opaque_type!(Url, URL_TYPE);

pub fn register(library: &mut Library) {
    use Style::{Global, Receiver};
    library.add("url", Global, 1, to_url);
    library.add("isURL", Global, 1, is_url);
    library.add("getScheme", Receiver, 1, get_scheme);
    library.add("getHost", Receiver, 1, get_host);
    library.add("getHostname", Receiver, 1, get_hostname);
    library.add("getPort", Receiver, 1, get_port);
    library.add("getEscapedPath", Receiver, 1, get_escaped_path);
    library.add("getQuery", Receiver, 1, get_query);
}

/// `url(s)`, as Kubernetes: validated as a request URI, then parsed with the fragment split off.
pub fn parse_url(s: &str) -> Result<Url, String> {
    parse(s, true)?;
    let (rest, fragment) = s.split_once('#').unwrap_or((s, ""));
    let mut url = parse(rest, false)?;
    url.fragment = unescape(fragment, Mode::Fragment)?;
    Ok(url)
}

/// Go's `url.ParseRequestURI` accepting `s`, or why not.
pub(crate) fn parse_request_uri(s: &str) -> Result<(), String> {
    parse(s, true).map(drop)
}

fn to_url<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    match args {
        [Value::String(s)] => parse_url(s)
            .map(opaque_value)
            .map_err(|e| fail("url", format!("URL parse error: {e}"))),
        _ => Err(no_overload("url", args)),
    }
}

fn is_url<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    match args {
        [Value::String(s)] => Ok(Value::Bool(parse(s, true).is_ok())),
        _ => Err(no_overload("isURL", args)),
    }
}

fn url_arg<'v>(function: &str, args: &'v [Value<'_>]) -> Result<&'v Url, EvalError> {
    match args {
        [v] => opaque::<Url>(v).ok_or_else(|| no_overload(function, args)),
        _ => Err(no_overload(function, args)),
    }
}

fn get_scheme<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    Ok(Value::string(url_arg("getScheme", args)?.scheme.clone()))
}

fn get_host<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    Ok(Value::string(url_arg("getHost", args)?.host.clone()))
}

fn get_hostname<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let u = url_arg("getHostname", args)?;
    Ok(Value::string(split_host_port(&u.host).0))
}

fn get_port<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let u = url_arg("getPort", args)?;
    Ok(Value::string(split_host_port(&u.host).1))
}

fn get_escaped_path<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    Ok(Value::string(escaped_path(url_arg(
        "getEscapedPath",
        args,
    )?)))
}

/// Go's `URL.Query()`: keys in the order first seen, each with its values; pairs that do not
/// unescape (or hold a `;`) are dropped, as Go drops them.
fn get_query<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let u = url_arg("getQuery", args)?;
    let mut entries: Vec<(String, Vec<String>)> = Vec::new();
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
        match entries.iter_mut().find(|(key, _)| *key == k) {
            Some((_, values)) => values.push(v),
            None => entries.push((k, vec![v])),
        }
    }
    Ok(map_of(
        entries
            .into_iter()
            .map(|(k, v)| (Value::string(k), string_list(v)))
            .collect(),
    ))
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

    use crate::libs::support::equals;
    use crate::libs::support::testing::*;

    fn uv(s: &str) -> Value<'static> {
        to_url(&[Value::string(s)]).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn documented_examples() {
        check_err("relative", to_url(&[s("../relative")]), "URL parse error");
        check("isURL", is_url(&[s("https://example.com/path")]), b(true));
        check(
            "getScheme",
            get_scheme(&[uv("https://example.com/")]),
            s("https"),
        );
        check(
            "getHost",
            get_host(&[uv("https://[::1]:80/")]),
            s("[::1]:80"),
        );
        check(
            "getHostname",
            get_hostname(&[uv("https://[::1]:80/")]),
            s("::1"),
        );
        check(
            "getPort",
            get_port(&[uv("https://example.com:80/")]),
            s("80"),
        );
        check(
            "getEscapedPath",
            get_escaped_path(&[uv("https://example.com/path with spaces/")]),
            s("/path%20with%20spaces/"),
        );
        let query = get_query(&[uv("https://example.com/p?k=a&k=b")]).unwrap();
        assert!(
            equals(&query, &m(vec![(s("k"), strs(&["a", "b"]))])),
            "{query:?}"
        );
    }

    #[test]
    fn kubernetes_probes() {
        check(
            "full",
            is_url(&[s(
                "https://user:pass@example.com:80/path?query=val#fragment",
            )]),
            b(true),
        );
        check("path", is_url(&[s("/absolute-path")]), b(true));
        check("colons", is_url(&[s("https://a:b:c/")]), b(false));
        check("no scheme", get_scheme(&[uv("/path")]), s(""));
        check(
            "host port",
            get_host(&[uv("https://example.com:80/")]),
            s("example.com:80"),
        );
        check(
            "host",
            get_host(&[uv("https://example.com/")]),
            s("example.com"),
        );
        check("v6 host", get_host(&[uv("https://[::1]/")]), s("[::1]"));
        check("no port", get_port(&[uv("https://example.com/")]), s(""));
        check(
            "hostname",
            get_hostname(&[uv("https://example.com:80/")]),
            s("example.com"),
        );
        let query = get_query(&[uv(
            "https://example.com/path?query=val&query=val2&x=a%20b+c",
        )])
        .unwrap();
        let want = m(vec![
            (s("query"), strs(&["val", "val2"])),
            (s("x"), strs(&["a b c"])),
        ]);
        assert!(equals(&query, &want), "{query:?}");
        let empty = get_query(&[uv("https://example.com/")]).unwrap();
        assert!(equals(&empty, &m(vec![])));
        check_err("unclosed", to_url(&[s("http://[::1")]), "URL parse error");
        check_err(
            "kind",
            get_host(&[s("https://a/")]),
            "no matching overload for 'getHost'",
        );
        assert!(equals(&uv("https://a/b"), &uv("https://a/b")));
        assert!(!equals(&uv("https://a/b"), &uv("https://a/c")));
        let err = to_url(&[s("secret value")]).unwrap_err();
        assert!(!err.0.contains("secret"), "{err}");
    }
}
