//! The `Host` header of a request to the API gate, and the upstream it selects. Pure.
//!
//! The host is parsed strictly (lower-case DNS labels, an optional decimal port, nothing else);
//! the only thing taken from it is a region that matches Google's region pattern. The upstream
//! is built from that parsed region alone ([`upstream_for`]), so no header text can choose where
//! the gate connects.

/// Why a `Host` header is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    #[error("the request has no Host header")]
    Missing,
    #[error("the request has more than one Host header")]
    Repeated,
    #[error("the Host header is not a lower-case DNS name with an optional port: {0}")]
    Malformed(&'static str),
    #[error("the Host header names another host than this gate (REGION-{gate} or {gate})")]
    NotThisGate { gate: String },
}

/// Whether `text` is a Cloud Run region name as Google spells them: lower-case words joined by
/// hyphens, the last ending in a number (`europe-west1`, `us-central1`, `me-central2`,
/// `northamerica-northeast2`, `africa-south1`, `europe-west12`).
pub fn is_region(text: &str) -> bool {
    let words = text.trim_end_matches(|c: char| c.is_ascii_digit());
    let digits = text.len() - words.len();
    if !(1..=2).contains(&digits) || text.len() > 40 {
        return false;
    }
    let parts: Vec<&str> = words.split('-').collect();
    parts.len() >= 2
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
}

/// Checks a host name (no port): lower-case DNS labels of letters, digits and inner hyphens,
/// at most 253 characters, no trailing dot, not an IP address. Used for the `Host` header and
/// for `--cloud-run-host`.
pub fn check_host_name(name: &str) -> Result<(), HostError> {
    if name.is_empty() {
        return Err(HostError::Malformed("empty host name"));
    }
    if name.len() > 253 {
        return Err(HostError::Malformed("host name longer than 253 characters"));
    }
    if name.ends_with('.') {
        return Err(HostError::Malformed("trailing dot"));
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(HostError::Malformed("empty or over-long label"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(HostError::Malformed(
                "only lower-case letters, digits, hyphens and dots are allowed",
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(HostError::Malformed("a label starts or ends with a hyphen"));
        }
    }
    let last = name.rsplit('.').next().unwrap_or_default();
    if last.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HostError::Malformed(
            "an IP address is not a gate host name",
        ));
    }
    Ok(())
}

/// Splits `HOST[:PORT]`, checking both. The port (1 to 65535, decimal) is accepted and ignored.
fn split_port(host: &str) -> Result<&str, HostError> {
    let Some((name, port)) = host.split_once(':') else {
        return Ok(host);
    };
    let valid_port = !port.is_empty()
        && port.len() <= 5
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p));
    if !valid_port {
        return Err(HostError::Malformed(
            "the port is not a number from 1 to 65535",
        ));
    }
    Ok(name)
}

/// The region a request is for, read from its `Host` header values: gcloud puts the region in
/// front of the endpoint override's host (`europe-west1-gate.example.com`).
///
/// With the gate's own host name (`--cloud-run-host`), the host must be exactly `GATE` (no
/// region: the global endpoint) or `REGION-GATE`; anything else is refused. Without it, any
/// well-formed host name is accepted and a leading `REGION-` is the region.
pub fn region_from_host(
    hosts: &[&[u8]],
    gate_host: Option<&str>,
) -> Result<Option<String>, HostError> {
    let raw = match hosts {
        [] => return Err(HostError::Missing),
        [one] => *one,
        _ => return Err(HostError::Repeated),
    };
    let text = std::str::from_utf8(raw).map_err(|_| HostError::Malformed("not ASCII"))?;
    let name = split_port(text)?;
    check_host_name(name)?;
    if let Some(gate) = gate_host {
        if name == gate {
            return Ok(None);
        }
        return name
            .strip_suffix(gate)
            .and_then(|r| r.strip_suffix('-'))
            .filter(|region| is_region(region))
            .map(|region| Some(region.to_owned()))
            .ok_or_else(|| HostError::NotThisGate {
                gate: gate.to_owned(),
            });
    }
    let first = name.split('.').next().unwrap_or_default();
    // The region ends at the first run of digits that is followed by `-` and more.
    let region = first
        .char_indices()
        .find(|(i, c)| c.is_ascii_digit() && first[i + 1..].starts_with('-') && first.len() > i + 2)
        .map(|(i, _)| &first[..=i])
        .filter(|region| is_region(region));
    Ok(region.map(str::to_owned))
}

/// The Google endpoint for a parsed region (the global one without). Only called with a region
/// that passed [`is_region`].
pub fn upstream_for(region: Option<&str>) -> String {
    match region {
        Some(region) if is_region(region) => format!("https://{region}-run.googleapis.com"),
        _ => "https://run.googleapis.com".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_names() {
        let cases = [
            ("europe-west1", true),
            ("us-central1", true),
            ("northamerica-northeast2", true),
            ("me-central2", true),
            ("africa-south1", true),
            ("europe-west12", true),
            ("asia-southeast1", true),
            ("us-east4", true),
            ("europe", false),
            ("europe-west", false),
            ("west1", false),
            ("europe-west123", false),
            ("Europe-west1", false),
            ("europe--west1", false),
            ("-europe-west1", false),
            ("europe-west1-", false),
            ("europe-we5t1", false),
            ("europe_west1", false),
            ("europe-west1.", false),
            ("", false),
        ];
        for (text, expected) in cases {
            assert_eq!(is_region(text), expected, "{text:?}");
        }
    }

    #[test]
    fn hosts_without_a_configured_gate_host() {
        type Case<'a> = (&'a str, Result<Option<&'a str>, &'a str>);
        let cases: &[Case] = &[
            ("europe-west1-gate.test:8443", Ok(Some("europe-west1"))),
            ("us-central1-gate.example.com", Ok(Some("us-central1"))),
            (
                "northamerica-northeast2-run.gate.example.com",
                Ok(Some("northamerica-northeast2")),
            ),
            ("me-central2-gate.example.com", Ok(Some("me-central2"))),
            ("africa-south1-gate.example.com", Ok(Some("africa-south1"))),
            ("gate.test:8443", Ok(None)),
            ("localhost", Ok(None)),
            ("my-gate-host.example.com", Ok(None)),
            ("europe-west1.example.com", Ok(None)),
            ("europe-west1-", Err("malformed")),
            ("localhost:19999#-gate.example.com", Err("malformed")),
            ("europe-west1-gate.test:19999:1", Err("malformed")),
            ("europe-west1-gate.test:0", Err("malformed")),
            ("europe-west1-gate.test:65536", Err("malformed")),
            ("europe-west1-gate.test:", Err("malformed")),
            ("europe-west1-gate.test:+80", Err("malformed")),
            ("user@europe-west1-gate.test", Err("malformed")),
            ("evil.com%2f@europe-west1-gate.test", Err("malformed")),
            ("europe-west1-gate.test/x", Err("malformed")),
            ("europe-west1-gate.test?x", Err("malformed")),
            ("europe-west1-gate.test#x", Err("malformed")),
            ("europe-west1-gate .test", Err("malformed")),
            ("EUROPE-WEST1-gate.test", Err("malformed")),
            ("europe-west1-Gate.test", Err("malformed")),
            ("europe-west1-gate.test.", Err("malformed")),
            ("127.0.0.1:8443", Err("malformed")),
            ("127.0.0.1", Err("malformed")),
            ("[::1]:8443", Err("malformed")),
            ("", Err("malformed")),
            (".gate.test", Err("malformed")),
            ("gate..test", Err("malformed")),
            ("-gate.test", Err("malformed")),
            ("europe-west1-gate.tes\u{0074}\u{00e9}", Err("malformed")),
        ];
        for (host, expected) in cases {
            let got = region_from_host(&[host.as_bytes()], None);
            match (got, expected) {
                (Ok(region), Ok(want)) => assert_eq!(region.as_deref(), *want, "{host:?}"),
                (Err(HostError::Malformed(_)), Err("malformed")) => {}
                (got, want) => panic!("{host:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn hosts_with_a_configured_gate_host() {
        let gate = Some("gate.example.com");
        let cases: &[(&str, Result<Option<&str>, ()>)] = &[
            ("europe-west1-gate.example.com", Ok(Some("europe-west1"))),
            (
                "europe-west1-gate.example.com:443",
                Ok(Some("europe-west1")),
            ),
            ("gate.example.com", Ok(None)),
            ("europe-west1-other.example.com", Err(())),
            ("localhost-gate.example.com", Err(())),
            ("a.b-gate.example.com", Err(())),
            ("europe-west1.x-gate.example.com", Err(())),
            ("localhost:19999#-gate.example.com", Err(())),
            ("localhost", Err(())),
            ("evilgate.example.com", Err(())),
            ("-gate.example.com", Err(())),
            ("europe-west1-gate.example.com.", Err(())),
        ];
        for (host, expected) in cases {
            let got = region_from_host(&[host.as_bytes()], gate);
            match (got, expected) {
                (Ok(region), Ok(want)) => assert_eq!(region.as_deref(), *want, "{host:?}"),
                (Err(_), Err(())) => {}
                (got, want) => panic!("{host:?}: got {got:?}, want {want:?}"),
            }
        }
        assert_eq!(
            region_from_host(&[], gate),
            Err(HostError::Missing),
            "no Host"
        );
        assert_eq!(
            region_from_host(&[b"gate.example.com", b"gate.example.com"], gate),
            Err(HostError::Repeated)
        );
        assert!(region_from_host(&[b"gate.example.com\xff"], gate).is_err());
    }

    #[test]
    fn the_upstream_is_built_from_the_parsed_region_only() {
        assert_eq!(
            upstream_for(Some("europe-west1")),
            "https://europe-west1-run.googleapis.com"
        );
        assert_eq!(upstream_for(None), "https://run.googleapis.com");
        assert_eq!(
            upstream_for(Some("localhost:19999#")),
            "https://run.googleapis.com"
        );
    }
}
