//! Development certificates: a CA, a serving certificate for the webhook's DNS names, and
//! optionally a client certificate for mutual TLS, as PEM text. Pure: the caller supplies the
//! time and writes the files (`cmek-gate certs`). Production uses cert-manager
//! (`certs/README.md`).

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("invalid DNS name {0:?}: labels of letters, digits and hyphens, separated by dots")]
    Name(String),
    #[error("cannot generate a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("invalid time: {0}")]
    Time(String),
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct CertRequest {
    /// DNS names (or IP addresses) of the serving certificate.
    pub names: Vec<String>,
    /// Common name of a client certificate to generate too (for `--client-ca`), if any.
    pub client: Option<String>,
    pub valid_days: i64,
    /// Unix time the certificates start being valid (an hour of slack is taken off).
    pub now_unix: i64,
}

/// A certificate and its private key, PEM-encoded.
#[derive(Debug, Clone)]
pub struct Pair {
    pub cert_pem: String,
    pub key_pem: String,
}

#[derive(Debug, Clone)]
pub struct Bundle {
    pub ca: Pair,
    pub server: Pair,
    pub client: Option<Pair>,
}

fn params(
    common_name: &str,
    names: &[String],
    request: &CertRequest,
) -> Result<CertificateParams, CertError> {
    let mut params = CertificateParams::default();
    for name in names {
        let san = match name.parse::<std::net::IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) if is_dns_name(name) => SanType::DnsName(
                name.clone()
                    .try_into()
                    .map_err(|_| CertError::Name(name.clone()))?,
            ),
            Err(_) => return Err(CertError::Name(name.clone())),
        };
        params.subject_alt_names.push(san);
    }
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::OrganizationName, "cmek-gate development");
    params.distinguished_name = dn;
    let now = OffsetDateTime::from_unix_timestamp(request.now_unix)
        .map_err(|e| CertError::Time(e.to_string()))?;
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(request.valid_days);
    Ok(params)
}

/// A DNS name: dot-separated labels of letters, digits and inner hyphens; a leading `*.` wildcard.
fn is_dns_name(name: &str) -> bool {
    let name = name.strip_prefix("*.").unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Generates a CA and the certificates it signs.
pub fn generate(request: &CertRequest) -> Result<Bundle, CertError> {
    let ca_key = KeyPair::generate()?;
    let mut ca_params = params("cmek-gate development CA", &[], request)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let ca = Pair {
        cert_pem: ca_cert.pem(),
        key_pem: ca_key.serialize_pem(),
    };
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf = |common_name: &str,
                names: &[String],
                usage: ExtendedKeyUsagePurpose|
     -> Result<Pair, CertError> {
        let key = KeyPair::generate()?;
        let mut p = params(common_name, names, request)?;
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        p.extended_key_usages = vec![usage];
        p.use_authority_key_identifier_extension = true;
        let cert = p.signed_by(&key, &issuer)?;
        Ok(Pair {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    };
    let first = request.names.first().map_or("cmek-gate", String::as_str);
    let server = leaf(first, &request.names, ExtendedKeyUsagePurpose::ServerAuth)?;
    let client = match &request.client {
        Some(name) => Some(leaf(name, &[], ExtendedKeyUsagePurpose::ClientAuth)?),
        None => None,
    };
    Ok(Bundle { ca, server, client })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_a_ca_and_certificates_it_signs() {
        let request = CertRequest {
            names: vec!["gate.example".into(), "127.0.0.1".into()],
            client: Some("kube-apiserver".into()),
            valid_days: 30,
            now_unix: 1_780_000_000,
        };
        let bundle = generate(&request).unwrap();
        for pem in [
            &bundle.ca.cert_pem,
            &bundle.server.cert_pem,
            &bundle.client.as_ref().unwrap().cert_pem,
        ] {
            assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
        }
        assert!(bundle.server.key_pem.contains("PRIVATE KEY"));
        let der = x509_parser::pem::parse_x509_pem(bundle.server.cert_pem.as_bytes())
            .unwrap()
            .1;
        let cert = der.parse_x509().unwrap();
        assert_eq!(
            cert.validity().not_after.timestamp(),
            1_780_000_000 + 30 * 86_400
        );
        let names = format!(
            "{:?}",
            cert.subject_alternative_name()
                .unwrap()
                .unwrap()
                .value
                .general_names
        );
        assert!(
            names.contains("gate.example") && names.contains("[127, 0, 0, 1]"),
            "{names}"
        );
        assert!(generate(&CertRequest {
            names: vec!["bad name!".into()],
            ..request
        })
        .is_err());
    }
}
