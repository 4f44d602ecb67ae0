//! TLS for the webhook: rustls (TLS 1.2 and 1.3, ring), a certificate that can be swapped while
//! serving, and optional client-certificate verification (mutual TLS).
//!
//! The certificate and key files are re-read when their content changes (Kubernetes updates a
//! mounted Secret by swapping a symlink; cert-manager rotates often): new handshakes get the new
//! certificate, connections already open keep theirs. A pair that does not load (half-written,
//! mismatched, expired key) leaves the old one serving.

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("{0}")]
    Config(String),
}

fn file_error(path: &Path, message: impl ToString) -> TlsError {
    TlsError::File {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate chain and key as read from their files, kept to notice changes.
#[derive(Debug, Clone, PartialEq)]
pub struct PemPair {
    pub cert: Vec<u8>,
    pub key: Vec<u8>,
}

impl PemPair {
    pub fn read(cert: &Path, key: &Path) -> Result<PemPair, TlsError> {
        Ok(PemPair {
            cert: std::fs::read(cert).map_err(|e| file_error(cert, e))?,
            key: std::fs::read(key).map_err(|e| file_error(key, e))?,
        })
    }

    /// Parses the pair, checking that the key belongs to the certificate.
    pub fn certified_key(
        &self,
        cert_path: &Path,
        key_path: &Path,
    ) -> Result<CertifiedKey, TlsError> {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&self.cert)
            .collect::<Result<_, _>>()
            .map_err(|e| file_error(cert_path, format!("not a PEM certificate chain: {e}")))?;
        if chain.is_empty() {
            return Err(file_error(cert_path, "no certificate in the file"));
        }
        let key = PrivateKeyDer::from_pem_slice(&self.key)
            .map_err(|e| file_error(key_path, format!("not a PEM private key: {e}")))?;
        CertifiedKey::from_der(chain, key, &provider()).map_err(|e| {
            file_error(
                key_path,
                format!("does not go with {}: {e}", cert_path.display()),
            )
        })
    }
}

/// Unix time the first certificate of a PEM chain expires.
pub fn expiry_unix(cert_pem: &[u8]) -> Option<i64> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem).ok()?;
    let cert = pem.parse_x509().ok()?;
    Some(cert.validity().not_after.timestamp())
}

/// The serving certificate, swappable while serving.
#[derive(Debug)]
pub struct CertStore {
    current: RwLock<Arc<CertifiedKey>>,
}

impl CertStore {
    pub fn new(key: CertifiedKey) -> Arc<CertStore> {
        Arc::new(CertStore {
            current: RwLock::new(Arc::new(key)),
        })
    }

    pub fn replace(&self, key: CertifiedKey) {
        if let Ok(mut current) = self.current.write() {
            *current = Arc::new(key);
        }
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|c| Arc::clone(&c))
    }
}

/// The rustls server configuration: our certificate store, HTTP/1.1, and client certificates
/// required and verified against `client_ca` when given.
pub fn server_config(
    store: Arc<CertStore>,
    client_ca: Option<&PathBuf>,
) -> Result<ServerConfig, TlsError> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| file_error(path, e))?;
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert =
                    cert.map_err(|e| file_error(path, format!("not a PEM certificate: {e}")))?;
                roots.add(cert).map_err(|e| file_error(path, e))?;
            }
            if roots.is_empty() {
                return Err(file_error(path, "no CA certificate in the file"));
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|e| file_error(path, e))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_cert_resolver(store);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The rustls client configuration for upstream calls (the API gate forwarding to Google): the
/// Mozilla roots of `webpki-roots`, plus the CA certificates of `extra_ca` when given (a private
/// upstream, or a test's).
pub fn client_config(extra_ca: Option<&Path>) -> Result<rustls::ClientConfig, TlsError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = extra_ca {
        let pem = std::fs::read(path).map_err(|e| file_error(path, e))?;
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| file_error(path, format!("not a PEM certificate: {e}")))?;
            roots.add(cert).map_err(|e| file_error(path, e))?;
            added += 1;
        }
        if added == 0 {
            return Err(file_error(path, "no CA certificate in the file"));
        }
    }
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
