//! The request target of a request to the API gate, normalised before anything is decided on
//! it, as Envoy's `normalize_path` and `merge_slashes` do. Pure.
//!
//! Each path segment is percent-decoded, empty segments (`//`, a trailing `/`) and `.` are
//! dropped, and `..` removes the segment before it. A segment may then hold only letters,
//! digits and `-._~:`, the characters Cloud Run's paths use: anything else (an encoded `/` or
//! `%`, a space, `;`, a non-ASCII byte) is refused rather than guessed at. The query is decoded
//! into pairs. [`Target::path_and_query`] writes the normalised form back, which is what the
//! gate forwards: the upstream sees exactly what was judged.

/// Why a request target is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the request target is not a path (origin form, starting with /)")]
    NotAPath,
    #[error("the path has a malformed percent-encoding")]
    BadEscape,
    #[error("a path segment holds a character the gate does not accept (only letters, digits and -._~: are, after percent-decoding)")]
    Character,
    #[error("the path goes above the root with ..")]
    AboveRoot,
    #[error("the query has a malformed percent-encoding or is not UTF-8")]
    BadQuery,
    #[error("the query parameter {0:?} is given more than once")]
    RepeatedParameter(String),
}

/// A normalised request target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The decoded, normalised path segments (no empty, `.` or `..` segment).
    pub segments: Vec<String>,
    /// The decoded query parameters, in order.
    pub query: Vec<(String, String)>,
}

/// Query parameters the gate decides on: each may appear at most once.
const SINGLE_PARAMETERS: &[&str] = &[
    "serviceId",
    "jobId",
    "workerPoolId",
    "updateMask",
    "validateOnly",
    "allowMissing",
];

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Percent-decodes bytes; `plus_is_space` for query components.
fn percent_decode(text: &str, plus_is_space: bool) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let high = hex(*bytes.get(i + 1)?)?;
                let low = hex(*bytes.get(i + 2)?)?;
                out.push(high << 4 | low);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Some(out)
}

fn segment_byte_allowed(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b':')
}

/// Normalises a request's path and query (both as received, percent-encoded).
pub fn normalise(path: &str, query: Option<&str>) -> Result<Target, PathError> {
    let rest = path.strip_prefix('/').ok_or(PathError::NotAPath)?;
    let mut segments: Vec<String> = Vec::new();
    for raw in rest.split('/') {
        let decoded = percent_decode(raw, false).ok_or(PathError::BadEscape)?;
        if !decoded.iter().all(|b| segment_byte_allowed(*b)) {
            return Err(PathError::Character);
        }
        let segment = String::from_utf8(decoded).map_err(|_| PathError::Character)?;
        match segment.as_str() {
            "" | "." => {}
            ".." => {
                segments.pop().ok_or(PathError::AboveRoot)?;
            }
            _ => segments.push(segment),
        }
    }
    let mut pairs: Vec<(String, String)> = Vec::new();
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |text: &str| {
            percent_decode(text, true)
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or(PathError::BadQuery)
        };
        let (name, value) = (decode(name)?, decode(value)?);
        if SINGLE_PARAMETERS.contains(&name.as_str()) && pairs.iter().any(|(n, _)| *n == name) {
            return Err(PathError::RepeatedParameter(name));
        }
        pairs.push((name, value));
    }
    Ok(Target {
        segments,
        query: pairs,
    })
}

fn percent_encode_query(text: &str, out: &mut String) {
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

impl Target {
    /// The value of a query parameter.
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The normalised path (`/` and the segments; segments need no encoding).
    pub fn path(&self) -> String {
        format!("/{}", self.segments.join("/"))
    }

    /// The normalised path and query, as forwarded: the query re-encoded from its decoded
    /// pairs, so that the upstream reads the values the gate read.
    pub fn path_and_query(&self) -> String {
        let mut out = self.path();
        for (i, (name, value)) in self.query.iter().enumerate() {
            out.push(if i == 0 { '?' } else { '&' });
            percent_encode_query(name, &mut out);
            out.push('=');
            percent_encode_query(value, &mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalised_or_refused() {
        let cases: &[(&str, Result<&str, PathError>)] = &[
            (
                "/apis/serving.knative.dev/v1/namespaces/1/services",
                Ok("/apis/serving.knative.dev/v1/namespaces/1/services"),
            ),
            (
                "/apis/serving.knative.dev/v1/namespaces/1/%73ervices",
                Ok("/apis/serving.knative.dev/v1/namespaces/1/services"),
            ),
            (
                "/apis/serving.knative.dev/v1/namespaces/1/%73ERVICES",
                Ok("/apis/serving.knative.dev/v1/namespaces/1/sERVICES"),
            ),
            (
                "//apis/serving.knative.dev//v1/namespaces/1/services",
                Ok("/apis/serving.knative.dev/v1/namespaces/1/services"),
            ),
            (
                "/apis/serving.knative.dev/v1/namespaces/1/services/",
                Ok("/apis/serving.knative.dev/v1/namespaces/1/services"),
            ),
            (
                "/apis/serving.knative.dev/v1/namespaces/1/./services",
                Ok("/apis/serving.knative.dev/v1/namespaces/1/services"),
            ),
            (
                "/apis/serving.knative.dev/v1/namespaces/1/x/../services",
                Ok("/apis/serving.knative.dev/v1/namespaces/1/services"),
            ),
            (
                "/apis/serving.knative.dev/v1/namespaces/1/x/%2e%2E/services",
                Ok("/apis/serving.knative.dev/v1/namespaces/1/services"),
            ),
            (
                "/v2/projects/p/locations/europe-west1/jobs/j%3Arun",
                Ok("/v2/projects/p/locations/europe-west1/jobs/j:run"),
            ),
            ("/", Ok("/")),
            ("/..", Err(PathError::AboveRoot)),
            ("/a/../..", Err(PathError::AboveRoot)),
            (
                "/apis/serving.knative.dev/v1/namespaces/1%2Fservices",
                Err(PathError::Character),
            ),
            (
                "/apis/serving.knative.dev/v1/namespaces/1%2fservices",
                Err(PathError::Character),
            ),
            ("/apis/x/%5Cservices", Err(PathError::Character)),
            ("/apis/x/%2573ervices", Err(PathError::Character)),
            ("/apis/x/%zzservices", Err(PathError::BadEscape)),
            ("/apis/x/services%", Err(PathError::BadEscape)),
            ("/apis/x/services%7", Err(PathError::BadEscape)),
            ("/apis/x/servi ces", Err(PathError::Character)),
            ("/apis/x/services%20", Err(PathError::Character)),
            ("/apis/x/services;a=b", Err(PathError::Character)),
            ("/apis/x/services%00", Err(PathError::Character)),
            ("/apis/x/s%C3%A9rvices", Err(PathError::Character)),
            ("/apis/x/services@evil", Err(PathError::Character)),
            ("*", Err(PathError::NotAPath)),
            ("http://evil/apis", Err(PathError::NotAPath)),
        ];
        for (path, expected) in cases {
            let got = normalise(path, None).map(|t| t.path());
            assert_eq!(
                got.as_deref().map_err(Clone::clone),
                expected.clone(),
                "{path}"
            );
        }
    }

    #[test]
    fn queries_are_decoded_and_re_encoded() {
        let target = normalise("/v2/x", Some("serviceId=%61pi&fields=a,b(c)&alt=json&&x")).unwrap();
        assert_eq!(target.parameter("serviceId"), Some("api"));
        assert_eq!(target.parameter("x"), Some(""));
        assert_eq!(
            target.path_and_query(),
            "/v2/x?serviceId=api&fields=a%2Cb%28c%29&alt=json&x="
        );
        let spaced = normalise("/v2/x", Some("serviceId=a+b%2Bc")).unwrap();
        assert_eq!(spaced.parameter("serviceId"), Some("a b+c"));
        assert_eq!(spaced.path_and_query(), "/v2/x?serviceId=a%20b%2Bc");
        let cases = [
            (
                "serviceId=a&serviceId=b",
                PathError::RepeatedParameter("serviceId".into()),
            ),
            (
                "serviceId=a&service%49d=b",
                PathError::RepeatedParameter("serviceId".into()),
            ),
            (
                "updateMask=a&updateMask=b",
                PathError::RepeatedParameter("updateMask".into()),
            ),
            ("serviceId=%zz", PathError::BadQuery),
            ("serviceId=%ff", PathError::BadQuery),
        ];
        for (query, expected) in cases {
            assert_eq!(normalise("/v2/x", Some(query)), Err(expected), "{query}");
        }
        assert_eq!(normalise("/", Some("")).unwrap().path_and_query(), "/");
    }
}
