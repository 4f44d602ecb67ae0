//! Reading Google Cloud for the live checks (issue 18, first step): Cloud KMS keys and their IAM
//! policies, project numbers from Resource Manager, Artifact Registry repositories' CMEK keys.
//!
//! [`client`] is the careful HTTP side (credentials, retries, cache, concurrency cap, endpoint
//! overrides); [`reads`] the calls; [`resources`] and [`iam`] the pure shapes and decisions.
//! [`crate::live`] asks it what the `kms` CEL extension needs (`docs/live-checks.md`).

pub mod client;
pub mod iam;
pub mod reads;
pub mod resources;

#[cfg(test)]
mod fake_google_tests;

pub use client::{
    AccessToken, AdcTokenSource, CallEvent, CallObserver, FileTokenSource, GoogleClient,
    GoogleClientOptions, TokenSource,
};
pub use resources::NameError;

use hyper::StatusCode;

/// The Google APIs read, by the names gcloud's `api_endpoint_overrides` use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    Kms,
    ResourceManager,
    ArtifactRegistry,
}

impl Api {
    pub const ALL: [Api; 3] = [Api::Kms, Api::ResourceManager, Api::ArtifactRegistry];

    /// The override name (`gcloud config set api_endpoint_overrides/NAME URL`).
    pub fn name(self) -> &'static str {
        match self {
            Api::Kms => "cloudkms",
            Api::ResourceManager => "cloudresourcemanager",
            Api::ArtifactRegistry => "artifactregistry",
        }
    }

    pub fn default_endpoint(self) -> &'static str {
        match self {
            Api::Kms => "https://cloudkms.googleapis.com/",
            Api::ResourceManager => "https://cloudresourcemanager.googleapis.com/",
            Api::ArtifactRegistry => "https://artifactregistry.googleapis.com/",
        }
    }

    pub fn from_name(name: &str) -> Option<Api> {
        Api::ALL.into_iter().find(|api| api.name() == name)
    }
}

/// The base URL of each API (scheme, host, optional port and path prefix, ending in `/`; the
/// version such as `v1/` is appended per call, as with gcloud's overrides).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    kms: String,
    resource_manager: String,
    artifact_registry: String,
}

impl Default for Endpoints {
    fn default() -> Endpoints {
        Endpoints {
            kms: Api::Kms.default_endpoint().into(),
            resource_manager: Api::ResourceManager.default_endpoint().into(),
            artifact_registry: Api::ArtifactRegistry.default_endpoint().into(),
        }
    }
}

impl Endpoints {
    pub fn base(&self, api: Api) -> &str {
        match api {
            Api::Kms => &self.kms,
            Api::ResourceManager => &self.resource_manager,
            Api::ArtifactRegistry => &self.artifact_registry,
        }
    }

    /// Overrides one API's endpoint, by its gcloud name (`cloudkms`, `cloudresourcemanager`,
    /// `artifactregistry`). The URL must be `http://` or `https://` with a host, and no query,
    /// fragment or credentials; a missing final `/` is added.
    pub fn set_override(&mut self, name: &str, url: &str) -> Result<(), GoogleError> {
        let api = Api::from_name(name).ok_or_else(|| GoogleError::Endpoint {
            api: name.to_string(),
            message: "unknown API: expected cloudkms, cloudresourcemanager or artifactregistry"
                .into(),
        })?;
        let bad = |message: &str| GoogleError::Endpoint {
            api: name.to_string(),
            message: format!("{url:?}: {message}"),
        };
        let uri: hyper::Uri = url.parse().map_err(|_| bad("not a URL"))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Err(bad("expected http:// or https://"));
        }
        let Some(authority) = uri.authority() else {
            return Err(bad("no host"));
        };
        if authority.as_str().contains('@') || uri.query().is_some() || url.contains('#') {
            return Err(bad("credentials, a query or a fragment are not allowed"));
        }
        let mut base = url.to_string();
        if !base.ends_with('/') {
            base.push('/');
        }
        match api {
            Api::Kms => self.kms = base,
            Api::ResourceManager => self.resource_manager = base,
            Api::ArtifactRegistry => self.artifact_registry = base,
        }
        Ok(())
    }
}

/// What can go wrong reading Google.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GoogleError {
    /// Google answered with an error (`{"error": {"code", "message", "status"}}`).
    #[error("{api}: {resource}: {status} ({code}): {message}{hint}")]
    Api {
        api: &'static str,
        resource: String,
        code: u16,
        status: String,
        message: String,
        /// For a 403: the permission the gate's own identity needs.
        hint: String,
    },
    #[error("{api}: {resource}: no answer: {message}")]
    Transport {
        api: &'static str,
        resource: String,
        message: String,
    },
    #[error("{api}: {resource}: gave up after {attempts} attempts: {last}")]
    Exhausted {
        api: &'static str,
        resource: String,
        attempts: u32,
        last: Box<GoogleError>,
    },
    #[error("{api}: {resource}: the answer is not the expected JSON: {message}")]
    Decode {
        api: &'static str,
        resource: String,
        message: String,
    },
    #[error("cannot get an access token: {0}")]
    Token(String),
    #[error("endpoint override for {api}: {message}")]
    Endpoint { api: String, message: String },
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error(transparent)]
    Name(#[from] NameError),
}

impl GoogleError {
    /// Google's status (`PERMISSION_DENIED`, `UNAVAILABLE`, ...) of an API error, also after
    /// retries ran out.
    pub fn status(&self) -> Option<&str> {
        match self {
            GoogleError::Api { status, .. } => Some(status),
            GoogleError::Exhausted { last, .. } => last.status(),
            _ => None,
        }
    }
}

/// Google's error body.
#[derive(serde::Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(serde::Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    code: Option<u16>,
    #[serde(default)]
    message: String,
    #[serde(default)]
    status: String,
}

/// The typed error of a non-success answer; a body not in Google's format is summarised.
fn api_error(call: &client::Call<'_>, http_status: StatusCode, body: &[u8]) -> GoogleError {
    let (code, status, message) = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody { error }) => (
            error.code.unwrap_or(http_status.as_u16()),
            if error.status.is_empty() {
                http_status
                    .canonical_reason()
                    .unwrap_or("ERROR")
                    .to_string()
            } else {
                error.status
            },
            error.message,
        ),
        Err(_) => {
            let text: String = String::from_utf8_lossy(body)
                .chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect();
            (
                http_status.as_u16(),
                http_status
                    .canonical_reason()
                    .unwrap_or("ERROR")
                    .to_string(),
                text,
            )
        }
    };
    let hint = if http_status == StatusCode::FORBIDDEN {
        format!(
            " (the gate's own identity needs the permission {} on {})",
            call.permission, call.resource
        )
    } else {
        String::new()
    };
    GoogleError::Api {
        api: call.api.name(),
        resource: call.resource.to_string(),
        code,
        status,
        message,
        hint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_overrides() {
        let mut endpoints = Endpoints::default();
        assert_eq!(endpoints.base(Api::Kms), "https://cloudkms.googleapis.com/");
        endpoints
            .set_override("cloudkms", "https://127.0.0.1:8443")
            .unwrap();
        assert_eq!(endpoints.base(Api::Kms), "https://127.0.0.1:8443/");
        endpoints
            .set_override("artifactregistry", "http://ar.test/prefix/")
            .unwrap();
        assert_eq!(
            endpoints.base(Api::ArtifactRegistry),
            "http://ar.test/prefix/"
        );
        assert_eq!(
            endpoints.base(Api::ResourceManager),
            "https://cloudresourcemanager.googleapis.com/"
        );
        for (name, url, expected) in [
            ("run", "https://x.test/", "unknown API"),
            ("cloudkms", "ftp://x.test/", "http:// or https://"),
            ("cloudkms", "/relative", "http:// or https://"),
            ("cloudkms", "https://exa mple.test/", "not a URL"),
            ("cloudkms", "https://user:pw@x.test/", "credentials"),
            ("cloudkms", "https://x.test/?a=b", "query"),
        ] {
            let error = endpoints.set_override(name, url).unwrap_err().to_string();
            assert!(error.contains(expected), "{name} {url}: {error}");
        }
    }

    #[test]
    fn google_error_bodies_become_typed_errors() {
        let call = client::Call {
            api: Api::Kms,
            method: hyper::Method::GET,
            path: "v1/projects/p/locations/l/keyRings/r/cryptoKeys/k:getIamPolicy".into(),
            body: None,
            resource: "projects/p/locations/l/keyRings/r/cryptoKeys/k",
            permission: "cloudkms.cryptoKeys.getIamPolicy",
        };
        let forbidden = api_error(
            &call,
            StatusCode::FORBIDDEN,
            br#"{"error": {"code": 403, "message": "Permission 'cloudkms.cryptoKeys.getIamPolicy' denied", "status": "PERMISSION_DENIED"}}"#,
        );
        assert_eq!(forbidden.status(), Some("PERMISSION_DENIED"));
        let text = forbidden.to_string();
        assert!(text.contains("PERMISSION_DENIED (403)"), "{text}");
        assert!(
            text.contains("needs the permission cloudkms.cryptoKeys.getIamPolicy"),
            "{text}"
        );
        let html = api_error(&call, StatusCode::BAD_GATEWAY, b"<html>\n</html>");
        assert_eq!(
            html.to_string(),
            "cloudkms: projects/p/locations/l/keyRings/r/cryptoKeys/k: Bad Gateway (502): <html></html>"
        );
    }
}
